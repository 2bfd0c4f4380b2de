"""Re-embedding stored faces made by an older pipeline version (``manage.py reindex``).

Matching compares a probe only with faces of its own pipeline version (``matching.py``), so a
face of an older version is invisible to a newer pipeline until it is re-embedded here. Each
photo is re-run through the current pipeline and its stored faces are matched to the new
detections by box overlap; a stored face the new detector no longer finds is re-aligned from
its stored landmarks (its identity, enrolment and reviews stay attached to the same row).

A photo is updated in one transaction: all its faces move to the new version together, or
none does. Interrupted, the command resumes with the photos still holding old-version faces.
Photos whose consent is no longer active are not processed (their faces stay on the old
version and are never matched again).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from django.db import transaction

from recognition import runtime
from recognition.audit import log_access
from recognition.engine.align import CHIP_SIZE, align_face
from recognition.engine.decode import decode_image
from recognition.engine.errors import ImageError
from recognition.engine.pipeline import embed_chips
from recognition.engine.quality import assess_quality
from recognition.models import Face, Photo
from recognition.services import media
from recognition.services.consent import active_consent

__all__ = ["ReindexOutcome", "reindex_photo", "stale_photo_ids"]

logger = logging.getLogger(__name__)

MIN_IOU = 0.5
"""Box overlap above which a new detection is taken as the same face as a stored one."""


@dataclass(frozen=True)
class ReindexOutcome:
    """What happened to one photo: faces re-detected, re-aligned from stored landmarks, or skipped."""

    photo_id: int
    redetected: int = 0
    from_landmarks: int = 0
    skipped: str = ""


def stale_photo_ids(version: str) -> list[int]:
    """Photos holding at least one face of another pipeline version than ``version``, oldest first."""
    return list(Face.objects.exclude(pipeline_version=version).order_by("photo_id")
                .values_list("photo_id", flat=True).distinct())


def stale_face_count(version: str) -> int:
    """Faces of another pipeline version than ``version``."""
    return Face.objects.exclude(pipeline_version=version).count()


def _iou(a: list[float] | tuple, b: list[float] | tuple) -> float:
    ax, ay, aw, ah = (float(v) for v in a)
    bx, by, bw, bh = (float(v) for v in b)
    iw = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    ih = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = iw * ih
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


def _pairs(old: list[Face], new: list) -> Iterator[tuple[Face, object | None]]:
    """Each stored face with the new detection of highest overlap (each detection used once)."""
    cand = sorted(((_iou(f.box, n.box), i, j) for i, f in enumerate(old) for j, n in enumerate(new)),
                  reverse=True)
    taken_old, taken_new, match = set(), set(), {}
    for iou, i, j in cand:
        if iou < MIN_IOU:
            break
        if i in taken_old or j in taken_new:
            continue
        taken_old.add(i)
        taken_new.add(j)
        match[i] = new[j]
    for i, f in enumerate(old):
        yield f, match.get(i)


def reindex_photo(photo_id: int, pipeline=None) -> ReindexOutcome:
    """Move every face of one photo to ``pipeline``'s version (default: the process's pipeline)."""
    pipeline = pipeline or runtime.get_pipeline()
    version = pipeline.version
    photo = Photo.objects.select_related("person").filter(pk=photo_id).first()
    if photo is None:
        return ReindexOutcome(photo_id, skipped="photo deleted")
    if active_consent(photo.person, photo.purpose) is None:
        return ReindexOutcome(photo_id, skipped="consent no longer active")
    try:
        with photo.file.open("rb") as fh:
            data = fh.read()
        if hashlib.sha256(data).hexdigest() != photo.sha256:
            return ReindexOutcome(photo_id, skipped="stored file differs from the upload")
        image = decode_image(data, **runtime.image_limits())
    except (FileNotFoundError, ImageError) as exc:
        return ReindexOutcome(photo_id, skipped=f"stored file unreadable: {exc}")
    # The heavy part runs outside the transaction; the rows are re-read under a lock below.
    detected = pipeline.process(image)
    crops: list[str] = []
    try:
        return _store(photo, image, detected, pipeline, version, crops)
    except BaseException:
        media.delete_crops_by_name(crops)  # a cache: the old rows' crops are cut again on demand
        raise


def _store(photo: Photo, image: np.ndarray, detected: list, pipeline, version: str,
           crops: list[str]) -> ReindexOutcome:
    photo_id = photo.pk
    with transaction.atomic():
        # the photo row locked as when faces are first stored: an erasure waits, then finds
        # these faces and their crops
        if not Photo.objects.select_for_update().filter(pk=photo_id).exists():
            return ReindexOutcome(photo_id, skipped="photo deleted")
        faces = list(Face.objects.select_for_update().filter(photo_id=photo_id)
                     .exclude(pipeline_version=version).order_by("index"))
        if not faces:
            return ReindexOutcome(photo_id, skipped="already current")
        redetected = relanded = 0
        fallback = []
        for face, new in _pairs(faces, detected):
            if new is None:
                fallback.append(face)
                continue
            redetected += 1
            face.box = [round(float(v), 2) for v in new.box]
            face.landmarks = new.landmarks.astype(float).round(2).tolist()
            face.det_score = float(new.score)
            _set_quality_and_vector(face, new.quality, new.embedding, version)
        if fallback:
            chips = np.stack([align_face(image, np.asarray(f.landmarks, dtype=np.float64), CHIP_SIZE)
                              for f in fallback])
            vectors = embed_chips(pipeline.embedder, chips, flip=pipeline.flip)
            for face, chip, vec in zip(fallback, chips, vectors, strict=True):
                q = assess_quality(tuple(face.box), np.asarray(face.landmarks), face.det_score, chip,
                                   pipeline.quality_thresholds)
                _set_quality_and_vector(face, q, vec, version)
                relanded += 1
        Face.objects.bulk_update(faces, ["box", "landmarks", "det_score", "quality", "quality_reasons",
                                         "is_good", "embedding", "pipeline_version"])
        # the cached crops follow the (possibly moved) boxes, as when faces are first stored
        crops.extend(media.store_crops(image=image, faces=faces))
        if not Face.objects.filter(photo_id=photo_id).exclude(pipeline_version=version).exists():
            Photo.objects.filter(pk=photo_id).update(pipeline_version=version)
        log_access(action="face.reindex", obj=photo, person=photo.person, purpose=photo.purpose,
                   detail={"faces": len(faces), "redetected": redetected, "from_landmarks": relanded,
                           "version": version[:120]})
    return ReindexOutcome(photo_id, redetected=redetected, from_landmarks=relanded)


def _set_quality_and_vector(face: Face, quality, vector: np.ndarray, version: str) -> None:
    face.quality = float(quality.score)
    face.quality_reasons = list(quality.reasons)
    face.is_good = bool(quality.is_good)
    face.embedding = np.asarray(vector, dtype=float).tolist()
    face.pipeline_version = version
