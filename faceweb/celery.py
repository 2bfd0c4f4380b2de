"""The Celery application. Workers: ``celery -A faceweb worker``; beat: ``celery -A faceweb beat``."""

import logging
import os

from celery import Celery, bootsteps
from django.conf import settings

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "faceweb.settings")

logger = logging.getLogger(__name__)

app = Celery("faceweb")
app.config_from_object("django.conf:settings", namespace="CELERY")
# The tasks module of every installed app (recognition.tasks), and the API's own.
app.autodiscover_tasks()
app.autodiscover_tasks(["recognition.api"])


class WorkerHeartbeat(bootsteps.StartStopStep):
    """Each worker writes a heartbeat to Redis every ``WORKER_HEARTBEAT_S`` seconds.

    ``/healthz`` reads them (one Redis call) instead of broadcasting a ping to every
    worker on each anonymous request (faceweb/health.py).
    """

    requires = {"celery.worker.components:Timer"}

    def __init__(self, worker, **kwargs):
        super().__init__(worker, **kwargs)
        self.tref = None

    def _beat(self, hostname: str) -> None:
        from faceweb import health  # health imports this module (for the app): a real circle

        try:
            health.record_heartbeat(hostname)
        except Exception as exc:  # noqa: BLE001 - Redis down: /healthz says so; the worker goes on
            logger.warning("worker heartbeat not written: %s", exc)

    def start(self, worker):
        self._beat(worker.hostname)
        self.tref = worker.timer.call_repeatedly(float(settings.WORKER_HEARTBEAT_S), self._beat,
                                                 (worker.hostname,), priority=10)

    def stop(self, worker):
        from faceweb import health  # see _beat

        if self.tref is not None:
            self.tref.cancel()
            self.tref = None
        try:
            health.forget_heartbeat(worker.hostname)
        except Exception:  # noqa: BLE001, S110 - its heartbeat then simply ages out
            pass


app.steps["worker"].add(WorkerHeartbeat)
