"""Helpers shared by the test modules: the one place that locates test data (fixtures live in conftest.py).

Test modules import what they need (``from helpers import FACES, wait_for_photos``); tests/
is on ``sys.path`` because its conftest.py is there.
"""

from __future__ import annotations

import time
from pathlib import Path

from django.db import connection
from psycopg import sql

from recognition import dbroles
from recognition.models import Consent, Photo
from recognition.services.consent import give_consent, person_for_user

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
FIXTURES = TESTS / "fixtures"
FACES = FIXTURES / "faces"  # labelled real face photos (see its README.txt and labels.csv)
ARTIFACTS = REPO / "test-artifacts"  # screenshots and logs kept for a failed run (git-ignored)

FINAL = {Photo.Status.DONE, Photo.Status.FAILED}


def wait_for_photos(*photo_ids: int, timeout: float = 180) -> list[Photo]:
    """Wait until the worker has finished every photo (done or failed); return them in id order."""
    deadline = time.monotonic() + timeout
    while True:
        photos = list(Photo.objects.filter(pk__in=photo_ids).order_by("pk"))
        if len(photos) == len(photo_ids) and all(p.status in FINAL for p in photos):
            return photos
        if time.monotonic() > deadline:
            raise AssertionError(f"photos not processed in {timeout}s: {[(p.pk, p.status) for p in photos]}")
        time.sleep(0.25)


def consent_for(user, *purposes: str) -> Consent:
    """The user's own consent, given by a signed-in click, for the purposes named."""
    return give_consent(person=person_for_user(user), purposes=set(purposes), method=Consent.Method.WEB,
                        given_by=user)


APP_ROLE = "faceweb_app_test"


def ensure_app_role() -> str:
    """The application's database role, as a deployment has it: a login role granted only what
    migration 0007 grants (roles belong to the cluster; its grants to this test database)."""
    with connection.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [APP_ROLE])
        if cur.fetchone() is None:
            create = sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(APP_ROLE))
            cur.execute(create.as_string(cur.connection))
    dbroles.grant_app_role(connection, APP_ROLE)
    return APP_ROLE
