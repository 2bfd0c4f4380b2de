"""Face crops: cut once by the worker into private storage, served from there, erased with the faces.

The attack they answer: a page of ~100 crops, each decoding a 40 MP original in the web
process, stalls the site. And a cache of faces is biometric data: it must go with the
person (erasure, retention) and be readable only through the role-checked, logged view.
"""

from __future__ import annotations

import os
from datetime import timedelta

import cv2
import numpy as np
from django.urls import reverse
from django.utils import timezone
from helpers import consent_for

from recognition.models import AccessEvent, Face, Person, Photo
from recognition.models import private_storage as storage
from recognition.services import erasure, media, retention


def decoded(data: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, "not a JPEG"
    return image


def test_the_worker_caches_each_face_crop_and_the_view_serves_it_without_the_original(
        client, make_user, face_photo, ingest):
    alice = make_user("alice", "uploader")
    rita = make_user("rita", "reviewer")
    consent_for(alice, "enrol", "identify")
    photo = ingest(alice, face_photo("obama.jpg"), "enrol")
    faces = list(photo.faces.order_by("index"))
    assert faces and all(storage().exists(media.crop_name(f.pk)) for f in faces)

    # The original is gone (or unreadable): a crop that needed it could not be served.
    storage().delete(photo.file.name)
    assert not storage().exists(photo.file.name)

    client.force_login(rita)
    response = client.get(reverse("face-crop", args=[faces[0].pk]))
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    assert decoded(response.content).shape == (media.CROP_SIZE, media.CROP_SIZE, 3)
    assert response["Cache-Control"] == "private, no-store"
    # Still logged, and still role-checked: a stranger's uploader account gets nothing.
    assert AccessEvent.objects.filter(action="face.view", object_id=str(faces[0].pk)).count() == 1
    mallory = make_user("mallory", "uploader")
    client.force_login(mallory)
    assert client.get(reverse("face-crop", args=[faces[0].pk])).status_code == 404
    client.logout()
    assert client.get(reverse("face-crop", args=[faces[0].pk])).status_code == 302  # to the login page


def test_a_face_stored_before_the_cache_gets_its_crop_cut_once_then_cached(client, make_user, face_photo,
                                                                             ingest):
    alice = make_user("alice", "uploader")
    consent_for(alice, "enrol")
    photo = ingest(alice, face_photo("obama.jpg"), "enrol")
    face = photo.faces.first()
    storage().delete(media.crop_name(face.pk))  # as if stored by an older version

    client.force_login(make_user("rita", "reviewer"))
    first = client.get(reverse("face-crop", args=[face.pk]))
    assert first.status_code == 200 and storage().exists(media.crop_name(face.pk))
    storage().delete(photo.file.name)
    assert client.get(reverse("face-crop", args=[face.pk])).content == first.content


def test_erasure_deletes_the_cached_crops_of_that_person_only(client, make_user, face_photo, ingest):
    alice, bob = make_user("alice", "uploader"), make_user("bob", "uploader")
    consent_for(alice, "enrol", "identify")
    consent_for(bob, "enrol", "identify")
    alice_faces = [f.pk for name in ("obama.jpg", "obama2.jpg")
                   for f in ingest(alice, face_photo(name), "enrol").faces.all()]
    bob_faces = [f.pk for f in ingest(bob, face_photo("biden.jpg"), "enrol").faces.all()]
    assert all(storage().exists(media.crop_name(pk)) for pk in alice_faces + bob_faces)

    erasure.erase_person(person=Person.objects.get(user=alice), reason="GDPR request #9")

    assert not Face.objects.filter(pk__in=alice_faces).exists()
    assert not any(storage().exists(media.crop_name(pk)) for pk in alice_faces)
    assert all(storage().exists(media.crop_name(pk)) for pk in bob_faces)


def test_retention_deletes_the_crops_of_purged_unknown_faces_and_crops_left_without_a_face(
        make_user, face_photo, ingest):
    alice, bob = make_user("alice", "uploader"), make_user("bob", "uploader")
    consent_for(alice, "enrol")
    consent_for(bob, "identify")
    kept = ingest(alice, face_photo("obama.jpg"), "enrol").faces.get(enrolled=True)
    probe = ingest(bob, face_photo("biden.jpg"), "identify")
    unknown = [f.pk for f in probe.faces.all()]
    assert unknown and all(storage().exists(media.crop_name(pk)) for pk in unknown)
    # A crop whose face row is gone (a crash between the delete and the file's), from long ago.
    leftover = media.crop_name(10**9)
    storage().save(leftover, storage().open(media.crop_name(kept.pk)))
    old = (timezone.now() - timedelta(days=1)).timestamp()
    os.utime(storage().path(leftover), (old, old))

    Photo.objects.filter(pk=probe.pk).update(created_at=timezone.now() - timedelta(days=400))
    Face.objects.filter(pk__in=unknown).update(created_at=timezone.now() - timedelta(days=400))
    retention.apply_retention(vacuum=False)

    assert not Face.objects.filter(pk__in=unknown).exists()
    assert not any(storage().exists(media.crop_name(pk)) for pk in unknown)
    assert not Photo.objects.filter(pk=probe.pk).exists()
    assert not storage().exists(media.thumbnail_name(probe.pk))
    assert not storage().exists(leftover)
    assert storage().exists(media.crop_name(kept.pk))


def test_deleting_a_photo_deletes_its_faces_crops(make_user, face_photo, ingest,
                                                  django_capture_on_commit_callbacks):
    from recognition.services.photos import delete_photo

    alice = make_user("alice", "uploader")
    consent_for(alice, "identify")
    photo = ingest(alice, face_photo("obama_and_biden.jpg"), "identify")
    faces = [f.pk for f in photo.faces.all()]
    assert len(faces) >= 2 and all(storage().exists(media.crop_name(pk)) for pk in faces)

    with django_capture_on_commit_callbacks(execute=True):
        delete_photo(photo=photo, actor=alice)

    assert not any(storage().exists(media.crop_name(pk)) for pk in faces)


def test_the_photo_grid_thumbnail_is_cached_by_the_worker_and_erased_with_the_photo(
        client, make_user, face_photo, ingest, django_capture_on_commit_callbacks):
    from recognition.services.photos import delete_photo

    alice = make_user("alice", "uploader")
    consent_for(alice, "enrol", "identify")
    enrolled = ingest(alice, face_photo("obama.jpg"), "enrol")
    probe = ingest(alice, face_photo("biden.jpg"), "identify")
    assert all(storage().exists(media.thumbnail_name(p.pk)) for p in (enrolled, probe))

    storage().delete(probe.file.name)  # served without the original
    client.force_login(alice)
    response = client.get(reverse("photo-image", args=[probe.pk]) + "?size=thumb")
    assert response.status_code == 200 and max(decoded(response.content).shape[:2]) <= media.THUMBNAIL_SIDE
    assert AccessEvent.objects.filter(action="photo.view", object_id=str(probe.pk)).exists()
    client.force_login(make_user("mallory", "uploader"))
    assert client.get(reverse("photo-image", args=[probe.pk]) + "?size=thumb").status_code == 404

    with django_capture_on_commit_callbacks(execute=True):
        delete_photo(photo=probe, actor=alice)
    assert not storage().exists(media.thumbnail_name(probe.pk))
    erasure.erase_person(person=Person.objects.get(user=alice), reason="GDPR request #10")
    assert not storage().exists(media.thumbnail_name(enrolled.pk))
