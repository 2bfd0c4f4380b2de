"""The abuse paths of docs/rules.md, each written as the attack it stops (through the API and the
pages where both exist). Real models on real photos, real PostgreSQL; a real worker where the rule
says "through the worker"."""

from __future__ import annotations

import json
import shutil
import time

import pytest
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse
from helpers import consent_for, wait_for_photos

import recognition.api.tasks  # noqa: F401 - the worker learns the API's tasks
from recognition import runtime
from recognition.models import Consent, ErasureReceipt, Face, Identification, Person, Photo
from recognition.models import private_storage as storage
from recognition.services import media, review
from recognition.services.consent import withdraw_consent
from recognition.services.photos import WITHDRAWN, process_photo

API = "/api/v1/"


def image(path) -> SimpleUploadedFile:
    return SimpleUploadedFile(path.name, path.read_bytes(), "image/jpeg")


def api_upload(client, user, path, purpose: str) -> Photo:
    """Upload through the API, then process here with the real pipeline (no worker needed)."""
    client.force_login(user)
    response = client.post(API + "photos/", {"file": image(path), "purpose": purpose})
    assert response.status_code == 201, response.content
    process_photo(photo_id=response.json()["id"])
    return Photo.objects.get(pk=response.json()["id"])


def page_upload(client, user, path, purpose: str) -> Photo:
    """Upload through the photos page, then process here."""
    client.force_login(user)
    response = client.post(reverse("photo-upload"), {"photos": [image(path)], "purpose": purpose})
    assert response.status_code == 302, response.content
    photo = Photo.objects.filter(uploader=user).order_by("-pk").first()
    process_photo(photo_id=photo.pk)
    photo.refresh_from_db()
    return photo


# 1. An uploader uses identification as a face-search engine -------------------------------------------

@pytest.mark.slow
def test_uploader_cannot_use_identify_as_a_face_search_engine(celery_worker, client, make_user, face_photo):
    zelda, uma = make_user("zelda", "uploader"), make_user("uma", "uploader")
    rita = make_user("rita", "reviewer")
    consent_for(zelda, "enrol")
    consent_for(uma, "identify")
    client.force_login(zelda)
    enrolled = client.post(API + "photos/", {"file": image(face_photo("obama.jpg")), "purpose": "enrol"})
    wait_for_photos(enrolled.json()["id"])

    # The attack: identify a stranger's photo and read who it is, at once, through the API.
    client.force_login(uma)
    response = client.post(API + "identify/?wait=30", {"file": image(face_photo("obama3.jpg"))})
    assert response.status_code == 200, response.content
    text = response.content.decode()
    assert "zelda" not in text and "distance" not in text and "candidates" not in text
    assert [f["outcome"] for f in response.json()["faces"]] == ["awaiting_review"]
    photo_id = response.json()["id"]
    # ...or on the page.
    page = client.get(reverse("photo-detail", args=[photo_id])).content.decode()
    assert "zelda" not in page and "Awaiting review" in page

    # After the reviewer rejects the proposal, the rejected candidate does not show either.
    review.reject(identification=Identification.objects.get(face__photo_id=photo_id), reviewer=rita)
    client.force_login(uma)
    again = client.get(f"{API}photos/{photo_id}/")
    assert "zelda" not in again.content.decode() and "distance" not in again.content.decode()
    assert [f["outcome"] for f in again.json()["faces"]] == ["not_identified"]
    assert "zelda" not in client.get(reverse("photo-detail", args=[photo_id])).content.decode()


# 2. A bystander enrolled under someone else's name ---------------------------------------------------

