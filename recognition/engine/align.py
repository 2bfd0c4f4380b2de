"""Align a face to the 150x150 chip of dlib's face-embedding network.

A least-squares similarity transform (rotation, uniform scale, translation; Umeyama's
closed form) maps the five MTCNN landmarks onto fixed targets in chip coordinates, and
``cv2.warpAffine`` samples the chip bilinearly. The targets are derived from dlib's
68-point mean face with dlib's 0.25 padding (see docs/dlib-resnet.md, "Targets for
MTCNN-style points"). They are symmetric about x = 74.013, so mirroring an aligned chip
gives the aligned chip of the mirrored face.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = [
    "ALIGNMENT_VERSION",
    "CHIP_SIZE",
    "MTCNN_TARGETS_150",
    "align_face",
    "landmarks_from_box",
    "similarity_transform",
]

ALIGNMENT_VERSION = "align5-v1"
"""Names this alignment (targets, transform, sampling) in the pipeline version."""

CHIP_SIZE = 150

MTCNN_TARGETS_150 = np.array(
    [
        [47.549, 46.599],  # image-left eye centre
        [100.476, 46.599],  # image-right eye centre
        [74.013, 76.562],  # nose tip
        [50.415, 103.023],  # image-left mouth corner
        [97.610, 103.023],  # image-right mouth corner
    ],
    dtype=np.float64,
)
"""Chip-pixel targets of the 5 landmarks for a 150x150 chip, in MTCNN order."""


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity transform taking ``src`` points to ``dst`` points (Umeyama 1991).

    Args:
        src: (N, 2) source points, N >= 2.
        dst: (N, 2) destination points.

    Returns:
        A 2x3 float64 matrix ``M`` with ``dst ~ M @ [x, y, 1]``. Reflections are excluded.
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    if src.shape != dst.shape or src.ndim != 2 or src.shape[1] != 2 or src.shape[0] < 2:
        raise ValueError(f"expected two (N,2) arrays with N >= 2, got {src.shape} and {dst.shape}")
    mu_s = src.mean(axis=0)
    mu_d = dst.mean(axis=0)
    s = src - mu_s
    d = dst - mu_d
    var_s = (s**2).sum() / len(src)
    if var_s <= 1e-12:
        raise ValueError("the source points coincide; no transform exists")
    cov = d.T @ s / len(src)
    u, sig, vt = np.linalg.svd(cov)
    sign = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[-1] = -1.0
    rot = u @ np.diag(sign) @ vt
    scale = (sig * sign).sum() / var_s
    m = np.empty((2, 3), dtype=np.float64)
    m[:, :2] = scale * rot
    m[:, 2] = mu_d - scale * rot @ mu_s
    return m


def align_face(image: np.ndarray, landmarks: np.ndarray, size: int = CHIP_SIZE) -> np.ndarray:
    """Cut an aligned ``size`` x ``size`` face chip out of ``image``.

    Args:
        image: HxWx3 uint8 RGB image (any channel order is kept as is).
        landmarks: (5, 2) landmarks in image pixels, order left_eye, right_eye, nose,
            mouth_left, mouth_right (image-left / image-right), as MTCNN gives them.
        size: chip side; targets are scaled from the 150-pixel geometry.

    Returns:
        ``size`` x ``size`` x 3 uint8 chip; pixels that fall outside the image are black.
    """
    pts = np.asarray(landmarks, dtype=np.float64).reshape(5, 2)
    targets = MTCNN_TARGETS_150 * (size / CHIP_SIZE)
    m = similarity_transform(pts, targets)
    return cv2.warpAffine(
        image,
        m,
        (size, size),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(0, 0, 0),
    )


def landmarks_from_box(x: float, y: float, w: float, h: float) -> np.ndarray:
    """Plausible frontal landmarks for a face box (used only when no detector result exists).

    The box is assumed to be a square-ish face region like an MTCNN box; the landmarks are
    placed at the template positions relative to such a box.
    """
    # Positions measured on MTCNN boxes (eyes ~30% / ~70% across, ~38% down;
    # nose ~56%; mouth corners ~72%).
    rel = np.array([[0.30, 0.38], [0.70, 0.38], [0.50, 0.56], [0.32, 0.72], [0.68, 0.72]])
    return np.stack([x + rel[:, 0] * w, y + rel[:, 1] * h], axis=1)
