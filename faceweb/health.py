"""Health checks: ``GET /healthz`` (anyone, cheap, cached) and ``GET /healthz/detail`` (operators).

``/healthz`` is what load balancers and container health checks poll, anonymously and
often. It must stay cheap: one ``SELECT`` on the database, one Redis round trip that also
reads the workers' heartbeats (each worker writes its own every ``WORKER_HEARTBEAT_S``
seconds, see ``faceweb.celery``), and the answer is reused for ``HEALTHZ_CACHE_S`` seconds
by each web process. It never broadcasts to the workers.

``/healthz/detail`` is for operators (role-checked): it asks every worker over the broker
(a Celery ping, about a second) and adds the queue length, the heartbeat ages and the
database's memory settings that decide search latency (docs/search.md).
"""

from __future__ import annotations

import threading
import time

import redis
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from faceweb.celery import app as celery_app

# Sorted set in Redis: worker hostname -> time of its last heartbeat (Unix seconds).
HEARTBEAT_KEY = "faceweb:worker-heartbeats"
# Who may read the detailed check: operators (the role that runs the service).
CAN_SEE_DETAIL = "recognition.manage_retention"

_cache_lock = threading.Lock()
_cached: tuple[float, dict, int] | None = None


def _redis_client() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1)


def heartbeat_max_age() -> float:
    """A heartbeat older than this says its worker is gone (three missed beats)."""
    return 3 * float(settings.WORKER_HEARTBEAT_S)


def record_heartbeat(hostname: str, client: redis.Redis | None = None) -> None:
    """Called by each worker every ``WORKER_HEARTBEAT_S`` seconds (``faceweb.celery``)."""
    client = client or _redis_client()
    now = time.time()
    pipe = client.pipeline()
    pipe.zadd(HEARTBEAT_KEY, {hostname: now})
    pipe.zremrangebyscore(HEARTBEAT_KEY, "-inf", now - 10 * heartbeat_max_age())  # long-gone workers
    pipe.execute()


def forget_heartbeat(hostname: str) -> None:
    """A worker that stops cleanly says so at once instead of letting its heartbeat age."""
    _redis_client().zrem(HEARTBEAT_KEY, hostname)


def check_database() -> dict:
    try:
        with connection.cursor() as cur:
            cur.execute("SELECT current_setting('server_version'), "
                        "(SELECT extversion FROM pg_extension WHERE extname = 'vector')")
            server_version, vector_version = cur.fetchone()
    except Exception as exc:  # noqa: BLE001 - any failure means "down"; the reason is reported
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}".strip()[:300]}
    ok = vector_version is not None
    result = {"ok": ok, "postgres": server_version, "pgvector": vector_version}
    if not ok:
        result["error"] = "the pgvector extension is not installed (run migrations)"
    return result


def check_redis_and_heartbeats() -> tuple[dict, dict]:
    """Redis up, and the workers whose heartbeat is recent: one round trip."""
    try:
        client = _redis_client()
        pipe = client.pipeline()
        pipe.info("server")
        pipe.zrangebyscore(HEARTBEAT_KEY, time.time() - heartbeat_max_age(), "+inf")
        info, beating = pipe.execute()
    except Exception as exc:  # noqa: BLE001
        error = f"{type(exc).__name__}: {exc}"[:300]
        return {"ok": False, "error": error}, {"ok": False, "error": "redis is down"}
    workers = sorted(name.decode() if isinstance(name, bytes) else name for name in beating)
    worker = {"ok": bool(workers), "workers": workers}
    if not workers:
        worker["error"] = f"no Celery worker heartbeat within {heartbeat_max_age():g}s"
    return {"ok": True, "version": info.get("redis_version")}, worker


def summary() -> tuple[dict, int]:
    """The body and status of ``/healthz``, computed now."""
    checks = {"database": check_database()}
    checks["redis"], checks["worker"] = check_redis_and_heartbeats()
    failing = [name for name, result in checks.items() if not result["ok"]]
    body = {"status": "ok" if not failing else "unavailable", "failing": failing, **checks}
    return body, 200 if not failing else 503


def cached_summary() -> tuple[dict, int]:
    """``summary()``, reused for ``HEALTHZ_CACHE_S`` seconds (one computation at a time per process)."""
    global _cached
    ttl = float(settings.HEALTHZ_CACHE_S)
    with _cache_lock:  # concurrent requests wait for one computation instead of each running it
        now = time.monotonic()
        if _cached is None or ttl <= 0 or now - _cached[0] >= ttl:
            body, status = summary()
            _cached = (now, body, status)
        return dict(_cached[1]), _cached[2]


def forget_cached() -> None:
    global _cached
    with _cache_lock:
        _cached = None


def check_worker_ping(timeout: float = 1.0) -> dict:
    """Ask every worker over the broker (a broadcast): slow, for the operators' check only."""
    try:
        replies = celery_app.control.ping(timeout=timeout) or []
    except Exception as exc:  # noqa: BLE001
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    workers = sorted(name for reply in replies for name in reply)
    if not workers:
        return {"ok": False, "error": f"no Celery worker answered within {timeout:g}s", "workers": []}
    return {"ok": True, "workers": workers}


def _details() -> dict:
    out: dict = {}
    try:
        client = _redis_client()
        now = time.time()
        out["heartbeats_age_s"] = {
            (name.decode() if isinstance(name, bytes) else name): round(now - score, 1)
            for name, score in client.zrange(HEARTBEAT_KEY, 0, -1, withscores=True)}
        out["queue_length"] = int(client.llen(celery_app.conf.task_default_queue))
    except Exception as exc:  # noqa: BLE001
        out["redis_error"] = f"{type(exc).__name__}: {exc}"[:300]
    try:
        with connection.cursor() as cur:
            names = ("shared_buffers", "effective_cache_size", "huge_pages", "huge_pages_status",
                     "maintenance_work_mem")
            cur.execute("SELECT name, current_setting(name) FROM pg_settings WHERE name = ANY(%s)",
                        [list(names)])
            out["postgres_settings"] = dict(cur.fetchall())
            cur.execute("SELECT status, count(*) FROM recognition_photo GROUP BY status")
            out["photos_by_status"] = dict(cur.fetchall())
    except Exception as exc:  # noqa: BLE001
        out["database_error"] = f"{type(exc).__name__}: {exc}"[:300]
    return out


@never_cache
@require_GET
def healthz(request):
    body, status = cached_summary()
    return JsonResponse(body, status=status)


@never_cache
@require_GET
@login_required
def healthz_detail(request):
    """Everything ``/healthz`` says, computed now, plus a broadcast ping and operating figures."""
    if not request.user.has_perm(CAN_SEE_DETAIL):
        raise PermissionDenied("The detailed health check is for operators.")
    body, status = summary()
    down = {"ok": False, "error": "redis is down"}
    body["worker_ping"] = check_worker_ping() if body["redis"]["ok"] else down
    body.update(_details())
    return JsonResponse(body, status=status)
