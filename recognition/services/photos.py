"""Uploading photos and processing them into faces, enrolments and identification proposals."""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from recognition import runtime
from recognition.access import Access
from recognition.audit import log_access
from recognition.background import after_commit
from recognition.engine.decode import decode_image
from recognition.engine.errors import ImageError
from recognition.engine.upload import check_upload, strip_metadata
from recognition.exceptions import Conflict, InvalidUpload, ServiceError
from recognition.models import Consent, Face, Identification, Person, Photo, private_storage
from recognition.services import media
from recognition.services.abuse import record_identify_request
from recognition.services.consent import active_consent, lock_people, person_for_user, require_consent
from recognition.services.decision import decide
from recognition.services.matching import match_embedding

logger = logging.getLogger(__name__)

_EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "BMP": "bmp", "TIFF": "tif", "GIF": "gif",
               "MPO": "jpg", "PPM": "ppm"}


@dataclass(frozen=True)
class UploadResult:
    photo: Photo
    created: bool  # False: the same uploader already sent these bytes for this purpose


def read_upload(file, max_bytes: int) -> bytes:
    """The bytes of an uploaded file (or bytes), refused past ``max_bytes`` while reading."""
    size = getattr(file, "size", None)
    if size is not None and size > max_bytes:
        raise InvalidUpload(f"The file is {size / 1e6:.1f} MB; the limit is {max_bytes / 1e6:.1f} MB.")
    if isinstance(file, bytes | bytearray):
        data = bytes(file)
    else:
        chunks, total = [], 0
        for chunk in file.chunks() if hasattr(file, "chunks") else iter(lambda: file.read(1 << 20), b""):
            total += len(chunk)
            if total > max_bytes:
                raise InvalidUpload(f"The file is larger than the limit of {max_bytes / 1e6:.1f} MB.")
            chunks.append(chunk)
        data = b"".join(chunks)
    if not data:
        raise InvalidUpload("The file is empty.")
    return data


def upload_photo(
    *,
    uploader,
    file,
    purpose: str,
    filename: str = "",
    person: Person | None = None,
    access: Access | None = None,
) -> UploadResult:
    """Accept a photo under an active consent and queue it for processing.

    The file is checked by the engine (size, format, pixel count, shape, and a full decode
    of small images) before anything is stored, and stored without its metadata; the same
    bytes from the same uploader for the same purpose are stored once. Processing is
    enqueued only after the transaction commits.
    """
    if purpose not in Photo.Purpose.values:
        raise InvalidUpload(f"Unknown purpose {purpose!r}: use 'enrol' or 'identify'.")
    subject = person or person_for_user(uploader, create=False)
    consent = require_consent(subject, purpose)
    if purpose == Photo.Purpose.IDENTIFY:
        # Logged with the uploader, repeats included; refused over the quota (docs/rules.md).
        record_identify_request(uploader=uploader, access=access, person=subject)
    data = read_upload(file, settings.UPLOAD_MAX_BYTES)
    try:
        info = check_upload(data, **runtime.upload_checks())
        # What is stored has no EXIF (GPS, camera serials), XMP or comments, and is upright.
        # Deterministic: the same upload gives the same stored bytes, so the hash below still
        # finds a repeat, and the worker and erasure receipts check the file against it.
        stored, stored_format = strip_metadata(data, info, **runtime.image_limits())
    except ImageError as exc:
        raise InvalidUpload(str(exc)) from exc
    digest = hashlib.sha256(stored).hexdigest()
    name = filename or getattr(file, "name", "") or ""

    existing = Photo.objects.filter(uploader=uploader, purpose=purpose, sha256=digest).first()
    if existing is not None:
        return UploadResult(existing, created=False)

    now = timezone.now()
    photo = Photo(
        uploader=uploader, person=subject, consent=consent, purpose=purpose, original_name=name[:255],
        sha256=digest, size_bytes=len(stored), width=info.width, height=info.height,
        image_format=stored_format, status=Photo.Status.QUEUED, queued_at=now, created_at=now,
    )
    stored_name = f"{uuid.uuid4().hex}.{_EXTENSIONS.get(stored_format, 'img')}"
    photo.file.save(stored_name, ContentFile(stored), save=False)
    try:
        with transaction.atomic():
            photo.save()
            Person.objects.filter(pk=subject.pk).update(last_interaction_at=now)
            log_access(action="photo.upload", actor=uploader, access=access, obj=photo, person=subject,
                       purpose=purpose, detail={"sha256": digest, "bytes": len(stored),
                                                "uploaded_sha256": hashlib.sha256(data).hexdigest()})
            after_commit("recognition.tasks.process_photo", photo.pk)
    except Exception:
        photo.file.delete(save=False)  # nothing was accepted: leave no orphan file
        raise
    return UploadResult(photo, created=True)


