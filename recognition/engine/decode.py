"""Decode uploaded images into RGB uint8 arrays, with size limits enforced before decoding.

``decode_image`` accepts bytes, a path or a file name and returns an ``HxWx3`` ``uint8`` RGB
array with the EXIF orientation applied. Limits are checked in this order, each before any
pixel is decoded:

1. the encoded size (``max_bytes``), from ``len(bytes)`` or ``os.stat``;
2. the format (``ALLOWED_FORMATS``), from the file header;
3. the pixel count (``max_pixels``), from the dimensions in the header.

Pillow's own decompression-bomb guard (``Image.MAX_IMAGE_PIXELS``) is turned into our
``TooManyPixels`` rather than a Pillow warning or error, without changing Pillow's global
setting. Pixel data is then fully loaded, so a truncated file raises ``CorruptImage`` here,
not later.

Conversions: grey, palette and 1-bit images become RGB; images with alpha are composited
on white; 16-bit and 32-bit integer grey images are scaled to 8 bits; CMYK, YCbCr and LAB
use Pillow's conversions; animated GIF/WebP/TIFF use their first frame.
"""

from __future__ import annotations

import io
import logging
import os
import re
import struct
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import CorruptImage, FileTooLarge, NotAnImage, TooManyPixels, UnsupportedFormat

__all__ = [
    "ALLOWED_FORMATS",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_PIXELS",
    "ImageInfo",
    "decode_image",
    "probe_image",
]

logger = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 20_000_000
"""Largest accepted encoded file, in bytes (20 MB)."""

DEFAULT_MAX_PIXELS = 40_000_000
"""Largest accepted image, in pixels (width x height)."""

ALLOWED_FORMATS: frozenset[str] = frozenset({"JPEG", "MPO", "PNG", "WEBP", "BMP", "TIFF", "GIF", "PPM"})
"""Pillow format names that are accepted. MPO is the multi-picture JPEG written by many cameras;
PPM covers the Netpbm family (PGM, PPM, PBM), used by research datasets such as AT&T/ORL."""

ImageSource = bytes | bytearray | memoryview | str | os.PathLike

_BOMB_RE = re.compile(r"\((\d+) pixels\)")
# Errors that Pillow's decoders raise on damaged data.
_DECODE_ERRORS = (OSError, SyntaxError, EOFError, ValueError, struct.error, zlib.error, IndexError, KeyError)


@dataclass(frozen=True, slots=True)
class ImageInfo:
    """What the header of an image says, found without decoding its pixels.

    ``width`` and ``height`` are as displayed, i.e. after the EXIF orientation is applied.
    """

    format: str
    width: int
    height: int
    mode: str = ""
    frames: int = 1
    orientation: int = 1

    @property
    def pixels(self) -> int:
        """Width times height."""
        return self.width * self.height


def _read_source(data: ImageSource, max_bytes: int) -> bytes:
    """Return the encoded bytes of ``data``, refusing anything over ``max_bytes`` before reading it."""
    if isinstance(data, bytes | bytearray | memoryview):
        size = len(data) if not isinstance(data, memoryview) else data.nbytes
        if size > max_bytes:
            raise FileTooLarge(size, max_bytes)
        return bytes(data)
    if isinstance(data, str | os.PathLike):
        path = Path(data)
        try:
            size = path.stat().st_size
        except FileNotFoundError as exc:
            raise FileNotFoundError(f"No such image file: {path}") from exc
        if size > max_bytes:
            raise FileTooLarge(size, max_bytes)
        with path.open("rb") as fh:
            # Read one byte more than the limit: the file may have grown since stat().
            raw = fh.read(max_bytes + 1)
        if len(raw) > max_bytes:
            raise FileTooLarge(len(raw), max_bytes)
        return raw
    raise TypeError(f"decode_image expects bytes or a path, not {type(data).__name__}")


def _open(raw: bytes, max_pixels: int, allowed: frozenset[str]) -> Image.Image:
    """Open (lazily) and check format and pixel count. No pixel data is decoded here."""
    if not raw:
        raise NotAnImage("the file is empty")
    fp: BinaryIO = io.BytesIO(raw)
    try:
        with warnings.catch_warnings():
            # Pillow warns above MAX_IMAGE_PIXELS and raises above twice that; make both
            # exceptions so they are reported as our TooManyPixels with a clear message.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            # Only the accepted formats' parsers ever see the bytes (MPO is opened by JPEG's).
            im = Image.open(fp, formats=_pillow_openers(allowed))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        m = _BOMB_RE.search(str(exc))
        pixels = int(m.group(1)) if m else max_pixels + 1
        raise TooManyPixels(None, None, pixels, max_pixels) from exc
    except UnidentifiedImageError as exc:
        other = _format_by_signature(raw)
        if other:
            raise UnsupportedFormat(other, allowed) from exc
        raise NotAnImage() from exc
    except _DECODE_ERRORS as exc:
        # The header was recognised but is inconsistent.
        raise CorruptImage(None, str(exc)) from exc

    fmt = (im.format or "").upper()
    if fmt not in allowed:
        im.close()
        raise UnsupportedFormat(fmt or "unknown", allowed)
    w, h = im.size
    if w <= 0 or h <= 0:
        im.close()
        raise CorruptImage(fmt, f"declared size {w}x{h}")
    if w * h > max_pixels:
        im.close()
        raise TooManyPixels(w, h, w * h, max_pixels)
    return im


