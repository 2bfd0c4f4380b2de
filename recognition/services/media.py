"""Reading biometric images for display: always through here, always logged.

Face crops and photo thumbnails are cut once, by the worker that stores the faces (it
holds the decoded photo already), and kept as small JPEGs in private storage under
``crops/`` and ``thumbs/``: a review page asks for about a hundred crops, a photo grid for
a thumbnail per photo, and decoding each original (up to 40 MP) per request in the web
process would stall it. These files are biometric data: they are served only by the
role-checked, logged views, and every path that deletes faces or photos deletes them
(erasure, retention, photo deletion, reprocessing); retention also removes files left by
a crash.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable

import cv2
import numpy as np
from django.core.files.base import ContentFile
from django.db import transaction

from recognition import runtime
from recognition.access import Access
from recognition.audit import log_access
from recognition.engine.decode import decode_image
from recognition.models import Face, Photo, private_storage

logger = logging.getLogger(__name__)

CROP_MARGIN = 0.35  # of the box size, on each side
CROP_SIZE = 224  # pixels, square: what the review pages show
CROP_DIR = "crops"
THUMB_DIR = "thumbs"
THUMBNAIL_SIDE = 480  # pixels, the longer side: the uploader's photo grid
_CROPS_PER_DIR = 1000  # face ids are spread over folders of at most this many files


def _encode_jpeg(rgb: np.ndarray, quality: int = 88) -> bytes:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return buf.tobytes()


def _decoded(photo: Photo) -> np.ndarray:
    with photo.file.open("rb") as fh:
        return decode_image(fh.read(), **runtime.image_limits())


def photo_jpeg(*, photo: Photo, access: Access, max_side: int = 1600) -> bytes:
    """The photo (EXIF orientation applied, downscaled for display) as JPEG; logs the view."""
    image = _decoded(photo)
    h, w = image.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    if scale < 1.0:
        image = cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    log_access(action="photo.view", access=access, obj=photo, person=photo.person, purpose="display")
    return _encode_jpeg(image)


def crop_name(face_id: int) -> str:
    """Where the cached crop of a face lives in private storage."""
    return f"{CROP_DIR}/{int(face_id) // _CROPS_PER_DIR}/{int(face_id)}.jpg"


def cut_crop(image: np.ndarray, box, size: int = CROP_SIZE) -> bytes:
    """A square JPEG crop around ``box`` (x, y, w, h) with a margin, padded where it leaves the image."""
    x, y, w, h = box
    side = max(w, h) * (1 + 2 * CROP_MARGIN)
    cx, cy = x + w / 2, y + h / 2
    x0, y0 = round(cx - side / 2), round(cy - side / 2)
    x1, y1 = round(cx + side / 2), round(cy + side / 2)
    ih, iw = image.shape[:2]
    pad = max(0, -x0, -y0, x1 - iw, y1 - ih)
    if pad:
        image = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(240, 240, 240))
        x0, y0, x1, y1 = x0 + pad, y0 + pad, x1 + pad, y1 + pad
    crop = cv2.resize(image[y0:y1, x0:x1], (size, size), interpolation=cv2.INTER_AREA)
    return _encode_jpeg(crop, quality=85)


def _write(name: str, data: bytes) -> None:
    storage = private_storage()
    if storage.exists(name):
        storage.delete(name)
    storage.save(name, ContentFile(data))


def store_crops(*, image: np.ndarray, faces: Iterable[Face]) -> list[str]:
    """Cache the crops of freshly stored faces (the worker, inside the faces' transaction).

    Written while the photo row is locked, so an erasure waiting on that lock finds the
    faces and deletes these files too. If the transaction then rolls back, the caller
    deletes the returned names (``delete_crops_by_name``).
    """
    names = []
    for face in faces:
        name = crop_name(face.pk)
        _write(name, cut_crop(image, face.box))
        names.append(name)
    return names


def delete_crops(face_ids: Iterable[int]) -> int:
    """Delete the cached crops of these faces (call it where their rows are deleted); return how many."""
    return delete_crops_by_name(crop_name(fid) for fid in face_ids)


def delete_crops_by_name(names: Iterable[str]) -> int:
    storage = private_storage()
    deleted = 0
    for name in names:
        if storage.exists(name):
            storage.delete(name)
            deleted += 1
    return deleted


def _orphans(directory: str, model, older_than_s: float) -> list[str]:
    storage = private_storage()
    cutoff = time.time() - older_than_s
    root = os.path.join(storage.location, directory)
    if not os.path.isdir(root):
        return []
    found: dict[int, str] = {}
    for folder in os.listdir(root):
        for entry in os.listdir(os.path.join(root, folder)):
            stem = entry.removesuffix(".jpg")
            if stem.isdigit() and os.path.getmtime(os.path.join(root, folder, entry)) < cutoff:
                found[int(stem)] = f"{directory}/{folder}/{entry}"
    ids = list(found)
    alive: set[int] = set()
    for start in range(0, len(ids), 10_000):
        alive.update(model.objects.filter(pk__in=ids[start:start + 10_000]).values_list("pk", flat=True))
    return [name for pk, name in found.items() if pk not in alive]


def orphan_crops(*, older_than_s: float = 3600.0) -> list[str]:
    """Cached crops and thumbnails whose face or photo no longer exists (a crash between a
    delete and its files).

    Files younger than ``older_than_s`` are left alone: a worker writes them before its
    faces commit, so a fresh file without a visible row is normal.
    """
    return _orphans(CROP_DIR, Face, older_than_s) + _orphans(THUMB_DIR, Photo, older_than_s)


def thumbnail_name(photo_id: int) -> str:
    """Where the cached thumbnail of a photo lives in private storage."""
    return f"{THUMB_DIR}/{int(photo_id) // _CROPS_PER_DIR}/{int(photo_id)}.jpg"


def _thumbnail(image: np.ndarray) -> bytes:
    h, w = image.shape[:2]
    scale = min(1.0, THUMBNAIL_SIDE / max(h, w))
    if scale < 1.0:
        image = cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    return _encode_jpeg(image, quality=85)


def store_thumbnail(*, image: np.ndarray, photo: Photo) -> str:
    """Cache the photo's thumbnail (the worker, with the decoded image, in the faces' transaction)."""
    name = thumbnail_name(photo.pk)
    _write(name, _thumbnail(image))
    return name


def delete_thumbnails(photo_ids: Iterable[int]) -> int:
    """Delete the cached thumbnails of these photos (where their rows are deleted)."""
    return delete_crops_by_name(thumbnail_name(pid) for pid in photo_ids)


def photo_thumbnail_jpeg(*, photo: Photo, access: Access) -> bytes:
    """The photo's cached thumbnail (a photo not processed yet: cut from the original); logged."""
    try:
        with private_storage().open(thumbnail_name(photo.pk), "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        data = _thumbnail(_decoded(photo))
    log_access(action="photo.view", access=access, obj=photo, person=photo.person, purpose="display")
    return data


def face_crop_jpeg(*, face: Face, access: Access, purpose: str = "display") -> bytes:
    """The cached square crop of the face (cut and cached from the photo if missing); logged."""
    name = crop_name(face.pk)
    storage = private_storage()
    try:
        with storage.open(name, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        data = _fill_crop(face)
    log_access(action="face.view", access=access, obj=face, person=face.person, purpose=purpose)
    return data


def _fill_crop(face: Face) -> bytes:
    """Cut a missing crop from the original (faces stored before the cache existed) and cache it.

    Under the photo's row lock, like the worker, so that an erasure cannot delete the face
    between our check and the write and leave the file behind.
    """
    data = cut_crop(_decoded(face.photo), face.box)
    with transaction.atomic():
        locked = Photo.objects.select_for_update().filter(pk=face.photo_id).exists()
        if locked and Face.objects.filter(pk=face.pk).exists():
            _write(crop_name(face.pk), data)
    return data
