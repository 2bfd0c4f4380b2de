"""Every API endpoint against every role: the statuses allowed and refused, others' objects included.

Columns: ``anonymous`` (no credentials), ``uploader`` (an uploader who owns none of the
objects: another user's ids answer 404), ``owner`` (the uploader who owns them),
``reviewer``, ``auditor``, ``operator``. Each row is requested with each role in that
order, so the refused ones go first and a row's successful write happens last.
"""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from recognition.api.tokens import create_token
from recognition.models import Consent, Face, Identification, Person
from recognition.services.consent import current_notice, give_consent, person_for_user
from recognition.services.erasure import erase_person
from recognition.services.photos import upload_photo

ROLES = ("anonymous", "uploader", "owner", "reviewer", "auditor", "operator")
API = "/api/v1/"


def _face(photo, index: int) -> Face:
    """A face row as the pipeline would store it (the real pipeline is exercised in test_api_e2e)."""
    return Face.objects.create(photo=photo, index=index, box=[10.0 + index, 20.0, 80.0, 90.0],
                               landmarks=[[30.0, 50.0]] * 5, det_score=0.99, quality=0.9, is_good=True,
                               embedding=[0.01 * index] * 128, pipeline_version="roles-test")


@pytest.fixture
def world(db, make_user, face_photo, django_capture_on_commit_callbacks):
    users = {
        "owner": make_user("alice", "uploader"),
        "uploader": make_user("bob", "uploader"),
        "reviewer": make_user("rita", "reviewer"),
        "auditor": make_user("audrey", "auditor"),
        "operator": make_user("otto", "operator"),
    }
    alice, bob = users["owner"], users["uploader"]
    consent = give_consent(person=person_for_user(alice), purposes={"enrol", "identify"}, method="web",
                           given_by=alice)
    give_consent(person=person_for_user(bob), purposes={"identify"}, method="web", given_by=bob)
    with django_capture_on_commit_callbacks(execute=False):  # no worker here: rows only
        photo = upload_photo(uploader=alice, file=face_photo("obama.jpg").read_bytes(), purpose="enrol")
        probe = upload_photo(uploader=bob, file=face_photo("obama2.jpg").read_bytes(), purpose="identify")
    photo, probe = photo.photo, probe.photo
    enrolled = _face(photo, 0)
    Face.objects.filter(pk=enrolled.pk).update(person=consent.person, enrolled=True)
    faces = [_face(probe, i) for i in range(4)]
    idents = [Identification.objects.create(face=f, candidate=consent.person, distance=0.3, rank=1)
              for f in faces]
    carol = Person.objects.create(display_name="Carol")
    erin = Person.objects.create(display_name="Erin")
    # Erin agreed in writing to be recognised: a face may be assigned to her (docs/rules.md).
    give_consent(person=erin, purposes={"enrol"}, method="command", evidence="form 3")
    receipt = erase_person(person=Person.objects.create(display_name="Gone"), actor=users["operator"],
                           reason="test receipt")
    tokens = {role: create_token(user=user, name="tests").key for role, user in users.items()}
    spare = create_token(user=alice, name="spare").token
    return {
        "users": users, "tokens": tokens, "consent": consent.pk, "person": consent.person.pk,
        "photo": photo.pk, "probe": probe.pk, "idents": [i.pk for i in idents], "carol": carol.pk,
        "erin": erin.pk, "receipt": str(receipt.pk), "spare_token": spare.pk,
        "notice_sha": current_notice().sha256, "face_photo": face_photo,
    }


def image(w, name="obama3.jpg"):
    return SimpleUploadedFile(name, w["face_photo"](name).read_bytes(), "image/jpeg")


