"""The Django project: settings, root URLs, the Celery app, /healthz, the embedded-services launcher.

What lives here is the frame the ``recognition`` app runs in (``faceweb.settings`` reads
every setting from the environment; ``faceweb.embedded`` starts PostgreSQL and Redis for
development and tests). The app may import ``faceweb.celery``, ``faceweb.embedded`` and
``faceweb.health``; this package imports the app only through URLs and the database
backend's access-log hook.
"""

from faceweb.celery import app as celery_app

__all__ = ["celery_app"]