def test_a_bystander_cannot_be_enrolled_under_someone_elses_name(db, client, make_user, face_photo, tmp_path):
    alice = make_user("alice", "uploader")
    consent_for(alice, "enrol")
    person = Person.objects.get(user=alice)

    # A first enrolment with two people in it: refused with a reason, nobody enrolled (page, then API).
    for upload in (page_upload, api_upload):
        group = upload(client, alice, face_photo("two_people.jpg"), "enrol")
        assert group.status == "failed" and "first enrolment" in group.error, group.error
        assert not Face.objects.filter(enrolled=True).exists()
        assert "first enrolment" in client.get(reverse("photos")).content.decode()
        assert "first enrolment" in client.get(f"{API}photos/{group.pk}/").json()["error"]
        group.delete()  # to send the same bytes again the other way

    # Her own face first (alice is the man in obama.jpg); then the group photo enrols only him.
    assert api_upload(client, alice, face_photo("obama.jpg"), "enrol").status == "done"
    group = api_upload(client, alice, face_photo("two_people.jpg"), "enrol")
    assert group.status == "done"
    enrolled = list(Face.objects.filter(photo=group, enrolled=True))
    assert len(enrolled) == 1 and enrolled[0].person == person
    assert enrolled[0].index == 0  # two_people.jpg: Obama on the left (index 0), Biden on the right
    # A photo of someone else alone: refused, because it does not match her enrolled face.
    other = page_upload(client, alice, face_photo("biden.jpg"), "enrol")
    assert other.status == "failed" and "does not match" in other.error
    assert Face.objects.filter(person=person, enrolled=True).count() == 2

    # An operator enrolling a folder for a new person follows the same rule.
    folder = tmp_path / "bob"
    folder.mkdir()
    shutil.copy(face_photo("two_people.jpg"), folder / "group.jpg")
    otto = make_user("otto", "operator")
    call_command("enrol_folder", str(folder), "--person", "Bob", "--operator", "otto",
                 "--consent-evidence", "form 12")
    bob = Person.objects.get(display_name="Bob")
    assert not Face.objects.filter(person=bob).exists()
    assert "first enrolment" in Photo.objects.get(person=bob, uploader=otto).error


# 3. Withdrawing one purpose leaves its biometric data ------------------------------------------------

def wait_for_receipt(reason: str, timeout: float = 60) -> ErasureReceipt:
    deadline = time.monotonic() + timeout
    while (receipt := ErasureReceipt.objects.filter(reason=reason).first()) is None:
        assert time.monotonic() < deadline, f"no receipt {reason!r} within {timeout} s"
        time.sleep(0.2)
    return receipt


@pytest.mark.slow
def test_withdrawing_enrol_erases_the_enrolment_and_nothing_else(celery_worker, client, make_user, face_photo,
                                                                 ingest):
    alice, bob = make_user("alice", "uploader"), make_user("bob", "uploader")
    rita = make_user("rita", "reviewer")
    enrol_consent = consent_for(alice, "enrol")
    consent_for(alice, "identify")  # a separate consent
    consent_for(bob, "identify")
    person = Person.objects.get(user=alice)
    enrol_photo = ingest(alice, face_photo("obama.jpg"), "enrol")
    her_identify = ingest(alice, face_photo("biden.jpg"), "identify")
    confirmed = ingest(bob, face_photo("obama2.jpg"), "identify")
    pending = ingest(bob, face_photo("obama3.jpg"), "identify")
    review.confirm(identification=Identification.objects.get(face__photo=confirmed), reviewer=rita)
    assert Identification.objects.filter(face__photo=pending, candidate=person, status="pending").exists()
    enrol_file = enrol_photo.file.name
    enrol_face = Face.objects.get(photo=enrol_photo).pk
    cached = [media.thumbnail_name(enrol_photo.pk), media.crop_name(enrol_face)]
    assert all(storage().exists(name) for name in cached)  # the worker caches both

    # She withdraws enrolment only (API); the worker erases what was kept for it, promptly.
    client.force_login(alice)
    response = client.post(f"{API}consents/{enrol_consent.pk}/withdraw/")
    assert response.status_code == 200 and response.json()["active"] is False
    receipt = wait_for_receipt("consent to enrol withdrawn")

    assert not Photo.objects.filter(pk=enrol_photo.pk).exists() and not storage().exists(enrol_file)
    assert not any(storage().exists(name) for name in cached)  # its thumbnail and face crop too
    assert not Face.objects.filter(person=person).exists()
    assert not Face.objects.filter(enrolled=True).exists()
    assert not Identification.objects.filter(candidate=person).exists()
    assert Face.objects.get(photo=confirmed).person is None  # bob's photo stays, not identified any more
    # What was kept for identification stays: her identify photo, and bob's photos.
    assert Photo.objects.filter(pk__in=[her_identify.pk, confirmed.pk, pending.pk]).count() == 3
    assert Face.objects.filter(photo=her_identify).count() == 1
    person.refresh_from_db()
    assert person.erased_at is None and person.display_name == "alice"
    assert receipt.counts["photos"] == 1 and receipt.counts["files"] == 1
    assert receipt.counts["faces"] == 1 and receipt.counts["identifications"] == 2
    assert receipt.counts["faces_unlinked"] == 1
    client.force_login(bob)
    assert client.get(f"{API}photos/{confirmed.pk}/").json()["faces"][0]["outcome"] == "not_identified"


