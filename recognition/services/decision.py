"""When to propose an identification: a threshold calibrated for a target false-positive rate.

dlib's 0.6 is a 1:1 threshold. Searching a gallery of N faces, a stranger is "matched" to
somebody as soon as any one of N impostor distances falls below the threshold, so the
false-positive identification rate (FPIR: a person who is not enrolled matched to
someone) grows with N: with 0.6 nearly every stranger is matched once N reaches 100k
(docs/search.md). The threshold therefore depends on the gallery size:

    FPIR(t, N) = 1 - (1 - F(t)) ** N   =>   t(N) = F^-1(1 - (1 - target) ** (1 / N))

where F is the lower tail of the distance between faces of two different people. F comes
from a model of face embeddings fitted to 4,979 real dlib descriptors of 1,559 people
(``distance_model.json``; person = mean + N(0, B), face = person + N(0, W)): the squared
distance of two faces of different people is a weighted sum of chi-squares with the
eigenvalues of 2(B + W) as weights, and of two faces of the same person with those of
2W. Its tail is computed with a saddlepoint approximation (accurate to a few percent of
the probability even at 1e-10). N counts matchable faces, not people, which overstates
the number of independent chances and so errs on the safe side. Real faces have thicker
tails than the model: on 458 real photos of 53 people, impostor pairs reach the model's
tail probabilities at distances 5-9% shorter (docs/search.md), so distances are scaled
by ``MATCH_TAIL_SCALE`` (1.04: the smallest value that kept the measured FPIR of real
strangers within the target at every gallery size) before the model is read. The
threshold never exceeds MATCH_THRESHOLD.

A candidate is proposed only when its distance is within t(N); when several are, they are
proposed in order and reviewers see the margin to the next one.
"""

from __future__ import annotations

import functools
import json
import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from django.conf import settings

from recognition.services.matching import matchable_faces

_MODEL_FILE = Path(__file__).with_name("distance_model.json")
_CACHE_LOCK = threading.Lock()
_GALLERY_CACHE: dict[str, tuple[float, int]] = {}


@functools.cache
def _weights() -> tuple[np.ndarray, np.ndarray]:
    model = json.loads(_MODEL_FILE.read_text())
    return np.asarray(model["impostor_eigenvalues"], float), np.asarray(model["genuine_eigenvalues"], float)


def _phi(w: float) -> float:
    return math.exp(-0.5 * w * w) / math.sqrt(2 * math.pi)


def _big_phi(w: float) -> float:
    return 0.5 * math.erfc(-w / math.sqrt(2))


def weighted_chi2_cdf(x: float, weights: np.ndarray) -> float:
    """P(sum_i w_i z_i^2 <= x), z_i standard normal (Lugannani-Rice saddlepoint)."""
    w = weights[weights > 1e-12]
    mean = float(w.sum())
    if x <= 0:
        return 0.0
    if abs(x - mean) < 1e-9 * mean:
        x = mean * (1 - 1e-6)

    def k1(s: float) -> float:
        return float(np.sum(w / (1 - 2 * s * w)))

    # K'(s) = x has one root below 1/(2 max w); K' is increasing in s.
    hi = 1 / (2 * w.max()) * (1 - 1e-12)
    lo = -1.0
    while k1(lo) > x:
        lo *= 2
        if lo < -1e12:
            return 0.0
    if k1(0.0) < x:
        lo = 0.0
    else:
        hi = 0.0
    for _ in range(200):
        mid = (lo + hi) / 2
        if k1(mid) < x:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-12 * max(1.0, abs(mid)):
            break
    s = (lo + hi) / 2
    k = float(-0.5 * np.sum(np.log1p(-2 * s * w)))
    k2 = float(np.sum(2 * w * w / (1 - 2 * s * w) ** 2))
    r = math.copysign(math.sqrt(max(2 * (s * x - k), 0.0)), s)
    u = s * math.sqrt(k2)
    if abs(r) < 1e-6 or abs(u) < 1e-9:
        return _big_phi(r)
    return min(1.0, max(0.0, _big_phi(r) + _phi(r) * (1 / r - 1 / u)))


def impostor_cdf(distance: float) -> float:
    """P(distance between faces of two different people <= ``distance``), real-tail scale applied."""
    scaled = distance * float(settings.MATCH_TAIL_SCALE)
    return weighted_chi2_cdf(scaled * scaled, _weights()[0])


