"""Searching enrolled faces: nearest neighbours among people whose consent is active."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, OuterRef
from pgvector.django import L2Distance

from recognition.models import Consent, Face, Person

# How many faces to fetch per wanted person: one person may own several enrolled faces.
_FACES_PER_PERSON = 8


@dataclass(frozen=True)
class Candidate:
    person: Person
    face_id: int
    distance: float  # Euclidean, dlib's meaning: < 0.6 is the same person for 1:1


def matchable_faces(*, pipeline_version: str):
    """Enrolled faces that may be matched: same pipeline, person not erased, enrol consent active."""
    active = Consent.objects.filter(Consent.active_q(), person=OuterRef("person_id"), purpose_enrol=True)
    return Face.objects.filter(enrolled=True, pipeline_version=pipeline_version,
                               person__erased_at__isnull=True).filter(Exists(active))


def match_embedding(
    embedding: Sequence[float] | np.ndarray,
    *,
    pipeline_version: str,
    top_k: int | None = None,
    exclude_photo_id: int | None = None,
) -> list[Candidate]:
    """The ``top_k`` nearest people (by their nearest enrolled face), nearest first."""
    top_k = top_k or settings.MATCH_TOP_K
    vector = np.asarray(embedding, dtype=np.float32).tolist()
    faces = matchable_faces(pipeline_version=pipeline_version)
    if exclude_photo_id is not None:
        faces = faces.exclude(photo_id=exclude_photo_id)
    with transaction.atomic():
        with connection.cursor() as cur:
            # HNSW with a filter: keep scanning until enough rows pass it (pgvector >= 0.8).
            cur.execute("SET LOCAL hnsw.ef_search = 100")
            cur.execute("SET LOCAL hnsw.iterative_scan = strict_order")
        rows = list(
            faces.annotate(distance=L2Distance("embedding", vector))
            .order_by("distance")
            .values_list("id", "person_id", "distance")[: top_k * _FACES_PER_PERSON]
        )
    best: dict[int, tuple[float, int]] = {}
    for face_id, person_id, distance in rows:
        if person_id not in best or distance < best[person_id][0]:
            best[person_id] = (float(distance), face_id)
    ranked = sorted(best.items(), key=lambda kv: kv[1][0])[:top_k]
    people = Person.objects.in_bulk([pid for pid, _ in ranked])
    return [Candidate(person=people[pid], face_id=fid, distance=d) for pid, (d, fid) in ranked]