# 4. Withdrawal does not stop a photo already being processed -----------------------------------------

class WithdrawDuringAnalysis:
    """The real pipeline; once it has analysed the photo (the consent was checked before), the
    person withdraws, through the page, before the faces are stored."""

    def __init__(self, pipeline, withdraw):
        self.pipeline, self.withdraw, self.version = pipeline, withdraw, pipeline.version

    def process(self, image):
        faces = self.pipeline.process(image)
        self.withdraw()
        return faces


def test_a_photo_in_flight_stores_nothing_once_consent_is_withdrawn(db, client, make_user, face_photo,
                                                                    ingest, monkeypatch,
                                                                    django_capture_on_commit_callbacks):
    zelda, uma = make_user("zelda", "uploader"), make_user("uma", "uploader")
    zelda_enrol = consent_for(zelda, "enrol")
    consent_for(zelda, "identify")
    uma_consent = consent_for(uma, "identify")
    ingest(zelda, face_photo("obama.jpg"), "enrol")
    real = runtime.get_pipeline()

    def upload_and_withdraw_midway(user, consent, path) -> Photo:
        def withdraw():
            client.force_login(user)
            assert client.post(reverse("consent-withdraw", args=[consent.pk])).status_code == 302

        monkeypatch.setattr(runtime, "get_pipeline", lambda: WithdrawDuringAnalysis(real, withdraw))
        with django_capture_on_commit_callbacks(execute=False):  # the erasure task is not the guard here
            client.force_login(user)
            response = client.post(API + "photos/", {"file": image(path), "purpose": "identify"})
            assert response.status_code == 201
            photo = process_photo(photo_id=response.json()["id"])
        monkeypatch.setattr(runtime, "get_pipeline", lambda: real)
        return photo

    # The uploader withdraws while her photo is analysed: nothing is stored, and she is told why.
    photo = upload_and_withdraw_midway(uma, uma_consent, face_photo("obama3.jpg"))
    assert photo.status == "failed" and photo.error == WITHDRAWN
    assert not Face.objects.filter(photo=photo).exists()
    assert not Identification.objects.exists()

    # The enrolled person withdraws enrolment while someone's photo of her is analysed: no proposal.
    consent_for(uma, "identify")
    photo = upload_and_withdraw_midway(zelda, zelda_enrol, face_photo("obama2.jpg"))
    assert photo.status == "done" and Face.objects.filter(photo=photo).count() == 1
    assert not Identification.objects.filter(face__photo=photo).exists()


# 5. Erasure deletes other people's data ---------------------------------------------------------------

def test_erasing_an_operator_keeps_the_people_they_enrolled(db, client, make_user, face_photo, ingest,
                                                            tmp_path):
    otto, olga = make_user("otto", "operator"), make_user("olga", "operator")
    otto.groups.add(Group.objects.get(name="uploader"))  # otto also uploads photos of his own
    folder = tmp_path / "bob"
    folder.mkdir()
    shutil.copy(face_photo("obama.jpg"), folder / "bob1.jpg")
    shutil.copy(face_photo("obama2.jpg"), folder / "bob2.jpg")
    call_command("enrol_folder", str(folder), "--person", "Bob", "--operator", "otto",
                 "--consent-evidence", "form 12")
    bob = Person.objects.get(display_name="Bob")
    assert Face.objects.filter(person=bob, enrolled=True).count() == 2
    consent_for(otto, "enrol")
    own = ingest(otto, face_photo("biden.jpg"), "enrol")
    otto_person = Person.objects.get(user=otto)

    # Otto, as a data subject, asks for erasure (API). Only his own data goes.
    client.force_login(olga)
    response = client.post(API + "erasures/", {"person": otto_person.pk, "reason": "his request"},
                           content_type="application/json")
    assert response.status_code == 201, response.content
    counts = response.json()["counts"]
    assert counts["photos"] == 1 and counts["faces"] == 1 and counts["files"] == 1
    assert [f["photo_id"] for f in response.json()["file_hashes"]] == [own.pk]
    assert Face.objects.filter(person=bob, enrolled=True).count() == 2
    assert Photo.objects.filter(person=bob).count() == 2
    assert all(storage().exists(p.file.name) for p in Photo.objects.filter(person=bob))
    # The same through the page: Bob is still offered, with his photos.
    page = client.get(reverse("erasure")).content.decode()
    assert "Bob" in page


