"""The uploader's pages: the photo grid, deleting a photo, the consent page and its history."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from helpers import consent_for

from recognition.models import (
    AccessEvent,
    ErasureReceipt,
    Face,
    Identification,
    Person,
    Photo,
    private_storage,
)
from recognition.services import erasure
from recognition.services.consent import withdraw_consent
from recognition.templatetags.faceweb import render_markdown

GRID_MAX_QUERIES = 12


def stored_photo(user, i: int, **extra) -> Photo:
    extra.setdefault("status", Photo.Status.DONE)
    return Photo(uploader=user, person=Person.objects.get(user=user), purpose="identify",
                 file=f"photos/test/{uuid.uuid4().hex}.jpg", sha256=f"{i:064d}", size_bytes=1, width=640,
                 height=480, image_format="JPEG", **extra)


# --- The photo grid ---

def test_grid_shows_newest_first_in_a_stable_order_with_thumbnails(db, client, make_user):
    alice = make_user("alice", "uploader")
    consent_for(alice, "identify")
    now = timezone.now()
    # Same upload time for several photos: the id breaks the tie, so the order never changes.
    photos = Photo.objects.bulk_create([stored_photo(alice, i, created_at=now - timedelta(minutes=i // 3))
                                        for i in range(9)])
    client.force_login(alice)
    expected = [p.pk for p in sorted(photos, key=lambda p: (p.created_at, p.pk), reverse=True)]
    for _ in range(3):
        html = client.get(reverse("photos")).content.decode()
        shown = [int(part.split('"', 1)[0]) for part in html.split('data-photo-id="')[1:]]
        assert shown == expected
    assert f'{reverse("photo-image", args=[expected[0]])}?size=thumb' in html


def test_grid_of_500_photos_uses_a_bounded_number_of_queries(db, client, make_user,
                                                             django_assert_max_num_queries):
    alice = make_user("alice", "uploader")
    consent_for(alice, "identify")
    photos = Photo.objects.bulk_create([stored_photo(alice, i) for i in range(500)])
    Face.objects.bulk_create([
        Face(photo=p, index=k, box=[1, 2, 30, 30], landmarks=[[0, 0]] * 5, det_score=0.9, quality=0.8,
             is_good=True, embedding=[0.0] * 128, pipeline_version="test")
        for p in photos[:200] for k in range(2)])
    client.force_login(alice)
    with django_assert_max_num_queries(GRID_MAX_QUERIES):
        first = client.get(reverse("photos"))
    assert first.content.count(b'class="photo-tile card"') == 60
    assert b"page 1 of 9" in first.content
    with django_assert_max_num_queries(GRID_MAX_QUERIES):
        last = client.get(reverse("photos"), {"page": 9})
    assert last.content.count(b'class="photo-tile card"') == 500 - 8 * 60


def test_the_purpose_defaults_to_what_the_user_consented_to_and_is_remembered(db, client, make_user):
    bob = make_user("bob", "uploader")
    client.force_login(bob)
    page = client.get(reverse("photos")).content.decode()
    assert "Consent comes first" in page and 'name="photos"' not in page
    consent_for(bob, "identify")
    page = client.get(reverse("photos")).content.decode()
    assert '<option value="identify" selected>' in page
    assert '<option value="enrol" disabled>' in page
    consent_for(bob, "enrol")
    client.post(reverse("photo-upload"), {"purpose": "identify"})  # no file: refused, but the choice stays
    page = client.get(reverse("photos")).content.decode()
    assert '<option value="identify" selected>' in page


# --- Deleting a photo ---

def test_deleting_a_photo_removes_its_faces_identifications_and_file_and_is_logged(
        db, client, make_user, ingest, face_photo):
    ann, bob = make_user("ann", "uploader"), make_user("bob", "uploader")
    consent_for(ann, "enrol")
    consent_for(bob, "identify")
    ingest(ann, face_photo("obama.jpg"), "enrol")
    probe = ingest(bob, face_photo("obama2.jpg"), "identify")
    faces = list(probe.faces.values_list("pk", flat=True))
    assert faces and Identification.objects.filter(face_id__in=faces).exists()
    name = probe.file.name
    assert private_storage().exists(name)

    client.force_login(bob)
    with_callbacks = client.post(reverse("photo-delete", args=[probe.pk]))
    assert with_callbacks.status_code == 302
    assert not Photo.objects.filter(pk=probe.pk).exists()
    assert not Face.objects.filter(pk__in=faces).exists()
    assert not Identification.objects.filter(face_id__in=faces).exists()
    event = AccessEvent.objects.get(action="photo.delete")
    assert event.actor_name == "bob" and event.detail["faces"] == len(faces)
    # Ann's enrolment is untouched.
    assert Face.objects.filter(photo__uploader=ann, enrolled=True).count() == 1


def test_deleting_removes_the_file_once_committed(transactional_db, client, make_user, ingest, face_photo):
    bob = make_user("bob", "uploader")
    consent_for(bob, "identify")
    probe = ingest(bob, face_photo("obama2.jpg"), "identify")
    client.force_login(bob)
    client.post(reverse("photo-delete", args=[probe.pk]))
    assert not private_storage().exists(probe.file.name)


@pytest.mark.parametrize("intruder_role, status", [("uploader", 404), ("reviewer", 403), ("auditor", 403)])
def test_nobody_else_can_delete_a_photo(db, client, make_user, intruder_role, status):
    alice = make_user("alice", "uploader")
    consent_for(alice, "identify")
    photo = Photo.objects.bulk_create([stored_photo(alice, 1)])[0]
    client.force_login(make_user("mallory", intruder_role))
    assert client.post(reverse("photo-delete", args=[photo.pk])).status_code == status
    assert Photo.objects.filter(pk=photo.pk).exists()
    assert not AccessEvent.objects.filter(action="photo.delete").exists()


def test_a_photo_being_processed_is_not_deleted(db, client, make_user):
    alice = make_user("alice", "uploader")
    consent_for(alice, "identify")
    photo = Photo.objects.bulk_create([stored_photo(alice, 1, status=Photo.Status.PROCESSING)])[0]
    client.force_login(alice)
    response = client.post(reverse("photo-delete", args=[photo.pk]), follow=True)
    assert "being processed" in response.content.decode()
    assert Photo.objects.filter(pk=photo.pk).exists()


# --- The consent page ---

def test_the_notice_is_rendered_from_markdown_and_sanitised(db, client, make_user):
    html = render_markdown("# Title\n\n**bold** <script>alert(1)</script> [x](javascript:alert(1))\n\n"
                           "<img src=x onerror=alert(1)> [ok](https://example.org)")
    assert "<h1>Title</h1>" in html and "<strong>bold</strong>" in html
    for hostile in ("<script", 'href="javascript', "<img"):  # left as harmless text at most
        assert hostile not in html
    assert 'href="https://example.org"' in html
    client.force_login(make_user("alice", "uploader"))
    page = client.get(reverse("consent")).content.decode()
    assert "<h1>Consent to the processing of your biometric data" in page
    assert "<strong>Who</strong>" in page and "**Who**" not in page


def test_active_purposes_history_and_erasure_receipt_after_withdrawal(db, client, make_user):
    alice, bob = make_user("alice", "uploader"), make_user("bob", "uploader")
    client.force_login(alice)
    consent = consent_for(alice, "enrol", "identify")
    page = client.get(reverse("consent")).content.decode()
    assert "You have agreed to:" in page and page.count('class="badge active"') >= 3

    withdraw_consent(consent=consent, actor=alice)
    page = client.get(reverse("consent")).content.decode()
    assert "being erased" in page
    person = Person.objects.get(user=alice)
    receipt = erasure.erase_person(person=person, actor=alice, reason="consent withdrawn",
                                   vacuum=erasure.VACUUM_SKIP)
    page = client.get(reverse("consent")).content.decode()
    assert "You have not given consent yet" not in page
    assert "withdrawn" in page and "Enrol and Identify" in page
    url = reverse("consent-receipt", args=[receipt.pk])
    assert url in page
    document = client.get(url).json()
    assert document["payload"]["person_ref"] == person.pseudonym and erasure.verify_receipt(document).ok

    # Another uploader cannot fetch it, nor see it.
    client.force_login(bob)
    assert client.get(url).status_code == 404
    assert url not in client.get(reverse("consent")).content.decode()
    assert ErasureReceipt.objects.count() == 1
