"""Settings: importing them starts nothing, and production refuses a missing SECRET_KEY.

Each case imports ``faceweb.settings`` in a fresh Python process with a controlled
environment (nothing inherited that would point it at the shared test services).
"""

from __future__ import annotations

import os
import subprocess
import sys

from helpers import REPO

_INHERITED = ("PATH", "HOME", "LANG", "TMPDIR", "SYSTEMROOT")


def import_settings(env: dict[str, str], code: str = "") -> subprocess.CompletedProcess:
    """``import faceweb.settings`` (then ``code``) in a new process with exactly ``env`` (plus PATH)."""
    base = {k: os.environ[k] for k in _INHERITED if k in os.environ}
    program = ("import django, os\nos.environ['DJANGO_SETTINGS_MODULE'] = 'faceweb.settings'\n"
               "from django.conf import settings\nsettings.DATABASES\ndjango.setup()\n" + code)
    return subprocess.run([sys.executable, "-c", program], cwd=REPO, env={**base, **env},
                          capture_output=True, text=True, timeout=120, check=False)


def test_importing_settings_starts_no_service_and_writes_nothing(tmp_path):
    data_dir = tmp_path / "data"
    code = ("import psutil\n"
            "print('children', len(psutil.Process().children(recursive=True)))\n"
            "print('redis', settings.REDIS_URL)\nprint('db', settings.DATABASES['default']['HOST'])\n")

    result = import_settings({"DEBUG": "1", "FACEWEB_DATA_DIR": str(data_dir)}, code)

    assert result.returncode == 0, result.stderr[-3000:]
    assert "children 0" in result.stdout
    # It knows where the embedded services would be, but neither started them nor made their folders.
    assert "redis redis://127.0.0.1:" in result.stdout
    assert f"db {data_dir / 'pg'}" in result.stdout
    assert not data_dir.exists()


def test_without_secret_key_and_debug_off_it_refuses_to_start(tmp_path):
    production = {"DEBUG": "0", "DATABASE_URL": "postgresql://faceweb@db.invalid/faceweb",
                  "REDIS_URL": "redis://redis.invalid:6379/0", "FACEWEB_DATA_DIR": str(tmp_path)}

    refused = import_settings(production)
    assert refused.returncode != 0
    assert "ImproperlyConfigured: SECRET_KEY must be set" in refused.stderr

    keys = {"AUDIT_HMAC_KEY": "an-audit-hmac-key-from-the-environment-0123456789",
            "AUDIT_SIGNING_KEY": "dGVzdC1zdWl0ZS1vbmx5LWVkMjU1MTktc2VlZC0zMmI="}
    secret = {"SECRET_KEY": "a-real-secret-from-the-environment"}
    assert import_settings({**production, **keys, **secret}).returncode == 0
    # With DEBUG on, a development key is used instead (never with DEBUG off, embedded services or not).
    assert import_settings({**production, "DEBUG": "1"}).returncode == 0
    embedded_no_debug = {"DEBUG": "0", "FACEWEB_EMBEDDED": "1", "FACEWEB_DATA_DIR": str(tmp_path)}
    assert "SECRET_KEY must be set" in import_settings(embedded_no_debug).stderr


def test_production_without_service_urls_does_not_fall_back_to_embedded_services(tmp_path):
    result = import_settings({"DEBUG": "0", "SECRET_KEY": "a-real-secret-from-the-environment",
                              "DATABASE_URL": "postgresql://faceweb@db.invalid/faceweb",
                              "FACEWEB_DATA_DIR": str(tmp_path)})

    assert result.returncode != 0
    assert "Set DATABASE_URL and REDIS_URL" in result.stderr


def test_without_audit_keys_and_debug_off_it_refuses_to_start(tmp_path):
    """Published development keys would let a database owner rebuild the log's HMACs, sign checkpoints."""
    production = {"DEBUG": "0", "DATABASE_URL": "postgresql://faceweb@db.invalid/faceweb",
                  "REDIS_URL": "redis://redis.invalid:6379/0", "FACEWEB_DATA_DIR": str(tmp_path),
                  "SECRET_KEY": "a-real-secret-from-the-environment-0123456789"}
    hmac_key = "an-audit-hmac-key-from-the-environment-0123456789"
    signing = "dGVzdC1zdWl0ZS1vbmx5LWVkMjU1MTktc2VlZC0zMmI="
    only_signing = import_settings({**production, "AUDIT_SIGNING_KEY": signing})
    assert "AUDIT_HMAC_KEY must be set" in only_signing.stderr
    only_hmac = import_settings({**production, "AUDIT_HMAC_KEY": hmac_key})
    assert "AUDIT_SIGNING_KEY must be set" in only_hmac.stderr
    same = import_settings({**production, "AUDIT_HMAC_KEY": production["SECRET_KEY"],
                            "AUDIT_SIGNING_KEY": signing})
    assert "must not be SECRET_KEY" in same.stderr
    both = import_settings({**production, "AUDIT_HMAC_KEY": hmac_key, "AUDIT_SIGNING_KEY": signing})
    assert both.returncode == 0, both.stderr
