"""``GET /healthz``: is every part the service needs up?"""

from __future__ import annotations

import redis
from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from faceweb.celery import app as celery_app


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


def check_redis() -> dict:
    try:
        client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1)
        info = client.info("server")
    except Exception as exc:  # noqa: BLE001
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    return {"ok": True, "version": info.get("redis_version")}


def check_worker(timeout: float = 1.0) -> dict:
    try:
        replies = celery_app.control.ping(timeout=timeout) or []
    except Exception as exc:  # noqa: BLE001
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    workers = sorted(name for reply in replies for name in reply)
    if not workers:
        return {"ok": False, "error": f"no Celery worker answered within {timeout:g}s", "workers": []}
    return {"ok": True, "workers": workers}


@never_cache
@require_GET
def healthz(request):
    checks = {"database": check_database(), "redis": check_redis()}
    # Asking the workers goes through Redis: skip it when Redis itself is down.
    checks["worker"] = check_worker() if checks["redis"]["ok"] else {"ok": False, "error": "redis is down"}
    failing = [name for name, result in checks.items() if not result["ok"]]
    body = {"status": "ok" if not failing else "unavailable", "failing": failing, **checks}
    return JsonResponse(body, status=200 if not failing else 503)
