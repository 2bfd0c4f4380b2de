"""The operator's pages: faces shown before an erasure, a receipt file checked, a retention dry run."""

from __future__ import annotations

import json

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from test_review import make_person

from recognition.models import AccessEvent, ErasureReceipt, Face, Person
from recognition.services import erasure, review


def test_the_erasure_list_shows_each_persons_face_and_not_merged_away_records(db, client, make_user):
    ann, dup = make_person("Ann"), make_person("Ann twice")
    review.merge_people(into=ann, other=dup, reviewer=make_user("rita", "reviewer"))
    client.force_login(make_user("otto", "operator"))
    page = client.get(reverse("erasure")).content.decode()
    face = Face.objects.filter(person=ann).order_by("-enrolled", "-is_good", "-quality", "id").first()
    assert reverse("face-crop", args=[face.pk]) in page
    assert f'value="{ann.pk}"' in page and f'value="{dup.pk}"' not in page


def test_a_receipt_file_is_checked_in_the_page_and_an_altered_one_fails(db, client, make_user):
    person = make_person("Ann")
    receipt = erasure.erase_person(person=person, actor=None, reason="request 9", vacuum=erasure.VACUUM_SKIP)
    document = erasure.receipt_document(receipt)
    client.force_login(make_user("otto", "operator"))
    good = client.post(reverse("receipt-verify"), {
        "receipt": SimpleUploadedFile("r.json", json.dumps(document).encode(), "application/json")})
    assert good.status_code == 200 and "Signature valid" in good.content.decode()
    document["payload"]["counts"]["faces"] = 0  # hide that a face was erased
    forged = client.post(reverse("receipt-verify"), {
        "receipt": SimpleUploadedFile("r.json", json.dumps(document).encode(), "application/json")})
    assert forged.status_code == 409 and "Signature INVALID" in forged.content.decode()
    junk = client.post(reverse("receipt-verify"),
                       {"receipt": SimpleUploadedFile("r.json", b"\xff\x00not json")})
    assert junk.status_code == 400 and "not JSON" in junk.content.decode()


def test_receipt_checks_and_dry_runs_need_the_operator_role(db, client, make_user):
    client.force_login(make_user("ulla", "uploader"))
    assert client.get(reverse("receipt-verify")).status_code == 403
    assert client.post(reverse("retention-dry-run")).status_code == 403


def test_a_retention_dry_run_counts_and_changes_nothing(db, client, make_user):
    make_person("Ann")
    client.force_login(make_user("otto", "operator"))
    events, people = AccessEvent.objects.count(), Person.objects.filter(erased_at__isnull=True).count()
    page = client.post(reverse("retention-dry-run")).content.decode()
    assert "Unknown faces older than" in page and "People to erase" in page
    assert Person.objects.filter(erased_at__isnull=True).count() == people
    assert not ErasureReceipt.objects.exists()
    assert not AccessEvent.objects.filter(action="retention.run").exists()
    assert AccessEvent.objects.count() == events
