"""Checks and clean-up of an uploaded image, cheap enough to run while the upload request waits.

``check_upload`` refuses at once what would only fail later in a worker: a shape no photo
has (sides more than 100:1), and a damaged or truncated file (JPEGs are decoded whole at
1/8 scale; other formats fully up to ``FULL_DECODE_MAX_PIXELS``, and beyond that they
must at least end where their format ends).
``strip_metadata`` returns the bytes to store: without EXIF (GPS, camera serials,
thumbnails), XMP, IPTC or comments, with the EXIF orientation applied to the pixels.
"""

from __future__ import annotations

import io
import struct

import numpy as np
from PIL import Image, ImageOps

from .decode import (
    ALLOWED_FORMATS,
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_PIXELS,
    ImageInfo,
    decode_image,
    probe_image,
)
from .errors import BadDimensions, CorruptImage

__all__ = ["FULL_DECODE_MAX_PIXELS", "MAX_ASPECT_RATIO", "check_upload", "strip_metadata"]

MAX_ASPECT_RATIO = 100.0
"""Longest side over shortest side beyond which an image is refused."""

FULL_DECODE_MAX_PIXELS = 8_000_000
"""Non-JPEG images up to this size are fully decoded at upload (PNG must be inflated whole)."""

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# PNG chunks that carry metadata, not pixels or colour: EXIF, text (XMP lives in iTXt), time.
_PNG_METADATA = {b"eXIf", b"tEXt", b"zTXt", b"iTXt", b"tIME"}


def check_upload(
    data: bytes,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_aspect_ratio: float = MAX_ASPECT_RATIO,
    full_decode_max_pixels: int = FULL_DECODE_MAX_PIXELS,
    allowed_formats: frozenset[str] = ALLOWED_FORMATS,
) -> ImageInfo:
    """Header checks (size, format, pixels), then shape and completeness.

    Raises:
        FileTooLarge, NotAnImage, UnsupportedFormat, TooManyPixels, BadDimensions, CorruptImage.
    """
    info = probe_image(data, max_bytes=max_bytes, max_pixels=max_pixels, allowed_formats=allowed_formats)
    if max(info.width, info.height) > max_aspect_ratio * min(info.width, info.height):
        raise BadDimensions(info.width, info.height, max_aspect_ratio)
    if info.format in ("JPEG", "MPO"):
        _decode_jpeg_scaled(data, info.format)
    elif info.pixels <= full_decode_max_pixels:
        decode_image(data, max_bytes=max_bytes, max_pixels=max_pixels, allowed_formats=allowed_formats)
    else:
        _check_ends(data, info.format)
    return info


def _decode_jpeg_scaled(data: bytes, fmt: str) -> None:
    """Decode every block of a JPEG at 1/8 scale (libjpeg's DCT scaling): all the compressed
    data is read, so a truncated or damaged file fails, for a fraction of a full decode."""
    try:
        with Image.open(io.BytesIO(data), formats=["JPEG"]) as im:
            im.draft("RGB", (max(1, im.width // 8), max(1, im.height // 8)))
            im.load()
    except (OSError, SyntaxError, ValueError, struct.error) as exc:
        raise CorruptImage(fmt, str(exc)) from exc


def _check_ends(data: bytes, fmt: str) -> None:
    """A large file must at least end as its format ends: a cut-short upload does not."""
    if fmt in ("JPEG", "MPO"):
        # The end-of-image marker, allowing for padding or a trailer some cameras append.
        if data.rfind(b"\xff\xd9") < len(data) - 64 * 1024:
            raise CorruptImage(fmt, "no end-of-image marker")
    elif fmt == "PNG" and data.rfind(b"IEND") < len(data) - 64:
        raise CorruptImage(fmt, "no IEND chunk")


def strip_metadata(
    data: bytes,
    info: ImageInfo,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> tuple[bytes, str]:
    """The image without its metadata, orientation applied; and its format (``JPEG``/``PNG``...).

    JPEG (orientation 1) and PNG lose their metadata segments and chunks without being
    re-encoded; a rotated JPEG or an MPO is turned upright and re-encoded as JPEG (quality
    92, ICC profile kept); everything else (WebP, TIFF, GIF) is decoded and stored as PNG.
    """
    if info.format == "JPEG" and info.orientation == 1:
        return _jpeg_without_metadata(data), "JPEG"
    if info.format == "PNG" and info.orientation == 1:
        return _png_without_metadata(data), "PNG"
    if info.format in ("BMP", "PPM"):  # formats without a metadata block
        return data, info.format
    out = io.BytesIO()
    if info.format in ("JPEG", "MPO"):
        # Turned upright by Pillow directly (no RGB array); only the ICC profile is written back.
        try:
            with Image.open(io.BytesIO(data), formats=["JPEG"]) as im:
                im.load()
                upright = ImageOps.exif_transpose(im)
                upright.save(out, "JPEG", quality=92, icc_profile=im.info.get("icc_profile"))
        except (OSError, SyntaxError, ValueError, struct.error) as exc:
            raise CorruptImage(info.format, str(exc)) from exc
        return out.getvalue(), "JPEG"
    pixels = decode_image(data, max_bytes=max_bytes, max_pixels=max_pixels)  # upright, RGB
    Image.fromarray(np.ascontiguousarray(pixels)).save(out, "PNG", compress_level=3)
    return out.getvalue(), "PNG"


def _jpeg_without_metadata(data: bytes) -> bytes:
    """Drop APP1-APP15 (EXIF, XMP, IPTC, MPF ...) and comments; keep JFIF, the ICC profile and
    Adobe's colour-transform segment (CMYK files need it). The scan data is copied as is."""
    if data[:2] != b"\xff\xd8":
        raise CorruptImage("JPEG", "no start-of-image marker")
    out = [b"\xff\xd8"]
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            raise CorruptImage("JPEG", f"bad marker at byte {i}")
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker == 0xDA:  # start of scan: the rest is image data
            out.append(data[i:])
            return b"".join(out)
        (length,) = struct.unpack(">H", data[i + 2:i + 4])
        segment = data[i:i + 2 + length]
        body = segment[4:]
        keep = not (0xE1 <= marker <= 0xEF or marker == 0xFE)
        if marker == 0xE2 and body.startswith(b"ICC_PROFILE\x00"):
            keep = True
        if marker == 0xEE and body.startswith(b"Adobe"):
            keep = True
        if keep:
            out.append(segment)
        i += 2 + length
    raise CorruptImage("JPEG", "no image data")


def _png_without_metadata(data: bytes) -> bytes:
    if not data.startswith(_PNG_SIGNATURE):
        raise CorruptImage("PNG", "bad signature")
    out = [_PNG_SIGNATURE]
    i = len(_PNG_SIGNATURE)
    while i + 12 <= len(data):
        (length,) = struct.unpack(">I", data[i:i + 4])
        kind = data[i + 4:i + 8]
        chunk = data[i:i + 12 + length]
        if kind not in _PNG_METADATA:
            out.append(chunk)
        i += 12 + length
        if kind == b"IEND":
            break
    return b"".join(out)
