"""Ingest benchmark: real photos uploaded through the service, processed by real Celery workers.

``python -m bench bench_ingest --folder DIR`` starts a
throwaway PostgreSQL+pgvector and Redis in a temporary folder (never the ones of the
running service), migrates, and for each worker count (1, then 2 by default):

1. starts that many ``celery worker --concurrency 1`` processes and warms them up (one
   photo each, so that model loading is not counted);
2. uploads N photos through ``services.photos.upload_photo`` in a Django process of the
   stack, exactly as the web and API do (stored, audit-logged, enqueued after commit):
   one enrolment photo first, then every photo to identify;
3. waits until every photo is done or failed, sampling the workers' resident memory
   (pool processes included) with psutil.

It reports photos per minute (N over the time from the first upload to the last photo
finished), the upload-to-result latency per photo (a proposal exists: the first
Identification's ``created_at`` minus the photo's ``created_at``; an enrolment, or a
photo with no match: ``finished_at`` minus ``created_at``), its p50/p95, and the peak
RSS per worker. It runs from a source checkout: the processes are driven by
:mod:`bench.stack`, the throwaway stack the fault tests use too.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from bench.stack import REPO, Stack

FIXTURE_FACES = REPO / "tests" / "fixtures" / "faces"
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}
ENROL_PHOTO = FIXTURE_FACES / "obama.jpg"
MODELS_READY = "embedder dlib-resnet"  # logged by a worker once its models are loaded
THREADS_REFUSED = "cannot change its thread pools"  # logged when FACEWEB_TF_THREADS came too late

UPLOAD_SCRIPT = """
import time
from pathlib import Path
from django.contrib.auth.models import Group, User
from recognition.models import Consent
from recognition.services.consent import give_consent, person_for_user
from recognition.services.photos import upload_photo

plan = json.loads({plan!r})
user = User.objects.create_user(plan["username"])
user.groups.add(Group.objects.get(name="uploader"))
give_consent(person=person_for_user(user), purposes={{"enrol", "identify"}}, method=Consent.Method.WEB,
             given_by=user)
ids, started = [], time.perf_counter()
for path, purpose in plan["uploads"]:
    data = Path(path).read_bytes()
    ids.append(upload_photo(uploader=user, file=data, purpose=purpose, filename=Path(path).name).photo.pk)
result = {{"ids": ids, "upload_s": time.perf_counter() - started}}
"""

RESULTS_SQL = """
SELECT p.id, p.status, p.created_at, p.finished_at,
       (SELECT count(*) FROM recognition_face f WHERE f.photo_id = p.id),
       (SELECT min(i.created_at) FROM recognition_identification i
          JOIN recognition_face f ON f.id = i.face_id WHERE f.photo_id = p.id),
       p.started_at
