"""Operations that only the API offers (waiting for results, 1:1 verification), built on the services."""

from __future__ import annotations

import base64
import hashlib
import time

from celery.exceptions import TimeoutError as CeleryTimeout
from django.conf import settings
from django.db import transaction
from django.db.models import Prefetch

from recognition import runtime, selectors
from recognition.audit import log_access
from recognition.engine.decode import probe_image
from recognition.engine.errors import ImageError
from recognition.exceptions import InvalidUpload, ServiceError
from recognition.models import Identification, Photo
from recognition.services.consent import person_for_user, require_consent
from recognition.services.photos import read_upload

FINAL = (Photo.Status.DONE, Photo.Status.FAILED)
POLL_S = 0.25


class VerifyUnavailable(ServiceError):
    status = 503
    code = "unavailable"


def photo_with_results(*, user, photo_id: int, request=None) -> Photo:
    """A photo the user may see, with its faces and their proposals; reading proposals is logged."""
    photo = selectors.photo_for(user, photo_id)
    idents = Identification.objects.select_related("candidate").order_by("rank", "id")
    faces = list(photo.faces.prefetch_related(Prefetch("identifications", queryset=idents)))
    shown = [i.pk for f in faces for i in f.identifications.all()]
    if shown:
        log_access(action="identification.view", request=request, obj=photo, person=photo.person,
                   purpose=photo.purpose, detail={"identifications": shown})
    photo._prefetched_objects_cache = {"faces": faces}  # the serializer reads photo.faces.all()
    return photo


def wait_for_photo(*, user, photo_id: int, wait_s: float) -> Photo:
    """Poll the photo's status (the database is the truth) until it is final or ``wait_s`` passed."""
    deadline = time.monotonic() + max(0.0, wait_s)
    while True:
        photo = selectors.photo_for(user, photo_id)
        if photo.status in FINAL or time.monotonic() >= deadline:
            return photo
        time.sleep(POLL_S)


def verify_images(*, user, image1, image2, wait_s: float, request=None) -> dict:
    """Are the faces in two images the same person? Run by a worker; the images are never stored.

    The caller needs an active consent to identification: the images are of them (or of
    people who agreed through them), and biometric processing needs consent.
    """
    require_consent(person_for_user(user, create=False), Photo.Purpose.IDENTIFY)
    blobs = [read_upload(f, settings.UPLOAD_MAX_BYTES) for f in (image1, image2)]
    for n, blob in enumerate(blobs, start=1):
        try:
            probe_image(blob, **runtime.image_limits())  # refuse bad files before a worker sees them
        except ImageError as exc:
            raise InvalidUpload(f"Image {n}: {exc}") from exc
    from recognition.api.tasks import verify_faces

    try:
        pending = verify_faces.delay(*(base64.b64encode(b).decode("ascii") for b in blobs))
    except Exception as exc:  # the broker is down
        raise VerifyUnavailable("The recognition workers cannot be reached; try again shortly.") from exc
    try:
        result = pending.get(timeout=wait_s, propagate=True)
    except CeleryTimeout as exc:
        pending.revoke()
        raise VerifyUnavailable(f"The comparison did not finish within {wait_s:.0f} s; the workers are busy. "
                                "Try again shortly.") from exc
    finally:
        pending.forget()  # the distance is not kept in the result backend either
    hashes = [hashlib.sha256(b).hexdigest() for b in blobs]
    if not result.get("ok"):
        with transaction.atomic():
            log_access(action="face.verify", request=request, purpose="verify",
                       detail={"images_sha256": hashes, "error": result.get("error", "")})
        raise InvalidUpload(result.get("error") or "The images could not be compared.")
    distance = float(result["distance"])
    threshold = float(settings.MATCH_THRESHOLD)
    same = distance <= threshold
    with transaction.atomic():
        log_access(action="face.verify", request=request, purpose="verify",
                   detail={"images_sha256": hashes, "distance": round(distance, 4), "same_person": same})
    return {"distance": distance, "threshold": threshold, "same_person": same,
            "decision": "same" if same else "different", "faces_found": result["faces_found"],
            "pipeline_version": result["pipeline_version"]}


def log_identifications_read(*, request, ids: list[int]) -> None:
    """Reading proposals (who a face may be) is reading a match: one log entry per response."""
    if ids:
        with transaction.atomic():
            log_access(action="identification.view", request=request, object_type="identification",
                       object_id=ids[0] if len(ids) == 1 else "", purpose="review",
                       detail={"identifications": ids})
