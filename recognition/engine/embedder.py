"""Face embedder: dlib's ResNet (``dlib_face_recognition_resnet_model_v1``) in TensorFlow.

Usage::

    from recognition.engine.embedder import get_embedder
    vectors = get_embedder().embed(chips)   # chips: (N, 150, 150, 3) uint8 RGB -> (N, 128) float32

The descriptors have the same meaning as dlib's ``compute_face_descriptor`` (not
L2-normalised; Euclidean distance < 0.6 means "same person") and match dlib's to about
1e-6 per value on dlib's own chips.

Weights are read from the ``face-recognition-models`` package on first use, verified by
sha256, converted (affine layers folded into convolutions) and cached as an ``.npz`` in
a cache folder keyed by that sha256; later processes load the cache instead of parsing.
Cache folder: ``cache_dir`` argument, else ``$FACEWEB_MODEL_CACHE``, else
``$XDG_CACHE_HOME/faceweb``, else ``~/.cache/faceweb``. TensorFlow thread count:
``threads`` argument, else ``$FACEWEB_TF_THREADS``, else TensorFlow's default.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from recognition.engine import dlib_format, resnet

logger = logging.getLogger(__name__)

CHIP_SIZE = 150
EMBEDDING_DIM = 128
DEFAULT_MAX_BATCH = 32
ENV_CACHE_DIR = "FACEWEB_MODEL_CACHE"
ENV_THREADS = "FACEWEB_TF_THREADS"

_SOURCE_SHA_KEY = "source_sha256"
_CONTENT_SHA_KEY = "content_sha256"


def default_cache_dir() -> Path:
    """``$FACEWEB_MODEL_CACHE``, else ``$XDG_CACHE_HOME/faceweb``, else ``~/.cache/faceweb``."""
    if os.environ.get(ENV_CACHE_DIR):
        return Path(os.environ[ENV_CACHE_DIR]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "faceweb"


def configure_threads(threads: int | None) -> int | None:
    """Set TensorFlow's intra/inter-op thread pools (``threads`` or ``$FACEWEB_TF_THREADS``).

    Must run before TensorFlow executes anything; afterwards TensorFlow refuses, and a
    warning is logged unless the pools already have the requested size. Returns the
    thread count in effect when one was requested, else None.
    """
    if threads is None and os.environ.get(ENV_THREADS):
        try:
            threads = int(os.environ[ENV_THREADS])
        except ValueError as exc:
            raise ValueError(f"{ENV_THREADS} must be an integer, got {os.environ[ENV_THREADS]!r}") from exc
    if threads is None:
        return None
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    import tensorflow as tf

    cfg = tf.config.threading
    current = (cfg.get_intra_op_parallelism_threads(), cfg.get_inter_op_parallelism_threads())
    if current == (threads, threads):
        return threads
    try:
        cfg.set_intra_op_parallelism_threads(threads)
        cfg.set_inter_op_parallelism_threads(threads)
    except RuntimeError:
        logger.warning(
            "TensorFlow is already initialised; cannot change its thread pools to %d "
            "(intra=%d, inter=%d stay). Set %s before the first TensorFlow use.",
            threads, current[0], current[1], ENV_THREADS,
        )
        return current[0] or None
    return threads


def _content_sha256(arrays: Mapping[str, np.ndarray]) -> str:
    """Digest over names, dtypes, shapes and bytes of the converted arrays (cache integrity)."""
    h = hashlib.sha256()
    for key in sorted(k for k in arrays if k != _CONTENT_SHA_KEY):
        a = np.ascontiguousarray(arrays[key])
        h.update(f"{key}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


class Embedder:
    """dlib's face-embedding network on TensorFlow, with a compiled, batched inference function.

    Attributes:
        weights_sha256: sha256 of the source ``.dat`` file.
        version: pipeline-facing version string, ``"dlib-resnet-v1-<first 8 hex of sha>"``.
        weights_source: ``"dat"`` (parsed and converted now) or ``"cache"`` (loaded from the cache).
        cache_path: where the converted weights are (or would be) cached.
    """

    #: Number of Embedder objects constructed in this process (each one loads weights).
    instances_created = 0

    def __init__(
        self,
        *,
        cache_dir: str | Path | None = None,
        threads: int | None = None,
        max_batch_size: int = DEFAULT_MAX_BATCH,
        weights_path: str | Path | None = None,
    ) -> None:
        """Load (or convert and cache) the weights and compile the inference function.

        Args:
            cache_dir: folder for converted weights; see the module doc for the default.
            threads: TensorFlow intra/inter-op threads (else ``$FACEWEB_TF_THREADS``).
            max_batch_size: largest batch sent to TensorFlow in one call.
            weights_path: the ``.dat`` file; default: the one in ``face_recognition_models``.
                Its sha256 must be :data:`dlib_format.DLIB_RESNET_SHA256`.
        """
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be >= 1, got {max_batch_size}")
        self.threads = configure_threads(threads)
        self.max_batch_size = int(max_batch_size)
        self.weights_sha256: str = dlib_format.DLIB_RESNET_SHA256
        self.version: str = f"dlib-resnet-v1-{self.weights_sha256[:8]}"
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
        self.cache_path = self.cache_dir / f"dlib-resnet-v1-{self.weights_sha256}.npz"
        self._weights_path = weights_path

        t0 = time.perf_counter()
        weights = self._load_cached()
        self.weights_source = "cache"
        if weights is None:
            weights = self._convert_and_cache()
            self.weights_source = "dat"
        self._model = resnet.build_model(weights, input_size=(CHIP_SIZE, CHIP_SIZE))
        self._fn = self._compile()
        type(self).instances_created += 1
        logger.info("embedder %s ready (weights from %s) in %.2fs", self.version, self.weights_source,
                    time.perf_counter() - t0)

    # -- weights -------------------------------------------------------------------------

    def _load_cached(self) -> dict[str, np.ndarray] | None:
        """Load converted weights from the cache; None if absent, stale or damaged."""
        path = self.cache_path
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
            stored = str(arrays.get(_CONTENT_SHA_KEY))
            if str(arrays.get(_SOURCE_SHA_KEY)) != self.weights_sha256:
                raise ValueError("made from another weights file")
            if stored != _content_sha256(arrays):
                raise ValueError("content checksum mismatch")
            if json.loads(str(arrays[resnet.TOPOLOGY_KEY])).get("format") != resnet.CONVERTED_FORMAT:
                raise ValueError("old conversion format")
        except Exception as exc:  # any unreadable cache is rebuilt, never trusted
            logger.warning("ignoring model cache %s: %s", path, exc)
            return None
        logger.debug("loaded converted weights from %s", path)
        return arrays

    def _convert_and_cache(self) -> dict[str, np.ndarray]:
        """Verify and parse the .dat file, convert it, and write the cache (best effort)."""
        net = dlib_format.load(self._weights_path, expected_sha256=self.weights_sha256)
        arrays = resnet.convert(net)
        arrays[_SOURCE_SHA_KEY] = np.array(self.weights_sha256)
        arrays[_CONTENT_SHA_KEY] = np.array(_content_sha256(arrays))
        try:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.cache_dir, prefix=".tmp-", suffix=".npz")
            try:
                with os.fdopen(fd, "wb") as fh:
                    np.savez(fh, **arrays)
                os.replace(tmp, self.cache_path)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
            logger.info("cached converted weights at %s", self.cache_path)
        except OSError as exc:
            logger.warning("could not write model cache in %s: %s (continuing without cache)",
                           self.cache_dir, exc)
        return arrays

    # -- inference -----------------------------------------------------------------------

    def _compile(self) -> Any:
        import tensorflow as tf

        model = self._model

        @tf.function(
            input_signature=[tf.TensorSpec((None, CHIP_SIZE, CHIP_SIZE, 3), tf.uint8, name="chips")],
            reduce_retracing=True,
        )
        def infer(chips: tf.Tensor) -> tf.Tensor:
            return model(chips, training=False)

        infer.get_concrete_function()  # trace now, not on the first request
        return infer

    def embed(self, chips: np.ndarray, *, flip: bool = False) -> np.ndarray:
        """Descriptors of aligned face chips.

        Args:
            chips: ``(N, 150, 150, 3)`` or a single ``(150, 150, 3)`` uint8 RGB array.
            flip: also embed the horizontally mirrored chips and average the two descriptors
                (test-time augmentation; doubles the cost, off by default).

        Returns:
            float32 array ``(N, 128)`` (``(1, 128)`` for a single chip), not normalised.
        """
        arr = np.asarray(chips)
        if arr.ndim == 3:
            arr = arr[None]
        if arr.ndim != 4 or arr.shape[1:] != (CHIP_SIZE, CHIP_SIZE, 3):
            raise ValueError(
                f"chips must have shape (N, {CHIP_SIZE}, {CHIP_SIZE}, 3) or ({CHIP_SIZE}, {CHIP_SIZE}, 3), "
                f"got {arr.shape}"
            )
        if arr.dtype != np.uint8:
            raise TypeError(f"chips must be uint8 RGB, got dtype {arr.dtype}")
        if len(arr) == 0:
            return np.empty((0, EMBEDDING_DIM), np.float32)
        out = self._run(arr)
        if flip:
            out = (out + self._run(arr[:, :, ::-1])) * np.float32(0.5)
        return out

    def _run(self, arr: np.ndarray) -> np.ndarray:
        parts = []
        for start in range(0, len(arr), self.max_batch_size):
            batch = np.ascontiguousarray(arr[start : start + self.max_batch_size])
            parts.append(self._fn(batch).numpy())
        out = parts[0] if len(parts) == 1 else np.concatenate(parts)
        return out.astype(np.float32, copy=False)

    def __repr__(self) -> str:
        return (f"Embedder(version={self.version!r}, source={self.weights_source!r}, "
                f"cache={str(self.cache_path)!r})")


_instance: Embedder | None = None
_instance_kwargs: dict[str, Any] = {}
_instance_lock = threading.Lock()


def get_embedder(**kwargs: Any) -> Embedder:
    """Process-wide shared :class:`Embedder`, created on the first call with ``kwargs``.

    Later calls return the same object without loading anything; if they pass different
    arguments, a warning is logged and the arguments of the first call stay in effect.
    """
    global _instance, _instance_kwargs
    with _instance_lock:
        if _instance is None:
            _instance = Embedder(**kwargs)
            _instance_kwargs = dict(kwargs)
        elif kwargs and kwargs != _instance_kwargs:
            logger.warning("get_embedder(%s) ignored: the shared embedder was created with %s",
                           kwargs, _instance_kwargs)
        return _instance
