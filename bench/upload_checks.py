"""Cost of the upload-time image checks and metadata stripping, per photo size.

``python -m bench.upload_checks [--repeat 5]``: synthetic camera-like JPEGs (with EXIF and
GPS) of 2, 8 and 12 MP, and a 12 MP one with an EXIF rotation; prints the median time of
``check_upload`` and ``strip_metadata`` (what an upload request spends on them) per size.
"""

from __future__ import annotations

import argparse
import io
import statistics
import time

import numpy as np
from PIL import Image

from recognition.engine.upload import check_upload, strip_metadata

SIZES = {"2 MP": (1600, 1200, 1), "8 MP": (3264, 2448, 1), "12 MP": (4032, 3024, 1),
         "12 MP rotated": (4032, 3024, 6)}
LIMITS = {"max_bytes": 50_000_000, "max_pixels": 40_000_000}


def camera_jpeg(width: int, height: int, orientation: int, rng: np.random.Generator) -> bytes:
    """Smooth noise (about a photo's compressibility) with EXIF orientation and a GPS position."""
    small = rng.integers(0, 255, (height // 16, width // 16, 3), dtype=np.uint8)
    image = Image.fromarray(small).resize((width, height), Image.BILINEAR)
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif.get_ifd(0x8825).update({1: "N", 2: (48.0, 51.0, 24.0)})
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90, exif=exif.tobytes())
    return out.getvalue()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    for label, (width, height, orientation) in SIZES.items():
        raw = camera_jpeg(width, height, orientation, rng)
        checks, strips = [], []
        for _ in range(args.repeat):
            start = time.perf_counter()
            info = check_upload(raw, **LIMITS)
            checks.append(time.perf_counter() - start)
            start = time.perf_counter()
            strip_metadata(raw, info, **LIMITS)
            strips.append(time.perf_counter() - start)
        check_ms, strip_ms = statistics.median(checks) * 1e3, statistics.median(strips) * 1e3
        print(f"{label:14s} {len(raw) / 1e6:4.1f} MB  check_upload {check_ms:7.1f} ms  "
              f"strip_metadata {strip_ms:7.1f} ms")


if __name__ == "__main__":
    main()
