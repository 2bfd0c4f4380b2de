"""Helpers shared by the test modules: the one place that locates test data (fixtures live in conftest.py).

Test modules import what they need (``from helpers import FACES, wait_for_photos``); tests/
is on ``sys.path`` because its conftest.py is there.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.db import connection
from psycopg import sql

from bench.stack import Stack
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


def table_file(table: str) -> bytes:
    """The raw bytes of a table's (or index's) main data file, as PostgreSQL left them on disk."""
    with connection.cursor() as cur:
        cur.execute("CHECKPOINT")
        cur.execute("SELECT pg_read_binary_file(pg_relation_filepath(%s))", [table])
        return bytes(cur.fetchone()[0])


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


@contextmanager
def throwaway_stack(name: str, model_cache: Path, settings_env: dict[str, str],
                    keep_logs: Path | None = None) -> Iterator[Stack]:
    """A stack of its own (PostgreSQL, Redis; workers and web as the test starts them), stopped whatever
    happens; each process's output is printed (pytest shows it for a failed test) and, with
    ``keep_logs``, copied there for a look after a failure in CI."""
    root = Path(tempfile.mkdtemp(prefix=f"fw-{name}-"))  # short: PostgreSQL's socket path has a limit
    stack = Stack(root / "data", model_cache=model_cache, settings_env=settings_env)
    try:
        yield stack.start_services()
    finally:
        for proc in stack.procs:
            print(f"----- {proc.name} (pid {proc.pid}, exit {proc.popen.poll()})\n{proc.log(3000)}")
        stack.close()
        if keep_logs is not None:
            shutil.rmtree(keep_logs, ignore_errors=True)
            shutil.copytree(stack.data_dir / "logs", keep_logs, dirs_exist_ok=True)
        shutil.rmtree(root, ignore_errors=True)
