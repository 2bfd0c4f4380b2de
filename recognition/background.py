"""Handing work to the Celery workers: the one producer of background work, with one failure policy.

Every service that needs work done in the background calls :func:`after_commit` with the
task's registered name; services never import ``recognition.tasks`` (the tasks import the
services, so the dependency runs one way only). The failure policy is the same for every
task: if the broker cannot take the message, the failure is logged and the work is left
to a periodic sweep, which finds it undone in the database (photos not finished:
``sweep_stuck_photos``; withdrawn people and tables not rewritten since an erasure: the
daily retention run). Heavy work never runs in the caller instead (a web request must not
run a ``VACUUM FULL`` because Redis is down).

Anything in the app may import this module; it imports only Django and the Celery app.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Task
from django.db import transaction

from faceweb.celery import app

logger = logging.getLogger(__name__)


def task_named(name: str) -> Task:
    """The registered task ``name``; a renamed or mistyped task fails here, loudly, not in a log line."""
    if name not in app.tasks:
        app.loader.import_default_modules()  # Celery's autodiscovery of the apps' tasks modules
    return app.tasks[name]


def after_commit(task: str, *args: Any) -> None:
    """Send ``task(*args)`` to the workers once the current transaction commits (at once outside one).

    Arguments are ids and plain values (a worker loads fresh state). If the broker refuses
    the message, it is logged and left to the periodic sweep; nothing is run here instead.
    """
    registered = task_named(task)

    def send() -> None:
        try:
            registered.delay(*args)
        except Exception:  # broker or network down: the sweep sends it again later
            logger.exception("could not enqueue %s%r; left to the periodic sweep", task, args)

    transaction.on_commit(send)
