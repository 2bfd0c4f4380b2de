"""Face detection with MTCNN (the ``mtcnn`` package, TensorFlow; weights ship in the package).

``get_detector()`` returns a process-wide ``FaceDetector``; every ``FaceDetector`` shares one
MTCNN network, loaded on first use. ``detect`` returns ``Detection`` objects in the pixel
coordinates of the image passed in:

* Large images are detected on a copy downscaled so that the longer side is at most
  ``max_side`` (INTER_AREA), and coordinates are mapped back.
* Small images are upscaled (``upscale_below``, default 200) so that their longer side is at
  least that many pixels before detection; this helps MTCNN on tiny photos (AT&T/ORL 92x112:
  no misses, 98.94% instead of 98.47%).
* ``max_side`` (default 576) bounds the work: MTCNN's cost grows with the working copy's area
  and it looks for faces down to 20 px of the working copy, so in a 1920x1080 photo the
  smallest face found is about 20 * 1920 / 576 = 67 px (3.5% of the longer side): faces
  smaller than that would fail the quality gate's size limits anyway. See docs/engine.md.
* ``min_face_size`` is in original image pixels and filters the results; MTCNN's own image
  pyramid is built for ``MIN_PYRAMID_FACE``-pixel faces of the working copy, so on a
  downscaled copy the effective minimum can be larger, namely ``MIN_PYRAMID_FACE / scale``.
* ``detect_batch`` runs MTCNN once over many images of the same size (the stages are
  vectorised over the batch: several times faster per image for small images).
* The stages' Keras models are wrapped in ``tf.function`` (see ``_compile_stages``): about
  3x faster than the package's eager calls, same outputs.
* ``_patch_package`` converts the normalised image to a tensor once per call instead of once
  per pyramid level and stage (same outputs, about 30% faster) and fixes the package's scale
  pyramid for minimum faces above 20 px.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import metadata

import cv2
import numpy as np

__all__ = [
    "DEFAULT_MAX_SIDE",
    "DEFAULT_MIN_FACE_SIZE",
    "DEFAULT_SCALE_FACTOR",
    "DEFAULT_THRESHOLDS",
    "DEFAULT_UPSCALE_BELOW",
    "Detection",
    "FaceDetector",
    "get_detector",
]

logger = logging.getLogger(__name__)

DEFAULT_MAX_SIDE = 576
"""Images whose longer side exceeds this are detected on a downscaled copy."""

DEFAULT_MIN_FACE_SIZE = 20
"""Smallest face (box side, original pixels) that is reported."""

DEFAULT_THRESHOLDS = (0.6, 0.7, 0.8)
"""MTCNN's P-Net, R-Net, O-Net score thresholds (the package defaults)."""

MIN_PYRAMID_FACE = 20
"""The smallest face, in working-copy pixels, that MTCNN's pyramid is built for (its default)."""

DEFAULT_UPSCALE_BELOW = 200
"""Images whose longer side is below this are upscaled to it before detection (evaluator: fewer
misses on small photos, e.g. AT&T/ORL's 92x112, and higher accuracy)."""

PACKAGE_SCALE_FACTOR = 0.709
DEFAULT_SCALE_FACTOR = PACKAGE_SCALE_FACTOR
"""Ratio between the pyramid levels."""

DEFAULT_BATCH_SIZE = 64

BATCH_MAX_PIXELS = 400 * 400
"""Only working images up to this many pixels are batched in ``detect_batch``: for larger
ones a batched MTCNN call was measured slower per image than single calls (its pyramid
tensors grow with the batch), so they are detected one by one."""

_NET = None
_NET_LOCK = threading.Lock()
_NET_LOADS = 0
_DETECTORS: dict[tuple, FaceDetector] = {}


def _mtcnn_version() -> str:
    try:
        return metadata.version("mtcnn")
    except metadata.PackageNotFoundError:  # pragma: no cover
        return "unknown"


