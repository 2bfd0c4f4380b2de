"""Property-based fuzzing of the API from its own OpenAPI schema (schemathesis).

Every operation gets generated requests, valid and invalid, sent through the WSGI app
with a superuser's token (so that every code path past the role checks is reached, the
role checks themselves being tested in test_api_roles). No response may be a 5xx, and
every response must match the schema: documented status, content type, headers, body.
Bounded and deterministic: a fixed number of examples per operation, derandomised.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

EXAMPLES_PER_OPERATION = 25
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance, negative_data_rejection]


def _load_schema():
    """The schema as the running app serves it (loading it needs no database)."""
    from faceweb.wsgi import application

    return schemathesis.openapi.from_wsgi("/api/v1/schema/?format=json", application)


schema = _load_schema()
pytestmark = pytest.mark.slow  # hundreds of generated requests: the full suite runs it, test-quick does not


@pytest.fixture
def wsgi_keeps_the_connection():
    """As Django's test client does: the test's transaction must survive the end of each request."""
    from django.core import signals
    from django.db import close_old_connections

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def fuzz_token(db, settings, wsgi_keeps_the_connection):
    from django.contrib.auth.models import User

    from recognition.api.tokens import create_token

    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK,
                               "DEFAULT_THROTTLE_RATES": {"token": "100000/min", "anon": "100000/min"}}
    admin = User.objects.create_superuser("fuzzer", password="pw-for-tests-only")
    return create_token(user=admin, name="fuzz").key


@schema.parametrize()
@settings(max_examples=EXAMPLES_PER_OPERATION, derandomize=True, deadline=None, database=None,
          phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
def test_no_server_errors_and_every_response_matches_the_schema(case, fuzz_token):
    case.call_and_validate(headers={"Authorization": f"Token {fuzz_token}"}, checks=CHECKS)
