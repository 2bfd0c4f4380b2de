"""GET /healthz: 200 when PostgreSQL+pgvector, Redis and a Celery worker answer; 503 naming what is down.

It is cheap for anonymous callers (no broadcast to the workers, answer reused a few
seconds); ``/healthz/detail`` asks every worker, for operators only.
"""

from __future__ import annotations

import subprocess
import time

import pytest
import redis
from django.db import connection
from django.db.backends.postgresql.base import DatabaseWrapper

from faceweb import embedded, health


@pytest.fixture(autouse=True)
def fresh_answer(settings):
    """Each test computes its own answer (the cached one belongs to the test before)."""
    settings.HEALTHZ_CACHE_S = 0
    health.forget_cached()
    yield
    health.forget_cached()


def test_it_reports_every_part_up(client, celery_worker):
    response = client.get("/healthz")

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "ok"
    assert body["failing"] == []
    assert body["database"]["pgvector"].startswith("0.8")
    assert body["database"]["postgres"]
    assert body["redis"]["ok"] and body["redis"]["version"]
    assert body["worker"]["workers"]
    assert response["Cache-Control"].startswith("max-age=0")


@pytest.fixture
def throwaway_redis(tmp_path):
    """A Redis of its own (never the shared test Redis), stopped at the end whatever happens."""
    port = embedded.free_port()
    process = subprocess.Popen(
        [embedded._redis_binary(), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(tmp_path),
         "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while not embedded._redis_ping(port):
        assert process.poll() is None and time.monotonic() < deadline, "throwaway redis did not start"
        time.sleep(0.05)
    yield process, f"redis://127.0.0.1:{port}/0"
    process.kill()
    process.wait()


@pytest.mark.django_db
def test_it_answers_503_naming_redis_when_redis_is_down(client, settings, throwaway_redis):
    process, url = throwaway_redis
    settings.REDIS_URL = url
    assert client.get("/healthz").json()["redis"]["ok"], "the check must use settings.REDIS_URL"

    process.terminate()
    process.wait(timeout=10)
    response = client.get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert "redis" in body["failing"]
    assert "ConnectionError" in body["redis"]["error"]
    assert body["database"]["ok"]  # only what is down is named


@pytest.mark.django_db
def test_it_answers_503_naming_the_database_when_postgres_is_unreachable(client, monkeypatch):
    # A second connection to a port nobody listens on: the shared test database is untouched.
    unreachable = DatabaseWrapper(
        {**connection.settings_dict, "HOST": "127.0.0.1", "PORT": str(embedded.free_port()),
         "OPTIONS": {"connect_timeout": 2}},
        alias="unreachable",
    )
    monkeypatch.setattr(health, "connection", unreachable)

    response = client.get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert "database" in body["failing"]
    assert body["database"]["error"].startswith("OperationalError")


def test_it_rejects_post(client):
    assert client.post("/healthz").status_code == 405


def publishes(url: str) -> int:
    """PUBLISH commands Redis has run: a Celery broadcast (ping) is one."""
    stats = redis.Redis.from_url(url).info("commandstats")
    return int(stats.get("cmdstat_publish", {}).get("calls", 0))


@pytest.mark.django_db
def test_anonymous_probes_never_broadcast_to_the_workers(client):
    from faceweb.celery import app

    broker = app.conf.broker_url  # where a ping would be published
    before = publishes(broker)
    for _ in range(5):
        client.get("/healthz")
    assert publishes(broker) == before


@pytest.mark.django_db
def test_the_answer_is_reused_for_a_few_seconds(client, settings, throwaway_redis):
    process, url = throwaway_redis
    settings.REDIS_URL = url
    settings.HEALTHZ_CACHE_S = 60
    first = client.get("/healthz").json()
    assert first["redis"]["ok"]
    process.terminate()
    process.wait(timeout=10)
    assert client.get("/healthz").json() == first  # not computed again within HEALTHZ_CACHE_S
    health.forget_cached()
    assert "redis" in client.get("/healthz").json()["failing"]


def test_a_worker_heartbeat_makes_it_count_and_a_stale_one_does_not(client, settings, throwaway_redis, db):
    _, url = throwaway_redis
    settings.REDIS_URL = url
    health.record_heartbeat("w1@host", redis.Redis.from_url(url))
    assert client.get("/healthz").json()["worker"]["workers"] == ["w1@host"]
    stale = time.time() - health.heartbeat_max_age() - 1
    redis.Redis.from_url(url).zadd(health.HEARTBEAT_KEY, {"w1@host": stale})
    body = client.get("/healthz").json()
    assert "worker" in body["failing"] and body["worker"]["workers"] == []


def test_the_detailed_check_is_for_operators_and_asks_the_workers(client, make_user, celery_worker):
    assert client.get("/healthz/detail").status_code == 302  # to the login page
    client.force_login(make_user("ulla", "uploader"))
    assert client.get("/healthz/detail").status_code == 403
    client.force_login(make_user("oscar", "operator"))
    response = client.get("/healthz/detail")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["worker_ping"]["ok"] and body["worker_ping"]["workers"]
    assert body["postgres_settings"]["shared_buffers"]
    assert celery_worker.hostname in body["heartbeats_age_s"]
