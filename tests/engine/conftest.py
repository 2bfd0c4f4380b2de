"""Shared fixtures of the engine tests: the fixture photos and one pipeline per session."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers import FACES as FACES_DIR


@pytest.fixture(scope="session")
def faces_dir() -> Path:
    """Folder of the labelled fixture photos (see tests/fixtures/faces/README.txt)."""
    assert (FACES_DIR / "obama.jpg").is_file(), f"fixture photos missing in {FACES_DIR}"
    return FACES_DIR


@pytest.fixture(scope="session")
def face_pipeline():
    """The default pipeline (real MTCNN and the TensorFlow port of dlib's ResNet)."""
    from recognition.engine.pipeline import FacePipeline

    return FacePipeline()


@pytest.fixture(scope="session")
def obama_rgb(faces_dir: Path) -> np.ndarray:
    """obama.jpg decoded, downscaled to 455x568 to keep the tests fast."""
    import cv2

    from recognition.engine.decode import decode_image

    img = decode_image(faces_dir / "obama.jpg")
    return cv2.resize(img, (img.shape[1] // 2, img.shape[0] // 2), interpolation=cv2.INTER_AREA)
