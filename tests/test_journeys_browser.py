"""Journeys through the pages in a real headless Chromium, on data made by the real pipeline.

A reviewer confirms a proposal and undoes it; a merge shows both people's faces and
merges only once confirmed (on a 390 px phone); an uploader sees a face's outcome, and
its identity only once a reviewer has confirmed it.
"""

from __future__ import annotations

import pytest
from browser_helpers import ARTIFACTS, CHROMIUM_ARGS, PHONE, chromium_path, horizontal_overflow, sign_in
from django.urls import reverse
from helpers import consent_for

from recognition.models import Consent, Face, Identification, Person
from recognition.services.consent import give_consent
from recognition.services.photos import process_photo, upload_photo

pytestmark = pytest.mark.browser


@pytest.fixture
def proposal(transactional_db, make_user, ingest, face_photo, django_capture_on_commit_callbacks):
    """Ulla enrolled (obama.jpg), a duplicate record of her enrolled from another photo by an operator,
    and Ivan's identify photo (obama2.jpg) waiting for review."""
    ulla, ivan = make_user("ulla", "uploader"), make_user("ivan", "uploader")
    otto = make_user("otto", "operator")
    make_user("rita", "reviewer")
    consent_for(ulla, "enrol")
    consent_for(ivan, "identify")
    assert ingest(ulla, face_photo("obama.jpg"), "enrol").status == "done"
    dup = Person.objects.create(display_name="Barack duplicate")
    give_consent(person=dup, purposes={"enrol"}, method=Consent.Method.COMMAND, given_by=otto,
                 evidence="form 12")
    with django_capture_on_commit_callbacks(execute=False):
        photo = upload_photo(uploader=otto, file=face_photo("obama3.jpg").read_bytes(), purpose="enrol",
                             filename="obama3.jpg", person=dup).photo
    process_photo(photo_id=photo.pk)
    probe = ingest(ivan, face_photo("obama2.jpg"), "identify")
    ident = Identification.objects.filter(face__photo=probe, status="pending").order_by("rank").first()
    assert ident is not None
    return {"ulla": Person.objects.get(user=ulla), "dup": dup, "ident": ident}


def test_reviewer_undoes_a_decision_and_merges_after_seeing_both_people(proposal, server):
    exe = chromium_path()
    ident, ulla, dup = proposal["ident"], proposal["ulla"], proposal["dup"]
    face_id = ident.face_id
    # Playwright's sync API runs an event loop in this thread: the ORM is used only before and after it.
    both_faces = list(Face.objects.filter(person__in=[ulla, dup]).values_list("pk", flat=True))
    assert len(both_faces) == 2
    out = ARTIFACTS / "journeys"
    out.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            sign_in(page, server.url, "rita")
            card = page.locator(f"#face-{face_id}")
            expect(card).to_be_visible()
            pending_before = page.locator("#queue-proposals").inner_text()
            card.locator("button[data-key=c]").click()
            expect(card).to_have_count(0)
            expect(page.locator("#queue-proposals")).not_to_have_text(pending_before)
            flash = page.locator(".msg-success")
            expect(flash).to_contain_text("Decided")
            page.screenshot(path=str(out / "decided-with-undo.png"))
            flash.get_by_role("button", name="Undo").click()
            page.wait_for_load_state("networkidle")
            expect(page.locator(f"#face-{face_id}")).to_be_visible()  # back in the queue, as before
            expect(page.locator("#queue-proposals")).to_have_text(pending_before)
            page.close()

            phone = browser.new_page(viewport=PHONE)
            sign_in(phone, server.url, "rita")
            phone.goto(server.url + reverse("person-detail", args=[ulla.pk]))
            phone.fill("input[name=other]", dup.display_name)  # a typed name, not the list's value
            phone.get_by_role("button", name=f"Merge into {ulla.display_name}").click()
            expect(phone.locator("h1")).to_contain_text(f"Merge {dup.display_name} into {ulla.display_name}?")
            for face in both_faces:
                expect(phone.locator(f'img[src="{reverse("face-crop", args=[face])}"]')).to_be_visible()
            # Nothing is merged before the confirmation: the duplicate's page still shows them apart.
            expect(phone.get_by_role("button", name="Yes, merge")).to_be_visible()
            assert horizontal_overflow(phone) == 0
            phone.screenshot(path=str(out / "merge-confirm-phone.png"), full_page=True)
            phone.get_by_role("button", name="Yes, merge").click()
            expect(phone.locator(".msg-success")).to_contain_text("Merged")
        finally:
            browser.close()

    assert Identification.objects.get(pk=ident.pk).status == "pending"
    assert Face.objects.get(pk=face_id).person_id is None
    assert Person.objects.get(pk=dup.pk).merged_into_id == ulla.pk


def test_the_uploader_sees_the_outcome_once_a_reviewer_confirms(proposal, server):
    exe = chromium_path()
    ident, ulla = proposal["ident"], proposal["ulla"]
    photo_url = reverse("photo-detail", args=[Face.objects.get(pk=ident.face_id).photo_id])
    name = ulla.display_name
    out = ARTIFACTS / "journeys"
    out.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        try:
            ivan = browser.new_page(viewport=PHONE)
            sign_in(ivan, server.url, "ivan")
            ivan.goto(server.url + photo_url)
            expect(ivan.locator(".outcome").first).to_contain_text("Awaiting review")
            # No identity before a reviewer confirms.
            expect(ivan.locator("ol.faces")).not_to_contain_text(name)

            rita = browser.new_page(viewport={"width": 1280, "height": 900})
            sign_in(rita, server.url, "rita")
            rita.locator(f"#face-{ident.face_id} button[data-key=c]").click()
            expect(rita.locator(f"#face-{ident.face_id}")).to_have_count(0)

            ivan.goto(server.url + photo_url)
            expect(ivan.locator(".outcome").first).to_contain_text(f"onfirmed as {name}")
            assert horizontal_overflow(ivan) == 0
            ivan.screenshot(path=str(out / "uploader-outcome-phone.png"), full_page=True)
            ivan.goto(server.url + reverse("photos"))
            expect(ivan.locator(".outcomes").first).to_contain_text(f"onfirmed as {name}")
        finally:
            browser.close()