def _get_net():
    """The process-wide MTCNN network (loaded on first call, thread-safe)."""
    global _NET, _NET_LOADS
    if _NET is None:
        with _NET_LOCK:
            if _NET is None:
                os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
                from mtcnn import MTCNN  # heavy: imports TensorFlow

                from recognition.engine.embedder import configure_threads

                # TensorFlow fixes its thread pools at first use, which is here when the
                # detector loads before the embedder: apply FACEWEB_TF_THREADS now.
                configure_threads(None)

                logger.info("Loading MTCNN %s", _mtcnn_version())
                net = MTCNN()
                _compile_stages(net)
                _patch_package()
                _NET = net
                _NET_LOADS += 1
    return _NET


def _compile_stages(net) -> None:
    """Run each MTCNN stage's Keras model through one ``tf.function`` instead of eager calls.

    mtcnn 1.0.0 calls its three Keras models eagerly (P-Net once per pyramid scale), and on
    CPU the per-call overhead dominates: compiled, detection is about 3x faster (measured:
    250x250 271 -> 87 ms, 480x600 632 -> 217 ms, batch of 32 133 -> 50 ms per image) with
    identical outputs. The input signature leaves every dimension but the channels free, so
    each stage is traced once per process. If the package's internals differ (another
    version), the stages are left as they are.
    """
    import tensorflow as tf

    for stage in getattr(net, "stages", []):
        model = getattr(stage, "_model", None)
        if model is None or isinstance(model, tf.types.experimental.GenericFunction):
            continue

        def call(x, _model=model):
            return _model(x, training=False)

        stage._model = tf.function(
            call, input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)], reduce_retracing=True
        )


def _scale_pyramid(width, height, min_face_size, scale_factor, min_size=12):
    """MTCNN's pyramid scales, stopping where the scaled image's shorter side drops below ``min_size``.

    mtcnn 1.0.0's ``build_scale_pyramid`` counts its levels from the image size alone, ignoring
    ``min_face_size``: with a minimum face above 20 px its last levels are smaller than P-Net's
    12x12 window and the stage fails. Same scales otherwise.
    """
    scales = []
    s = min_size / min_face_size
    d = min(width, height)
    while d * s >= min_size and len(scales) < 64:
        scales.append(s)
        s *= scale_factor
    return np.asarray(scales, dtype=np.float64)


def _patch_package() -> None:
    """Two fixes to mtcnn 1.0.0's internals (left alone if they differ, e.g. another version).

    * ``standarize_batch`` returns a float64 NumPy array that every pyramid level and every
      R-Net/O-Net crop converts to a tensor again (about 10 copies of the image per call, a
      quarter of the detection time on a 640x360 image). Here it is converted once to float32:
      the values ``(pixel - 127.5) / 128`` are exact in float32, so the outputs are unchanged.
    * the scale pyramid (``_scale_pyramid``).
    """
    import mtcnn.mtcnn as mm
    import tensorflow as tf

    try:
        import mtcnn.stages.stage_pnet as sp
    except ImportError:  # pragma: no cover
        sp = None
    orig = getattr(mm, "standarize_batch", None)
    if orig is not None and not getattr(orig, "_faceweb", False):
        def standarize_batch(images_raw, normalize=True, justification="center"):
            images, oshapes, pad = orig(images_raw, normalize=False, justification=justification)
            images = np.asarray(images, dtype=np.float32)
            if normalize:
                images = (images - np.float32(127.5)) / np.float32(128.0)
            return tf.convert_to_tensor(images), oshapes, pad

        standarize_batch._faceweb = True
        mm.standarize_batch = standarize_batch
    if sp is not None and hasattr(sp, "build_scale_pyramid"):
        sp.build_scale_pyramid = _scale_pyramid


def net_load_count() -> int:
    """How many times the MTCNN network was loaded in this process (0 or 1)."""
    return _NET_LOADS


