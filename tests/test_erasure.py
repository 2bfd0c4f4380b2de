"""Erasure: every biometric trace of a person goes, a signed receipt proves it, withdrawal does it too."""

from __future__ import annotations

import io
import json
import time

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse
from helpers import consent_for, table_file

from recognition.audit import verify_chain
from recognition.models import AccessEvent, Consent, ErasureReceipt, Face, Identification, Person, Photo
from recognition.models import private_storage as storage
from recognition.services import erasure


def test_erasure_removes_every_trace_and_the_person_is_never_proposed_again(client, make_user, face_photo,
                                                                          ingest):
    alice, bob = make_user("alice", "uploader"), make_user("bob", "uploader")
    operator = make_user("oscar", "operator")
    consent_for(alice, "enrol", "identify")
    consent_for(bob, "identify")
    ingest(alice, face_photo("obama.jpg"), "enrol")
    ingest(alice, face_photo("obama2.jpg"), "enrol")
    ingest(alice, face_photo("biden.jpg"), "identify")  # uploaded by her account: hers too
    probe = ingest(bob, face_photo("obama3.jpg"), "identify")
    person = Person.objects.get(user=alice)
    assert Identification.objects.filter(face__photo=probe, candidate=person).exists()
    files = list(Photo.objects.filter(uploader=alice).values_list("file", flat=True))
    assert len(files) == 3 and all(storage().exists(f) for f in files)
    shas = sorted(Photo.objects.filter(uploader=alice).values_list("sha256", flat=True))
    consents = Consent.objects.filter(person=person).count()
    log_before = AccessEvent.objects.filter(person_ref=person.pseudonym).count()

    client.force_login(operator)
    response = client.post(reverse("erasure"), {"person_id": person.pk, "reason": "GDPR request #7",
                                                "confirm": "yes"})
    receipt = ErasureReceipt.objects.get()
    assert response.status_code == 302 and response.url == reverse("erasure-receipt", args=[receipt.pk])

    # No row references them in any biometric table; no file of theirs is left.
    assert not Photo.objects.filter(person=person).exists()
    assert not Photo.objects.filter(uploader=alice).exists()
    assert not Face.objects.filter(person=person).exists()
    assert not Identification.objects.filter(candidate=person).exists()
    assert not any(storage().exists(f) for f in files)
    # The person stays, pseudonymised; consent history and log are kept.
    person.refresh_from_db()
    assert person.display_name == person.pseudonym and person.user is None and person.erased_at
    assert Consent.objects.filter(person=person).count() == consents
    assert not Consent.objects.filter(Consent.active_q(), person=person).exists()
    assert AccessEvent.objects.filter(person_ref=person.pseudonym).count() == log_before + 1
    assert verify_chain().ok
    # Bob's photo is his: it stays, only the proposal naming her is gone.
    assert Photo.objects.filter(pk=probe.pk).exists()

    # The receipt: what, when, by whom, why; the sha256 of each erased file; signed.
    assert receipt.counts["photos"] == 3 and receipt.counts["files"] == 3
    assert receipt.counts["faces"] >= 3 and receipt.counts["identifications"] >= 1
    assert sorted(f["sha256"] for f in receipt.file_hashes) == shas
    assert receipt.requested_by == "oscar" and receipt.reason == "GDPR request #7"
    assert erasure.verify_receipt(receipt).ok
    event = AccessEvent.objects.get(action="person.erase")
    assert (event.actor_name, event.object_id) == ("oscar", str(receipt.pk))
    assert event.person_ref == person.pseudonym

    # Identifying a new photo of them proposes nothing.
    again = ingest(bob, face_photo("obama_small.jpg"), "identify")
    assert again.status == "done" and again.faces.count() == 1
    assert not Identification.objects.filter(face__photo=again).exists()

    # The downloadable receipt verifies; a tampered one does not.
    page = client.get(reverse("erasure-receipt", args=[receipt.pk]))
    assert page.status_code == 200 and b"Signature valid" in page.content
    download = client.get(reverse("erasure-receipt", args=[receipt.pk]), {"format": "json"})
    document = json.loads(download.content)
    assert erasure.verify_receipt(document).ok
    tampered = json.loads(json.dumps(document))
    tampered["payload"]["counts"]["faces"] -= 1
    assert not erasure.verify_receipt(tampered).ok
    forged = dict(document, signature="0" * 64)
    assert not erasure.verify_receipt(forged).ok
    ErasureReceipt.objects.filter(pk=receipt.pk).update(reason="something else")
    assert not erasure.verify_receipt(ErasureReceipt.objects.get(pk=receipt.pk)).ok


