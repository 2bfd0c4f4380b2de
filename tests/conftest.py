"""Shared fixtures: the real embedded services, a real Celery worker, users per role, fixture photos.

Tests run against ``.data/test`` (see ``faceweb.embedded.default_data_dir``): their own
PostgreSQL cluster and Redis, never those of a development server running beside them.
Settings (``tests/settings.py``) only say where those are; :func:`embedded_services`
starts them (or reuses them) once per run.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import FACES


@pytest.fixture(scope="session", autouse=True)
def embedded_services():
    """Start (or reuse) the embedded PostgreSQL and Redis that settings point at, before any test."""
    from django.conf import settings

    from faceweb import embedded

    if not settings.EMBEDDED_SERVICES:
        return None
    services = embedded.ensure_services(settings.DATA_DIR)
    expected = (settings.DATABASES["default"]["HOST"], settings.REDIS_URL)
    started = (embedded.postgres_url(settings.DATA_DIR).rsplit("host=", 1)[-1], services.redis_url)
    if started != expected:  # a socket path too long or a port taken: now recorded for the next run
        raise pytest.UsageError(f"the embedded test services started at {started}, not at {expected} "
                                "as settings expected; run the tests again.")
    return services


@pytest.fixture(scope="session")
def celery_worker_session():
    """A real Celery worker (in a thread of this process) consuming the real Redis queue."""
    import celery.contrib.testing.tasks  # noqa: F401 - registers celery.ping for the ping check
    from celery.contrib.testing.worker import start_worker

    from faceweb.celery import app

    app.tasks["celery.ping"].ignore_result = False  # the ping check reads its result

    app.control.purge()  # nothing left over from an aborted earlier run
    with start_worker(app, pool="solo", concurrency=1, perform_ping_check=True, shutdown_timeout=60,
                      loglevel="WARNING") as worker:
        yield worker


@pytest.fixture
def celery_worker(celery_worker_session, transactional_db):
    """Use the worker from a test: the worker's thread sees only committed rows."""
    return celery_worker_session


@pytest.fixture
def make_user(db):
    from django.contrib.auth.models import Group, User

    def make(username: str, role: str | None = None, password: str = "pw-for-tests-only") -> User:  # noqa: S107
        user = User.objects.create_user(username=username, password=password)
        if role:
            user.groups.add(Group.objects.get(name=role))
        return user

    return make


@pytest.fixture
def face_photo():
    """Path of a fixture photo by its name under tests/fixtures/faces (repo layout kept)."""

    def find(name: str) -> Path:
        matches = sorted(FACES.rglob(name))
        if not matches:
            raise FileNotFoundError(f"no fixture photo named {name} under {FACES}")
        return matches[0]

    return find


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Tests create many users; a deliberately slow hash would only slow the suite down."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def ingest(django_capture_on_commit_callbacks):
    """Upload a photo through the service and process it here, synchronously, with the real pipeline."""
    from recognition.services.photos import process_photo, upload_photo

    def run(user, path, purpose: str):
        with django_capture_on_commit_callbacks(execute=False):
            photo = upload_photo(uploader=user, file=path.read_bytes(), purpose=purpose,
                                 filename=path.name).photo
        process_photo(photo_id=photo.pk)
        photo.refresh_from_db()
        return photo

    return run


@pytest.fixture(autouse=True)
def _own_checkpoint_dir(settings, tmp_path):
    """Each test's audit checkpoints in its own folder: a test database starts empty, so must they."""
    settings.AUDIT_CHECKPOINT_DIR = tmp_path / "audit-checkpoints"


@pytest.fixture
def server(request, settings):
    """pytest-django's live server (for the browser tests), made usable with our settings.

    With ``MEDIA_ROOT = None`` and no ``MEDIA_URL``, Django's live-server thread treats
    every path as a media file and fails (it serves media from ``MEDIA_URL``, "" = all).
    Nothing is published as media here, so point that handler at a path no page uses
    before the (session-wide) server starts.
    """
    settings.MEDIA_URL = "/_no-media-is-published/"
    return request.getfixturevalue("live_server")