@dataclass(frozen=True, eq=False)
class Detection:
    """One detected face, in the pixel coordinates of the image given to the detector.

    Attributes:
        box: (x, y, w, h), x/y the top-left corner; floats.
        landmarks: (5, 2) float32: left_eye, right_eye, nose, mouth_left, mouth_right,
            where left/right mean image-left/image-right.
        score: detector confidence (O-Net probability), 0..1.
    """

    box: tuple[float, float, float, float]
    landmarks: np.ndarray = field(repr=False)
    score: float

    @property
    def size(self) -> float:
        """Shorter side of the box, in pixels."""
        return float(min(self.box[2], self.box[3]))

    @property
    def area(self) -> float:
        """Box area in square pixels."""
        return float(self.box[2] * self.box[3])

    @property
    def center(self) -> tuple[float, float]:
        """Box centre (x, y)."""
        x, y, w, h = self.box
        return (x + w / 2.0, y + h / 2.0)

    def to_dict(self) -> dict:
        """JSON-friendly representation."""
        return {
            "box": [round(float(v), 2) for v in self.box],
            "landmarks": np.round(self.landmarks.astype(float), 2).tolist(),
            "score": round(float(self.score), 5),
        }


class FaceDetector:
    """MTCNN face detector with image-size handling. Cheap to construct; the network is shared."""

    def __init__(
        self,
        *,
        max_side: int = DEFAULT_MAX_SIDE,
        min_face_size: int = DEFAULT_MIN_FACE_SIZE,
        thresholds: tuple[float, float, float] = DEFAULT_THRESHOLDS,
        upscale_below: int = DEFAULT_UPSCALE_BELOW,
        batch_size: int = DEFAULT_BATCH_SIZE,
        scale_factor: float = DEFAULT_SCALE_FACTOR,
    ) -> None:
        """Configure a detector.

        Args:
            max_side: longer-side limit of the working copy (downscale above it).
            min_face_size: smallest reported face, box short side in original pixels.
            thresholds: P-Net, R-Net, O-Net thresholds.
            upscale_below: if > 0, images whose longer side is below it are upscaled to it.
            batch_size: images per MTCNN call in ``detect_batch``.
            scale_factor: ratio between MTCNN's pyramid levels (0.709 = the package's default).
        """
        if max_side < 64:
            raise ValueError("max_side must be at least 64")
        if not 0.3 <= scale_factor <= 0.9:
            raise ValueError("scale_factor must be within 0.3..0.9")
        self.scale_factor = float(scale_factor)
        self.max_side = int(max_side)
        self.min_face_size = int(min_face_size)
        self.thresholds = tuple(float(t) for t in thresholds)
        self.upscale_below = int(upscale_below)
        self.batch_size = int(batch_size)

    @property
    def version(self) -> str:
        """Names the detector and every parameter that changes its output."""
        t = "/".join(f"{v:g}" for v in self.thresholds)
        up = f",up{self.upscale_below}" if self.upscale_below else ""
        sf = f",sf{self.scale_factor:g}" if self.scale_factor != PACKAGE_SCALE_FACTOR else ""
        return f"mtcnn-{_mtcnn_version()}(max{self.max_side},min{self.min_face_size},t{t}{up}{sf})"

    @property
    def net(self):
        """The shared MTCNN network (loads it on first access)."""
        return _get_net()

    def _scale_for(self, h: int, w: int) -> float:
        side = max(h, w)
        if side > self.max_side:
            return self.max_side / side
        if self.upscale_below and side < self.upscale_below:
            return self.upscale_below / side
        return 1.0

    @staticmethod
    def _check_image(image: np.ndarray) -> np.ndarray:
        if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError("expected an HxWx3 RGB array (use decode_image first)")
        if image.dtype != np.uint8:
            raise ValueError(f"expected uint8 pixels, got {image.dtype}")
        return image

    def _kwargs(self, scale: float) -> dict:
        # The pyramid is always built for MIN_PYRAMID_FACE-pixel faces of the working copy:
        # mtcnn 1.0.0 fails inside P-Net on small images when min_face_size is larger (e.g.
        # >= 30 on 200x164) and reports that as "no face". min_face_size filters afterwards.
        return {
            "min_face_size": MIN_PYRAMID_FACE,
            "scale_factor": self.scale_factor,
            "threshold_pnet": self.thresholds[0],
            "threshold_rnet": self.thresholds[1],
            "threshold_onet": self.thresholds[2],
        }

    def _run(self, images: list[np.ndarray], scale: float) -> np.ndarray:
        """Run MTCNN on same-shape working images; returns its (n, 16) array (image id first)."""
        if min(images[0].shape[:2]) < 12:
            return np.empty((0, 16))
        arg = images if len(images) > 1 else images[0]
        try:
            out = self.net.detect_faces(
                arg, output_type="numpy", box_format="xyxy", fit_to_image=True, **self._kwargs(scale)
            )
        except (ValueError, IndexError) as exc:  # degenerate pyramids on odd sizes
            logger.warning("MTCNN failed on %d image(s) of shape %s: %s", len(images), images[0].shape, exc)
            return np.empty((0, 16))
        out = np.asarray(out, dtype=np.float64)
        if out.ndim == 1:
            out = out.reshape(-1, 16) if out.size else np.empty((0, 16))
        return out

    def _to_detections(self, rows: np.ndarray, scale: float) -> list[Detection]:
        result = []
        for r in rows:
            x1, y1, x2, y2 = (float(v) / scale for v in r[1:5])
            w, h = x2 - x1, y2 - y1
            if min(w, h) < self.min_face_size or w <= 0 or h <= 0:
                continue
            lm = np.stack([r[6:11], r[11:16]], axis=1) / scale
            result.append(Detection(box=(x1, y1, w, h), landmarks=lm.astype(np.float32), score=float(r[5])))
        result.sort(key=lambda d: -d.score)
        return result

    def _prepare(self, image: np.ndarray) -> tuple[np.ndarray, float]:
        h, w = image.shape[:2]
        scale = self._scale_for(h, w)
        if scale == 1.0:
            return image, 1.0
        nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        work = cv2.resize(image, (nw, nh), interpolation=interp)
        # Use the exact per-axis ratio actually applied (rounding), averaged: the error is < 0.5 px.
        return work, (nw / w + nh / h) / 2.0

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Detect the faces in one HxWx3 uint8 RGB image, most confident first."""
        image = self._check_image(image)
        work, scale = self._prepare(image)
        rows = self._run([work], scale)
        return self._to_detections(rows, scale)

    def detect_batch(self, images: Sequence[np.ndarray]) -> list[list[Detection]]:
        """Detect faces in many images; same-size small images go through MTCNN together.

        Returns one list of detections per input image, in input order.
        """
        results: list[list[Detection]] = [[] for _ in images]
        groups: dict[tuple[int, int], list[int]] = {}
        prepared: list[tuple[np.ndarray, float]] = []
        for i, img in enumerate(images):
            work, scale = self._prepare(self._check_image(img))
            prepared.append((work, scale))
            groups.setdefault(work.shape[:2], []).append(i)
        for shape, idx in groups.items():
            step = self.batch_size if shape[0] * shape[1] <= BATCH_MAX_PIXELS else 1
            for start in range(0, len(idx), step):
                chunk = idx[start : start + step]
                # Same working shape; scales are equal up to rounding, use each image's own.
                rows = self._run([prepared[i][0] for i in chunk], prepared[chunk[0]][1])
                for j, i in enumerate(chunk):
                    results[i] = self._to_detections(rows[rows[:, 0] == j], prepared[i][1])
        return results


def get_detector(**kwargs) -> FaceDetector:
    """Process-wide ``FaceDetector`` for these settings (one per distinct settings; one network in all)."""
    key = tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in kwargs.items()))
    det = _DETECTORS.get(key)
    if det is None:
        with _NET_LOCK:
            det = _DETECTORS.get(key)
            if det is None:
                det = FaceDetector(**kwargs)
                _DETECTORS[key] = det
    return det
