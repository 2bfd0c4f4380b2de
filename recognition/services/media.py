"""Reading biometric images for display: always through here, always logged."""

from __future__ import annotations

import cv2
import numpy as np

from recognition import runtime
from recognition.audit import log_access
from recognition.engine.decode import decode_image
from recognition.models import Face, Photo

CROP_MARGIN = 0.35  # of the box size, on each side


def _encode_jpeg(rgb: np.ndarray, quality: int = 88) -> bytes:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return buf.tobytes()


def _decoded(photo: Photo) -> np.ndarray:
    with photo.file.open("rb") as fh:
        return decode_image(fh.read(), **runtime.image_limits())


def photo_jpeg(*, photo: Photo, request, max_side: int = 1600) -> bytes:
    """The photo (EXIF orientation applied, downscaled for display) as JPEG; logs the view."""
    image = _decoded(photo)
    h, w = image.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    if scale < 1.0:
        image = cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    log_access(action="photo.view", request=request, obj=photo, person=photo.person, purpose="display")
    return _encode_jpeg(image)


def face_crop_jpeg(*, face: Face, request, size: int = 224, purpose: str = "display") -> bytes:
    """A square crop around the face, cut from the stored photo on request (never stored); logged."""
    image = _decoded(face.photo)
    x, y, w, h = face.box
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
    log_access(action="face.view", request=request, obj=face, person=face.person, purpose=purpose)
    return _encode_jpeg(crop)
