import io
import signal
import sys

import numpy as np
import pytest
from django.db import connection

from recognition.models import EMBEDDING_DIM


@pytest.mark.django_db
def test_pgvector_nearest_neighbour_uses_real_postgres():
    with connection.cursor() as cur:
        cur.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        (version,) = cur.fetchone()
        assert version.startswith("0.8")
        cur.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'face_embedding_hnsw'")
        assert "hnsw" in cur.fetchone()[0]
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(50, EMBEDDING_DIM)).astype(np.float32)
    with connection.cursor() as cur:
        cur.execute("CREATE TEMP TABLE t (id int, v vector(128))")
        for i, v in enumerate(vectors):
            cur.execute("INSERT INTO t VALUES (%s, %s::vector)", [i, str(v.tolist())])
        probe = vectors[17] + 0.01
        cur.execute("SELECT id FROM t ORDER BY v <-> %s::vector LIMIT 1", [str(probe.tolist())])
        assert cur.fetchone()[0] == 17


def test_celery_task_runs_on_a_real_worker(celery_worker):
    from recognition.tasks import ping

    result = ping.delay("hello").get(timeout=30)
    assert result == {"echo": "hello", "db": 1}


@pytest.mark.django_db
def test_seed_demo_creates_one_account_per_role_and_is_idempotent(settings):
    from django.contrib.auth import authenticate
    from django.contrib.auth.models import User
    from django.core.management import call_command

    from recognition.roles import ALL_ROLES

    settings.DEBUG = True
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    call_command("seed_demo", stdout=out)

    assert User.objects.filter(username__startswith="demo-").count() == len(ALL_ROLES)
    for role in ALL_ROLES:
        user = authenticate(username=f"demo-{role}", password=f"{role}-demo-password")
        assert user is not None and [g.name for g in user.groups.all()] == [role]
        assert f"{role}-demo-password" in out.getvalue()


@pytest.mark.django_db
def test_seed_demo_refuses_to_run_in_production(settings):
    from django.contrib.auth.models import User
    from django.core.management import CommandError, call_command

    settings.DEBUG = False
    settings.EMBEDDED_SERVICES = False
    with pytest.raises(CommandError, match="never in production"):
        call_command("seed_demo", stdout=io.StringIO())
    assert not User.objects.filter(username__startswith="demo-").exists()


def run_devserver(children, monkeypatch, grace=5.0):
    from django.core.management import call_command

    from recognition.management.commands import devserver

    monkeypatch.setattr(devserver.Command, "children", lambda self, *a, **k: children)
    out = io.StringIO()
    monkeypatch.setattr(devserver.sys, "stdout", out)
    try:
        call_command("devserver", grace=grace)
    finally:
        for child in children:
            if child.process and child.process.poll() is None:
                child.process.kill()
    return out.getvalue()


SLEEPER = "import time; print('up', flush=True); time.sleep(60)"


def test_devserver_stops_the_others_and_fails_when_one_child_dies(monkeypatch):
    from django.core.management import CommandError

    from recognition.management.commands.devserver import Child

    children = [Child("web", [sys.executable, "-c", SLEEPER], term_group=True),
                Child("worker", [sys.executable, "-c", "import time; time.sleep(1); raise SystemExit(3)"])]
    with pytest.raises(CommandError, match="worker exited with status 3") as failure:
        run_devserver(children, monkeypatch)

    assert failure.value.returncode == 3
    assert children[0].process.returncode == -signal.SIGTERM


def test_devserver_stops_every_child_on_sigterm_and_prefixes_their_output(monkeypatch):
    from recognition.management.commands.devserver import Child

    # The "beat" child asks its parent (the devserver) to stop, like `kill <pid>` would.
    stopper = ("import os, signal, time; time.sleep(1.5); "
               "os.kill(os.getppid(), signal.SIGTERM); time.sleep(60)")
    children = [Child("web", [sys.executable, "-c", SLEEPER], term_group=True),
                Child("worker", [sys.executable, "-c", SLEEPER]),
                Child("beat", [sys.executable, "-c", stopper])]
    output = run_devserver(children, monkeypatch)

    assert all(child.process.returncode == -signal.SIGTERM for child in children)
    assert "      web | up" in output and "   worker | up" in output
    assert "stopping web, worker, beat" in output


@pytest.mark.django_db
def test_the_gallery_query_can_use_the_partial_hnsw_index():
    """Matching filters on enrolled faces, so the planner may use the index that holds only them."""
    import psycopg
    from django.utils import timezone

    from recognition.services.matching import NEAREST_SQL

    params = {"q": "[" + ",".join(["0"] * 128) + "]", "pipeline": "v", "exclude": None,
              "now": timezone.now(), "limit": 10}
    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cur:
        # The test tables are tiny: ask whether an ordered index scan is possible at all.
        cur.execute("SET LOCAL enable_seqscan = off; SET LOCAL enable_sort = off")
        cur.execute("EXPLAIN " + NEAREST_SQL, params)
        plan = "\n".join(row[0] for row in cur.fetchall())
    assert "face_embedding_hnsw" in plan, plan
