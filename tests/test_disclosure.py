"""Role by field: before a reviewer confirms a face, no uploader-reachable response names a candidate.

Every API response and page an uploader can reach is read as the uploader, while a proposal
is pending, after it is rejected, and after another face is confirmed; none may carry a
candidate's name, id, distance, rank or a rejected candidate. The reviewer keeps them all.
"""

from __future__ import annotations

import json
import re
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse
from helpers import consent_for

import recognition.api.tasks  # noqa: F401 - the worker learns the verify task
from recognition.models import Identification, Person
from recognition.services import review

API = "/api/v1/"
# What must never reach an uploader before confirmation (the candidate is named "zelda").
LEAK = re.compile(r"zelda|distance|\brank\b|candidate", re.IGNORECASE)


@pytest.fixture
def scene(make_user, face_photo, ingest):
    zelda, uma = make_user("zelda", "uploader"), make_user("uma", "uploader")
    rita = make_user("rita", "reviewer")
    consent_for(zelda, "enrol")
    consent_for(uma, "identify")
    ingest(zelda, face_photo("obama.jpg"), "enrol")
    pending = ingest(uma, face_photo("obama3.jpg"), "identify")
    later = ingest(uma, face_photo("obama2.jpg"), "identify")
    zelda_person = Person.objects.get(user=zelda)
    for photo in (pending, later):
        assert Identification.objects.filter(face__photo=photo, candidate=zelda_person,
                                             status="pending").exists()
    return {"uma": uma, "rita": rita, "zelda": zelda_person, "pending": pending, "later": later}


def uploader_responses(client, uma, face_photo, photos) -> dict[str, str]:
    """Every response about photos and faces an uploader can reach, as text."""
    client.force_login(uma)
    out = {
        "api photo list": client.get(API + "photos/"),
        "api identify (same bytes again)": client.post(
            API + "identify/", {"file": SimpleUploadedFile("p.jpg", face_photo("obama3.jpg").read_bytes())}),
        "page photo list": client.get(reverse("photos")),
        "page photo status": client.get(reverse("photo-status"),
                                        {"ids": ",".join(str(p.pk) for p in photos)}),
    }
    for photo in photos:
        out[f"api photo {photo.pk}"] = client.get(f"{API}photos/{photo.pk}/")
        out[f"page photo {photo.pk}"] = client.get(reverse("photo-detail", args=[photo.pk]))
    for name, response in out.items():
        assert response.status_code == 200, (name, response.status_code, response.content[:300])
    return {name: response.content.decode() for name, response in out.items()}


def test_no_uploader_response_names_a_candidate_before_confirmation(client, scene, face_photo):
    uma, rita, zelda = scene["uma"], scene["rita"], scene["zelda"]
    photos = [scene["pending"], scene["later"]]

    # Pending: each face is "awaiting review", and nothing else is said.
    for name, text in uploader_responses(client, uma, face_photo, photos).items():
        assert not LEAK.search(text), (name, LEAK.search(text).group(), text[:400])
    detail = client.get(f"{API}photos/{scene['pending'].pk}/").json()
    assert [f["outcome"] for f in detail["faces"]] == ["awaiting_review"]
    assert set(detail["faces"][0]) == {"id", "index", "box", "det_score", "quality", "is_good",
                                       "quality_reasons", "enrolled", "pipeline_version", "outcome",
                                       "identified_as"}

    # The reviewer sees the candidates, with distance and rank.
    client.force_login(rita)
    seen = client.get(f"{API}photos/{scene['pending'].pk}/").json()["faces"][0]["candidates"]
    assert seen[0]["person_name"] == "zelda" and seen[0]["distance"] < 0.6 and seen[0]["rank"] == 1
    page = client.get(reverse("photo-detail", args=[scene["pending"].pk])).content.decode()
    assert "zelda" in page and "distance" in page

    # Rejected: the face is "not identified"; the rejected candidate never shows.
    review.reject(identification=Identification.objects.get(face__photo=scene["pending"]), reviewer=rita)
    for name, text in uploader_responses(client, uma, face_photo, photos).items():
        assert not LEAK.search(text), (name, LEAK.search(text).group())
    client.force_login(uma)
    detail = client.get(f"{API}photos/{scene['pending'].pk}/").json()
    assert [f["outcome"] for f in detail["faces"]] == ["not_identified"]

    # Confirmed: the confirmed face, and only it, shows the name; never a distance.
    review.confirm(identification=Identification.objects.get(face__photo=scene["later"]), reviewer=rita)
    texts = uploader_responses(client, uma, face_photo, photos)
    for name, text in texts.items():
        assert not re.search(r"distance|\brank\b|candidate", text, re.IGNORECASE), name
    assert "zelda" not in texts[f"api photo {scene['pending'].pk}"]
    assert "zelda" not in texts[f"page photo {scene['pending'].pk}"]
    confirmed = json.loads(texts[f"api photo {scene['later'].pk}"])["faces"][0]
    assert confirmed["outcome"] == "confirmed"
    assert confirmed["identified_as"] == {"person": zelda.pk, "name": "zelda"}
    assert "Confirmed as zelda" in texts[f"page photo {scene['later'].pk}"]
    assert "Confirmed as zelda" in texts["page photo list"]
    assert "confirmed as zelda" in texts["page photo status"]