# 6. A reviewer assigns a face to someone who never consented --------------------------------------

def test_a_reviewer_cannot_assign_a_face_to_someone_who_never_consented(db, client, make_user, face_photo,
                                                                         ingest):
    zelda, uma = make_user("zelda", "uploader"), make_user("uma", "uploader")
    carol = make_user("carol", "uploader")
    rita = make_user("rita", "reviewer")
    zelda_consent = consent_for(zelda, "enrol")
    consent_for(uma, "identify")
    consent_for(carol, "identify")  # carol never agreed to be recognised
    carol_person = Person.objects.get(user=carol)
    ingest(zelda, face_photo("obama.jpg"), "enrol")
    probe = ingest(uma, face_photo("obama3.jpg"), "identify")
    ident = Identification.objects.get(face__photo=probe)
    client.force_login(rita)

    # API: assigning the face to carol is refused, with the reason.
    response = client.post(f"{API}identifications/{ident.pk}/assign/", {"person": carol_person.pk},
                           content_type="application/json")
    assert response.status_code == 403, response.content
    assert "no active consent to enrolment" in response.json()["error"]["message"]
    # Page: the same.
    response = client.post(reverse("review-decide"), {"decision": f"assign:{ident.pk}",
                                                      f"person-{ident.pk}": f"carol (#{carol_person.pk})"},
                           HTTP_ACCEPT="application/json")
    assert response.status_code in (400, 403) and Face.objects.get(pk=ident.face_id).person is None

    # Zelda withdraws meanwhile (her erasure has not run yet): confirming her is refused too.
    withdraw_consent(consent=zelda_consent, actor=zelda)
    response = client.post(f"{API}identifications/{ident.pk}/confirm/")
    assert response.status_code == 403
    assert Face.objects.get(pk=ident.face_id).person is None
    assert Identification.objects.get(pk=ident.pk).status == "pending"


# 7. Merged-away duplicates offered for erasure -------------------------------------------------------

def test_a_merged_away_record_is_not_offered_for_erasure(db, client, make_user, face_photo, ingest, tmp_path):
    zelda, otto = make_user("zelda", "uploader"), make_user("otto", "operator")
    rita = make_user("rita", "reviewer")
    consent_for(zelda, "enrol")
    ingest(zelda, face_photo("obama.jpg"), "enrol")
    real = Person.objects.get(user=zelda)
    folder = tmp_path / "paper"
    folder.mkdir()
    shutil.copy(face_photo("obama2.jpg"), folder / "z.jpg")
    call_command("enrol_folder", str(folder), "--person", "Zelda (paper form)", "--operator", "otto",
                 "--consent-evidence", "form 7")
    duplicate = Person.objects.get(display_name="Zelda (paper form)")
    review.merge_people(into=real, other=duplicate, reviewer=rita)
    assert Face.objects.filter(person=real, enrolled=True).count() == 2

    client.force_login(otto)
    page = client.get(reverse("erasure"), {"q": "Zelda"}).content.decode()
    assert "paper form" not in page and f'value="{duplicate.pk}"' not in page
    response = client.post(API + "erasures/", {"person": duplicate.pk, "reason": "request"},
                           content_type="application/json")
    assert response.status_code == 400 and "merged into" in response.json()["error"]["message"]
    assert not ErasureReceipt.objects.exists()

    # Erasing the real record erases the merged one with it.
    response = client.post(API + "erasures/", {"person": real.pk, "reason": "request"},
                           content_type="application/json")
    assert response.status_code == 201
    assert response.json()["counts"]["person_records"] == 2 and response.json()["counts"]["faces"] == 2
    assert not Face.objects.exists()
    assert Person.objects.get(pk=duplicate.pk).erased_at is not None
    assert Consent.objects.filter(Consent.active_q()).filter(person__in=[real, duplicate]).count() == 0



