"""Background work is sent one way, with one failure policy: a broker outage is logged and left to
the sweeps; the heavy work is never run in the web request instead."""

from __future__ import annotations

import logging
import re
import time

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.urls import reverse
from helpers import REPO

from faceweb import embedded
from faceweb.celery import app
from recognition.background import task_named
from recognition.models import Person
from recognition.services import retention


@pytest.fixture
def broker_down():
    """The Celery app's broker is a port nothing listens on (a real refused connection), then restored."""
    saved = app.conf.broker_url, app.conf.broker_write_url

    def reset_pools() -> None:
        app.amqp._producer_pool = None  # Celery caches its producer pool per broker URL
        app._pool = None

    app.conf.broker_url = app.conf.broker_write_url = f"redis://127.0.0.1:{embedded.free_port()}/0"
    reset_pools()
    try:
        yield
    finally:
        app.conf.broker_url, app.conf.broker_write_url = saved
        reset_pools()


def _face_table_file() -> int:
    """The data file of the face table: a VACUUM FULL writes a new one."""
    with connection.cursor() as cur:
        cur.execute("SELECT pg_relation_filenode('recognition_face')")
        return cur.fetchone()[0]


def test_every_task_the_services_send_is_registered():
    """Renaming a task must fail here, not silently stop erasures until the daily run."""
    names = {name for path in (REPO / "recognition").rglob("*.py")
             for name in re.findall(r"""after_commit\(\s*["']([\w.]+)["']""", path.read_text())}
    assert {"recognition.tasks.process_photo", "recognition.tasks.erase_person_on_withdrawal",
            "recognition.tasks.vacuum_biometric_tables"} <= names
    for name in names:
        task_named(name)  # raises NotRegistered


@pytest.mark.django_db(transaction=True)  # VACUUM runs only outside a transaction
def test_erasure_with_the_broker_down_leaves_the_rewrite_to_the_retention_run(
        client, make_user, broker_down, caplog):
    operator = make_user("olga", "operator")
    person = Person.objects.create(display_name="Target", pseudonym="subject-target")
    client.force_login(operator)
    before = _face_table_file()

    log = logging.getLogger("recognition.background")
    log.addHandler(caplog.handler)  # the app's loggers do not propagate to pytest's root handler
    started = time.monotonic()
    try:
        response = client.post(reverse("erasure"), {"person_id": person.pk, "reason": "request 12",
                                                    "confirm": "yes"})
    finally:
        log.removeHandler(caplog.handler)

    assert response.status_code == 302
    assert "recognition.tasks.vacuum_biometric_tables" in caplog.text  # logged, for the operators
    assert _face_table_file() == before, "the web request rewrote the tables itself"
    assert time.monotonic() - started < 30

    retention.apply_retention()  # the sweep: daily from beat

    assert _face_table_file() != before, "the retention run did not rewrite the tables after the erasure"


@pytest.mark.django_db(transaction=True)
def test_withdrawal_with_the_broker_down_is_accepted_and_the_retention_run_erases(
        client, make_user, broker_down):
    from helpers import consent_for

    user = make_user("wanda", "uploader")
    consent = consent_for(user, "enrol")
    client.force_login(user)

    response = client.post(reverse("consent-withdraw", args=[consent.pk]))

    assert response.status_code == 302
    person = Person.objects.get(user=user)
    assert person.erased_at is None  # the worker never got the task
    retention.apply_retention()
    assert Person.objects.get(pk=person.pk).erased_at is not None
    assert Group.objects.filter(name="uploader").exists()