def test_outcomes_of_many_photos_take_one_query(scene, django_assert_max_num_queries):
    from recognition import selectors

    photos = [scene["pending"], scene["later"]]
    for user in (scene["uma"], scene["rita"]):
        selectors.sees_candidates(user)  # the view checked the role already: permissions are cached
    with django_assert_max_num_queries(1):
        outcomes = selectors.face_outcomes(scene["uma"], photos)
        assert [o.outcome for p in photos for o in outcomes[p.pk]] == ["awaiting_review"] * 2
    with django_assert_max_num_queries(2):  # a reviewer's: the proposals too
        outcomes = selectors.face_outcomes(scene["rita"], photos)
        assert all(o.candidates for p in photos for o in outcomes[p.pk])


def test_identify_command_shows_the_uploader_only_the_outcome(scene, face_photo, capsys):
    call_command("identify", str(face_photo("obama3.jpg")), "--as", "uma", "--json")
    report = json.loads(capsys.readouterr().out)
    assert [f["outcome"] for f in report["faces"]] == ["awaiting_review"]
    assert not LEAK.search(json.dumps(report))
    consent_for(scene["rita"], "identify")
    call_command("identify", str(face_photo("obama3.jpg")), "--as", "rita", "--json")
    assert "zelda" in capsys.readouterr().out  # a reviewer's account sees the candidates


@pytest.mark.slow
def test_verify_answers_uploaders_same_or_different_without_a_distance(celery_worker, client, make_user,
                                                                       face_photo):
    from django.contrib.auth.models import Group

    uma, rita = make_user("uma", "uploader"), make_user("rita", "reviewer")
    rita.groups.add(Group.objects.get(name="uploader"))  # a reviewer who may also upload
    consent_for(uma, "identify")
    consent_for(rita, "identify")
    files = {"image1": ("obama.jpg", face_photo("obama.jpg")),
             "image2": ("obama2.jpg", face_photo("obama2.jpg"))}
    for user, shows_distance in ((uma, False), (rita, True)):
        client.force_login(user)
        body = {k: SimpleUploadedFile(n, p.read_bytes(), "image/jpeg") for k, (n, p) in files.items()}
        response = client.post(API + "verify/?wait=30", body)
        assert response.status_code in (200, 202), response.content
        for _ in range(600):  # poll its status URL until the worker has compared them
            if response.status_code == 200:
                break
            time.sleep(0.1)
            response = client.get(f"{API}verify/{response.json()['id']}/")
        result = response.json()
        assert result["decision"] == "same"
        assert ("distance" in result) is shows_distance and ("threshold" in result) is shows_distance
