"""API tokens: made by users for themselves on a page, shown once, stored hashed, revocable, rate-limited."""

from __future__ import annotations

import hashlib
import html
import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from recognition.api.tokens import create_token
from recognition.models import ApiToken

API = "/api/v1/"


def auth(key: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Token {key}"}


def test_the_page_shows_a_new_token_once_and_stores_only_its_hash(client, make_user):
    alice = make_user("alice", "uploader")
    client.force_login(alice)
    page = client.post("/api/v1/tokens/manage/", {"name": "door controller"})
    assert page.status_code == 200
    key = re.search(rb"fw_[A-Za-z0-9_-]{20,}", page.content).group().decode()
    token = ApiToken.objects.get(user=alice)
    assert token.name == "door controller" and key.startswith(token.prefix)
    assert token.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert not ApiToken.objects.filter(key_hash__contains=key).exists()
    listing = client.get("/api/v1/tokens/manage/")
    assert b"door controller" in listing.content and key.encode() not in listing.content

    client.logout()
    response = client.get(API + "photos/", **auth(key))
    assert response.status_code == 200
    assert client.get(API + "tokens/", **auth(key)).json()["results"][0]["prefix"] == token.prefix


def test_the_page_needs_a_sign_in_and_a_name(client, make_user):
    assert client.get("/api/v1/tokens/manage/").status_code == 302
    client.force_login(make_user("alice", "uploader"))
    response = client.post("/api/v1/tokens/manage/", {"name": "  "})
    assert response.status_code == 400 and b"Give the token a name" in response.content
    assert not ApiToken.objects.exists()


def test_a_revoked_token_is_refused_at_once(client, make_user):
    alice = make_user("alice", "uploader")
    issued = create_token(user=alice, name="laptop")
    keep = create_token(user=alice, name="server")
    assert client.delete(API + f"tokens/{issued.token.pk}/", **auth(keep.key)).status_code == 204
    response = client.get(API + "photos/", **auth(issued.key))
    assert response.status_code == 401
    assert response.json()["error"] == {"code": "authentication_failed", "fields": {},
                                        "message": "Invalid or revoked token."}
    assert response["WWW-Authenticate"] == "Token"
    assert client.get(API + "photos/", **auth(keep.key)).status_code == 200

    client.force_login(alice)  # and from the page
    assert client.post(f"/api/v1/tokens/manage/{keep.token.pk}/revoke").status_code == 302
    client.logout()
    assert client.get(API + "photos/", **auth(keep.key)).status_code == 401


@pytest.mark.parametrize("header", ["Token", "Token fw_not-a-real-token", "Token a b", "Token fw_é",
                                    "Token " + "fw_" + "x" * 500])
def test_bad_credentials_get_401_with_the_error_body(client, db, header):
    response = client.get(API + "photos/", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"


def test_no_credentials_get_401_and_a_token_cannot_mint_tokens(client, make_user):
    response = client.get(API + "photos/")
    assert response.status_code == 401 and response.json()["error"]["code"] == "not_authenticated"
    key = create_token(user=make_user("alice", "uploader"), name="x").key
    response = client.post(API + "tokens/", {"name": "another"}, content_type="application/json", **auth(key))
    assert response.status_code == 403
    assert ApiToken.objects.count() == 1


def test_a_session_creates_tokens_through_the_api_only_with_csrf(make_user):
    alice = make_user("alice", "uploader")
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(alice)
    refused = browser.post(API + "tokens/", {"name": "x"}, content_type="application/json")
    assert refused.status_code == 403 and "CSRF" in refused.json()["error"]["message"]
    browser.get("/api/v1/tokens/manage/")  # sets the CSRF cookie
    csrf = browser.cookies["csrftoken"].value
    created = browser.post(API + "tokens/", {"name": "x"}, content_type="application/json",
                           HTTP_X_CSRFTOKEN=csrf)
    assert created.status_code == 201 and created.json()["key"].startswith("fw_")


def test_last_use_is_recorded_at_most_once_a_minute(client, make_user):
    issued = create_token(user=make_user("alice", "uploader"), name="x")
    client.get(API + "photos/", **auth(issued.key))
    first = ApiToken.objects.get(pk=issued.token.pk).last_used_at
    assert first is not None
    client.get(API + "photos/", **auth(issued.key))
    assert ApiToken.objects.get(pk=issued.token.pk).last_used_at == first
    long_ago = timezone.now() - timedelta(minutes=5)
    ApiToken.objects.filter(pk=issued.token.pk).update(last_used_at=long_ago)
    client.get(API + "photos/", **auth(issued.key))
    assert ApiToken.objects.get(pk=issued.token.pk).last_used_at > long_ago


def test_each_token_has_its_own_rate_limit(client, make_user, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK,
                               "DEFAULT_THROTTLE_RATES": {"token": "3/min", "anon": "100/min"}}
    alice = make_user("alice", "uploader")
    busy, other = create_token(user=alice, name="busy").key, create_token(user=alice, name="other").key
    assert [client.get(API + "photos/", **auth(busy)).status_code for _ in range(3)] == [200, 200, 200]
    throttled = client.get(API + "photos/", **auth(busy))
    assert throttled.status_code == 429
    assert throttled.json()["error"]["code"] == "throttled" and int(throttled["Retry-After"]) > 0
    assert client.get(API + "photos/", **auth(other)).status_code == 200


def test_errors_share_one_body_with_the_fields_at_fault(client, make_user):
    key = create_token(user=make_user("alice", "uploader"), name="x").key
    bad = client.post(API + "consents/", {"purposes": ["swim"]}, content_type="application/json", **auth(key))
    assert bad.status_code == 400
    error = bad.json()["error"]
    assert error["code"] == "invalid" and set(error["fields"]) == {"purposes.0", "notice_sha256"}
    assert client.get(API + "photos/?status=lost", **auth(key)).json()["error"]["fields"].keys() == {"status"}
    assert client.get(API + "photos/?page_size=0", **auth(key)).status_code == 400
    missing = client.get(API + "photos/12345/", **auth(key))
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert client.get(API + "no-such-thing/", **auth(key)).json()["error"]["code"] == "not_found"
    no_consent = client.post(API + "photos/", {"purpose": "enrol", "file": b""}, **auth(key))
    assert no_consent.status_code == 400  # an empty file field is a field error, before anything else


def test_verify_needs_an_identify_consent(client, make_user, face_photo):
    from django.core.files.uploadedfile import SimpleUploadedFile

    key = create_token(user=make_user("alice", "uploader"), name="x").key
    files = {f"image{i}": SimpleUploadedFile("a.jpg", face_photo("obama.jpg").read_bytes(), "image/jpeg")
             for i in (1, 2)}
    response = client.post(API + "verify/", files, **auth(key))
    assert response.status_code == 403 and response.json()["error"]["code"] == "consent_required"


def test_the_docs_and_schema_are_served_without_a_cdn(client, db):
    docs = client.get(API + "docs/")
    assert docs.status_code == 200
    assert b"cdn" not in docs.content.lower() and b"/static/drf_spectacular_sidecar/" in docs.content
    schema = client.get(API + "schema/?format=json").json()
    assert schema["info"]["title"] == "faceweb API" and "/api/v1/identify/" in schema["paths"]
    assert client.get(API + "redoc/").status_code == 200


@pytest.mark.parametrize("role", ["uploader", "reviewer", "auditor", "operator"])
def test_the_examples_on_the_page_work_for_the_signed_in_role(client, make_user, role):
    from recognition.views.tokens import EXAMPLES

    user = make_user(f"someone-{role}", role)
    client.force_login(user)
    page = html.unescape(client.get("/api/v1/tokens/manage/").content.decode())
    shown = [(method, path) for _, _, method, path, _ in EXAMPLES if f'/api/v1/{path}"' in page]
    assert shown, f"no example for the {role}"
    key = create_token(user=user, name="examples").key
    api = Client()
    for method, path in shown:
        if method == "GET":
            assert api.get(API + path, **auth(key)).status_code == 200, path
    if role != "uploader":  # the example that answered 403 to a reviewer is not offered to them
        assert '/api/v1/photos/"' not in page
