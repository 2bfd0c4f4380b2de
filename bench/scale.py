"""Scale benchmark of face search: N synthetic faces in the real tables and the real HNSW index.

``python -m bench bench_search --faces 1000000`` loads synthetic people (1 to 5 faces each; a
share of them with withdrawn consent, so the consent filter is on) into
``recognition_person/consent/photo/face`` with COPY, (re)builds the HNSW index (or, with
``--index ivfflat``, an IVFFlat index) with the given parameters, then searches through
the same code path as the application (``services.matching``) and prints build time, index
size, p50/p95/p99 latency, and recall@1 / recall@10 against exact search.

Exact search is computed in numpy over the same matchable faces (it cannot be fooled by
a prepared statement that silently keeps using the index), and cross-checked for a few
queries against PostgreSQL with index scans disabled on an unprepared statement.

Two kinds of probes are measured: a new face of an enrolled person (what identification
is for), and a face of someone never enrolled (a stranger).

It needs a database that holds nothing but benchmark data: it truncates the domain
tables. Run it on a throwaway data dir (``FACEWEB_DATA_DIR=.data/bench-scale``).
"""

from __future__ import annotations

import os
import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import psycopg
from django.db import connection, transaction
from django.utils import timezone

from bench.synthetic import FaceDistribution, exact_knn, gallery
from recognition.models import ConsentNotice, Person
from recognition.services.matching import (
    NEAREST_SQL,
    ef_search_for,
    match_embedding,
    nearest_faces,
    vector_literal,
)

BENCH_PIPELINE = "bench-synthetic"
INDEX_NAME = "face_embedding_hnsw"
IVFFLAT_INDEX_NAME = "face_embedding_ivfflat"
_INDEX_NAMES = (INDEX_NAME, IVFFLAT_INDEX_NAME)
_DOMAIN_TABLES = ("recognition_identification", "recognition_face", "recognition_photo",
                  "recognition_consent", "recognition_person")


class NotABenchDatabase(RuntimeError):
    pass


@dataclass
class SearchFigures:
    probes: str
    ef_search: int
    iterative_scan: str
    recall_at_1: float
    recall_at_10: float
    person_recall_at_1: float  # the nearest person found is the exact one (what identification uses)
    p50_ms: float
    p95_ms: float
    p99_ms: float
    match_p50_ms: float
    match_p95_ms: float
    match_p99_ms: float
    short_lists: int
    ivfflat_probes: int = 0  # 0: HNSW (ef_search applies)
    # Mean CPU time of the PostgreSQL backend per query (both calls), from /proc when the server
    # runs on this machine (else 0): unlike latency, it hardly moves when other processes
    # compete for the cores, so it shows what a search costs on a busy machine.
    server_cpu_ms: float = 0.0


@dataclass
class ScaleReport:
    faces: int
    people: int
    matchable_faces: int
    load_s: float
    build_s: float
    index_mb: float
    table_mb: float
    index_params: dict
    exact_check: str
    server: dict = field(default_factory=dict)
    searches: list[SearchFigures] = field(default_factory=list)


def _check_bench_database(force: bool) -> None:
    foreign = Person.objects.exclude(pseudonym__startswith="bench-").count()
    if foreign and not force:
        raise NotABenchDatabase(
            f"this database holds {foreign} real people: the benchmark truncates the domain tables. "
            "Run it with FACEWEB_DATA_DIR=.data/bench-scale (a throwaway cluster).")


def _binary_copy_rows(person_no: np.ndarray, vectors: np.ndarray) -> bytes:
    """PostgreSQL binary COPY of (face_no int4, person_no int4, embedding vector(dim)), numbered from 1."""
    n, dim = vectors.shape
    dt = np.dtype([("nf", ">i2"), ("l1", ">i4"), ("face", ">i4"), ("l2", ">i4"), ("person", ">i4"),
                   ("l3", ">i4"), ("dim", ">i2"), ("unused", ">i2"), ("v", ">f4", (dim,))])
    rows = np.zeros(n, dtype=dt)
    rows["nf"] = 3
    rows["l1"] = 4
    rows["face"] = np.arange(1, n + 1)
    rows["l2"] = 4
    rows["person"] = person_no + 1
    rows["l3"] = 4 + 4 * dim
    rows["dim"] = dim
    rows["v"] = vectors
    return b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0) + rows.tobytes() + struct.pack(">h", -1)


