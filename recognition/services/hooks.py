"""Follow-ups to domain events, kept apart so that modules do not import each other in circles."""

from __future__ import annotations

import logging

from django.db import transaction

logger = logging.getLogger(__name__)


def on_all_consent_withdrawn(person, *, actor=None) -> None:
    """A person withdrew every consent: their biometric data is erased by the worker, promptly.

    Until then, matching already ignores them (it only considers active consents).
    """
    person_id, actor_id = person.pk, getattr(actor, "pk", None)

    def enqueue():
        from recognition import tasks

        if hasattr(tasks, "erase_person_on_withdrawal"):
            try:
                tasks.erase_person_on_withdrawal.delay(person_id, actor_id)
            except Exception:  # the retention sweep erases withdrawn people too
                logger.exception("could not enqueue the erasure of person %s", person_id)

    transaction.on_commit(enqueue)
