"""Searching enrolled faces: nearest neighbours among people whose consent is active.

The vector index on ``Face.embedding`` answers the query (HNSW ``face_embedding_hnsw``
today; an IVFFlat index is read with the same query). Its recall at a given
``hnsw.ef_search`` / ``ivfflat.probes`` falls as the gallery grows, so those and the
iterative-scan mode are settings chosen by measurement (``python -m bench bench_search``,
docs/search.md); ef_search follows the gallery's size. Both index types' settings are set
on every query; the one for the index type that is not in use has no effect.
Distances returned are always exact (computed from the stored vectors), so sorting the
fetched rows by distance is an exact re-rank among the candidates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import psycopg
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from recognition.models import EMBEDDING_DIM, Consent, Face, Person

# How many faces to fetch per wanted person: one person may own several enrolled faces.
_FACES_PER_PERSON = 8
_ITERATIVE_SCAN_MODES = {"off", "strict_order", "relaxed_order"}


@dataclass(frozen=True)
class Candidate:
    person: Person
    face_id: int
    distance: float  # Euclidean, dlib's meaning: < 0.6 is the same person for 1:1 (not for 1:N)


def matchable_faces(*, pipeline_version: str):
    """Enrolled faces that may be matched: same pipeline, person not erased, enrol consent active."""
    active = Consent.objects.filter(Consent.active_q(), person=OuterRef("person_id"), purpose_enrol=True)
    return Face.objects.filter(enrolled=True, pipeline_version=pipeline_version,
                               person__erased_at__isnull=True).filter(Exists(active))


def ef_search_table(spec: str | None = None) -> list[tuple[int, int]]:
    """``HNSW_EF_SEARCH_BY_SIZE`` parsed: ``[(up to N faces, ef_search), ...]`` by size."""
    spec = settings.HNSW_EF_SEARCH_BY_SIZE if spec is None else spec
    try:
        items = (item.split(":") for item in spec.split(",") if item.strip())
        pairs = sorted((int(n), int(ef)) for n, ef in items)
    except ValueError as exc:
        raise ValueError("HNSW_EF_SEARCH_BY_SIZE is 'faces:ef_search' pairs separated by commas, "
                         f"not {spec!r}") from exc
    if not pairs or any(n < 1 or ef < 1 for n, ef in pairs):
        raise ValueError(f"HNSW_EF_SEARCH_BY_SIZE needs at least one positive pair, not {spec!r}")
    return pairs


def ef_search_for(gallery_faces: int) -> int:
    """The ``hnsw.ef_search`` measured to hold recall@1 >= .98 for this many matchable faces.

    ``HNSW_EF_SEARCH`` (a constant), when set, wins. Otherwise the first row of
    ``HNSW_EF_SEARCH_BY_SIZE`` whose size covers the gallery; above the last row, the last
    value (recall then falls slowly: re-measure with ``bench_search`` and add a row).
    """
    if settings.HNSW_EF_SEARCH:
        return int(settings.HNSW_EF_SEARCH)
    table = ef_search_table()
    for up_to, ef in table:
        if gallery_faces <= up_to:
            return ef
    return table[-1][1]


def default_ef_search(*, pipeline_version: str) -> int:
    """ef_search for the current gallery of ``pipeline_version`` (its size is cached, see decision.py)."""
    if settings.HNSW_EF_SEARCH:
        return int(settings.HNSW_EF_SEARCH)
    from recognition.services.decision import gallery_size  # decision imports this module: a real circle

    return ef_search_for(gallery_size(pipeline_version=pipeline_version))


def _search_settings(ef_search: int | None, iterative_scan: str | None) -> tuple[int, str]:
    ef = int(ef_search)
    mode = iterative_scan or settings.HNSW_ITERATIVE_SCAN
    if mode not in _ITERATIVE_SCAN_MODES:
        raise ValueError(f"HNSW_ITERATIVE_SCAN must be one of {sorted(_ITERATIVE_SCAN_MODES)}, not {mode!r}")
    return max(1, min(ef, 1000)), mode


def _ivfflat_probes(probes: int | None) -> int:
    """Lists an IVFFlat scan visits (``IVFFLAT_PROBES``; pgvector's own default is 1)."""
    return max(1, min(int(probes or settings.IVFFLAT_PROBES), 32768))


# The search itself, in SQL: it runs for every face of every photo, and building it with the
# ORM cost more (about 2 ms of Python per call) than the index scan at 100k faces. It must
# select exactly the faces ``matchable_faces`` selects; tests/test_matching.py holds the two
# to the same answers. The ORDER BY expression is the one the partial HNSW/IVFFlat index
# (``WHERE enrolled``) is built on; distances are exact (from the stored vectors).
NEAREST_SQL = """
SELECT f.id, f.person_id, f.embedding <-> %(q)s::vector AS distance
FROM recognition_face f
JOIN recognition_person p ON p.id = f.person_id
WHERE f.enrolled
  AND f.pipeline_version = %(pipeline)s
  AND p.erased_at IS NULL
  AND f.photo_id IS DISTINCT FROM %(exclude)s::bigint
  AND EXISTS (SELECT 1 FROM recognition_consent c
              WHERE c.person_id = f.person_id AND c.purpose_enrol
                AND c.withdrawn_at IS NULL AND c.expires_at > %(now)s)
ORDER BY f.embedding <-> %(q)s::vector
LIMIT %(limit)s
"""


def vector_literal(embedding: Sequence[float] | np.ndarray) -> str:
    """pgvector's text form of a 128-d embedding (exact float32 values); refuses anything else."""
    vector = np.asarray(embedding, dtype=np.float32).reshape(-1)
    if vector.size != EMBEDDING_DIM or not np.isfinite(vector).all():
        raise ValueError(f"an embedding is {EMBEDDING_DIM} finite numbers, not {vector.size} values")
    return "[" + ",".join(map(repr, vector.tolist())) + "]"


def nearest_faces(
    embedding: Sequence[float] | np.ndarray,
    *,
    pipeline_version: str,
    limit: int,
    exclude_photo_id: int | None = None,
    ef_search: int | None = None,
    iterative_scan: str | None = None,
    ivfflat_probes: int | None = None,
) -> list[tuple[int, int, float]]:
    """The ``limit`` nearest matchable faces as ``(face_id, person_id, distance)``, nearest first.

    Uses the HNSW index with the consent filter applied during the scan; with
    ``hnsw.iterative_scan`` the scan goes on until ``limit`` rows pass the filter. The
    rows are re-sorted by their exact distance (``relaxed_order`` may return them
    slightly out of order).
    """
    limit = int(limit)
    if limit < 1:
        return []
    ef_search = ef_search or default_ef_search(pipeline_version=pipeline_version)
    ef, mode = _search_settings(ef_search, iterative_scan)
    probes = _ivfflat_probes(ivfflat_probes)
    params = {"q": vector_literal(embedding), "pipeline": pipeline_version, "exclude": exclude_photo_id,
              "now": timezone.now(), "limit": limit}
    with transaction.atomic():
        connection.ensure_connection()
        # A server-side-binding cursor on Django's own connection (and transaction): the vector
        # travels as one parameter instead of being quoted into the text, and the statement is
        # prepared once per connection. hnsw.* and ivfflat.* apply to prepared statements too.
        with psycopg.Cursor(connection.connection) as cur:
            # SET LOCAL takes no parameters; the values are validated above. IVFFlat knows
            # only off and relaxed_order.
            ivf_mode = "off" if mode == "off" else "relaxed_order"
            cur.execute(f"SET LOCAL hnsw.ef_search = {min(max(ef, limit), 1000)}; "
                        f"SET LOCAL hnsw.iterative_scan = {mode}; "
                        f"SET LOCAL ivfflat.probes = {probes}; SET LOCAL ivfflat.iterative_scan = {ivf_mode}")
            cur.execute(NEAREST_SQL, params, prepare=True)
            rows = cur.fetchall()
    rows = [(int(fid), int(pid), float(d)) for fid, pid, d in rows]
    rows.sort(key=lambda r: (r[2], r[0]))
    return rows


def match_embedding(
    embedding: Sequence[float] | np.ndarray,
    *,
    pipeline_version: str,
    top_k: int | None = None,
    exclude_photo_id: int | None = None,
    ef_search: int | None = None,
    ivfflat_probes: int | None = None,
) -> list[Candidate]:
    """The ``top_k`` nearest people (by their nearest enrolled face), nearest first."""
    top_k = top_k or settings.MATCH_TOP_K
    rows = nearest_faces(embedding, pipeline_version=pipeline_version, limit=top_k * _FACES_PER_PERSON,
                         exclude_photo_id=exclude_photo_id, ef_search=ef_search,
                         ivfflat_probes=ivfflat_probes)
    best: dict[int, tuple[float, int]] = {}
    for face_id, person_id, distance in rows:
        if person_id not in best or distance < best[person_id][0]:
            best[person_id] = (distance, face_id)
    ranked = sorted(best.items(), key=lambda kv: kv[1][0])[:top_k]
    people = Person.objects.in_bulk([pid for pid, _ in ranked])
    return [Candidate(person=people[pid], face_id=fid, distance=d) for pid, (d, fid) in ranked]
