"""The recognition engine: decode, detect, judge quality, align and embed faces.

Plain Python (no Django), usable from a notebook::

    from recognition.engine import FacePipeline
    faces = FacePipeline().process("photo.jpg")   # list[FaceResult], left to right
    faces[0].embedding, faces[0].quality.is_good, FacePipeline().version

Importing this package is cheap: the modules that import TensorFlow (detector, embedder,
pipeline) load on first use of their names. Anything may import the engine; the engine
imports nothing of Django, of the rest of the app, of ``tests`` or of ``bench``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .decode import ImageInfo, decode_image, probe_image
from .errors import (
    CorruptImage,
    EngineError,
    FileTooLarge,
    ImageError,
    NotAnImage,
    TooManyPixels,
    UnsupportedFormat,
)

if TYPE_CHECKING:  # pragma: no cover
    from .align import align_face
    from .detect import Detection, FaceDetector, get_detector
    from .pipeline import FacePipeline, FaceResult
    from .quality import Quality, assess_quality

_LAZY = {
    "align_face": ".align",
    "Detection": ".detect",
    "FaceDetector": ".detect",
    "get_detector": ".detect",
    "FacePipeline": ".pipeline",
    "FaceResult": ".pipeline",
    "Quality": ".quality",
    "assess_quality": ".quality",
}

__all__ = [
    "CorruptImage",
    "Detection",
    "EngineError",
    "FaceDetector",
    "FacePipeline",
    "FaceResult",
    "FileTooLarge",
    "ImageError",
    "ImageInfo",
    "NotAnImage",
    "Quality",
    "TooManyPixels",
    "UnsupportedFormat",
    "align_face",
    "assess_quality",
    "decode_image",
    "get_detector",
    "probe_image",
]


def __getattr__(name: str) -> Any:
    """Import heavy submodules only when one of their names is first used."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value
