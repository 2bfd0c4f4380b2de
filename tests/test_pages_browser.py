"""Every signed-in page of every role in a real headless Chromium, at 1280 px and at 390 px.

On each page: it answers 200, the page never scrolls sideways, axe-core finds no serious
or critical accessibility violation, and a screenshot is kept in test-artifacts/pages/.
The data behind the pages is made by the real pipeline (a proposal waiting for review, an
enrolled person, an erasure receipt).
"""

from __future__ import annotations

import pytest
from browser_helpers import (
    ARTIFACTS,
    CHROMIUM_ARGS,
    DESKTOP,
    PHONE,
    chromium_path,
    horizontal_overflow,
    serious_axe_violations,
    sign_in,
)
from django.urls import reverse
from helpers import consent_for

from recognition.models import ErasureReceipt, Identification, Person
from recognition.services import erasure

pytestmark = pytest.mark.browser


@pytest.fixture
def world(transactional_db, make_user, ingest, face_photo):
    """One account per role and the data each role's pages show."""
    ulla, ivan = make_user("ulla", "uploader"), make_user("ivan", "uploader")
    for name, role in (("rita", "reviewer"), ("audrey", "auditor"), ("otto", "operator")):
        make_user(name, role)
    consent_for(ulla, "enrol")
    consent_for(ivan, "identify")
    assert ingest(ulla, face_photo("obama.jpg"), "enrol").status == "done"
    probe = ingest(ivan, face_photo("obama2.jpg"), "identify")
    assert Identification.objects.filter(face__photo=probe, status="pending").exists()
    gone = make_user("gone", "uploader")
    consent_for(gone, "enrol")
    ingest(gone, face_photo("biden.jpg"), "enrol")
    receipt = erasure.erase_person(person=Person.objects.get(user=gone), actor=None, reason="request 7",
                                   vacuum=erasure.VACUUM_SKIP)
    return {"probe": probe, "person": Person.objects.get(user=ulla), "receipt": receipt}


def pages_by_role(world) -> dict[str, list[str]]:
    photo, person, receipt = world["probe"].pk, world["person"].pk, world["receipt"].pk
    everyone = [reverse("retention-policy"), reverse("api-tokens")]
    return {
        "ivan": [reverse("photos"), reverse("photo-detail", args=[photo]), reverse("consent"), *everyone],
        "rita": [reverse("review-queue"), reverse("people"), reverse("person-detail", args=[person]),
                 reverse("unassigned-faces"), reverse("stats"), reverse("photo-detail", args=[photo]),
                 *everyone],
        "audrey": [reverse("audit-log"), reverse("audit-verify"), *everyone],
        "otto": [reverse("erasure"), reverse("erasure-receipt", args=[receipt]), reverse("receipt-verify"),
                 *everyone],
    }


def slug(path: str) -> str:
    return path.strip("/").replace("/", "_").replace(".", "_") or "home"


def test_every_page_fits_a_phone_and_passes_axe(world, server):
    exe = chromium_path()
    pages = pages_by_role(world)
    assert ErasureReceipt.objects.exists()
    out = ARTIFACTS / "pages"
    out.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    shots = 0
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        try:
            for size, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
                login = browser.new_page(viewport=viewport)
                login.goto(server.url + reverse("login"))
                problems += [f"login {size}: {v}" for v in serious_axe_violations(login)]
                login.close()
                for username, paths in pages.items():
                    context = browser.new_context(viewport=viewport)
                    page = context.new_page()
                    sign_in(page, server.url, username)
                    for path in paths:
                        response = page.goto(server.url + path)
                        page.wait_for_load_state("networkidle")
                        where = f"{username} {path} at {viewport['width']} px"
                        if response.status != 200:
                            problems.append(f"{where}: HTTP {response.status}")
                        wider = horizontal_overflow(page)
                        if wider > 0:
                            problems.append(f"{where}: scrolls sideways by {wider} px")
                        problems += [f"{where}: {v}" for v in serious_axe_violations(page)]
                        page.screenshot(path=str(out / f"{size}-{username}-{slug(path)}.png"), full_page=True)
                        shots += 1
                    # The skip link is the first stop of the keyboard (on a page without autofocus).
                    page.goto(server.url + reverse("retention-policy"))
                    page.keyboard.press("Tab")
                    expect(page.locator(".skip-link")).to_be_focused()
                    if size == "phone":
                        # The menu folds behind a button on a phone; it opens and marks the page.
                        toggle = page.locator(".nav-toggle")
                        expect(toggle).to_be_visible()
                        expect(page.locator("#site-menu")).to_be_hidden()
                        toggle.click()
                        expect(page.locator("#site-menu nav a").first).to_be_visible()
                        expect(toggle).to_have_attribute("aria-expanded", "true")
                    else:
                        current = page.locator("#site-menu nav a[aria-current=page]")
                        expect(current).to_have_text("Retention policy")
                    context.close()
        finally:
            browser.close()
    assert not problems, "\n".join(problems)
    assert shots == 2 * sum(len(p) for p in pages.values())
