"""Operations that only the API offers (waiting for results, 1:1 verification), built on the services."""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid

import redis
from django.conf import settings
from django.db import transaction

from recognition import runtime, selectors
from recognition.access import Access
from recognition.api.tasks import verify_faces
from recognition.audit import log_access
from recognition.engine.errors import ImageError
from recognition.engine.upload import check_upload
from recognition.exceptions import InvalidUpload, NotFound, ServiceError
from recognition.models import Photo
from recognition.services.consent import person_for_user, require_consent
from recognition.services.photos import log_outcomes_read, read_upload

FINAL = (Photo.Status.DONE, Photo.Status.FAILED)
POLL_S = 0.25


class VerifyUnavailable(ServiceError):
    status = 503
    code = "unavailable"


def photo_with_results(*, user, photo_id: int,
                       access: Access | None = None) -> tuple[Photo, list[selectors.FaceOutcome]]:
    """A photo the user may see, with the outcome of each face for them (``selectors.face_outcomes``).

    Reading proposals (reviewers) or a confirmed identity (uploaders) is reading a match: logged.
    """
    photo = selectors.photo_for(user, photo_id)
    outcomes = selectors.face_outcomes(user, [photo])[photo.pk]
    log_outcomes_read(access=access, photo=photo, outcomes=outcomes)
    return photo, outcomes


def wait_for_photo(*, user, photo_id: int, wait_s: float) -> Photo:
    """Poll the photo's status (the database is the truth) until it is final or ``wait_s`` passed."""
    deadline = time.monotonic() + max(0.0, wait_s)
    while True:
        photo = selectors.photo_for(user, photo_id)
        if photo.status in FINAL or time.monotonic() >= deadline:
            return photo
        time.sleep(POLL_S)


def _redis():
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)


def _verify_key(verification_id: str) -> str:
    return f"faceweb:verify:{verification_id}"


def submit_verification(*, user, image1, image2) -> str:
    """Queue a 1:1 comparison of two images for a worker; return its id (poll ``verification_result``).

    The caller needs an active consent to identification: the images are of them (or of
    people who agreed through them), and biometric processing needs consent. The images
    travel in the task message only; Redis keeps who asked and the images' hashes (for the
    log), never the images, for ``VERIFY_KEEP_S`` seconds.
    """
    require_consent(person_for_user(user, create=False), Photo.Purpose.IDENTIFY)
    blobs = [read_upload(f, settings.UPLOAD_MAX_BYTES) for f in (image1, image2)]
    for n, blob in enumerate(blobs, start=1):
        try:
            check_upload(blob, **runtime.upload_checks())  # refuse bad files before a worker sees them
        except ImageError as exc:
            raise InvalidUpload(f"Image {n}: {exc}") from exc

    record = {"user": user.pk, "images_sha256": [hashlib.sha256(b).hexdigest() for b in blobs]}
    verification_id = str(uuid.uuid4())
    try:
        # The record first: a result that arrives before it would have no owner to show it to.
        _redis().set(_verify_key(verification_id), json.dumps(record), ex=settings.VERIFY_KEEP_S)
        verify_faces.apply_async(args=[base64.b64encode(b).decode("ascii") for b in blobs],
                                 task_id=verification_id)
    except Exception as exc:  # the broker is down
        raise VerifyUnavailable("The recognition workers cannot be reached; try again shortly.") from exc
    return verification_id


def _finish(verification_id: str, record: dict, payload: dict, access: Access | None) -> dict:
    """The answer to a finished comparison (logged once); kept with the record for later polls."""
    hashes = record["images_sha256"]
    if not payload.get("ok"):
        result = {"error": payload.get("error") or "The images could not be compared."}
        detail = {"images_sha256": hashes, "error": result["error"]}
    else:
        distance = float(payload["distance"])
        threshold = float(settings.MATCH_THRESHOLD)
        same = distance <= threshold
        result = {"distance": distance, "threshold": threshold, "same_person": same,
                  "decision": "same" if same else "different", "faces_found": payload["faces_found"],
                  "pipeline_version": payload["pipeline_version"]}
        detail = {"images_sha256": hashes, "distance": round(distance, 4), "same_person": same}
    with transaction.atomic():
        log_access(action="face.verify", access=access, purpose="verify", detail=detail)
    return result


def verification_result(*, user, verification_id: str, access: Access | None = None) -> dict | None:
    """The comparison's result once a worker has finished it, else None (still pending).

    404 for an unknown or expired id and for someone else's (the same answer). Reading the
    worker's result and logging it happen once; later polls get the same stored answer.
    Raises ``InvalidUpload`` when the worker could not compare the images (no good face).
    """

    client = _redis()
    key = _verify_key(verification_id)
    try:
        raw = client.get(key)
    except redis.RedisError as exc:
        raise VerifyUnavailable("The verification results cannot be read; try again shortly.") from exc
    record = json.loads(raw) if raw else None
    if record is None or record.get("user") != user.pk:
        raise NotFound("No such verification.")
    if "result" not in record:
        pending = verify_faces.AsyncResult(verification_id)
        if not pending.ready():
            return None
        try:
            payload = pending.get(timeout=1, propagate=True)  # ready: returns at once
        except Exception:  # noqa: BLE001 - a worker failure (time limit...): the images were not compared
            payload = {"ok": False, "error": "The comparison failed in the worker; try again."}
        # One poller finishes it (the log entry is written once); the others see it pending a moment.
        if not client.set(key + ":finishing", 1, nx=True, ex=settings.VERIFY_KEEP_S):
            return None
        record["result"] = _finish(verification_id, record, payload, access)
        client.set(key, json.dumps(record), keepttl=True)
        pending.forget()  # the distance is not kept in the result backend either
    result = record["result"]
    if "error" in result:
        raise InvalidUpload(result["error"])
    return result


def wait_for_verification(*, user, verification_id: str, wait_s: float,
                          access: Access | None = None) -> dict | None:
    """``verification_result``, polled until it is ready or ``wait_s`` passed (None: still pending)."""
    deadline = time.monotonic() + max(0.0, wait_s)
    while True:
        result = verification_result(user=user, verification_id=verification_id, access=access)
        if result is not None or time.monotonic() >= deadline:
            return result
        time.sleep(POLL_S)


def log_identifications_read(*, access: Access, ids: list[int]) -> None:
    """Reading proposals (who a face may be) is reading a match: one log entry per response."""
    if ids:
        with transaction.atomic():
            log_access(action="identification.view", access=access, object_type="identification",
                       object_id=ids[0] if len(ids) == 1 else "", purpose="review",
                       detail={"identifications": ids})
