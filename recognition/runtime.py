"""The recognition engine as configured by Django settings: one pipeline per process."""

from __future__ import annotations

import functools
import os

from django.conf import settings


@functools.cache
def get_pipeline():
    """The process-wide face pipeline (models load once, at first use)."""
    os.environ.setdefault("FACEWEB_MODEL_CACHE", str(settings.MODEL_CACHE_DIR))
    # Here, not at the top: the pipeline loads TensorFlow; web processes that never process
    # a photo must not pay for it (FACEWEB_MODEL_CACHE must be set before, too).
    from recognition.engine.pipeline import FacePipeline

    return FacePipeline()


def pipeline_version() -> str:
    return get_pipeline().version


def image_limits() -> dict:
    return {"max_bytes": settings.UPLOAD_MAX_BYTES, "max_pixels": settings.UPLOAD_MAX_PIXELS}


def upload_checks() -> dict:
    """Arguments of ``recognition.engine.upload.check_upload`` from settings."""
    return {**image_limits(), "max_aspect_ratio": settings.UPLOAD_MAX_ASPECT_RATIO,
            "full_decode_max_pixels": settings.UPLOAD_FULL_DECODE_MAX_PIXELS}
