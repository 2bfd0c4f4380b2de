"""Headers and error pages: a CSP without inline code, the app's own 403/404/500, favicon, local docs."""

from __future__ import annotations

import re

import pytest
from django.contrib.staticfiles import finders
from django.test import Client

INLINE_SCRIPT = re.compile(rb"<script(?![^>]*\bsrc=)[^>]*>", re.I)
INLINE_HANDLER = re.compile(rb"<[^>]+\son[a-z]+\s*=", re.I)
INLINE_STYLE = re.compile(rb"<style\b|\sstyle\s*=", re.I)


def assert_no_inline_code(content: bytes) -> None:
    for pattern in (INLINE_SCRIPT, INLINE_HANDLER, INLINE_STYLE):
        match = pattern.search(content)
        where = match.start() if match else 0
        assert match is None, f"inline code the CSP would block: {content[where:where + 120]!r}"


@pytest.mark.parametrize(("role", "pages"), [
    ("uploader", ["/photos/", "/consent/", "/api/v1/tokens/manage/"]),
    ("reviewer", ["/review/", "/review/people/", "/review/stats/"]),
    ("auditor", ["/compliance/audit/"]),
    ("operator", ["/compliance/erasure/", "/compliance/retention/"]),
])
def test_pages_carry_a_strict_csp_and_have_no_inline_code(client, make_user, role, pages):
    client.force_login(make_user(f"someone-{role}", role))
    for page in pages:
        response = client.get(page)
        assert response.status_code == 200, page
        policy = response["Content-Security-Policy"]
        assert "script-src 'self';" in policy and "style-src 'self';" in policy and "unsafe" not in policy
        assert_no_inline_code(response.content)


def test_the_login_page_passes_the_csp(client, db):
    response = client.get("/accounts/login/")
    assert "script-src 'self'" in response["Content-Security-Policy"]
    assert_no_inline_code(response.content)


def test_a_page_refused_for_want_of_a_role_says_which_role_it_needs(client, make_user):
    client.force_login(make_user("alice", "uploader"))

    response = client.get("/review/")

    assert response.status_code == 403
    text = response.content.decode()
    assert "reviewer" in text and "uploader" in text  # the role needed, and the one the user has
    assert 'class="topbar"' in text  # the app's layout, not a bare "403 Forbidden"


def test_not_found_is_the_apps_own_page_with_debug_off(client, db, settings):
    settings.DEBUG = False
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    assert b"Page not found" in response.content and b'class="topbar"' in response.content
    api = client.get("/api/v1/no-such-thing/")
    assert api.status_code in (401, 404) and "error" in api.json()


def test_a_server_error_is_the_apps_own_page(db, settings):
    from django.urls import path

    def broken(request):
        raise RuntimeError("boom")

    urlconf = type("urls", (), {"urlpatterns": [path("broken/", broken)], "handler500":
                                "recognition.views.errors.server_error"})
    settings.ROOT_URLCONF = urlconf
    client = Client(raise_request_exception=False)
    response = client.get("/broken/")
    assert response.status_code == 500
    assert b"Something went wrong" in response.content and b"boom" not in response.content


def test_the_favicon_is_served(client, db):
    response = client.get("/favicon.ico")
    assert response.status_code == 301 and response["Location"].endswith("favicon.ico")
    assert finders.find("favicon.ico")


def test_hsts_is_sent_over_tls_when_https_is_configured(client, db, settings):
    settings.SECURE_HSTS_SECONDS = 31536000  # what HTTPS=1 sets (the deploy check runs with it)
    assert "Strict-Transport-Security" in client.get("/accounts/login/", secure=True)
    assert "Strict-Transport-Security" not in client.get("/accounts/login/", secure=False)


def test_the_api_docs_use_local_assets_only(client, db):
    for page in ("/api/v1/docs/", "/api/v1/redoc/", "/api/v1/docs/?script"):
        response = client.get(page)
        assert response.status_code == 200, page
        content = response.content.lower()
        assert not re.search(rb"https?://", content.replace(b"http://testserver", b"")), page
        assert b"googleapis" not in content and b"cdn" not in content
    for page in ("/api/v1/docs/", "/api/v1/redoc/"):
        assert not INLINE_SCRIPT.search(client.get(page).content), page