def log_outcomes_read(*, access: Access, photo: Photo, outcomes) -> None:
    """Reading proposals (reviewers) or a confirmed identity (uploaders) is reading a match: logged."""
    proposals = [i.pk for o in outcomes for i in (o.candidates or [])]
    confirmed = [o.face.pk for o in outcomes if o.outcome == "confirmed"]
    if proposals or confirmed:
        detail = {"identifications": proposals} if proposals else {"confirmed_faces": confirmed}
        with transaction.atomic():
            log_access(action="identification.view", access=access, obj=photo, person=photo.person,
                       purpose=photo.purpose, detail=detail)


WITHDRAWN = "Not processed: the consent for this photo was withdrawn or has expired. Nothing was stored."


class PhotoFailed(ServiceError):
    """Processing a photo failed for a reason that retrying will not fix."""


def _claim(photo_id: int) -> Photo | None:
    """Mark a photo as processing; None when there is nothing (left) to do."""
    with transaction.atomic():
        photo = (Photo.objects.select_for_update(of=("self",)).select_related("person")
                 .filter(pk=photo_id).first())
        if photo is None or photo.status in (Photo.Status.DONE, Photo.Status.FAILED):
            return None
        photo.status = Photo.Status.PROCESSING
        photo.started_at = timezone.now()
        photo.attempts += 1
        photo.save(update_fields=["status", "started_at", "attempts"])
        return photo


def mark_failed(photo_id: int, reason: str) -> Photo | None:
    """Fail a photo for good with a reason the uploader sees; the attempt is logged like a success.

    Returns the photo as it now stands (already finished ones are left as they were).
    """
    with transaction.atomic():
        finished = [Photo.Status.DONE, Photo.Status.FAILED]
        unfinished = Photo.objects.filter(pk=photo_id).exclude(status__in=finished)
        changed = unfinished.update(status=Photo.Status.FAILED, error=reason[:2000],
                                    finished_at=timezone.now())
        photo = Photo.objects.select_related("person").filter(pk=photo_id).first()
        if changed:
            log_access(action="photo.process", obj=photo, person=photo.person, purpose=photo.purpose,
                       detail={"failed": reason[:200]})
    return photo


