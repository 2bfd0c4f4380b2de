"""Benchmark the embedder against dlib: ``python -m bench.embed``.

Reports milliseconds per face for our TensorFlow embedder at batch 1 and batch 32 and
for dlib's ``compute_face_descriptor`` on the same 150x150 chips (dlib is imported only
here, lazily, and is optional: without ``dlib-bin`` its line is skipped).
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable

import numpy as np

logger = logging.getLogger(__name__)


def _ms_per_face(fn: Callable[[], object], faces_per_call: int, min_seconds: float) -> float:
    """Best-of-3 timing of repeated calls, each run lasting at least ``min_seconds``."""
    fn()  # warm up
    best = float("inf")
    for _ in range(3):
        calls = 0
        t0 = time.perf_counter()
        while True:
            fn()
            calls += 1
            elapsed = time.perf_counter() - t0
            if elapsed >= min_seconds:
                break
        best = min(best, elapsed / (calls * faces_per_call))
    return best * 1000.0


def run_benchmark(*, threads: int | None = None, min_seconds: float = 2.0,
                  with_dlib: bool = True) -> dict[str, float]:
    """Time the embedder (batch 1 and 32) and dlib; return ms/face figures and the ratios."""
    from recognition.engine.embedder import get_embedder

    embedder = get_embedder(threads=threads)
    rng = np.random.default_rng(0)
    chips = rng.integers(0, 256, size=(32, 150, 150, 3), dtype=np.uint8)
    results = {
        "ours_b1_ms": _ms_per_face(lambda: embedder.embed(chips[:1]), 1, min_seconds),
        "ours_b32_ms": _ms_per_face(lambda: embedder.embed(chips), 32, min_seconds),
    }
    if with_dlib:
        try:
            import dlib
        except ImportError:
            logger.warning("dlib is not installed: skipping the reference timing")
        else:
            from recognition.engine.dlib_format import default_model_path

            facerec = dlib.face_recognition_model_v1(str(default_model_path()))
            chip = np.ascontiguousarray(chips[0])
            results["dlib_ms"] = _ms_per_face(lambda: facerec.compute_face_descriptor(chip), 1, min_seconds)
            results["speedup_b1"] = results["dlib_ms"] / results["ours_b1_ms"]
            results["speedup_b32"] = results["dlib_ms"] / results["ours_b32_ms"]
    return results


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point: log the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None, help="TensorFlow threads")
    parser.add_argument("--seconds", type=float, default=2.0, help="minimum seconds per timing run")
    parser.add_argument("--no-dlib", action="store_true", help="skip the dlib reference timing")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    r = run_benchmark(threads=args.threads, min_seconds=args.seconds, with_dlib=not args.no_dlib)
    logger.info("ours  batch 1 : %7.2f ms/face", r["ours_b1_ms"])
    logger.info("ours  batch 32: %7.2f ms/face", r["ours_b32_ms"])
    if "dlib_ms" in r:
        logger.info("dlib          : %7.2f ms/face", r["dlib_ms"])
        logger.info("speed-up vs dlib: %.1fx at batch 1, %.1fx at batch 32",
                    r["speedup_b1"], r["speedup_b32"])


if __name__ == "__main__":
    main()
