"""Settings of the test suite: the product's settings with what the tests need set.

pytest-django imports this before any conftest runs, so the environment is set here:
a key that only tests use (production refuses to start without ``SECRET_KEY`` unless
``DEBUG``) and the embedded services, which ``conftest.py`` starts (importing settings
starts nothing).
"""

import os

os.environ.setdefault("SECRET_KEY", "test-suite-only-key-never-used-elsewhere")
os.environ.setdefault("FACEWEB_EMBEDDED", "1")
# The cluster's superuser: it creates the test database and reads table files; the tests that need
# the application's role step down to one (tests/helpers.py).
os.environ.setdefault("FACEWEB_EMBEDDED_ROLE", "superuser")
# The access log's keys, for tests only (recognition/auditkeys.py); subprocesses inherit them.
os.environ.setdefault("AUDIT_HMAC_KEY", "test-suite-only-audit-hmac-key-never-used-elsewhere")
os.environ.setdefault("AUDIT_SIGNING_KEY", "dGVzdC1zdWl0ZS1vbmx5LWVkMjU1MTktc2VlZC0zMmI=")

from faceweb.settings import *  # noqa: E402,F403
