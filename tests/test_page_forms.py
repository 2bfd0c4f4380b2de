"""What the pages that take input answer to input they refuse: the message a person can act on,
and the HTTP status (the forms of recognition/forms.py parse; the services decide)."""

from __future__ import annotations

import json

import pytest
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from helpers import consent_for
from test_review import make_face, make_person, make_photo

from recognition.models import Photo


def said(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


@pytest.fixture
def reviewer(client, make_user):
    client.force_login(make_user("rita", "reviewer"))
    return client


QUEUE_CASES = [
    ({}, "Nothing was decided: the form named no decision."),
    ({"decision": "confirm:x"}, "The decision names no proposal."),
    ({"decision": "assign:12345", "person-12345": ""},
     "Choose the person to assign the face to from the list."),
    ({"decision": "assign:12345", "person-12345": "Twin"},
     "Several people are called “Twin”: choose one from the list (name and #id)."),
    ({"bulk": "assign", "bulk_person": "  ", "selected": ["1"]},
     "Choose the person to assign the selected faces to from the list."),
    ({"bulk": "frobnicate", "selected": ["1"]}, "Unknown decision 'frobnicate'."),
]


@pytest.mark.parametrize(("data", "message"), QUEUE_CASES)
def test_a_queue_decision_the_form_refuses_says_why_on_the_same_page(db, reviewer, data, message):
    make_person("Twin"), make_person("twin")
    response = reviewer.post(reverse("review-decide"), {**data, "page": "3"})
    assert response.status_code == 302 and response.url == f"{reverse('review-queue')}?page=3"
    assert said(response) == [message]
    as_json = reviewer.post(reverse("review-decide"), data, HTTP_ACCEPT="application/json")
    assert (as_json.status_code, as_json.json()) == (400, {"error": message})


def test_a_page_number_that_is_not_one_returns_to_the_first_page(db, reviewer):
    response = reviewer.post(reverse("review-decide"), {"page": "two"})
    assert response.url == f"{reverse('review-queue')}?page=1"


def test_undo_of_a_face_that_is_not_a_number_is_refused_by_name(db, reviewer):
    response = reviewer.post(reverse("review-undo"), {"face": "abc"}, HTTP_ACCEPT="application/json")
    assert response.status_code == 409
    assert [e.split(":")[0] for e in response.json()["errors"]] == ["Face 0"]


@pytest.mark.parametrize(("other", "message"), [
    ("", "Choose the person to merge into this one from the list (two people who both have an account "
         "cannot be merged)."),
    ("Nobody by that name", "Choose the person to merge into this one from the list (two people who both "
                            "have an account cannot be merged)."),
    ("Twin", "Several people are called “Twin”: choose one from the list (name and #id)."),
])
def test_a_merge_the_form_refuses_says_why_on_the_persons_page(db, reviewer, other, message):
    into = make_person("Into")
    make_person("Twin"), make_person("twin")
    response = reviewer.post(reverse("person-merge", args=[into.pk]), {"other": other, "confirm": "yes"})
    assert response.status_code == 302 and response.url == reverse("person-detail", args=[into.pk])
    assert said(response) == [message]


def test_a_merge_is_shown_before_it_is_done(db, reviewer):
    into, other = make_person("Into"), make_person("Other")
    response = reviewer.post(reverse("person-merge", args=[into.pk]), {"other": f"Other (#{other.pk})"})
    assert response.status_code == 200 and response.context["other"] == other
    assert other.faces.count() == 1


@pytest.mark.parametrize(("person", "message"), [
    ("", "Choose the person to assign the face to from the list."),
    ("Twin", "Several people are called “Twin”: choose one from the list (name and #id)."),
])
def test_assigning_an_unassigned_face_to_nobody_says_why(db, reviewer, person, message):
    make_person("Twin"), make_person("twin")
    face = make_face(make_photo())
    response = reviewer.post(reverse("face-assign", args=[face.pk]), {"person": person})
    assert response.status_code == 302 and response.url == reverse("unassigned-faces")
    assert said(response) == [message]
    face.refresh_from_db()
    assert face.person_id is None


@pytest.fixture
def uploader(client, make_user):
    user = make_user("ula", "uploader")
    client.force_login(user)
    return user


def test_an_upload_without_a_photo_says_so(db, client, uploader):
    consent_for(uploader, "identify")
    response = client.post(reverse("photo-upload"), {"purpose": "identify"})
    assert response.status_code == 302 and said(response) == ["Choose at least one photo to upload."]


def test_an_upload_of_too_many_photos_at_once_says_how_many_are_allowed(db, client, uploader, settings):
    consent_for(uploader, "identify")
    settings.UPLOAD_MAX_FILES = 1
    files = [SimpleUploadedFile(f"{n}.jpg", b"not read", "image/jpeg") for n in range(2)]
    response = client.post(reverse("photo-upload"), {"purpose": "identify", "photos": files})
    assert response.status_code == 302 and said(response) == ["At most 1 photos at a time."]
    assert not Photo.objects.exists()


@pytest.mark.parametrize(("data", "message"), [
    ({}, "Choose at least one purpose: enrol and/or identify."),
    ({"purposes": ["enrol", "spying"]}, "Unknown purpose(s): spying. Use enrol and/or identify."),
    ({"purposes": ["enrol"], "notice_sha256": "0" * 64}, "The consent notice has changed"),
])
def test_a_consent_the_service_refuses_is_answered_on_the_consent_page(db, client, uploader, data, message):
    response = client.post(reverse("consent"), data)
    assert response.status_code == 400 or response.status_code == 409
    assert len(said(response)) == 1 and said(response)[0].startswith(message)
    assert not response.context["active_purposes"]


@pytest.fixture
def operator(client, make_user):
    client.force_login(make_user("otto", "operator"))
    return client


@pytest.mark.parametrize(("upload", "message"), [
    (None, "Choose the receipt file (JSON) to check."),
    (SimpleUploadedFile("r.json", b"{" * 1_000_001), "That file is too large to be a receipt."),
    (SimpleUploadedFile("r.json", b"\xff\xfe not text"), "That file is not a receipt: it is not JSON."),
    (SimpleUploadedFile("r.json", b"[1, 2]"), "That file is not a receipt: it holds no receipt document."),
])
def test_a_file_that_is_not_a_receipt_is_refused_with_400(db, operator, upload, message):
    response = operator.post(reverse("receipt-verify"), {"receipt": upload} if upload else {})
    assert response.status_code == 400 and said(response) == [message]


def test_a_receipt_whose_signature_does_not_hold_is_409(db, operator):
    document = {"receipt_id": "x", "signature": "forged"}
    upload = SimpleUploadedFile("forged.json", json.dumps(document).encode())
    response = operator.post(reverse("receipt-verify"), {"receipt": upload})
    assert response.status_code == 409 and response.context["name"] == "forged.json"


def test_the_audit_page_checks_an_uploaded_export_or_else_the_chain(db, client, make_user):
    client.force_login(make_user("ada", "auditor"))
    refused = client.post(reverse("audit-verify"), {"export": SimpleUploadedFile("log.csv", b"\xff\xfe\x00")})
    assert refused.status_code == 409
    assert refused.context["file_report"].reason == "the file is not UTF-8 text"
    chain = client.post(reverse("audit-verify"))
    assert chain.status_code == 200 and chain.context["report"].ok and chain.context["file_report"] is None
