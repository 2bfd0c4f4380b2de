"""The pages pass their Content-Security-Policy in a real headless Chromium: no violation is reported.

Every page sends a policy without 'unsafe-inline'; a page that still had an inline
script, style or handler would break in the browser. Chromium reports each blocked
resource on the console, which this test collects. Needs Debian's ``chromium`` (see
tests/test_review_browser.py).
"""

from __future__ import annotations

import pytest
from django.urls import reverse
from helpers import consent_for
from test_review_browser import CHROMIUM_ARGS, chromium_path, sign_in

pytestmark = pytest.mark.browser

PAGES = {
    "uploader": ["/photos/", "/consent/", "/api/v1/tokens/manage/"],
    "reviewer": ["/review/", "/review/people/", "/review/stats/"],
    "auditor": ["/compliance/audit/"],
    "operator": ["/compliance/erasure/", "/compliance/retention/"],
}
DOCS = ["/api/v1/docs/", "/api/v1/redoc/"]
# Redoc's bundle has a footer logo hard-wired to its CDN (it hides itself when the image fails):
# the policy blocks it, which is the point (no request leaves for a CDN); it is the only one.
REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


@pytest.fixture
def server(request, settings):
    settings.MEDIA_URL = "/_no-media-is-published/"  # see test_review_browser.server
    return request.getfixturevalue("live_server")


def test_every_page_loads_without_a_csp_violation(server, make_user):
    exe = chromium_path()
    for role in PAGES:
        user = make_user(f"csp-{role}", role)
        if role == "uploader":
            consent_for(user, "enrol")
    from playwright.sync_api import expect, sync_playwright

    violations: list[str] = []
    asked: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        try:
            for role, pages in PAGES.items():
                page = browser.new_page()
                page.on("console", lambda msg, r=role: violations.append(f"{r} {msg.page.url}: {msg.text}")
                        if "Content Security Policy" in msg.text else None)
                sign_in(page, server.url, f"csp-{role}")
                for path in pages + DOCS:
                    response = page.goto(server.url + path)
                    assert response.status == 200, (role, path)
                    page.wait_for_load_state("networkidle")
                if role == "uploader":
                    # The withdrawal confirmation (a script file now, not an inline handler) still asks.
                    page.goto(server.url + reverse("consent"))
                    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
                    page.locator("form[data-confirm] button").first.click()
                    page.wait_for_load_state("networkidle")
                    assert asked and "Withdraw this consent" in asked[0]
                    expect(page.locator("form[data-confirm]")).to_have_count(1)  # not withdrawn
                if role == "operator":
                    page.goto(server.url + DOCS[0])
                    # Both renderers parse the whole schema in the browser: seconds on a loaded machine.
                    title = page.locator(".swagger-ui .info .title")
                    expect(title).to_contain_text("faceweb API", timeout=60_000)
                    page.goto(server.url + DOCS[1])
                    expect(page.locator("redoc h1").first).to_contain_text("faceweb API", timeout=60_000)
                page.close()
        finally:
            browser.close()

    blocked_logo = [v for v in violations if "/api/v1/redoc/" in v and REDOC_LOGO in v]
    assert [v for v in violations if v not in blocked_logo] == []