def genuine_cdf(distance: float) -> float:
    """P(distance between two faces of the same person <= ``distance``), per the model."""
    return float(weighted_chi2_cdf(distance * distance, _weights()[1]))


def fpir(threshold: float, gallery_faces: int) -> float:
    """Expected share of strangers matched to someone at ``threshold`` in a gallery of that size."""
    p = impostor_cdf(threshold)
    return -math.expm1(max(gallery_faces, 1) * math.log1p(-min(p, 1 - 1e-16)))


@functools.lru_cache(maxsize=512)
def _threshold(target_fpir: float, gallery_faces: int, tail_scale: float) -> float:
    per_face = -math.expm1(math.log1p(-target_fpir) / max(gallery_faces, 1))
    lo, hi = 0.0, 2.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if impostor_cdf(mid) < per_face:
            lo = mid
        else:
            hi = mid
    return lo


def threshold_for(*, gallery_faces: int, target_fpir: float | None = None) -> float:
    """The largest distance that keeps FPIR within ``target_fpir`` for this gallery size.

    Capped at MATCH_THRESHOLD (the 1:1 threshold): a small gallery never gets a looser rule.
    Gallery sizes are rounded up to 2 significant digits so the cache stays small.
    """
    target = float(target_fpir if target_fpir is not None else settings.TARGET_FPIR)
    if not 0 < target < 1:
        raise ValueError(f"the target FPIR must be between 0 and 1, not {target}")
    n = max(int(gallery_faces), 1)
    digits = max(len(str(n)) - 2, 0)
    n = -(-n // 10**digits) * 10**digits
    t = _threshold(target, n, float(settings.MATCH_TAIL_SCALE))
    return min(t, float(settings.MATCH_THRESHOLD))


def gallery_size(*, pipeline_version: str, refresh: bool = False) -> int:
    """Number of matchable enrolled faces for a pipeline version (cached for GALLERY_SIZE_CACHE_S)."""
    ttl = float(settings.GALLERY_SIZE_CACHE_S)
    now = time.monotonic()
    with _CACHE_LOCK:
        cached = _GALLERY_CACHE.get(pipeline_version)
    if cached and not refresh and now - cached[0] < ttl:
        return cached[1]
    size = matchable_faces(pipeline_version=pipeline_version).count()
    with _CACHE_LOCK:
        _GALLERY_CACHE[pipeline_version] = (now, size)
    return size


def forget_gallery_sizes() -> None:
    """Drop the cached gallery sizes (after a bulk enrolment or erasure)."""
    with _CACHE_LOCK:
        _GALLERY_CACHE.clear()


@dataclass(frozen=True)
class Decision:
    threshold: float
    gallery_faces: int
    target_fpir: float
    proposed: list  # the candidates within the threshold, nearest first

    @property
    def identified(self) -> bool:
        return bool(self.proposed)


def decide(candidates: list, *, pipeline_version: str, target_fpir: float | None = None) -> Decision:
    """Keep the candidates (``matching.Candidate``, nearest first) that the calibrated rule accepts."""
    n = gallery_size(pipeline_version=pipeline_version)
    target = float(target_fpir if target_fpir is not None else settings.TARGET_FPIR)
    t = threshold_for(gallery_faces=n, target_fpir=target)
    return Decision(threshold=t, gallery_faces=n, target_fpir=target,
                    proposed=[c for c in candidates if c.distance <= t])


@dataclass(frozen=True)
class OperatingPoint:
    target_fpir: float
    gallery_faces: int
    threshold: float
    expected_fpir: float
    expected_miss_rate: float  # share of enrolled people's new photos not proposed (model; real is higher)


def operating_point(*, pipeline_version: str, target_fpir: float | None = None) -> OperatingPoint:
    """What the current setting means now: threshold, FPIR, and the missed identifications it costs.

    For the dashboard. The miss rate comes from the model's same-person distances; real
    photos (pose, light, age) miss more: see the TIR that ``evaluate_openset`` measures.
    """
    n = gallery_size(pipeline_version=pipeline_version)
    target = float(target_fpir if target_fpir is not None else settings.TARGET_FPIR)
    t = threshold_for(gallery_faces=n, target_fpir=target)
    return OperatingPoint(target_fpir=target, gallery_faces=n, threshold=t, expected_fpir=fpir(t, n),
                          expected_miss_rate=1.0 - genuine_cdf(t))