A, U, O, R, D, P = ROLES  # noqa: E741 - short column names keep the table readable
# (method, path, request data (or a function of the world), {role: status}); missing roles: `default`.
ROWS = [
    ("get", "schema/", None, {A: 200, U: 200, O: 200, R: 200, D: 200, P: 200}),
    ("get", "docs/", None, {A: 200, U: 200, O: 200, R: 200, D: 200, P: 200}),
    ("get", "tokens/", None, {A: 401, U: 200, O: 200, R: 200, D: 200, P: 200}),
    ("post", "tokens/", {"name": "x"}, {A: 401, U: 403, O: 403, R: 403, D: 403, P: 403}),  # session only
    ("get", "tokens/{spare_token}/", None, {A: 401, U: 404, O: 200, R: 404, D: 404, P: 404}),
    ("delete", "tokens/{spare_token}/", None, {A: 401, U: 404, O: 204, R: 404, D: 404, P: 404}),
    ("get", "consent-notice/", None, {A: 401, U: 200, O: 200, R: 403, D: 403, P: 403}),
    ("get", "consents/", None, {A: 401, U: 200, O: 200, R: 403, D: 403, P: 403}),
    ("post", "consents/", lambda w: {"purposes": ["identify"], "notice_sha256": w["notice_sha"]},
     {A: 401, U: 201, O: 201, R: 403, D: 403, P: 403}),
    ("get", "consents/{consent}/", None, {A: 401, U: 404, O: 200, R: 403, D: 403, P: 403}),
    ("post", "consents/{consent}/withdraw/", None, {A: 401, U: 404, O: 200, R: 403, D: 403, P: 403}),
    ("get", "consents/999999/", None, {A: 401, U: 404, O: 404, R: 403, D: 403, P: 403}),
    ("get", "photos/", None, {A: 401, U: 200, O: 200, R: 403, D: 403, P: 403}),
    ("post", "photos/", lambda w: {"file": image(w), "purpose": "identify"},
     {A: 401, U: 201, O: 201, R: 403, D: 403, P: 403}),
    ("get", "photos/{photo}/", None, {A: 401, U: 404, O: 200, R: 200, D: 403, P: 200}),
    ("get", "photos/{probe}/", None, {A: 401, U: 200, O: 404, R: 200, D: 403, P: 200}),
    ("get", "photos/999999/", None, {A: 401, U: 404, O: 404, R: 404, D: 403, P: 404}),
    ("post", "identify/", lambda w: {"file": image(w, "biden.jpg")},
     {A: 401, U: 202, O: 202, R: 403, D: 403, P: 403}),
    # Allowed roles get past the role check to the validation of the (empty) request: 400.
    ("post", "verify/", lambda w: {"image1": image(w)}, {A: 401, U: 400, O: 400, R: 403, D: 403, P: 403}),
    ("get", "verify/00000000-0000-4000-8000-000000000000/", None,
     {A: 401, U: 404, O: 404, R: 403, D: 403, P: 403}),
    ("get", "people/", None, {A: 401, U: 403, O: 403, R: 200, D: 403, P: 200}),
    ("get", "people/{person}/", None, {A: 401, U: 403, O: 403, R: 200, D: 403, P: 200}),
    ("get", "people/999999/", None, {A: 401, U: 403, O: 403, R: 404, D: 403, P: 404}),
    ("post", "people/{carol}/merge/", lambda w: {"into": w["person"]},
     {A: 401, U: 403, O: 403, R: 200, D: 403, P: 403}),
    ("get", "identifications/", None, {A: 401, U: 403, O: 403, R: 200, D: 403, P: 403}),
    ("get", "identifications/{ident0}/", None, {A: 401, U: 403, O: 403, R: 200, D: 403, P: 403}),
    ("post", "identifications/{ident0}/confirm/", None, {A: 401, U: 403, O: 403, R: 200, D: 403, P: 403}),
    ("post", "identifications/{ident1}/reject/", None, {A: 401, U: 403, O: 403, R: 200, D: 403, P: 403}),
    ("post", "identifications/{ident2}/unknown/", None, {A: 401, U: 403, O: 403, R: 200, D: 403, P: 403}),
    ("post", "identifications/{ident3}/assign/", lambda w: {"person": w["erin"]},
     {A: 401, U: 403, O: 403, R: 200, D: 403, P: 403}),
    ("post", "identifications/999999/confirm/", None, {A: 401, U: 403, O: 403, R: 404, D: 403, P: 403}),
    ("get", "audit/events/", None, {A: 401, U: 403, O: 403, R: 403, D: 200, P: 403}),
    ("get", "audit/export/?format=jsonl", None, {A: 401, U: 403, O: 403, R: 403, D: 200, P: 403}),
    ("get", "audit/verify/", None, {A: 401, U: 403, O: 403, R: 403, D: 200, P: 403}),
    ("get", "audit/abuse/", None, {A: 401, U: 403, O: 403, R: 403, D: 200, P: 403}),
    ("get", "erasures/", None, {A: 401, U: 403, O: 403, R: 403, D: 403, P: 200}),
    ("post", "erasures/", lambda w: {"person": w["erin"], "reason": "art. 17 request"},
     {A: 401, U: 403, O: 403, R: 403, D: 403, P: 201}),
    ("get", "erasures/{receipt}/", None, {A: 401, U: 403, O: 403, R: 403, D: 403, P: 200}),
    ("post", "erasures/{receipt}/verify/", None, {A: 401, U: 403, O: 403, R: 403, D: 403, P: 200}),
    ("post", "erasures/verify/", {"payload": {"a": 1}, "signature": "0" * 64},
     {A: 401, U: 403, O: 403, R: 403, D: 403, P: 200}),
    ("get", "erasures/00000000-0000-0000-0000-000000000000/", None,
     {A: 401, U: 403, O: 403, R: 403, D: 403, P: 404}),
]


