"""Face quality: size, sharpness, pose and detector score, combined into one verdict.

Faces that fail any hard threshold are kept but marked ``is_good = False`` ("low quality"):
the product never enrols them or matches them automatically.

Metrics (all in ``Quality.metrics``):

* ``face_size``: shorter side of the detector box, original image pixels.
* ``eye_distance``: distance between the eye landmarks, pixels.
* ``sharpness``: variance of the Laplacian of the grey 150x150 aligned chip (so it is
  comparable across image sizes; a face upscaled from few pixels is blurry and scores low).
* ``yaw``, ``pitch``, ``roll``: rough head-pose estimates in degrees from the 5 landmarks
  (roll: angle of the eye line; yaw: sideways offset of the nose tip from the eye midpoint;
  pitch: height of the nose tip between the eye line and the mouth line, relative to the
  frontal template). They are estimates, good to about 10 degrees near frontal.
* ``score``: detector confidence.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import cv2
import numpy as np

from .align import MTCNN_TARGETS_150

__all__ = [
    "DEFAULT_THRESHOLDS",
    "ENROL_THRESHOLDS",
    "PROPOSAL_THRESHOLDS",
    "gate_reasons",
    "GOOD_FACE_SIZE",
    "GOOD_SHARPNESS",
    "MAX_PITCH",
    "MAX_ROLL",
    "MAX_YAW",
    "MIN_DETECTOR_SCORE",
    "MIN_FACE_SIZE",
    "MIN_SHARPNESS",
    "Quality",
    "QualityThresholds",
    "assess_quality",
    "estimate_pose",
    "sharpness",
]

# The gates below were set from measurements (``python -m bench.quality_report`` on 3,443
# LFW images, TAR at FAR 1e-4 of the pairs whose worse image falls in each bucket; docs/engine.md,
# "Quality gate"): a limit sits where recognition measurably degrades, not where a face merely
# looks worse. Proposals take every face the network still matches well; enrolment, which
# defines a person for every later match, is stricter.

MIN_FACE_SIZE = 40.0
"""Box short side (pixels) below which a face is not proposed (LFW's faces are all >= 50 px:
not measured there; the sharpness of the upscaled chip catches small faces too)."""
GOOD_FACE_SIZE = 100.0
"""Box short side at which the size component reaches 1."""
MIN_SHARPNESS = 10.0
"""Laplacian variance of the aligned chip below which a face is not proposed (blurred): TAR 35%
below 10 against 65% overall; 10-15 is 60% [52, 68], 25 and above no different from the rest."""
GOOD_SHARPNESS = 200.0
"""Laplacian variance at which the sharpness component reaches 1."""
MAX_YAW = 40.0
"""Yaw estimate (degrees) above which a face is not proposed: 40-50 gives TAR 50%, 50-60 29%."""
MAX_PITCH = 35.0
"""Pitch estimate (degrees): 20-30 gives TAR 54%, above 40 none matched."""
MAX_ROLL = 45.0
"""Roll is undone by the alignment: no loss measured up to 30 degrees."""
MIN_DETECTOR_SCORE = 0.90
"""MTCNN score: no measurable effect above 0.9 on LFW; kept against non-faces."""

ENROL_MIN_FACE_SIZE = 60.0
ENROL_MIN_SHARPNESS = 15.0
ENROL_MAX_YAW = 35.0
ENROL_MAX_PITCH = 25.0
ENROL_MAX_ROLL = 30.0
ENROL_MIN_DETECTOR_SCORE = 0.95

# Frontal template geometry (chip pixels) used by the pose estimates.
_T = MTCNN_TARGETS_150
_T_EYE_DIST = float(_T[1, 0] - _T[0, 0])
_T_EYE_MOUTH = float((_T[3, 1] + _T[4, 1]) / 2 - _T[0, 1])
_T_NOSE_T = float((_T[2, 1] - _T[0, 1]) / _T_EYE_MOUTH)
_NOSE_DEPTH = 0.45  # nose-tip protrusion in front of the eye plane, in inter-eye distances


@dataclass(frozen=True)
class QualityThresholds:
    """Hard limits and the values at which each score component saturates."""

    min_face_size: float = MIN_FACE_SIZE
    good_face_size: float = GOOD_FACE_SIZE
    min_sharpness: float = MIN_SHARPNESS
    good_sharpness: float = GOOD_SHARPNESS
    max_yaw: float = MAX_YAW
    max_pitch: float = MAX_PITCH
    max_roll: float = MAX_ROLL
    min_score: float = MIN_DETECTOR_SCORE


PROPOSAL_THRESHOLDS = QualityThresholds()
"""The gate for a face to be matched and proposed (``Quality.usable_for_proposals``)."""

ENROL_THRESHOLDS = QualityThresholds(min_face_size=ENROL_MIN_FACE_SIZE, min_sharpness=ENROL_MIN_SHARPNESS,
                                     max_yaw=ENROL_MAX_YAW, max_pitch=ENROL_MAX_PITCH,
                                     max_roll=ENROL_MAX_ROLL, min_score=ENROL_MIN_DETECTOR_SCORE)
"""The stricter gate for a face to be enrolled (``Quality.usable_for_enrolment``)."""

DEFAULT_THRESHOLDS = PROPOSAL_THRESHOLDS
"""Former name of ``PROPOSAL_THRESHOLDS``."""


@dataclass(frozen=True)
class Quality:
    """Verdict on one face: ``score`` in 0..1 (higher is better), ``is_good``, and the reasons it is not."""

    score: float
    reasons: list[str] = field(default_factory=list)
    is_good: bool = True
    metrics: dict[str, float] = field(default_factory=dict)
    enrol_reasons: list[str] = field(default_factory=list)

    @property
    def usable_for_proposals(self) -> bool:
        """The face may be matched against the gallery and proposed to a reviewer (= ``is_good``)."""
        return self.is_good

    @property
    def usable_for_enrolment(self) -> bool:
        """The face passes the stricter enrolment gate (and therefore the proposal gate too)."""
        return self.is_good and not self.enrol_reasons

    def to_dict(self) -> dict:
        """JSON-friendly representation."""
        return {
            "score": round(self.score, 4),
            "is_good": self.is_good,
            "reasons": list(self.reasons),
            "usable_for_enrolment": self.usable_for_enrolment,
            "enrol_reasons": list(self.enrol_reasons),
            "metrics": {k: round(float(v), 3) for k, v in self.metrics.items()},
        }


def sharpness(chip: np.ndarray) -> float:
    """Variance of the Laplacian of a face image (grey), a standard focus measure."""
    grey = cv2.cvtColor(chip, cv2.COLOR_RGB2GRAY) if chip.ndim == 3 else chip
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def estimate_pose(landmarks: np.ndarray) -> tuple[float, float, float]:
    """Rough (yaw, pitch, roll) in degrees from 5 MTCNN landmarks.

    Signs: roll > 0 when the image-right eye is lower; yaw > 0 when the nose tip is toward
    the image-right eye; pitch > 0 when the nose tip is lower than frontal (looking down).
    """
    p = np.asarray(landmarks, dtype=np.float64).reshape(5, 2)
    le, re, nose = p[0], p[1], p[2]
    mouth = (p[3] + p[4]) / 2.0
    eye_vec = re - le
    eye_dist = float(np.hypot(*eye_vec))
    if eye_dist < 1e-6:
        return 0.0, 0.0, 0.0
    roll = math.degrees(math.atan2(eye_vec[1], eye_vec[0]))
    ex = eye_vec / eye_dist
    ey = np.array([-ex[1], ex[0]])  # points down the face
    mid = (le + re) / 2.0
    nx = float((nose - mid) @ ex) / eye_dist
    yaw = math.degrees(math.atan2(nx, _NOSE_DEPTH))
    eye_mouth = float((mouth - mid) @ ey)
    if eye_mouth <= 1e-6:
        return yaw, 0.0, roll
    t = float((nose - mid) @ ey) / eye_mouth
    pitch = math.degrees(math.atan2((t - _T_NOSE_T) * _T_EYE_MOUTH / _T_EYE_DIST, _NOSE_DEPTH))
    return yaw, pitch, roll


def _ramp(value: float, low: float, high: float) -> float:
    if high <= low:
        return 1.0 if value >= low else 0.0
    return float(min(1.0, max(0.0, (value - low) / (high - low))))


def gate_reasons(metrics: Mapping[str, float], thresholds: QualityThresholds) -> list[str]:
    """The reasons a face with these quality ``metrics`` fails the gate ``thresholds`` (empty: it passes).

    ``metrics`` as in ``Quality.metrics``; a missing or NaN sharpness is not judged.
    """
    th = thresholds
    reasons: list[str] = []
    size = float(metrics["face_size"])
    if size < th.min_face_size:
        reasons.append(f"face too small ({size:.0f} px; minimum {th.min_face_size:.0f} px)")
    sharp = metrics.get("sharpness")
    if sharp is not None and sharp == sharp and sharp < th.min_sharpness:
        reasons.append(f"face too blurred (sharpness {sharp:.0f}; minimum {th.min_sharpness:.0f})")
    yaw, pitch, roll = float(metrics["yaw"]), float(metrics["pitch"]), float(metrics["roll"])
    if abs(yaw) > th.max_yaw:
        reasons.append(f"face turned sideways (yaw about {yaw:+.0f} degrees; limit {th.max_yaw:.0f})")
    if abs(pitch) > th.max_pitch:
        reasons.append(f"face tilted up or down (pitch about {pitch:+.0f} degrees; limit {th.max_pitch:.0f})")
    if abs(roll) > th.max_roll:
        reasons.append(f"head tilted (roll {roll:+.0f} degrees; limit {th.max_roll:.0f})")
    score = float(metrics["score"])
    if score < th.min_score:
        reasons.append(f"uncertain detection (score {score:.2f}; minimum {th.min_score:.2f})")
    return reasons


def assess_quality(
    box: tuple[float, float, float, float],
    landmarks: np.ndarray,
    score: float,
    chip: np.ndarray | None = None,
    thresholds: QualityThresholds = PROPOSAL_THRESHOLDS,
    enrol_thresholds: QualityThresholds = ENROL_THRESHOLDS,
) -> Quality:
    """Judge one face from its box, landmarks, detector score and (optionally) aligned chip.

    Args:
        box: (x, y, w, h) in image pixels.
        landmarks: (5, 2) MTCNN-order landmarks in image pixels.
        score: detector confidence.
        chip: the 150x150 aligned chip; without it sharpness is not judged.
        thresholds: the gate for being proposed / matched (``usable_for_proposals``).
        enrol_thresholds: the stricter gate for enrolment (``usable_for_enrolment``).

    Returns:
        ``Quality``: ``score`` is the geometric mean of the size, sharpness, pose and
        detector components (each 0..1); ``reasons`` says why the face fails the proposal gate
        (one human-readable reason per failure), ``enrol_reasons`` why it fails the enrolment gate.
    """
    th = thresholds
    size = float(min(box[2], box[3]))
    lm = np.asarray(landmarks, dtype=np.float64).reshape(5, 2)
    yaw, pitch, roll = estimate_pose(lm)
    metrics: dict[str, float] = {
        "face_size": size,
        "eye_distance": float(np.hypot(*(lm[1] - lm[0]))),
        "yaw": yaw,
        "pitch": pitch,
        "roll": roll,
        "score": float(score),
    }
    comps = [_ramp(size, th.min_face_size * 0.5, th.good_face_size)]
    if chip is not None:
        sharp = sharpness(chip)
        metrics["sharpness"] = sharp
        comps.append(_ramp(sharp, th.min_sharpness * 0.5, th.good_sharpness))
    pose_excess = max(abs(yaw) / th.max_yaw, abs(pitch) / th.max_pitch, abs(roll) / th.max_roll)
    comps.append(_ramp(1.5 - pose_excess, 0.0, 1.0))
    comps.append(_ramp(float(score), th.min_score - 0.1, 1.0))
    q = float(np.prod(np.maximum(comps, 1e-6)) ** (1.0 / len(comps)))
    if q < 1e-3:
        q = 0.0
    reasons = gate_reasons(metrics, thresholds)
    enrol = gate_reasons(metrics, enrol_thresholds)
    # enrolment is never looser than proposals: a face that may not be proposed may not be enrolled
    enrol = enrol + [r for r in reasons if r not in enrol]
    return Quality(score=q, reasons=reasons, is_good=not reasons, metrics=metrics, enrol_reasons=enrol)
