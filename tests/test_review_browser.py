"""The reviewer's dashboard in a real headless Chromium, on proposals made by the real pipeline.

Needs Debian's ``chromium`` (``.ci/run`` installs it). Without it the test is skipped
locally with a reason, and fails in CI. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from browser_helpers import ARTIFACTS, CHROMIUM_ARGS, chromium_path, sign_in
from django.urls import reverse
from helpers import wait_for_photos

from recognition.models import Face, Identification, Person, Photo
from recognition.services.consent import give_consent, person_for_user
from recognition.services.photos import upload_photo

pytestmark = pytest.mark.browser


def upload(user, path: Path, purpose: str) -> Photo:
    """Through the upload service; the real Celery worker runs the pipeline."""
    photo = upload_photo(uploader=user, file=path.read_bytes(), purpose=purpose, filename=path.name).photo
    return wait_for_photos(photo.pk)[0]


def test_reviewer_confirms_a_real_proposal_in_the_browser(celery_worker, server, make_user, face_photo):
    live_server = server
    exe = chromium_path()
    alice, bob = make_user("alice", "uploader"), make_user("bob", "uploader")
    make_user("rita", "reviewer")
    give_consent(person=person_for_user(alice), purposes={"enrol"}, method="web", given_by=alice)
    give_consent(person=person_for_user(bob), purposes={"identify"}, method="web", given_by=bob)
    assert upload(alice, face_photo("obama.jpg"), "enrol").status == "done"
    first = upload(bob, face_photo("obama2.jpg"), "identify")
    second = upload(bob, face_photo("obama3.jpg"), "identify")
    person = Person.objects.get(user=alice)
    proposals = list(Identification.objects.filter(status="pending").order_by("created_at"))
    assert [p.face.photo_id for p in proposals] == [first.pk, second.pk]
    assert all(p.candidate == person for p in proposals)
    first_face, second_face = proposals[0].face_id, proposals[1].face_id
    person_url = reverse("person-detail", args=[person.pk])

    ARTIFACTS.mkdir(exist_ok=True)
    # Playwright's sync API runs an event loop in this thread: the ORM is used only before and after it.
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            sign_in(page, live_server.url, "rita")
            assert page.url.endswith(reverse("review-queue"))
            expect(page.locator("#queue-count strong")).to_have_text("2")
            items = page.locator(".rv-item")
            expect(items).to_have_count(2)
            card = page.locator(f"#face-{first_face}")
            expect(card.locator(".rv-conf").first).to_contain_text("the same person")
            for img in card.locator("img.crop").all():  # both crops load through the logged view
                expect(img).to_have_js_property("complete", True)
                assert img.evaluate("i => i.naturalWidth") > 0
            page.screenshot(path=str(ARTIFACTS / "review-queue.png"), full_page=True)

            # Keyboard: the first card is current; "c" confirms it without a reload.
            page.keyboard.press("c")
            expect(card).to_have_count(0)
            expect(page.locator("#queue-count strong")).to_have_text("1")
            expect(page.locator(".msg-success")).to_contain_text("Decided 1 proposal(s)")

            page.locator(f"#face-{second_face} button[data-key=r]").click()
            expect(page.locator("#queue-empty")).to_be_visible()

            page.goto(live_server.url + person_url)
            face_img = page.locator(f'img[src="{reverse("face-crop", args=[first_face])}"]')
            expect(face_img).to_be_visible()
            assert page.locator(f'img[src="{reverse("face-crop", args=[second_face])}"]').count() == 0

            page.goto(live_server.url + reverse("stats"))
            expect(page.locator("#distance-histogram svg")).to_be_visible()
            expect(page.locator("#distance-histogram")).to_contain_text("threshold")
            page.screenshot(path=str(ARTIFACTS / "stats.png"), full_page=True)

            other = browser.new_page()
            sign_in(other, live_server.url, "bob")
            response = other.goto(live_server.url + reverse("review-queue"))
            assert response.status == 403
        finally:
            browser.close()

    assert Face.objects.get(pk=first_face).person == person
    assert Face.objects.get(pk=second_face).person is None
    assert dict(Identification.objects.values_list("face_id", "status")) == {
        first_face: "confirmed", second_face: "rejected"}
    assert (ARTIFACTS / "review-queue.png").stat().st_size > 10_000
    assert (ARTIFACTS / "stats.png").stat().st_size > 10_000