def _call(client, w, role: str, method: str, path: str, data):
    ids = {k: v for k, v in w.items() if isinstance(v, int | str)}
    ids.update({f"ident{i}": pk for i, pk in enumerate(w["idents"])})
    url = API + path.format(**ids)
    headers = {} if role == "anonymous" else {"HTTP_AUTHORIZATION": f"Token {w['tokens'][role]}"}
    payload = data(w) if callable(data) else data
    if method == "get" or method == "delete":
        return getattr(client, method)(url, **headers)
    multipart = isinstance(payload, dict) and any(isinstance(v, SimpleUploadedFile) for v in payload.values())
    if multipart:
        return client.post(url, payload, **headers)
    return client.post(url, payload or {}, content_type="application/json", **headers)


@pytest.mark.parametrize(("method", "path", "data", "expected"), ROWS,
                         ids=[f"{m.upper()} {p}" for m, p, _, _ in ROWS])
def test_endpoint_statuses_per_role(client, world, method, path, data, expected):
    got = {}
    for role in ROLES:
        response = _call(client, world, role, method, path, data)
        got[role] = response.status_code
        if response.status_code >= 400 and response.get("Content-Type", "").startswith("application/json"):
            error = response.json()["error"]
            assert error["code"] and error["message"], response.content
    assert got == {role: expected[role] for role in ROLES}


def test_the_table_covers_every_operation_of_the_schema(client):
    schema = client.get(API + "schema/?format=json").json()
    documented = {(method, path.removeprefix("/api/v1/")) for path, ops in schema["paths"].items()
                  for method in ops if method in {"get", "post", "put", "patch", "delete"}}
    tested = set()
    for method, path, _, _ in ROWS:
        template = path.split("?")[0]
        for name, param in (("{spare_token}", "{token_id}"), ("{consent}", "{consent_id}"),
                            ("{photo}", "{photo_id}"), ("{probe}", "{photo_id}"), ("{person}", "{person_id}"),
                            ("{carol}", "{person_id}"), ("{receipt}", "{receipt_id}")):
            template = template.replace(name, param)
        for i in range(4):
            template = template.replace(f"{{ident{i}}}", "{identification_id}")
        template = (template.replace("consents/999999/", "consents/{consent_id}/")
                    .replace("photos/999999/", "photos/{photo_id}/")
                    .replace("people/999999/", "people/{person_id}/")
                    .replace("identifications/999999/", "identifications/{identification_id}/")
                    .replace("00000000-0000-0000-0000-000000000000", "{receipt_id}")
                    .replace("00000000-0000-4000-8000-000000000000", "{verification_id}"))
        tested.add((method, template))
    assert documented - tested == set()


def test_the_allowed_writes_went_through_the_services_and_the_log(client, world):
    """The reviewer's decisions and the operator's erasure through the API are logged like the pages'."""
    from recognition.models import AccessEvent

    for method, path, data, _ in ROWS:
        if path.startswith(("identifications/{ident0}/confirm", "erasures/")) and method == "post":
            role = "reviewer" if "identifications" in path else "operator"
            _call(client, world, role, method, path, data)
    actions = set(AccessEvent.objects.values_list("action", flat=True))
    assert "identification.confirm" in actions
    confirmed = Identification.objects.get(pk=world["idents"][0])
    assert confirmed.status == "confirmed" and confirmed.decided_by.username == "rita"
    assert Person.objects.get(pk=world["erin"]).erased_at is not None
    assert Consent.objects.filter(pk=world["consent"], withdrawn_at__isnull=True).exists()


def test_every_operation_has_a_short_distinct_summary(client):
    schema = client.get(API + "schema/?format=json").json()
    summaries = {(method, path): op.get("summary") for path, ops in schema["paths"].items()
                 for method, op in ops.items() if method in {"get", "post", "put", "patch", "delete"}}
    assert [op for op, summary in summaries.items() if not summary] == []
    assert all(len(summary) <= 60 for summary in summaries.values())
    assert len(set(summaries.values())) == len(summaries)
