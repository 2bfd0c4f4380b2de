"""Forged X-Forwarded-For: believed only from a trusted proxy, for the throttle and for the logs alike."""

from __future__ import annotations

import ipaddress
import secrets

import pytest
from django.test import RequestFactory

from recognition.client import client_ip
from recognition.models import AccessEvent, Consent
from recognition.services.consent import current_notice


def fresh_address() -> str:
    """An address no earlier test (or run: the throttle counts in Redis) has used."""
    return str(ipaddress.IPv6Address(0x20010DB8 << 96 | secrets.randbits(64)))


def test_a_forged_forwarded_for_from_an_untrusted_address_keeps_the_throttle_key(client, settings, db):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK,
                               "DEFAULT_THROTTLE_RATES": {"token": "100/min", "anon": "2/min"}}
    attacker = fresh_address()

    answers = [client.get("/api/v1/schema/", REMOTE_ADDR=attacker,
                          HTTP_X_FORWARDED_FOR=f"198.51.100.{n}").status_code for n in range(6)]

    assert answers[:2] == [200, 200]
    assert answers[2:] == [429, 429, 429, 429]  # a new forwarded address each time changed nothing


def test_a_forged_forwarded_for_is_not_what_the_consent_record_and_access_log_keep(client, make_user):
    client.force_login(make_user("alice", "uploader"))
    notice = current_notice()

    response = client.post("/consent/", {"purposes": ["enrol"], "notice_sha256": notice.sha256},
                           REMOTE_ADDR="192.0.2.44", HTTP_X_FORWARDED_FOR="203.0.113.9")

    assert response.status_code == 302
    assert Consent.objects.get().ip == "192.0.2.44"
    assert set(AccessEvent.objects.exclude(ip=None).values_list("ip", flat=True)) == {"192.0.2.44"}


@pytest.mark.parametrize(("remote", "forwarded", "expected"), [
    ("10.0.0.5", "203.0.113.9", "203.0.113.9"),  # a trusted proxy says who its client was
    ("10.0.0.5", "6.6.6.6, 203.0.113.9", "203.0.113.9"),  # what the client wrote itself is ignored
    ("10.0.0.5", "203.0.113.9, 10.0.0.7", "203.0.113.9"),  # two trusted proxies in a row
    ("10.0.0.5", "not-an-address", "10.0.0.5"),
    ("10.0.0.5", "", "10.0.0.5"),
    ("192.0.2.44", "203.0.113.9", "192.0.2.44"),  # not a trusted proxy: its header is ignored
    ("2001:DB8::1", "", "2001:db8::1"),  # canonical form, as PostgreSQL's inet returns it
])
def test_forwarding_headers_count_only_from_trusted_proxies(settings, remote, forwarded, expected):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    request = RequestFactory().get("/", REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip(request) == expected
