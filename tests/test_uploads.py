"""The first journey: consent, upload, the real worker embeds into pgvector, proposals are made."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from helpers import consent_for, wait_for_photos

from recognition.models import Consent, Face, Identification, Person, Photo


def upload(client, path, purpose: str):
    data = SimpleUploadedFile(path.name, path.read_bytes(), content_type="image/jpeg")
    return client.post(reverse("photo-upload"), {"photos": [data], "purpose": purpose})


def last_photo(user) -> Photo:
    return Photo.objects.filter(uploader=user).order_by("-pk").first()


@pytest.fixture
def alice(make_user, client):
    user = make_user("alice", "uploader")
    consent_for(user, "enrol", "identify")
    return user


@pytest.fixture
def bob(make_user):
    user = make_user("bob", "uploader")
    consent_for(user, "identify")
    return user


def enrol(client, user, face_photo, *names: str) -> list[Photo]:
    client.force_login(user)
    ids = []
    for name in names:
        response = upload(client, face_photo(name), "enrol")
        assert response.status_code == 302, response.content
        ids.append(last_photo(user).pk)
    return wait_for_photos(*ids)


def identify(client, user, face_photo, name: str) -> Photo:
    client.force_login(user)
    response = upload(client, face_photo(name), "identify")
    assert response.status_code == 302
    return wait_for_photos(last_photo(user).pk)[0]


def test_enrol_then_identify_end_to_end(celery_worker, client, alice, bob, face_photo):
    enrolled = enrol(client, alice, face_photo, "obama.jpg", "obama2.jpg")
    assert [p.status for p in enrolled] == ["done", "done"]
    person = Person.objects.get(user=alice)
    assert Face.objects.filter(person=person, enrolled=True).count() == 2
    face = Face.objects.filter(person=person).first()
    assert face.pipeline_version and len(face.embedding) == 128

    probe = identify(client, bob, face_photo, "obama3.jpg")
    assert probe.status == "done"
    proposal = Identification.objects.get(face__photo=probe)
    assert proposal.candidate == person
    assert proposal.status == Identification.Status.PENDING
    assert proposal.distance < 0.6 and proposal.rank == 1

    other = identify(client, bob, face_photo, "biden.jpg")
    assert other.faces.count() == 1
    assert not Identification.objects.filter(face__photo=other, candidate=person).exists()

    group = identify(client, bob, face_photo, "two_people.jpg")
    assert group.faces.count() == 2
    # Obama is in it: exactly one of the two faces is proposed as alice's person.
    assert Identification.objects.filter(face__photo=group, candidate=person).count() == 1


def test_upload_without_consent_is_refused_and_nothing_is_stored(client, make_user, face_photo):
    carol = make_user("carol", "uploader")
    client.force_login(carol)
    response = upload(client, face_photo("obama.jpg"), "enrol")
    assert response.status_code == 403
    assert b"no active consent to enrol" in response.content
    assert not Photo.objects.exists()

    consent_for(carol, "identify")  # identify only: enrolling is still refused
    response = upload(client, face_photo("obama.jpg"), "enrol")
    assert response.status_code == 403
    assert not Photo.objects.exists()


def test_withdrawn_consent_is_never_proposed_again(celery_worker, client, alice, bob, face_photo):
    enrol(client, alice, face_photo, "obama.jpg")
    for consent in Consent.objects.filter(person__user=alice):
        client.force_login(alice)
        assert client.post(reverse("consent-withdraw", args=[consent.pk])).status_code == 302
    probe = identify(client, bob, face_photo, "obama2.jpg")
    assert probe.status == "done" and probe.faces.count() == 1
    assert not Identification.objects.filter(face__photo=probe).exists()


def test_non_image_upload_is_refused_at_upload_time(client, alice):
    client.force_login(alice)
    junk = SimpleUploadedFile("notes.jpg", b"these are not the pixels you are looking for", "image/jpeg")
    response = client.post(reverse("photo-upload"), {"photos": [junk], "purpose": "enrol"})
    assert response.status_code == 400
    assert b"not an image" in response.content
    assert not Photo.objects.exists()


def test_truncated_photo_is_refused_at_upload_and_others_go_on(celery_worker, client, alice, face_photo):
    client.force_login(alice)
    data = face_photo("obama.jpg").read_bytes()
    broken = SimpleUploadedFile("broken.jpg", data[: len(data) // 3], "image/jpeg")
    response = client.post(reverse("photo-upload"), {"photos": [broken], "purpose": "enrol"})
    assert response.status_code == 400 and b"damaged or incomplete" in response.content
    assert not Photo.objects.exists()
    good = enrol(client, alice, face_photo, "obama2.jpg")[0]
    assert good.status == "done"


def test_enrol_photo_without_a_face_fails_with_a_reason(celery_worker, client, alice, face_photo):
    import cv2
    import numpy as np

    blank = np.full((480, 640, 3), 200, np.uint8)
    cv2.putText(blank, "no face here", (50, 240), cv2.FONT_HERSHEY_SIMPLEX, 2, (0, 0, 0), 3)
    ok, buf = cv2.imencode(".png", blank)
    client.force_login(alice)
    file = SimpleUploadedFile("blank.png", buf.tobytes(), "image/png")
    assert client.post(reverse("photo-upload"), {"photos": [file], "purpose": "enrol"}).status_code == 302
    photo = wait_for_photos(last_photo(alice).pk)[0]
    assert photo.status == "failed"
    assert "No face was found" in photo.error


def test_processing_twice_leaves_one_set_of_faces(db, alice, face_photo, django_capture_on_commit_callbacks):
    from recognition.services.photos import process_photo, upload_photo

    with django_capture_on_commit_callbacks(execute=False):
        photo = upload_photo(uploader=alice, file=face_photo("two_people.jpg").read_bytes(),
                             purpose="identify").photo
    process_photo(photo_id=photo.pk)
    first = sorted(Face.objects.filter(photo=photo).values_list("pk", flat=True))
    process_photo(photo_id=photo.pk)  # a redelivered task
    assert sorted(Face.objects.filter(photo=photo).values_list("pk", flat=True)) == first
    # A worker killed after claiming but before finishing: a new run replaces nothing twice.
    Photo.objects.filter(pk=photo.pk).update(status=Photo.Status.PROCESSING)
    process_photo(photo_id=photo.pk)
    assert Face.objects.filter(photo=photo).count() == 2


def test_sweep_completes_a_photo_left_processing_by_a_killed_worker(celery_worker, alice, face_photo,
                                                                    django_capture_on_commit_callbacks):
    from recognition.services.photos import sweep_stuck_photos, upload_photo

    with django_capture_on_commit_callbacks(execute=False):  # the worker "died": nothing was sent
        photo = upload_photo(uploader=alice, file=face_photo("obama.jpg").read_bytes(), purpose="enrol").photo
    long_ago = timezone.now() - timedelta(hours=1)
    Photo.objects.filter(pk=photo.pk).update(status=Photo.Status.PROCESSING, started_at=long_ago, attempts=1)
    assert sweep_stuck_photos() == [photo.pk]
    photo = wait_for_photos(photo.pk)[0]
    assert photo.status == "done"
    assert photo.faces.count() == 1


def test_users_cannot_reach_each_others_photos_faces_or_consents(db, client, alice, bob, face_photo,
                                                                 django_capture_on_commit_callbacks):
    from recognition.services.photos import process_photo, upload_photo

    with django_capture_on_commit_callbacks(execute=False):
        photo = upload_photo(uploader=alice, file=face_photo("obama.jpg").read_bytes(), purpose="enrol").photo
    process_photo(photo_id=photo.pk)
    face = photo.faces.get()
    alice_consent = Consent.objects.get(person__user=alice)

    client.force_login(bob)
    for url in (reverse("photo-detail", args=[photo.pk]), reverse("photo-image", args=[photo.pk]),
                reverse("face-crop", args=[face.pk])):
        assert client.get(url).status_code == 404, url
    assert client.post(reverse("consent-withdraw", args=[alice_consent.pk])).status_code == 404
    assert Consent.objects.get(pk=alice_consent.pk).withdrawn_at is None
    status = client.get(reverse("photo-status"), {"ids": str(photo.pk)}).json()
    assert status == {"photos": []}
    assert b"obama" not in client.get(reverse("photos")).content

    client.force_login(alice)
    assert client.get(reverse("photo-detail", args=[photo.pk])).status_code == 200
    image = client.get(reverse("photo-image", args=[photo.pk]))
    assert image.status_code == 200 and image["Content-Type"] == "image/jpeg"
    assert image["Cache-Control"] == "private, no-store"
    assert client.get(reverse("face-crop", args=[face.pk])).status_code == 200


def test_pages_require_sign_in_and_the_uploader_role(client, make_user):
    assert client.get(reverse("photos")).status_code == 302  # to the login page
    auditor = make_user("audrey", "auditor")
    client.force_login(auditor)
    assert client.get(reverse("photos")).status_code == 403
    assert client.get(reverse("consent")).status_code == 403
