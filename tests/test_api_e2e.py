"""The whole journey through the API alone, with tokens: consent, enrol, identify, verify, confirm,
export the log, erase, verify the receipt. Real worker, real models, real photos."""

from __future__ import annotations

import json
import re
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

# The worker learns its tasks when it starts: recognition/tasks.py imports this module for real
# workers; importing it here also covers a run where the worker starts before that import.
import recognition.api.tasks  # noqa: F401, E402

API = "/api/v1/"


class Api:
    """A client that speaks to the API with one token, as an integrator's code would."""

    def __init__(self, client, key: str):
        self.client, self.auth = client, {"HTTP_AUTHORIZATION": f"Token {key}"}

    def get(self, path, expect=200, **params):
        response = self.client.get(API + path, params, **self.auth)
        assert response.status_code == expect, (path, response.status_code, response.content[:500])
        return response

    def post(self, path, data=None, expect=200, files: dict | None = None):
        if files:
            response = self.client.post(API + path, {**(data or {}), **files}, **self.auth)
        else:
            response = self.client.post(API + path, data or {}, content_type="application/json", **self.auth)
        assert response.status_code == expect, (path, response.status_code, response.content[:500])
        return response.json()


def token_from_page(client, user) -> str:
    """A user signs in and creates a token on the tokens page, where it is shown once."""
    client.force_login(user)
    page = client.post("/api/v1/tokens/manage/", {"name": "integration"})
    assert page.status_code == 200
    key = re.search(rb"fw_[A-Za-z0-9_-]{20,}", page.content).group().decode()
    client.logout()
    return key


def upload(name: str, path) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, path.read_bytes(), "image/jpeg")


def wait_done(api: Api, photo_id: int, timeout: float = 180) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        photo = api.get(f"photos/{photo_id}/").json()
        if photo["status"] in ("done", "failed"):
            return photo
        assert time.monotonic() < deadline, photo
        time.sleep(0.25)


def wait_verified(api: Api, verification_id: str, timeout: float = 180) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        response = api.client.get(f"{API}verify/{verification_id}/", **api.auth)
        assert response.status_code in (200, 202), response.content[:500]
        if response.status_code == 200:
            return response.json()
        assert time.monotonic() < deadline, response.json()
        time.sleep(0.25)