def insert_synthetic_faces(*, person_of_face: np.ndarray, faces: np.ndarray,
                           withdrawn: np.ndarray | None = None,
                           pipeline_version: str = BENCH_PIPELINE) -> tuple[int, int]:
    """Append synthetic enrolled people (one consent and one photo each) and their faces with COPY.

    ``person_of_face[i]`` numbers the person (0..P-1) of ``faces[i]``; ``withdrawn[p]`` marks
    people whose consent is withdrawn (not matchable). Returns the first person id and the
    first face id used (row ``i`` is face ``first_face + i``). Runs in one transaction.
    """
    notice = ConsentNotice.objects.order_by("-published_at").first()
    if notice is None:
        raise NotABenchDatabase("no consent notice: run the migrations first")
    n_people = int(person_of_face.max()) + 1
    withdrawn = np.zeros(n_people, dtype=bool) if withdrawn is None else withdrawn
    with transaction.atomic(), connection.cursor() as cur:
        bases = {}
        for table in ("person", "consent", "photo", "face"):
            cur.execute(f"LOCK TABLE recognition_{table} IN SHARE ROW EXCLUSIVE MODE")
            cur.execute(f"SELECT coalesce(max(id), 0) FROM recognition_{table}")  # noqa: S608
            bases[table] = cur.fetchone()[0]
        bp, bc, bph, bf = bases["person"], bases["consent"], bases["photo"], bases["face"]
        cur.execute("""
            INSERT INTO recognition_person (id, display_name, pseudonym, created_at, last_interaction_at)
            SELECT %s + g, 'bench person ' || g, 'bench-' || (%s + g), now(), now()
            FROM generate_series(1, %s) g""", [bp, bp, n_people])
        # Temporary tables, dropped at the end (ON COMMIT would wait for an enclosing transaction).
        cur.execute("DROP TABLE IF EXISTS bench_withdrawn, bench_stage")
        cur.execute("CREATE TEMP TABLE bench_withdrawn (person_no int PRIMARY KEY)")
        with cur.cursor.copy("COPY bench_withdrawn FROM STDIN") as cp:
            for pid in (np.flatnonzero(withdrawn) + 1).tolist():
                cp.write_row((pid,))
        cur.execute("""
            INSERT INTO recognition_consent (id, person_id, notice_id, notice_version, notice_sha256,
                purpose_enrol, purpose_identify, method, evidence, user_agent, given_at, expires_at,
                withdrawn_at)
            SELECT %s + g, %s + g, %s, %s, %s, true, true, 'command', 'synthetic benchmark', '', now(),
                   now() + interval '365 days',
                   CASE WHEN w.person_no IS NULL THEN NULL ELSE now() END
            FROM generate_series(1, %s) g LEFT JOIN bench_withdrawn w ON w.person_no = g""",
                    [bc, bp, notice.pk, notice.version, notice.sha256, n_people])
        cur.execute("""
            INSERT INTO recognition_photo (id, person_id, consent_id, purpose, file, original_name, sha256,
                size_bytes, width, height, image_format, status, error, attempts, timings, pipeline_version,
                created_at)
            SELECT %s + g, %s + g, %s + g, 'enrol', '', '', md5(g::text) || md5((%s + g)::text), 0, 0, 0, '',
                   'done', '', 1, '{}'::jsonb, %s, now()
            FROM generate_series(1, %s) g""", [bph, bp, bc, bph, pipeline_version, n_people])
        cur.execute("CREATE TEMP TABLE bench_stage (face_no int, person_no int, embedding vector(128))")
        data = _binary_copy_rows(person_of_face, faces)
        with cur.cursor.copy("COPY bench_stage FROM STDIN (FORMAT binary)") as cp:
            for start in range(0, len(data), 8 << 20):
                cp.write(data[start:start + (8 << 20)])
        # Faces of one person are consecutive rows: their index in the photo is face_no - first face_no.
        cur.execute("""
            INSERT INTO recognition_face (id, photo_id, index, person_id, enrolled, box, landmarks, det_score,
                quality, quality_reasons, is_good, embedding, pipeline_version, created_at)
            SELECT %s + s.face_no, %s + s.person_no, (s.face_no - f.first_no)::smallint, %s + s.person_no,
                   true, '[0, 0, 0, 0]'::jsonb, '[]'::jsonb, 1.0, 1.0, '[]'::jsonb, true, s.embedding, %s,
                   now()
            FROM bench_stage s
            JOIN (SELECT person_no, min(face_no) AS first_no FROM bench_stage GROUP BY person_no) f
              USING (person_no)""", [bf, bph, bp, pipeline_version])
        cur.execute("DROP TABLE bench_withdrawn, bench_stage")
        for table in ("person", "consent", "photo", "face"):
            cur.execute(f"SELECT setval(pg_get_serial_sequence('recognition_{table}', 'id'), "  # noqa: S608
                        f"(SELECT greatest(coalesce(max(id), 1), 1) FROM recognition_{table}))")
    return bp + 1, bf + 1


