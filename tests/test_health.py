"""GET /healthz: 200 when PostgreSQL+pgvector, Redis and a Celery worker answer; 503 naming what is down."""

from __future__ import annotations

import subprocess
import time

import pytest
from django.db import connection
from django.db.backends.postgresql.base import DatabaseWrapper

from faceweb import embedded, health


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