@pytest.mark.slow
def test_consent_enrol_identify_confirm_export_erase_through_the_api(celery_worker, client, make_user,
                                                                     face_photo):
    users = {role: make_user(name, role) for name, role in (("alice", "uploader"), ("rita", "reviewer"),
                                                            ("audrey", "auditor"), ("otto", "operator"))}
    bob = make_user("bob", "uploader")
    alice = Api(client, token_from_page(client, users["uploader"]))
    bob_api = Api(client, token_from_page(client, bob))
    reviewer = Api(client, token_from_page(client, users["reviewer"]))
    auditor = Api(client, token_from_page(client, users["auditor"]))
    operator = Api(client, token_from_page(client, users["operator"]))

    # Consent: read the notice, agree to it by its hash.
    notice = alice.get("consent-notice/").json()
    consent = alice.post("consents/", {"purposes": ["enrol", "identify"], "notice_sha256": notice["sha256"]},
                         expect=201)
    assert consent["active"] and consent["purposes"] == ["enrol", "identify"]
    bob_api.post("consents/", {"purposes": ["identify"], "notice_sha256": notice["sha256"]}, expect=201)

    # Enrol two photos; the worker processes them.
    enrolled = [alice.post("photos/", {"purpose": "enrol"}, files={"file": upload(name, face_photo(name))},
                           expect=201) for name in ("obama.jpg", "obama2.jpg")]
    for photo in enrolled:
        done = wait_done(alice, photo["id"])
        assert done["status"] == "done", done
        assert sum(f["enrolled"] for f in done["faces"]) == 1  # the best good face; others stay unenrolled

    # Identify: 202 at once with a status URL to poll; bob learns only that a face awaits review.
    probe_file = upload("probe.jpg", face_photo("obama3.jpg"))
    result = bob_api.client.post(API + "identify/", {"file": probe_file}, **bob_api.auth)
    assert result.status_code == 202, result.content
    assert result.json()["status_url"].endswith(f"/api/v1/photos/{result.json()['id']}/")
    probe = wait_done(bob_api, result.json()["id"])
    assert probe["status"] == "done"
    assert [f["outcome"] for f in probe["faces"]] == ["awaiting_review"], probe["faces"]
    assert "candidates" not in probe["faces"][0] and probe["faces"][0]["identified_as"] is None

    # 1:1 verification, images compared in memory by the worker: 202, then poll its status URL.
    pending = bob_api.post("verify/", expect=202, files={"image1": upload("a.jpg", face_photo("obama.jpg")),
                                                         "image2": upload("b.jpg", face_photo("obama2.jpg"))})
    assert pending["status"] == "pending" and pending["status_url"].endswith(f"/verify/{pending['id']}/")
    same = wait_verified(bob_api, pending["id"])
    # Same or different: the distance is for reviewers, never for an uploader.
    assert same["same_person"] is True and same["decision"] == "same" and "distance" not in same
    # Someone else cannot read it.
    alice.get(f"verify/{pending['id']}/", expect=404)
    # With ?wait= (capped by API_MAX_WAIT_S), the answer may come in the same call.
    other = bob_api.client.post(API + "verify/?wait=10", {"image1": upload("a.jpg", face_photo("obama.jpg")),
                                                          "image2": upload("c.jpg", face_photo("biden.jpg"))},
                                **bob_api.auth)
    assert other.status_code in (200, 202), other.content
    other = wait_verified(bob_api, other.json()["id"])
    assert other["same_person"] is False and other["decision"] == "different"
    assert bob_api.get(f"verify/{pending['id']}/").json() == same  # the same answer on every poll

    # The reviewer sees the candidate with its distance, and confirms the proposal.
    reviewed = reviewer.get(f"photos/{probe['id']}/").json()["faces"][0]
    best = reviewed["candidates"][0]
    alice_person = best["person"]
    assert best["distance"] < 0.6 and best["rank"] == 1 and best["status"] == "pending"
    queue = reviewer.get("identifications/").json()
    assert best["identification"] in [row["id"] for row in queue["results"]]
    confirmed = reviewer.post(f"identifications/{best['identification']}/confirm/")
    assert confirmed["status"] == "confirmed" and confirmed["candidate"] == alice_person
    person = reviewer.get(f"people/{alice_person}/").json()
    assert person["enrolled_faces"] == 2 and person["consent_active"] is True

    # Now bob sees who it is: the confirmed name, still no distance or candidate list.
    seen = bob_api.get(f"photos/{probe['id']}/").json()["faces"][0]
    assert seen["outcome"] == "confirmed" and seen["identified_as"] == {"person": alice_person,
                                                                         "name": "alice"}
    assert "candidates" not in seen

    # The auditor exports the person's log and checks the chain.
    export = auditor.get("audit/export/", format="jsonl", person=person["pseudonym"])
    assert export["Content-Type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in b"".join(export.streaming_content).decode().splitlines()]
    assert set(lines[0]) == {"header"} and set(lines[-1]) == {"trailer"}  # the signed trailer
    events = lines[1:-1]
    actions = {e["action"] for e in events}
    assert {"consent.give", "photo.upload", "face.enrol", "identification.confirm"} <= actions
    assert all(e["person_ref"] == person["pseudonym"] for e in events)
    assert auditor.get("audit/verify/").json()["ok"] is True

    # The operator erases the person and checks the receipt.
    receipt = operator.post("erasures/", {"person": alice_person, "reason": "GDPR art. 17 request #42"},
                            expect=201)
    assert receipt["person_ref"] == person["pseudonym"] and "Obama" not in json.dumps(receipt)
    assert operator.get(f"erasures/{receipt['id']}/").json()["signature"] == receipt["signature"]
    assert operator.post(f"erasures/{receipt['id']}/verify/")["valid"] is True
    forged = dict(receipt["payload"], reason="something else")
    check = operator.post("erasures/verify/", {"payload": forged, "signature": receipt["signature"]})
    assert check["valid"] is False

    # Nothing biometric is left: the photos are gone and the proposal with them.
    alice.get(f"photos/{enrolled[0]['id']}/", expect=404)
    left = bob_api.get(f"photos/{probe['id']}/").json()["faces"]  # the confirmed face was hers: erased
    assert all(f["identified_as"] is None for f in left)
    assert reviewer.get(f"people/{alice_person}/").json()["erased_at"] is not None
    assert auditor.get("audit/verify/").json()["ok"] is True
    assert auditor.get("audit/events/", action="person.erase").json()["count"] == 1