def load_gallery(*, person_of_face: np.ndarray, faces: np.ndarray, withdrawn: np.ndarray,
                 maintenance_work_mem: str) -> float:
    """Replace the domain tables' content by the synthetic gallery (index dropped); return seconds."""
    t0 = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(f"TRUNCATE {', '.join(_DOMAIN_TABLES)} RESTART IDENTITY CASCADE")
        for name in _INDEX_NAMES:
            cur.execute(f"DROP INDEX IF EXISTS {name}")
        insert_synthetic_faces(person_of_face=person_of_face, faces=faces, withdrawn=withdrawn)
    with connection.cursor() as cur:
        cur.execute(f"SET maintenance_work_mem = '{maintenance_work_mem}'")
        cur.execute("VACUUM ANALYZE recognition_face")
        cur.execute("ANALYZE recognition_person")
        cur.execute("ANALYZE recognition_consent")
    return time.perf_counter() - t0


def _index_ddl(index: str, *, m: int, ef_construction: int, lists: int) -> tuple[str, str]:
    """(index name, CREATE INDEX statement) for ``index`` = hnsw or ivfflat."""
    if index == "ivfflat":
        return IVFFLAT_INDEX_NAME, (f"CREATE INDEX {IVFFLAT_INDEX_NAME} ON recognition_face "
                                    f"USING ivfflat (embedding vector_l2_ops) WITH (lists = {int(lists)}) "
                                    "WHERE enrolled")
    if index != "hnsw":
        raise ValueError(f"index must be hnsw or ivfflat, not {index!r}")
    return INDEX_NAME, (f"CREATE INDEX {INDEX_NAME} ON recognition_face USING hnsw (embedding vector_l2_ops) "
                        f"WITH (m = {int(m)}, ef_construction = {int(ef_construction)}) WHERE enrolled")


def build_index(*, m: int, ef_construction: int, maintenance_work_mem: str, index: str = "hnsw",
                lists: int = 1000) -> tuple[float, float, float]:
    """(Re)build the vector index (the only one on the column); return (seconds, index MB, table MB)."""
    name, ddl = _index_ddl(index, m=m, ef_construction=ef_construction, lists=lists)
    with connection.cursor() as cur:
        for old in _INDEX_NAMES:
            cur.execute(f"DROP INDEX IF EXISTS {old}")
        cur.execute(f"SET maintenance_work_mem = '{maintenance_work_mem}'")
        cur.execute("SET max_parallel_maintenance_workers = 0")  # gave nothing on 2 cores
        t0 = time.perf_counter()
        cur.execute(ddl)
        seconds = time.perf_counter() - t0
        cur.execute("SELECT pg_relation_size(%s), pg_table_size('recognition_face')", [name])
        index_bytes, table_bytes = cur.fetchone()
    return seconds, index_bytes / 2**20, table_bytes / 2**20


def _postgres_exact_top1(queries: np.ndarray) -> list[int]:
    """Exact nearest matchable face: the application's search SQL with index scans disabled.

    Unprepared, so the planner settings apply (a prepared plan would keep its index scan).
    """
    params = {"pipeline": BENCH_PIPELINE, "exclude": None, "now": timezone.now(), "limit": 1}
    out = []
    with transaction.atomic():
        connection.ensure_connection()
        with psycopg.Cursor(connection.connection) as cur:
            cur.execute("SET LOCAL enable_indexscan = off; SET LOCAL enable_bitmapscan = off")
            for q in queries:
                cur.execute(NEAREST_SQL, {**params, "q": vector_literal(q)}, prepare=False)
                out.append(int(cur.fetchone()[0]))
    return out


def _percentiles(values: Sequence[float]) -> tuple[float, float, float]:
    p50, p95, p99 = np.percentile(np.asarray(values) * 1000.0, [50, 95, 99])
    return float(p50), float(p95), float(p99)


def server_facts() -> dict:
    """The server settings that decide search latency, printed beside the figures."""
    facts = {}
    with connection.cursor() as cur:
        for name in ("server_version", "shared_buffers", "huge_pages", "huge_pages_status", "jit"):
            cur.execute("SELECT current_setting(%s, true)", [name])  # NULL: unknown to this server
            facts[name] = cur.fetchone()[0] or "?"
        cur.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        row = cur.fetchone()
        facts["pgvector"] = row[0] if row else "?"
    return facts