def test_erase_and_verify_receipt_commands(tmp_path, make_user):
    make_user("oscar", "operator")
    uploader = make_user("carol", "uploader")
    consent_for(uploader, "enrol")
    person = Person.objects.get(user=uploader)
    out = tmp_path / "receipt.json"
    call_command("erase_person", "--person-id", str(person.pk), "--reason", "ticket 9", "--operator", "oscar",
                 "--output", str(out), stdout=io.StringIO(), stderr=io.StringIO())
    stdout = io.StringIO()
    call_command("verify_receipt", str(out), stdout=stdout)
    assert "VALID" in stdout.getvalue()
    receipt = ErasureReceipt.objects.get()
    call_command("verify_receipt", str(receipt.pk), stdout=io.StringIO())

    document = json.loads(out.read_text())
    document["payload"]["requested_by"] = "someone-else"
    out.write_text(json.dumps(document))
    with pytest.raises(CommandError, match="INVALID"):
        call_command("verify_receipt", str(out))
    with pytest.raises(CommandError, match="not an operator"):
        call_command("erase_person", "--person-id", str(person.pk), "--reason", "x", "--operator", "carol")
    # Erasing again: nothing left, the same receipt, no second log entry.
    again = erasure.erase_person(person=person, actor=None, reason="again")
    assert again.pk == receipt.pk
    assert AccessEvent.objects.filter(action="person.erase").count() == 1


def test_erasure_page_needs_the_operator_role_and_a_reason(client, make_user):
    target = Person.objects.create(display_name="Target")
    assert client.get(reverse("erasure")).status_code == 302
    for role in ("uploader", "reviewer", "auditor"):
        client.force_login(make_user(f"user-{role}", role))
        assert client.get(reverse("erasure")).status_code == 403
        assert client.post(reverse("erasure"), {"person_id": target.pk, "reason": "x",
                                                "confirm": "yes"}).status_code == 403
    client.force_login(make_user("oscar", "operator"))
    page = client.get(reverse("erasure"), {"q": "Targ"})
    assert page.status_code == 200 and b"Target" in page.content and b"<img" not in page.content
    response = client.post(reverse("erasure"), {"person_id": target.pk, "reason": " ", "confirm": "yes"})
    assert response.status_code == 400 and b"reason" in response.content
    response = client.post(reverse("erasure"), {"person_id": target.pk, "reason": "r"})
    assert response.status_code == 400
    response = client.post(reverse("erasure"), {"person_id": "abc", "reason": "r", "confirm": "yes"})
    assert response.status_code == 400
    assert not ErasureReceipt.objects.exists()


def test_withdrawal_erases_through_the_worker_and_leaves_no_copy_in_the_tables(celery_worker, client,
                                                                               make_user, face_photo):
    marker = "Zelda Erasure-Marker"
    alice = make_user("alice", "uploader")
    alice.first_name, alice.last_name = marker.split(" ", 1)
    alice.save()
    consent = consent_for(alice, "enrol")
    client.force_login(alice)
    data = SimpleUploadedFile("me.jpg", face_photo("obama.jpg").read_bytes(), content_type="image/jpeg")
    assert client.post(reverse("photo-upload"), {"photos": [data], "purpose": "enrol"}).status_code == 302
    photo = Photo.objects.get(uploader=alice)
    deadline = time.monotonic() + 180
    while Photo.objects.get(pk=photo.pk).status != "done":
        assert time.monotonic() < deadline, "the photo was not processed"
        time.sleep(0.25)
    person = Person.objects.get(user=alice)
    vector = np.asarray(Face.objects.get(photo=photo).embedding, dtype="<f4").tobytes()
    # Before: the name and the embedding are in the data files (so the check below can see them).
    assert marker.encode() in table_file("recognition_person")
    assert vector in table_file("recognition_face")

    assert client.post(reverse("consent-withdraw", args=[consent.pk])).status_code == 302
    deadline = time.monotonic() + 120
    while not ErasureReceipt.objects.filter(person_ref=person.pseudonym).exists():
        assert time.monotonic() < deadline, "the worker did not erase the person"
        time.sleep(0.25)
    receipt = ErasureReceipt.objects.get(person_ref=person.pseudonym)
    assert receipt.reason == "consent withdrawn" and receipt.requested_by == "alice"
    assert erasure.verify_receipt(receipt).ok
    assert not Face.objects.filter(person=person).exists() and not Photo.objects.filter(pk=photo.pk).exists()
    assert not storage().exists(photo.file.name)

    # The worker rewrites the tables after the commit: no copy of the deleted rows stays in their files.
    def leftovers() -> list[str]:
        found = []
        if marker.encode() in table_file("recognition_person"):
            found.append("name in recognition_person")
        for table in ("recognition_face", "face_embedding_hnsw"):
            if vector in table_file(table):
                found.append(f"embedding in {table}")
        return found

    deadline = time.monotonic() + 60
    while leftovers():
        assert time.monotonic() < deadline, f"left behind after erasure: {leftovers()}"
        time.sleep(0.5)
