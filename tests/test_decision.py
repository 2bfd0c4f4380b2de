"""The calibrated identification rule: strangers are not proposed as anyone, enrolled people still are.

Galleries are filled with a few thousand synthetic enrolled faces (drawn from the fitted
face-embedding distribution and COPYed into the real tables) next to people enrolled from
real photos through the real worker.
"""

from __future__ import annotations

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from helpers import wait_for_photos

from bench.scale import insert_synthetic_faces
from bench.synthetic import FaceDistribution, exact_knn, gallery
from recognition import runtime
from recognition.models import AccessEvent, Consent, Face, Identification, Person, Photo
from recognition.services import decision
from recognition.services.consent import give_consent, person_for_user


def upload(client, user, path, purpose: str) -> Photo:
    client.force_login(user)
    data = SimpleUploadedFile(path.name, path.read_bytes(), content_type="image/jpeg")
    response = client.post(reverse("photo-upload"), {"photos": [data], "purpose": purpose})
    assert response.status_code == 302, response.content
    return wait_for_photos(Photo.objects.filter(uploader=user).order_by("-pk").first().pk)[0]


def add_synthetic_gallery(n_faces: int, *, seed: int = 0) -> None:
    """``n_faces`` synthetic enrolled faces (people with 1-5 faces, active consent) for the real pipeline."""
    rng = np.random.default_rng(seed)
    _, faces, owner = gallery(FaceDistribution.load(), n_faces, rng)
    insert_synthetic_faces(person_of_face=owner, faces=faces, pipeline_version=runtime.pipeline_version())
    decision.forget_gallery_sizes()


@pytest.fixture
def alice(make_user):
    user = make_user("alice", "uploader")
    give_consent(person=person_for_user(user), purposes={"enrol", "identify"}, method=Consent.Method.WEB,
                 given_by=user)
    return user


@pytest.fixture
def bob(make_user):
    user = make_user("bob", "uploader")
    give_consent(person=person_for_user(user), purposes={"identify"}, method=Consent.Method.WEB,
                 given_by=user)
    return user


def test_the_threshold_shrinks_as_the_gallery_grows(settings):
    settings.TARGET_FPIR = 0.01
    thresholds = [decision.threshold_for(gallery_faces=n) for n in (1_000, 10_000, 100_000, 1_000_000)]
    assert thresholds == sorted(thresholds, reverse=True)
    assert thresholds[0] - thresholds[-1] > 0.05
    assert all(t < settings.MATCH_THRESHOLD for t in thresholds)  # 0.6 is a 1:1 threshold, not 1:N


def test_the_threshold_meets_the_target_fpir_and_a_stricter_target_costs_more(settings):
    for n in (1_000, 100_000, 1_000_000):
        loose = decision.threshold_for(gallery_faces=n, target_fpir=0.01)
        strict = decision.threshold_for(gallery_faces=n, target_fpir=0.001)
        assert strict < loose
        assert decision.fpir(loose, n) == pytest.approx(0.01, rel=0.02)
        assert decision.genuine_cdf(strict) < decision.genuine_cdf(loose)  # more missed identifications


def test_a_tiny_gallery_never_gets_looser_than_the_one_to_one_threshold(settings):
    settings.MATCH_THRESHOLD = 0.5
    assert decision.threshold_for(gallery_faces=1, target_fpir=0.5) == 0.5


def test_a_bad_target_is_refused(settings):
    with pytest.raises(ValueError, match="between 0 and 1"):
        decision.threshold_for(gallery_faces=1000, target_fpir=1.5)


@pytest.mark.slow
def test_the_rule_matches_synthetic_strangers_at_the_target_rate(settings):
    """Exact search over 100k synthetic faces: strangers matched at most at ~TARGET_FPIR."""
    settings.TARGET_FPIR = 0.01
    settings.MATCH_TAIL_SCALE = 1.0  # synthetic faces follow the model exactly; real ones need more
    rng = np.random.default_rng(7)
    dist = FaceDistribution.load()
    centres, faces, _ = gallery(dist, 100_000, rng)
    strangers = dist.faces_of(dist.people(2000, rng), rng)
    genuine = dist.faces_of(centres[rng.integers(0, len(centres), 500)], rng)
    t = decision.threshold_for(gallery_faces=len(faces))

    def nearest(q):
        return exact_knn(faces, q, 1)[1][:, 0]

    fpir = float((nearest(strangers) <= t).mean())
    assert fpir <= 0.02  # 2,000 strangers: 1% +- 0.45% (two standard deviations)
    assert float((nearest(strangers) <= 0.6).mean()) > 0.9  # what the 1:1 threshold would do
    assert float((nearest(genuine) <= t).mean()) > 0.5


@pytest.mark.slow
def test_a_stranger_is_not_proposed_but_an_enrolled_person_is(celery_worker, client, alice, bob, face_photo):
    add_synthetic_gallery(3000)
    enrolled = [upload(client, alice, face_photo(n), "enrol") for n in ("obama.jpg", "obama2.jpg")]
    assert [p.status for p in enrolled] == ["done", "done"]
    decision.forget_gallery_sizes()
    obama = Person.objects.get(user=alice)

    stranger = upload(client, bob, face_photo("biden.jpg"), "identify")
    assert stranger.status == "done"
    face = stranger.faces.get()
    assert not Identification.objects.filter(face=face).exists()
    event = AccessEvent.objects.filter(action="embedding.match", object_id=str(face.pk)).get()
    # Someone among 3,000 faces lies within dlib's 1:1 threshold of him; the calibrated one is stricter.
    assert event.detail["best_distance"] < 0.6
    assert event.detail["best_distance"] > event.detail["threshold"]
    assert event.detail["gallery_faces"] == 3002
    assert event.detail["proposed"] == 0

    known = upload(client, bob, face_photo("obama3.jpg"), "identify")
    proposals = list(Identification.objects.filter(face__photo=known).order_by("rank"))
    assert [(p.candidate, p.rank, p.status) for p in proposals] == [(obama, 1, "pending")]
    assert proposals[0].distance < 0.45


@pytest.mark.slow
def test_the_operating_point_follows_the_gallery(db):
    version = "test-pipeline"
    rng = np.random.default_rng(3)
    dist = FaceDistribution.load()
    _, faces, owner = gallery(dist, 2000, rng)
    insert_synthetic_faces(person_of_face=owner, faces=faces, pipeline_version=version)
    decision.forget_gallery_sizes()
    small = decision.operating_point(pipeline_version=version)
    assert small.gallery_faces == 2000

    _, faces, owner = gallery(dist, 20000, rng)
    insert_synthetic_faces(person_of_face=owner, faces=faces, pipeline_version=version)
    decision.forget_gallery_sizes()
    large = decision.operating_point(pipeline_version=version)
    assert large.gallery_faces == 22000
    assert large.threshold < small.threshold
    assert large.expected_miss_rate > small.expected_miss_rate
    assert large.expected_fpir == pytest.approx(0.01, rel=0.05)
    assert Face.objects.filter(pipeline_version=version, enrolled=True).count() == 22000
