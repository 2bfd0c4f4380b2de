"""Typed errors raised by the recognition engine.

Every error carries a message that a user can act on (what is wrong, what the limit is),
so that the web layer can show ``str(error)`` as is.
"""

from __future__ import annotations

__all__ = [
    "CorruptImage",
    "EngineError",
    "FileTooLarge",
    "ImageError",
    "NotAnImage",
    "TooManyPixels",
    "UnsupportedFormat",
]


def _mb(n: int) -> str:
    """Format a byte count as megabytes with one decimal (1 MB = 1,000,000 bytes)."""
    return f"{n / 1_000_000:.1f} MB"


def _mp(n: int) -> str:
    """Format a pixel count as megapixels with one decimal."""
    return f"{n / 1_000_000:.1f} megapixels"


class EngineError(Exception):
    """Base class of every error raised on purpose by the engine."""


class ImageError(EngineError, ValueError):
    """The input cannot be used as an image. Subclasses say why."""


class FileTooLarge(ImageError):
    """The encoded file is larger than the byte limit."""

    def __init__(self, size: int, limit: int) -> None:
        self.size = size
        self.limit = limit
        super().__init__(
            f"The file is {_mb(size)}; the limit is {_mb(limit)}. Upload a smaller or more compressed image."
        )


class TooManyPixels(ImageError):
    """The image's declared dimensions exceed the pixel limit (possible decompression bomb)."""

    def __init__(self, width: int | None, height: int | None, pixels: int, limit: int) -> None:
        self.width = width
        self.height = height
        self.pixels = pixels
        self.limit = limit
        dims = f"{width} x {height} pixels ({_mp(pixels)})" if width and height else _mp(pixels)
        super().__init__(
            f"The image is {dims}; the limit is {_mp(limit)}. Resize it to fewer pixels and upload it again."
        )


class NotAnImage(ImageError):
    """The data is not an image in any format the engine can read."""

    def __init__(self, detail: str = "") -> None:
        msg = (
            "The file is not an image we can read. Upload a JPEG, PNG, WebP, BMP, TIFF or GIF photo."
        )
        if detail:
            msg = f"{msg} ({detail})"
        super().__init__(msg)


class UnsupportedFormat(NotAnImage):
    """The data is an image, but in a format that is not accepted."""

    def __init__(self, fmt: str, allowed: tuple[str, ...] | frozenset[str]) -> None:
        self.format = fmt
        names = ", ".join(sorted(allowed))
        ImageError.__init__(
            self,
            f"Images in {fmt} format are not accepted. Convert it to one of: {names}.",
        )


class CorruptImage(ImageError):
    """The file looks like an image but its pixel data cannot be decoded (truncated or damaged)."""

    def __init__(self, fmt: str | None = None, detail: str = "") -> None:
        self.format = fmt
        what = f"{fmt} image" if fmt else "image"
        msg = f"The {what} is damaged or incomplete (for example, the upload was cut short). " \
              "Open it on your device, save it again and re-upload it."
        if detail:
            msg = f"{msg} ({detail})"
        super().__init__(msg)


class BadDimensions(ImageError):
    """The image's shape is not one of a photo (a strip thousands of pixels long and a few wide)."""

    def __init__(self, width: int, height: int, max_ratio: float) -> None:
        self.width, self.height = width, height
        super().__init__(
            f"The image is {width} x {height} pixels: its sides differ by more than {max_ratio:g} to 1, "
            "which no photo of a face has. Upload the photo itself."
        )