FROM recognition_photo p WHERE p.id = ANY(%s)
"""


def collect_photos(folders: Sequence[Path], limit: int) -> list[Path]:
    """The fixture photos, then those of ``folders`` (recursively), distinct by content, at most ``limit``."""
    seen: set[str] = set()
    photos: list[Path] = []
    for folder in [FIXTURE_FACES, *folders]:
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder} is not a folder")
        for path in sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES):
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            if digest not in seen:
                seen.add(digest)
                photos.append(path)
    return photos[:limit]


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=float), q)) if values else float("nan")


@dataclass
class Phase:
    workers: int
    tf_threads: int
    tf_threads_applied: bool
    photos: int
    done: int
    failed: int
    faces: int
    with_proposal: int
    upload_s: float
    wall_s: float
    photos_per_min: float
    latency_p50_s: float
    latency_p95_s: float
    latency_max_s: float
    processing_p50_s: float
    worker_start_s: float
    peak_rss_mb_per_worker: float
    peak_rss_mb_total: float
    load_before: tuple[float, float, float] = field(default=(0.0, 0.0, 0.0))
    load_after: tuple[float, float, float] = field(default=(0.0, 0.0, 0.0))


class RssSampler(threading.Thread):
    """Peak resident memory of each worker (main process + pool children), sampled every 0.5 s."""

    def __init__(self, workers) -> None:
        super().__init__(daemon=True)
        self.workers = workers
        self.peak = dict.fromkeys(range(len(workers)), 0)
        self.peak_total = 0
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            sizes = [w.rss_bytes() for w in self.workers]
            for i, size in enumerate(sizes):
                self.peak[i] = max(self.peak[i], size)
            self.peak_total = max(self.peak_total, sum(sizes))
            self._halt.wait(0.5)

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=5)


def _wait_final(stack, ids: list[int], *, timeout: float, progress: Callable[[int], None]) -> None:
    deadline = time.monotonic() + timeout
    while True:
        (finished,) = stack.sql("SELECT count(*) FROM recognition_photo WHERE id = ANY(%s) "
                                "AND status IN ('done', 'failed')", [ids])[0]
        progress(finished)
        if finished == len(ids):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(ids) - finished} of {len(ids)} photos not processed in {timeout:g} s")
        time.sleep(0.5)


def run_phase(stack, photos: list[Path], *, workers: int, tf_threads: int, timeout: float,
              say: Callable[[str], None]) -> Phase:
    load_before = os.getloadavg()
    t0 = time.monotonic()
    procs = [stack.start_worker(f"bench{workers}-{i + 1}", tf_threads=tf_threads) for i in range(workers)]
    # Warm-up: one photo per worker (prefetch 1: each idle worker takes one) until every
    # worker has loaded its models, so that loading them is not counted below.
    for round_ in range(4):
        batch = photos[round_ * workers:(round_ + 1) * workers]
        plan = {"username": f"bench-{workers}-warmup-{round_}",
                "uploads": [[str(p), "identify"] for p in batch]}
        warm = stack.django(UPLOAD_SCRIPT.format(plan=json.dumps(plan)))
        _wait_final(stack, warm["ids"], timeout=timeout, progress=lambda n: None)
        if all(MODELS_READY in proc.log() for proc in procs):
            break
    worker_start_s = time.monotonic() - t0
    say(f"{workers} worker(s) started and warmed up in {worker_start_s:.1f} s; "
        f"uploading {len(photos)} photos")

    sampler = RssSampler(procs)
    sampler.start()
    uploads = [[str(ENROL_PHOTO), "enrol"]] + [[str(p), "identify"] for p in photos[1:]]
    try:
        plan = json.dumps({"username": f"bench-{workers}", "uploads": uploads})
        run = stack.django(UPLOAD_SCRIPT.format(plan=plan), timeout=timeout)
        last = [-1]

        def progress(n: int) -> None:
            if n != last[0] and (n == len(uploads) or n - last[0] >= max(1, len(uploads) // 10)):
                say(f"  {n}/{len(uploads)} processed")
                last[0] = n

        _wait_final(stack, run["ids"], timeout=timeout, progress=progress)
    finally:
        sampler.stop()
        for proc in procs:
            proc.stop(grace=30)
    threads_applied = not any(THREADS_REFUSED in proc.log() for proc in procs)
    rows = stack.sql(RESULTS_SQL, [run["ids"]])
    created = [r[2] for r in rows]
    finished = [r[3] for r in rows if r[3] is not None]
    latencies = [((r[5] or r[3]) - r[2]).total_seconds() for r in rows if r[3] is not None]
    processing = [(r[3] - r[6]).total_seconds() for r in rows if r[3] is not None and r[6] is not None]
    wall_s = (max(finished) - min(created)).total_seconds()
    return Phase(
        workers=workers, tf_threads=tf_threads, tf_threads_applied=threads_applied, photos=len(rows),
        done=sum(r[1] == "done" for r in rows), failed=sum(r[1] == "failed" for r in rows),
        faces=sum(r[4] for r in rows), with_proposal=sum(r[5] is not None for r in rows),
        upload_s=run["upload_s"], wall_s=wall_s, photos_per_min=len(rows) / wall_s * 60,
        latency_p50_s=percentile(latencies, 50), latency_p95_s=percentile(latencies, 95),
        latency_max_s=max(latencies), processing_p50_s=percentile(processing, 50),
        worker_start_s=worker_start_s,
        peak_rss_mb_per_worker=max(sampler.peak.values()) / 2**20,
        peak_rss_mb_total=sampler.peak_total / 2**20,
        load_before=load_before, load_after=os.getloadavg(),
    )


def run(*, folders: Sequence[Path], limit: int, worker_counts: Sequence[int], tf_threads: int | None,
        timeout: float, model_cache: Path, data_dir: Path | None, say: Callable[[str], None]) -> list[Phase]:
    """Run the benchmark for each worker count on a throwaway stack; one :class:`Phase` each."""
    photos = collect_photos(folders, limit)
    if len(photos) < 2:
        raise ValueError("need at least 2 photos")
    root = Path(tempfile.mkdtemp(prefix="fw-ingest-")) if data_dir is None else None
    # Throughput is measured, not people: no identify quota (docs/rules.md) in the throwaway stack.
    stack = Stack(data_dir or root / "data", model_cache=model_cache,
                  settings_env={"IDENTIFY_QUOTA_PER_DAY": "0"})
    say(f"{len(photos)} photos; throwaway services in {stack.data_dir}")
    try:
        stack.start_services()
        stack.manage("migrate", "--noinput", "--skip-checks")
        phases = []
        for workers in worker_counts:
            threads = tf_threads or max(1, (os.cpu_count() or 1) // workers)
            phases.append(run_phase(stack, photos, workers=workers, tf_threads=threads, timeout=timeout,
                                    say=say))
            say(HEADER)
            say(format_row(phases[-1]))
        return phases
    finally:
        stack.close()
        if root is not None:
            shutil.rmtree(root, ignore_errors=True)


HEADER = (f"{'workers':>7} {'tf thr':>6} {'photos':>6} {'faces':>5} {'failed':>6} {'wall s':>7} "
          f"{'photos/min':>10} {'p50 s':>6} {'p95 s':>6} {'max s':>6} {'proc p50':>8} {'RSS/worker MB':>13} "
          f"{'load':>15}")


def format_row(p: Phase) -> str:
    load = f"{p.load_before[0]:.1f}->{p.load_after[0]:.1f}"
    threads = f"{p.tf_threads}" if p.tf_threads_applied else f"({p.tf_threads})"
    return (f"{p.workers:>7} {threads:>6} {p.photos:>6} {p.faces:>5} {p.failed:>6} {p.wall_s:>7.1f} "
            f"{p.photos_per_min:>10.1f} {p.latency_p50_s:>6.1f} {p.latency_p95_s:>6.1f} "
            f"{p.latency_max_s:>6.1f} {p.processing_p50_s:>8.2f} {p.peak_rss_mb_per_worker:>13.0f} "
            f"{load:>15}")


def as_json(phases: list[Phase]) -> str:
    return json.dumps([asdict(p) for p in phases], indent=2)
