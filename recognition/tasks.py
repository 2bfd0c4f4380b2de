"""Celery tasks: thin wrappers that take ids, load fresh state and call the services.

Tasks import the services; services never import this module (they send work with
:func:`recognition.background.after_commit`, by task name). Found by Celery's
autodiscovery (faceweb/celery.py); only workers and tests import it directly.
"""

from __future__ import annotations

import logging

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.contrib.auth import get_user_model
from django.db import DatabaseError, InterfaceError, OperationalError, connection
from redis.exceptions import ConnectionError as RedisConnectionError

from recognition import checkpoints
from recognition.access import Access
from recognition.models import Person
from recognition.services import erasure, photos, retention

logger = logging.getLogger(__name__)

# Failures that a retry can fix: the database or the broker went away for a moment.
TRANSIENT = (OperationalError, InterfaceError, RedisConnectionError, ConnectionError)


@shared_task(name="recognition.tasks.ping", ignore_result=False)
def ping(value: str = "pong") -> dict:
    """A round trip through the broker and the database, for health checks and tests."""
    with connection.cursor() as cur:
        cur.execute("SELECT 1")
        (one,) = cur.fetchone()
    return {"echo": value, "db": one}


# ignore_result: the photo's state lives in the database and nobody reads this task's result.
# Without it, sending the task also subscribes to the Redis result backend, and while Redis
# is down that subscription retries 20 times, 1 s apart: an upload request then hangs ~20 s
# per photo before after_commit gives up and leaves the photo to the sweep (tests/test_faults.py).
@shared_task(bind=True, name="recognition.tasks.process_photo", acks_late=True, autoretry_for=TRANSIENT,
             retry_backoff=2, retry_backoff_max=120, retry_jitter=True, max_retries=8, ignore_result=True)
def process_photo(self, photo_id: int) -> str | None:
    """Process one photo. Bad input fails the photo with a reason; the worker always goes on."""
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
    return photos.sweep_stuck_photos()


# --- Compliance: erasure on withdrawal, retention, and the rewrite of tables after erasure ---

# ignore_result on the tasks that services send (see process_photo): nobody reads their
# result, and sending must not wait on the result backend while Redis is down.
@shared_task(name="recognition.tasks.erase_person_on_withdrawal", acks_late=True, autoretry_for=TRANSIENT,
             retry_backoff=2, retry_backoff_max=120, retry_jitter=True, max_retries=8, ignore_result=True)
def erase_person_on_withdrawal(person_id: int, actor_id: int | None = None) -> str | None:
    """A person withdrew every consent: erase their biometric data (idempotent; returns the receipt id)."""
    person = Person.objects.filter(pk=person_id).first()
    if person is None:
        return None
    actor = get_user_model().objects.filter(pk=actor_id).first() if actor_id else None
    receipt = erasure.erase_person(person=person, actor=actor, access=Access.system(actor),
                                   reason="consent withdrawn")
    return str(receipt.pk)


@shared_task(name="recognition.tasks.erase_purpose_on_withdrawal", acks_late=True, autoretry_for=TRANSIENT,
             retry_backoff=2, retry_backoff_max=120, retry_jitter=True, max_retries=8, ignore_result=True)
def erase_purpose_on_withdrawal(person_id: int, purpose: str, actor_id: int | None = None) -> str | None:
    """A person withdrew one purpose (another stays): erase what was kept for it (idempotent)."""
    person = Person.objects.filter(pk=person_id).first()
    if person is None:
        return None
    actor = get_user_model().objects.filter(pk=actor_id).first() if actor_id else None
    receipt = erasure.erase_purpose(person=person, purpose=purpose, actor=actor)
    return str(receipt.pk) if receipt else None


@shared_task(name="recognition.tasks.apply_retention", acks_late=True, autoretry_for=TRANSIENT,
             retry_backoff=10, retry_backoff_max=600, max_retries=5, time_limit=3600, soft_time_limit=3300)
def apply_retention() -> dict:
    """Periodic (Celery beat): purge what the retention policy says is past its date."""
    return retention.apply_retention().as_dict()


@shared_task(name="recognition.tasks.vacuum_biometric_tables", acks_late=True, autoretry_for=TRANSIENT,
             retry_backoff=30, retry_backoff_max=900, max_retries=10, time_limit=3600, soft_time_limit=3300,
             ignore_result=True)
def vacuum_biometric_tables() -> list[str]:
    """Rewrite the biometric tables after an erasure so that no deleted row is left in their files."""
    return erasure.vacuum_biometric_tables()


@shared_task(name="recognition.tasks.audit_checkpoint", autoretry_for=TRANSIENT, retry_backoff=5,
             max_retries=3, time_limit=600, soft_time_limit=540, expires=300)
def audit_checkpoint() -> str | None:
    """Periodic (Celery beat): sign the access log's head into a checkpoint file outside the database.

    A chain that does not hold is never signed: the refusal is logged as an error for the operators.
    """
    try:
        checkpoint = checkpoints.write_checkpoint()
    except checkpoints.CheckpointRefused as exc:
        logger.error("AUDIT LOG TAMPERED: checkpoint refused: %s", exc)
        return f"refused: {exc}"
    return checkpoint.name if checkpoint else None
