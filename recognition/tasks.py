"""Celery tasks: thin wrappers that take ids, load fresh state and call the services."""

from __future__ import annotations

import logging

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.db import DatabaseError, InterfaceError, OperationalError
from redis.exceptions import ConnectionError as RedisConnectionError

logger = logging.getLogger(__name__)

# Failures that a retry can fix: the database or the broker went away for a moment.
TRANSIENT = (OperationalError, InterfaceError, RedisConnectionError, ConnectionError)


@shared_task(name="recognition.tasks.ping")
def ping(value: str = "pong") -> dict:
    """A round trip through the broker and the database, for health checks and tests."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT 1")
        (one,) = cur.fetchone()
    return {"echo": value, "db": one}


@shared_task(bind=True, name="recognition.tasks.process_photo", acks_late=True, autoretry_for=TRANSIENT,
             retry_backoff=2, retry_backoff_max=120, retry_jitter=True, max_retries=8)
def process_photo(self, photo_id: int) -> str | None:
    """Process one photo. Bad input fails the photo with a reason; the worker always goes on."""
    from recognition.services import photos

    try:
        photo = photos.process_photo(photo_id=photo_id)
    except TRANSIENT:
        raise
    except SoftTimeLimitExceeded:
        photos.mark_failed(photo_id, "Processing took too long and was stopped. Try a smaller photo.")
        return "failed"
    except DatabaseError as exc:
        logger.exception("database error on photo %s", photo_id)
        photos.mark_failed(photo_id, f"Processing failed: a database error ({type(exc).__name__}).")
        return "failed"
    except Exception as exc:
        logger.exception("unexpected error on photo %s", photo_id)
        photos.mark_failed(photo_id, f"Processing failed: an internal error ({type(exc).__name__}). "
                                     "The operators have been notified in the logs.")
        return "failed"
    return photo.status if photo is not None else None


@shared_task(name="recognition.tasks.sweep_stuck_photos")
def sweep_stuck_photos() -> list[int]:
    """Periodic: re-queue photos that were accepted but are not finished."""
    from recognition.services import photos

    return photos.sweep_stuck_photos()
