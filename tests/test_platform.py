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