# Abuse signals: bulk identification is stopped by a quota, and auditors see who does it ----------------

def test_identify_quota_stops_bulk_identification(db, client, make_user, face_photo, settings,
                                                  django_capture_on_commit_callbacks):
    settings.IDENTIFY_QUOTA_PER_DAY = 3
    uma = make_user("uma", "uploader")
    consent_for(uma, "identify")
    client.force_login(uma)
    names = ["obama.jpg", "obama2.jpg", "biden.jpg", "obama3.jpg"]
    with django_capture_on_commit_callbacks(execute=False):  # no worker needed: acceptance is the point
        # Three requests through the API (a repeat of the same bytes counts too)...
        for name in names[:2] + names[1:2]:
            assert client.post(API + "identify/", {"file": image(face_photo(name))}).status_code in (200, 202)
        # ...then the fourth is refused: 429, the API's error body, and when to come back.
        response = client.post(API + "identify/", {"file": image(face_photo("biden.jpg"))})
        assert response.status_code == 429
        error = response.json()["error"]
        assert error["code"] == "quota_exceeded" and "limit of 3 identify requests" in error["message"]
        assert 0 < int(response["Retry-After"]) <= 24 * 3600
        # The page refuses too, with the same message.
        page = client.post(reverse("photo-upload"), {"photos": [image(face_photo("obama3.jpg"))],
                                                     "purpose": "identify"})
        assert page.status_code == 429 and "limit of 3 identify requests" in page.content.decode()
        # Withdrawing and giving consent again does not reset it: it is counted in the access log.
        for consent in Consent.objects.filter(person__user=uma):
            withdraw_consent(consent=consent, actor=uma)
        consent_for(uma, "identify")
        assert client.post(API + "identify/", {"file": image(face_photo("obama3.jpg"))}).status_code == 429
    assert Photo.objects.filter(uploader=uma).count() == 2
    from recognition.models import AccessEvent

    assert AccessEvent.objects.filter(action="identify.request", actor_id=uma.pk).count() == 3
    assert AccessEvent.objects.filter(action="identify.refused", actor_id=uma.pk).count() == 3


def test_auditors_see_who_identifies_the_most_people(db, client, make_user, face_photo, ingest, settings):
    settings.ABUSE_FLAG_IDENTIFY_PER_DAY = 0  # any identify request a day is over the rate: flagged
    settings.ABUSE_FLAG_PEOPLE_PER_DAY = 100
    zelda, bea = make_user("zelda", "uploader"), make_user("bea", "uploader")
    uma, ann = make_user("uma", "uploader"), make_user("ann", "uploader")
    audrey, rita = make_user("audrey", "auditor"), make_user("rita", "reviewer")
    for enrolled, photo in ((zelda, "obama.jpg"), (bea, "biden.jpg")):
        consent_for(enrolled, "enrol")
        ingest(enrolled, face_photo(photo), "enrol")
    for uploader in (uma, ann):
        consent_for(uploader, "identify")
    ingest(uma, face_photo("obama3.jpg"), "identify")
    ingest(uma, face_photo("two_people.jpg"), "identify")  # both enrolled people
    ingest(ann, face_photo("obama2.jpg"), "identify")

    client.force_login(audrey)
    report = client.get(API + "audit/abuse/", {"days": 1, "order": "people"}).json()
    rows = {r["username"]: r for r in report["uploaders"]}
    assert [r["username"] for r in report["uploaders"]] == ["uma", "ann"]
    assert (rows["uma"]["requests"], rows["uma"]["people_matched"]) == (2, 2)
    assert (rows["ann"]["requests"], rows["ann"]["people_matched"]) == (1, 1)
    assert rows["uma"]["flagged"] and "identify requests a day" in rows["uma"]["reasons"][0]
    assert "zelda" not in json.dumps(report)  # accounts and counts, never who was matched
    page = client.get(reverse("abuse-signals"), {"days": 1})
    assert page.status_code == 200 and "Flagged" in page.content.decode()
    assert "zelda" not in page.content.decode()

    # Only auditors: an uploader or a reviewer is refused, on the page and in the API.
    for user in (uma, rita):
        client.force_login(user)
        assert client.get(API + "audit/abuse/").status_code == 403
        assert client.get(reverse("abuse-signals")).status_code == 403