def measure_search(*, probes: np.ndarray, kind: str, exact_ids: np.ndarray, exact_d: np.ndarray,
                   person_of_face: np.ndarray, ef_search: int, iterative_scan: str, top_k: int = 3,
                   ivfflat_probes: int = 0, warmup: int = 100) -> SearchFigures:
    """Recall and latency of the application's search for a set of probes.

    ``ivfflat_probes`` > 0 sets ``ivfflat.probes`` (an IVFFlat index); ``ef_search`` applies to HNSW.
    The first ``warmup`` probes are searched once, untimed, to bring the index into the cache
    (after a restart, the first few hundred searches read index pages from the OS).
    """
    opts = {"ef_search": ef_search, "ivfflat_probes": ivfflat_probes or None}
    for q in probes[:warmup]:  # warm the caches and the connection
        nearest_faces(q, pipeline_version=BENCH_PIPELINE, limit=10, iterative_scan=iterative_scan, **opts)
    hits1, hits10, person_hits, short, times, match_times = 0, 0.0, 0, 0, [], []
    cpu_before = _backend_cpu_s()
    for i, q in enumerate(probes):
        t0 = time.perf_counter()
        rows = nearest_faces(q, pipeline_version=BENCH_PIPELINE, limit=10, iterative_scan=iterative_scan,
                             **opts)
        times.append(time.perf_counter() - t0)
        got = [fid for fid, _, _ in rows]
        dists = np.array([d for _, _, d in rows])
        truth = set((exact_ids[i] + 1).tolist())  # face id = index + 1
        tol = 1e-4
        if got and (got[0] == exact_ids[i][0] + 1 or dists[0] <= exact_d[i][0] + tol):
            hits1 += 1
        hits10 += sum(1 for fid, d in zip(got, dists, strict=True)
                      if fid in truth or d <= exact_d[i][-1] + tol) / 10.0
        short += len(rows) < 10
        person_hits += bool(rows) and rows[0][1] == int(person_of_face[exact_ids[i][0]]) + 1
        t0 = time.perf_counter()
        match_embedding(q, pipeline_version=BENCH_PIPELINE, top_k=top_k, **opts)
        match_times.append(time.perf_counter() - t0)
    cpu_after = _backend_cpu_s()
    p50, p95, p99 = _percentiles(times)
    m50, m95, m99 = _percentiles(match_times)
    n = len(probes)
    server_cpu_ms = ((cpu_after - cpu_before) * 1000.0 / (2 * n)
                     if cpu_before is not None and cpu_after is not None else 0.0)
    return SearchFigures(kind, ef_search, iterative_scan, hits1 / n, hits10 / n, person_hits / n,
                         p50, p95, p99, m50, m95, m99, short, ivfflat_probes, server_cpu_ms)


