"""The scale benchmark measures what it claims: the real tables and index, recall against exact search.

A small gallery (3,000 synthetic faces) through the ``bench_search`` command (``python -m bench``):
it must load them with the consent filter in play, rebuild the index with the asked parameters,
agree with a PostgreSQL sequential scan on the exact answers, and print recall and latency figures.
"""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from bench.management.commands.bench_search import Command as BenchSearch
from recognition.models import Consent, Face, Person

# transaction=True: the benchmark VACUUMs and builds indexes, which cannot run in the test's transaction.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture(autouse=True)
def restore_the_search_index():
    """The benchmark rebuilds the index with its own parameters: put the model's back afterwards."""
    yield
    index = next(i for i in Face._meta.indexes if i.name == "face_embedding_hnsw")
    with connection.cursor() as cur:
        cur.execute("DROP INDEX IF EXISTS face_embedding_hnsw, face_embedding_ivfflat")
    with connection.schema_editor() as editor:
        editor.add_index(Face, index)


def test_bench_search_prints_recall_against_exact_search(tmp_path):
    out = StringIO()
    report_path = tmp_path / "report.json"
    call_command(BenchSearch(), faces=3000, m=16, ef_construction=32, ef_search="10,200", queries=40,
                 warmup=5, json_path=str(report_path), stdout=out)
    text = out.getvalue()
    assert "PostgreSQL exact scan agrees with numpy on 10/10 top-1" in text
    report = json.loads(report_path.read_text())
    assert report["faces"] == Face.objects.count() == 3000
    assert report["people"] == Person.objects.count()
    # Withdrawn people's faces are in the table but not matchable.
    withdrawn = Consent.objects.filter(withdrawn_at__isnull=False).count()
    assert 0 < withdrawn < report["people"]
    assert report["matchable_faces"] < report["faces"]
    assert report["index_params"] == {"index": "hnsw", "m": 16, "ef_construction": 32}
    assert report["server"]["pgvector"] != "?"
    rows = {(r["probes"], r["ef_search"]): r for r in report["searches"]}
    assert set(rows) == {(kind, ef) for kind in ("enrolled", "stranger") for ef in (10, 200)}
    for kind in ("enrolled", "stranger"):
        # ef_search 200 on 3,000 faces explores nearly the whole graph: recall must be (near) perfect,
        # and never lower than with ef_search 10.
        assert rows[(kind, 200)]["recall_at_1"] >= 0.95
        assert rows[(kind, 200)]["recall_at_1"] >= rows[(kind, 10)]["recall_at_1"]
        assert rows[(kind, 200)]["short_lists"] == 0  # the consent filter never starved a result list
        assert 0 < rows[(kind, 200)]["p50_ms"] <= rows[(kind, 200)]["p95_ms"] <= rows[(kind, 200)]["p99_ms"]
    with connection.cursor() as cur:
        cur.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'face_embedding_hnsw'")
        assert "m='16', ef_construction='32'" in cur.fetchone()[0]


def test_bench_search_refuses_a_database_with_real_people():
    Person.objects.create(display_name="Real Person", pseudonym="p-real")
    with pytest.raises(CommandError, match="real people"):
        call_command(BenchSearch(), faces=100, stdout=StringIO())
    assert Person.objects.filter(pseudonym="p-real").exists()