def _pillow_openers(allowed: frozenset[str]) -> list[str]:
    Image.init()
    return sorted({"JPEG" if f == "MPO" else f for f in allowed} & set(Image.OPEN))


def _format_by_signature(raw: bytes) -> str | None:
    """The name of the format whose magic bytes ``raw`` starts with, asking only Pillow's
    signature checks (a few bytes compared; no parser of that format runs)."""
    Image.init()
    prefix = raw[:16]
    for name, (_, accept) in Image.OPEN.items():
        try:
            if accept is not None and accept(prefix):
                return name
        except Exception:  # noqa: BLE001, S112 - a signature check that fails means "not this one"
            continue
    return None


def _orientation(im: Image.Image) -> int:
    """EXIF orientation tag (1..8), 1 when absent or unreadable."""
    try:
        value = im.getexif().get(0x0112, 1)
        value = int(value)
    except Exception:  # a broken EXIF block must not reject the photo
        return 1
    return value if 1 <= value <= 8 else 1


def probe_image(
    data: ImageSource,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    allowed_formats: frozenset[str] = ALLOWED_FORMATS,
) -> ImageInfo:
    """Validate an image from its header only (fast; meant for upload time).

    Checks the byte limit, that the data is an image in an accepted format, and the pixel
    limit; decodes no pixel data, so a truncated file passes here and fails in
    ``decode_image``.

    Raises:
        FileTooLarge, NotAnImage, UnsupportedFormat, TooManyPixels, CorruptImage.
    """
    raw = _read_source(data, max_bytes)
    im = _open(raw, max_pixels, allowed_formats)
    try:
        orientation = _orientation(im)
        w, h = im.size
        if orientation in (5, 6, 7, 8):
            w, h = h, w
        frames = int(getattr(im, "n_frames", 1) or 1)
        return ImageInfo(format=(im.format or "").upper(), width=w, height=h, mode=im.mode, frames=frames,
                         orientation=orientation)
    finally:
        im.close()


def _to_rgb_array(im: Image.Image) -> np.ndarray:
    """Convert a loaded Pillow image of any mode to an HxWx3 uint8 RGB array."""
    mode = im.mode
    if mode == "RGB":
        return np.asarray(im, dtype=np.uint8)
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        arr = np.asarray(im)
        if mode == "F":
            arr = np.nan_to_num(arr.astype(np.float64), nan=0.0, posinf=255.0, neginf=0.0)
            if arr.max(initial=0.0) <= 1.0:
                arr = arr * 255.0
        else:
            arr = arr.astype(np.float64)
            # 16-bit data (and 32-bit "I" holding 16-bit samples, as Pillow gives for
            # 16-bit PNG/TIFF) is scaled to 8 bits; "I" data that fits in 8 bits is kept.
            if mode.startswith("I;16") or arr.max(initial=0.0) > 255.0:
                arr = arr / 257.0
        grey = np.clip(np.rint(arr), 0, 255).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    if mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(background, rgba).convert("RGB"), dtype=np.uint8)
    # L, 1, P, CMYK, YCbCr, LAB, HSV, RGBX ...
    return np.asarray(im.convert("RGB"), dtype=np.uint8)


def decode_image(
    data: ImageSource,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    allowed_formats: frozenset[str] = ALLOWED_FORMATS,
) -> np.ndarray:
    """Decode an image to an ``HxWx3`` ``uint8`` RGB array, EXIF orientation applied.

    Args:
        data: encoded bytes, or a path to an image file.
        max_bytes: largest accepted encoded size; checked before reading the file.
        max_pixels: largest accepted width x height; checked from the header before decoding.
        allowed_formats: Pillow format names accepted.

    Raises:
        FileTooLarge: the encoded data is over ``max_bytes``.
        NotAnImage: the data is not a readable image (``UnsupportedFormat``: an image in a
            format that is not accepted).
        TooManyPixels: the declared dimensions are over ``max_pixels``.
        CorruptImage: the pixel data is truncated or damaged.
    """
    raw = _read_source(data, max_bytes)
    im = _open(raw, max_pixels, allowed_formats)
    fmt = (im.format or "").upper()
    try:
        try:
            if getattr(im, "n_frames", 1) > 1:
                im.seek(0)
            im.load()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise TooManyPixels(im.size[0], im.size[1], im.size[0] * im.size[1], max_pixels) from exc
        except MemoryError as exc:
            raise TooManyPixels(im.size[0], im.size[1], im.size[0] * im.size[1], max_pixels) from exc
        except _DECODE_ERRORS as exc:
            raise CorruptImage(fmt, str(exc)) from exc
        try:
            if _orientation(im) != 1:
                im = ImageOps.exif_transpose(im)
        except _DECODE_ERRORS as exc:  # broken EXIF: keep the stored orientation
            logger.warning("Ignoring unreadable EXIF orientation: %s", exc)
        try:
            arr = _to_rgb_array(im)
        except _DECODE_ERRORS as exc:
            raise CorruptImage(fmt, str(exc)) from exc
    finally:
        im.close()
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:  # pragma: no cover - defensive
        raise CorruptImage(fmt, f"unexpected decoded shape {arr.shape} {arr.dtype}")
    return np.ascontiguousarray(arr)
