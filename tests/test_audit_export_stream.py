"""A long export is not killed at the web server's worker timeout (the production gunicorn config).

The attack it stops is an accidental one: a sync gunicorn worker is killed at ``--timeout``
while it streams, and the auditor gets a file whose start still verifies. Here gunicorn
runs with ``faceweb/gunicorn_conf.py`` and a 3-second timeout, and a slow client makes the
export take much longer: it must arrive whole, with its signed trailer.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import requests
from django.conf import settings
from django.db import connection
from django.urls import reverse

from bench.stack import wait_until
from faceweb.embedded import free_port
from recognition import auditkeys
from recognition.audit import GENESIS_HASH, entry_hash
from recognition.services import audit_export

REPO = Path(__file__).resolve().parent.parent
ENTRIES = 60_000
TIMEOUT_S = 3  # gunicorn --timeout (it must also cover the worker loading the app)


def _fill_log(n: int) -> None:
    """n keyed, chained entries COPYed in (the same hashing and HMAC as log_access, much faster)."""
    fingerprint, key = auditkeys.current_hmac()
    base, prev = datetime(2026, 1, 1, tzinfo=UTC), GENESIS_HASH
    columns = ("id, at, actor_id, actor_name, role, action, object_type, object_id, person_ref, purpose, ip, "
               "request_id, detail, prev_hash, hash, mac, key_id")
    copy = f"COPY recognition_accessevent ({columns}) FROM STDIN"
    with connection.cursor() as cur, cur.cursor.copy(copy) as cp:
        for i in range(1, n + 1):
            e = SimpleNamespace(id=i, at=base + timedelta(seconds=i), actor_id=None, actor_name="system",
                                role="system", action="test.bulk", object_type="thing", object_id=str(i),
                                person_ref="", purpose="", ip=None, request_id="", detail={"n": i},
                                prev_hash=prev, hash="")
            e.hash = entry_hash(e)
            cp.write_row((e.id, e.at, None, e.actor_name, e.role, e.action, e.object_type, e.object_id,
                          "", "", None, "", json.dumps(e.detail), prev, e.hash,
                          auditkeys.entry_mac(key, e.hash), fingerprint))
            prev = e.hash
    with connection.cursor() as cur:
        cur.execute("SELECT setval(pg_get_serial_sequence('recognition_accessevent', 'id'), %s)", [n])


def test_a_long_export_outlives_the_worker_timeout(transactional_db, client, make_user, tmp_path):
    _fill_log(ENTRIES)
    client.force_login(make_user("audrey", "auditor"))
    db = connection.settings_dict
    port = free_port()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "faceweb.settings", "DEBUG": "0",
           "DATABASE_URL": f"postgresql://{db['USER']}:@/{db['NAME']}?host={db['HOST']}",
           "REDIS_URL": settings.REDIS_URL, "GUNICORN_BIND": f"127.0.0.1:{port}", "WEB_WORKERS": "1",
           "WEB_TIMEOUT": str(TIMEOUT_S), "AUDIT_CHECKPOINT_DIR": str(tmp_path / "checkpoints"),
           "PYTHONUNBUFFERED": "1"}
    log = (tmp_path / "gunicorn.log").open("w")
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "python:faceweb.gunicorn_conf",
                               "faceweb.wsgi"], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        def answers() -> bool:
            try:
                return requests.get(f"{base}/login/", timeout=10).status_code < 500
            except (requests.ConnectionError, requests.Timeout):
                return False

        wait_until(answers, timeout=120, what="gunicorn to answer")
        started = time.monotonic()
        session = {settings.SESSION_COOKIE_NAME: client.cookies[settings.SESSION_COOKIE_NAME].value}
        with requests.get(f"{base}{reverse('audit-export')}?format=jsonl", stream=True, timeout=120,
                          cookies=session) as response:
            assert response.status_code == 200
            chunks = response.iter_content(1 << 16)
            first = next(chunks)
            # A slow client: the server's socket buffers fill and its worker waits to send for
            # longer than the timeout, however fast the export itself is on this machine.
            time.sleep(2 * TIMEOUT_S + 1)
            text = (first + b"".join(chunks)).decode("utf-8")
        took = time.monotonic() - started
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)
        log.close()
    assert took > 2 * TIMEOUT_S, f"the export took only {took:.1f}s: it does not outlast the timeout"
    report = audit_export.check_export_file(io.StringIO(text), "jsonl")
    assert report.ok, (report, (tmp_path / "gunicorn.log").read_text()[-2000:])
    assert report.checked == ENTRIES + 1  # and the sign-in of the auditor