def process_photo(*, photo_id: int) -> Photo | None:
    """Detect, embed, store and match the faces of one photo. Idempotent.

    Running it again (a redelivered task, the sweep) replaces nothing once the photo is
    done, and a half-finished earlier run leaves no trace: faces are written in one
    transaction together with the final status. Bad input marks the photo failed with
    a reason; transient errors (database, broker) propagate so the task is retried.
    """
    photo = _claim(photo_id)
    if photo is None:
        return None
    if active_consent(photo.person, photo.purpose) is None:
        # Consent was withdrawn or expired after the upload: no processing without it.
        return mark_failed(photo_id, WITHDRAWN)
    timings: dict[str, float] = {}
    pipeline = runtime.get_pipeline()
    try:
        t0 = time.perf_counter()
        with photo.file.open("rb") as fh:
            data = fh.read()
        if hashlib.sha256(data).hexdigest() != photo.sha256:
            raise PhotoFailed("The stored file does not match the uploaded one (sha256 differs).")
        image = decode_image(data, **runtime.image_limits())
        timings["decode"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        faces = pipeline.process(image)
        timings["analyse"] = time.perf_counter() - t0
    except ImageError as exc:
        return mark_failed(photo_id, str(exc))
    except PhotoFailed as exc:
        return mark_failed(photo_id, exc.message)
    except FileNotFoundError:
        return mark_failed(photo_id, "The stored file is missing.")

    t0 = time.perf_counter()
    crops: list[str] = []
    try:
        return _store_faces(photo_id, image, faces, timings, t0, pipeline.version, crops)
    except BaseException:
        media.delete_crops_by_name(crops)  # the faces were rolled back: so are their crops
        raise


def _store_faces(photo_id: int, image, faces, timings: dict, t0: float, pipeline_version: str,
                 crops: list[str]) -> Photo:
    """Write the faces, their cached crops, proposals and the final status in one transaction."""
    with transaction.atomic():
        # The consent again, under a lock on the person: a withdrawal (which locks the same row)
        # either committed before, and nothing is stored, or waits until this commits and its
        # erasure then removes what was stored. Enrolment locks exclusively: one at a time.
        # The person first, then the photo: the order erasure takes them in (no deadlock).
        subject = Photo.objects.filter(pk=photo_id).values_list("person_id", "purpose").first()
        if subject is None:  # erased while it was being analysed (a withdrawal, an erasure)
            return None
        lock_people([subject[0]], exclusive=subject[1] == Photo.Purpose.ENROL)
        photo = (Photo.objects.select_for_update(of=("self",)).select_related("person")
                 .filter(pk=photo_id).first())
        if photo is None:
            return None
        if photo.status == Photo.Status.DONE:
            return photo
        if active_consent(photo.person, photo.purpose) is None:
            photo.status, photo.error, photo.finished_at = Photo.Status.FAILED, WITHDRAWN, timezone.now()
            photo.save(update_fields=["status", "error", "finished_at"])
            log_access(action="photo.process", obj=photo, person=photo.person, purpose=photo.purpose,
                       detail={"failed": WITHDRAWN})
            return photo
        stale = list(photo.faces.values_list("pk", flat=True))
        photo.faces.all().delete()  # a crashed earlier attempt may have left nothing, but be sure
        media.delete_crops(stale)
        rows = Face.objects.bulk_create([
            Face(photo=photo, index=i, box=[round(float(v), 2) for v in f.box],
                 landmarks=f.landmarks.astype(float).round(2).tolist(), det_score=float(f.score),
                 quality=float(f.quality.score), quality_reasons=list(f.quality.reasons),
                 is_good=bool(f.quality.is_good), embedding=f.embedding.astype(float).tolist(),
                 pipeline_version=pipeline_version)
            for i, f in enumerate(faces)
        ])
        crops.extend(media.store_crops(image=image, faces=rows))
        crops.append(media.store_thumbnail(image=image, photo=photo))
        if photo.purpose == Photo.Purpose.ENROL:
            error = _enrol(photo, rows, [f.quality.enrol_reasons for f in faces])
        else:
            error = ""
            for face in rows:
                if face.is_good:
                    propose_identifications(face=face)
        photo.timings = {**timings, "store": time.perf_counter() - t0}
        photo.pipeline_version = pipeline_version
        photo.finished_at = timezone.now()
        photo.status = Photo.Status.FAILED if error else Photo.Status.DONE
        photo.error = error
        photo.save(update_fields=["timings", "pipeline_version", "finished_at", "status", "error"])
        log_access(action="photo.process", obj=photo, person=photo.person, purpose=photo.purpose,
                   detail={"faces": len(rows), "good": sum(f.is_good for f in rows)})
    return photo


def _enrol(photo: Photo, faces: list[Face], enrol_reasons: list[list[str]]) -> str:
    """Enrol the person's own face from an enrolment photo; return an error or ''.

    ``enrol_reasons[i]`` says why ``faces[i]`` fails the (stricter) enrolment gate
    (``Quality.enrol_reasons``; empty: usable for enrolment). Only the consenting person's
    face may join their gallery (docs/rules.md, section 2): a first enrolment needs exactly
    one face passing the gate; a later one enrols only the one that matches the faces
    already enrolled for the person (the closest, within the 1:1 threshold). Called with the
    person's row locked, so two first enrolments queue up.
    """
    if not faces:
        return "No face was found in this photo. Upload a photo where your face is clearly visible."
    good = [f for f, why in zip(faces, enrol_reasons, strict=True) if f.is_good and not why]
    if not good:
        reasons = sorted({r for why in enrol_reasons for r in why})
        return "No face in this photo is good enough to enrol: " + "; ".join(reasons) + "."
    gallery = [np.asarray(e, dtype=np.float32) for e in Face.objects.filter(
        person=photo.person, enrolled=True, pipeline_version=good[0].pipeline_version,
    ).exclude(photo=photo).values_list("embedding", flat=True)]
    if not gallery:
        if len(good) > 1:
            return (f"This photo shows {len(good)} faces. A first enrolment needs a photo in which only "
                    "the person's own face is visible, so that nobody else is enrolled under their name.")
        chosen = good[0]
        detail = {"rule": "first enrolment: the only good face"}
    else:
        stack = np.stack(gallery)

        def nearest(face: Face) -> float:
            return float(np.linalg.norm(stack - np.asarray(face.embedding, dtype=np.float32), axis=1).min())

        distance, chosen = min(((nearest(f), f) for f in good), key=lambda pair: (pair[0], pair[1].index))
        if distance > settings.MATCH_THRESHOLD:
            which = ("The face in this photo does not match" if len(good) == 1
                     else f"None of the {len(good)} faces in this photo matches")
            return (f"{which} the face already enrolled for this person, so nothing was enrolled. "
                    "Upload a photo of the same person.")
        detail = {"rule": "matches the enrolled faces", "distance": round(distance, 4)}
    chosen.person = photo.person
    chosen.enrolled = True
    chosen.save(update_fields=["person", "enrolled"])
    log_access(action="face.enrol", obj=chosen, person=photo.person, purpose=Photo.Purpose.ENROL,
               detail={**detail, "good_faces": len(good)})
    return ""


def propose_identifications(*, face: Face) -> list[Identification]:
    """Match a face; propose a pending identification for each candidate the calibrated rule accepts.

    The threshold depends on the gallery size and the target false-positive identification
    rate (``services.decision``): a stranger's face is not proposed as anyone at TARGET_FPIR.
    """
    candidates = match_embedding(face.embedding, pipeline_version=face.pipeline_version,
                                 exclude_photo_id=face.photo_id)
    decision = decide(candidates, pipeline_version=face.pipeline_version)
    proposed = decision.proposed
    if proposed:
        # The search read the consents before this point: lock the candidates (a withdrawal of
        # enrolment waits, or has committed) and keep only those whose enrol consent still holds.
        lock_people([c.person.pk for c in proposed])
        still = set(Consent.objects.filter(Consent.active_q(), purpose_enrol=True,
                                           person_id__in=[c.person.pk for c in proposed],
                                           person__erased_at__isnull=True)
                    .values_list("person_id", flat=True))
        proposed = [c for c in proposed if c.person.pk in still]
    proposals = [
        Identification(face=face, candidate=c.person, distance=c.distance, rank=rank)
        for rank, c in enumerate(proposed, start=1)
    ]
    Identification.objects.bulk_create(proposals, ignore_conflicts=True)
    log_access(action="embedding.match", obj=face, person=proposals[0].candidate if proposals else None,
               purpose=Photo.Purpose.IDENTIFY,
               detail={"candidates": len(candidates), "proposed": len(proposals),
                       "best_distance": round(candidates[0].distance, 4) if candidates else None,
                       "threshold": round(decision.threshold, 4), "gallery_faces": decision.gallery_faces,
                       "target_fpir": decision.target_fpir})
    return proposals


def sweep_stuck_photos(*, older_than_s: int | None = None) -> list[int]:
    """Re-queue photos accepted but not finished: queued or processing for too long, or never sent."""
    limit = timedelta(seconds=older_than_s if older_than_s is not None else settings.STUCK_PHOTO_AFTER_S)
    now = timezone.now()
    stuck = list(
        Photo.objects.filter(

                Q(status=Photo.Status.QUEUED, queued_at__lt=now - limit)
                | Q(status=Photo.Status.PROCESSING, started_at__lt=now - limit)
                | Q(status=Photo.Status.UPLOADED, created_at__lt=now - limit)

        ).values_list("pk", flat=True)
    )
    for photo_id in stuck:
        # Back to queued, so that the next claim sees fresh state; then enqueue.
        Photo.objects.filter(pk=photo_id).exclude(status__in=[Photo.Status.DONE, Photo.Status.FAILED]).update(
            status=Photo.Status.QUEUED, queued_at=now)
        after_commit("recognition.tasks.process_photo", photo_id)
    if stuck:
        logger.warning("re-queued %d stuck photo(s): %s", len(stuck), stuck)
    return stuck



@dataclass(frozen=True)
class DeleteResult:
    photo_id: int
    faces: int
    identifications: int


def delete_photo(*, photo: Photo | int, actor, access: Access | None = None) -> DeleteResult:
    """Delete one photo with its faces (their embeddings), their identifications and its file; logged.

    The caller has checked that ``actor`` may delete it (the uploader's own photo). A photo
    a worker is processing right now is refused (409): its faces are still being written.
    The file goes only once the rows are committed, so a failed delete loses nothing.
    """
    photo_id = photo.pk if isinstance(photo, Photo) else int(photo)
    with transaction.atomic():
        locked = Photo.objects.select_for_update().filter(pk=photo_id).first()
        if locked is None:
            raise ServiceError("This photo no longer exists.")
        if locked.status == Photo.Status.PROCESSING:
            raise Conflict("This photo is being processed right now; delete it once it is done.")
        face_ids = list(Face.objects.filter(photo=locked).values_list("pk", flat=True))
        idents, _ = Identification.objects.filter(face_id__in=face_ids).delete()
        Face.objects.filter(pk__in=face_ids).delete()
        name = locked.file.name
        log_access(action="photo.delete", actor=actor, access=access, obj=locked, person=locked.person,
                   purpose=locked.purpose, detail={"faces": len(face_ids), "identifications": idents,
                                                   "sha256": locked.sha256})
        locked.delete()
        if name:
            transaction.on_commit(lambda: private_storage().delete(name))
        transaction.on_commit(lambda: media.delete_crops(face_ids))  # the faces' cached crops too
        transaction.on_commit(lambda: media.delete_thumbnails([photo_id]))
    return DeleteResult(photo_id=photo_id, faces=len(face_ids), identifications=idents)
