"""Gallery search: the SQL search finds exactly the faces the consent rules allow, nearest first.

``services.matching.nearest_faces`` runs hand-written SQL (the hot path of every
identification); ``matchable_faces`` is the ORM statement of who may be matched. These tests
hold the two to the same answers on a gallery where every exclusion rule is in play, with
the search answered by the real HNSW index and the reference by an exact scan.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from django.db import connection, transaction
from django.utils import timezone
from pgvector.django import L2Distance

from bench.scale import BENCH_PIPELINE, insert_synthetic_faces
from bench.synthetic import FaceDistribution, gallery
from recognition.models import Consent, Face, Person
from recognition.services.matching import match_embedding, matchable_faces, nearest_faces

pytestmark = pytest.mark.django_db


@pytest.fixture
def mixed_gallery():
    """600 synthetic faces: some people withdrawn, expired or erased; some faces unenrolled or foreign."""
    rng = np.random.default_rng(7)
    dist = FaceDistribution.load()
    centres, faces, owner = gallery(dist, 600, rng)
    first_person, first_face = insert_synthetic_faces(person_of_face=owner, faces=faces)
    people = list(Person.objects.filter(pk__gte=first_person).order_by("pk").values_list("pk", flat=True))
    now = timezone.now()
    Consent.objects.filter(person_id__in=people[0::7]).update(withdrawn_at=now)
    Consent.objects.filter(person_id__in=people[1::7]).update(expires_at=now - timedelta(days=1))
    Consent.objects.filter(person_id__in=people[2::7]).update(purpose_enrol=False)
    Person.objects.filter(pk__in=people[3::7]).update(erased_at=now)
    face_ids = list(Face.objects.filter(pk__gte=first_face).order_by("pk").values_list("pk", flat=True))
    Face.objects.filter(pk__in=face_ids[0::11]).update(enrolled=False)
    Face.objects.filter(pk__in=face_ids[1::11]).update(pipeline_version="another-pipeline")
    probes = np.concatenate([dist.faces_of(centres[:10], rng), dist.faces_of(dist.people(10, rng), rng)])
    return probes


def exact_nearest(probe, limit, exclude_photo_id=None):
    """The reference: the ORM's matchable faces, ordered by distance with index scans disabled."""
    query = matchable_faces(pipeline_version=BENCH_PIPELINE)
    if exclude_photo_id is not None:
        query = query.exclude(photo_id=exclude_photo_id)
    query = (query.annotate(distance=L2Distance("embedding", probe.tolist()))
             .order_by("distance", "id").values_list("id", "person_id", "distance")[:limit])
    with transaction.atomic():
        with connection.cursor() as cur:
            cur.execute("SET LOCAL enable_indexscan = off; SET LOCAL enable_bitmapscan = off")
        return [(fid, pid, d) for fid, pid, d in query]


def test_the_search_returns_the_allowed_faces_nearest_first(mixed_gallery):
    allowed = set(matchable_faces(pipeline_version=BENCH_PIPELINE).values_list("id", flat=True))
    assert 0 < len(allowed) < Face.objects.count()  # the rules above excluded some faces
    for probe in mixed_gallery:
        got = nearest_faces(probe, pipeline_version=BENCH_PIPELINE, limit=10, ef_search=1000)
        want = exact_nearest(probe, 10)
        assert [r[0] for r in got] == [r[0] for r in want]
        assert [r[1] for r in got] == [r[1] for r in want]
        assert np.allclose([r[2] for r in got], [r[2] for r in want], atol=1e-5)
        assert {r[0] for r in got} <= allowed


def test_the_search_leaves_out_the_photo_being_identified(mixed_gallery):
    probe = mixed_gallery[0]
    nearest = nearest_faces(probe, pipeline_version=BENCH_PIPELINE, limit=1, ef_search=1000)[0]
    photo_id = Face.objects.get(pk=nearest[0]).photo_id
    got = nearest_faces(probe, pipeline_version=BENCH_PIPELINE, limit=10, ef_search=1000,
                        exclude_photo_id=photo_id)
    assert [r[0] for r in got] == [r[0] for r in exact_nearest(probe, 10, exclude_photo_id=photo_id)]
    assert all(Face.objects.get(pk=r[0]).photo_id != photo_id for r in got)


def test_withdrawing_consent_takes_effect_on_the_next_search(mixed_gallery):
    probe = mixed_gallery[0]
    face_id, person_id, _ = nearest_faces(probe, pipeline_version=BENCH_PIPELINE, limit=1)[0]
    Consent.objects.filter(person_id=person_id).update(withdrawn_at=timezone.now())
    again = nearest_faces(probe, pipeline_version=BENCH_PIPELINE, limit=20)
    assert person_id not in {r[1] for r in again}
    assert face_id not in {r[0] for r in again}
    assert person_id not in {c.person.pk for c in match_embedding(probe, pipeline_version=BENCH_PIPELINE,
                                                                  top_k=5)}


def test_people_are_ranked_by_their_nearest_face(mixed_gallery):
    probe = mixed_gallery[3]
    candidates = match_embedding(probe, pipeline_version=BENCH_PIPELINE, top_k=3)
    best = {}
    for _, pid, d in exact_nearest(probe, 100):
        best.setdefault(pid, d)
    assert [c.person.pk for c in candidates] == list(best)[:3]
    assert np.allclose([c.distance for c in candidates], list(best.values())[:3], atol=1e-5)


def test_an_embedding_that_is_not_128_finite_numbers_is_refused():
    with pytest.raises(ValueError, match="128 finite numbers"):
        nearest_faces([0.1] * 127, pipeline_version=BENCH_PIPELINE, limit=5)
    with pytest.raises(ValueError, match="128 finite numbers"):
        nearest_faces([float("nan")] * 128, pipeline_version=BENCH_PIPELINE, limit=5)