def _backend_cpu_s() -> float | None:
    """CPU seconds (user + system) used so far by this connection's PostgreSQL backend, if local."""
    with connection.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        pid = cur.fetchone()[0]
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(*, n_faces: int, m: int, ef_construction: int, ef_search: Sequence[int], n_queries: int,
        iterative_scan: str = "relaxed_order", withdrawn_share: float = 0.1, seed: int = 0,
        maintenance_work_mem: str = "2GB", distribution: str | None = None, reuse: bool = False,
        force: bool = False, say: Callable[[str], None] = print, index: str = "hnsw", lists: int = 1000,
        ivfflat_probes: Sequence[int] = (), warmup: int = 100) -> ScaleReport:
    _check_bench_database(force)
    rng = np.random.default_rng(seed)
    dist = FaceDistribution.load(distribution)
    t0 = time.perf_counter()
    centres, faces, person_of_face = gallery(dist, n_faces, rng)
    withdrawn = rng.random(len(centres)) < withdrawn_share
    say(f"generated {n_faces:,} faces of {len(centres):,} people in {time.perf_counter() - t0:.1f}s; "
        f"{withdrawn.mean():.0%} of people have withdrawn consent")
    if reuse:
        load_s = 0.0
        with connection.cursor() as cur:
            cur.execute("SELECT count(*) FROM recognition_face WHERE pipeline_version = %s", [BENCH_PIPELINE])
            if cur.fetchone()[0] != n_faces:
                raise NotABenchDatabase("--reuse: the stored gallery differs in size; load it again")
    else:
        load_s = load_gallery(person_of_face=person_of_face, faces=faces, withdrawn=withdrawn,
                              maintenance_work_mem=maintenance_work_mem)
        say(f"loaded with COPY in {load_s:.1f}s")
    with connection.cursor() as cur:
        index_name = IVFFLAT_INDEX_NAME if index == "ivfflat" else INDEX_NAME
        cur.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s", [index_name])
        existing = cur.fetchone()
    wanted = f"lists='{lists}'" if index == "ivfflat" else f"m='{m}', ef_construction='{ef_construction}'"
    if reuse and existing and wanted in existing[0]:
        build_s = 0.0
        with connection.cursor() as cur:
            cur.execute("SELECT pg_relation_size(%s), pg_table_size('recognition_face')", [index_name])
            index_bytes, table_bytes = cur.fetchone()
        index_mb, table_mb = index_bytes / 2**20, table_bytes / 2**20
        say("reusing the existing index")
    else:
        what = (f"IVFFlat lists={lists}" if index == "ivfflat"
                else f"HNSW m={m} ef_construction={ef_construction}")
        say(f"building {what} (maintenance_work_mem {maintenance_work_mem})")
        build_s, index_mb, table_mb = build_index(m=m, ef_construction=ef_construction,
                                                  maintenance_work_mem=maintenance_work_mem, index=index,
                                                  lists=lists)
        say(f"built in {build_s:.1f}s: index {index_mb:.0f} MB, table {table_mb:.0f} MB")

    allowed = ~withdrawn[person_of_face]
    matchable = np.flatnonzero(~withdrawn)
    enrolled_probes = dist.faces_of(centres[rng.choice(matchable, n_queries)], rng)
    strangers = dist.faces_of(dist.people(n_queries, rng), rng)
    t0 = time.perf_counter()
    truth = {kind: exact_knn(faces, probes, 10, allowed=allowed)
             for kind, probes in (("enrolled", enrolled_probes), ("stranger", strangers))}
    say(f"exact search in numpy for {2 * n_queries} probes: {time.perf_counter() - t0:.1f}s")
    check = min(10, n_queries)
    pg = _postgres_exact_top1(strangers[:check])
    agree = sum(int(a == b + 1) for a, b in zip(pg, truth["stranger"][0][:check, 0], strict=True))
    exact_check = f"PostgreSQL exact scan agrees with numpy on {agree}/{check} top-1"
    say(exact_check)
    server = server_facts()
    say("server: " + ", ".join(f"{k} {v}" for k, v in server.items()))

    report = ScaleReport(n_faces, len(centres), int(allowed.sum()), load_s, build_s, index_mb, table_mb,
                         ({"index": "ivfflat", "lists": lists} if index == "ivfflat" else
                          {"index": "hnsw", "m": m, "ef_construction": ef_construction}), exact_check, server)
    if not ef_search:  # the product's own choice for this gallery size
        ef_search = [ef_search_for(int(allowed.sum()))]
        say(f"ef_search {ef_search[0]}: the product's choice for {int(allowed.sum()):,} matchable faces")
    # HNSW: sweep ef_search; IVFFlat: sweep ivfflat.probes (ef_search then has no effect).
    sweep = ([(0, p) for p in ivfflat_probes] if index == "ivfflat" else [(ef, 0) for ef in ef_search])
    for ef, nprobes in sweep:
        for kind, probes in (("enrolled", enrolled_probes), ("stranger", strangers)):
            ids, d = truth[kind]
            figures = measure_search(probes=probes, kind=kind, exact_ids=ids, exact_d=d,
                                     person_of_face=person_of_face, ef_search=ef or 100,
                                     iterative_scan=iterative_scan, ivfflat_probes=nprobes, warmup=warmup)
            report.searches.append(figures)
            say(format_row(figures))
    return report


HEADER = ("probes     ef/probes  scan           recall@1  recall@10  person@1  search p50/p95/p99 ms    "
          "match_embedding p50/p95/p99 ms  short  server CPU ms/query")


def format_row(f: SearchFigures) -> str:
    setting = f"p={f.ivfflat_probes}" if f.ivfflat_probes else str(f.ef_search)
    return (f"{f.probes:<10} {setting:>9}  {f.iterative_scan:<14} {f.recall_at_1:>8.3f}"
            f"  {f.recall_at_10:>9.3f}  {f.person_recall_at_1:>8.3f}  {f.p50_ms:6.1f} {f.p95_ms:6.1f}"
            f" {f.p99_ms:6.1f}       "
            f"{f.match_p50_ms:6.1f} {f.match_p95_ms:6.1f} {f.match_p99_ms:6.1f}        {f.short_lists:<5}"
            f"  {f.server_cpu_ms:6.2f}")
