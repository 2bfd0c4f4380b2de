"""Celery tasks: thin wrappers that load by id and call the services."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="recognition.tasks.ping")
def ping(value: str = "pong") -> dict:
    """A round trip through the broker for health checks and tests."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT 1")
        (one,) = cur.fetchone()
    return {"echo": value, "db": one}
