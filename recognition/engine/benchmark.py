"""Speed of the engine, stage by stage, against dlib's own pipeline on the same images.

Run ``python -m recognition.engine.benchmark`` (about 2-4 minutes on 2 CPU cores; ``--quick``
for well under a minute). Test images are made by cover-cropping and resizing the fixture
photos (``tests/fixtures/faces`` or ``--photos DIR``) to 250x250, 640x480 and 1920x1080, and
JPEG-encoding them; every image holds at least one face.

Measured per size, in milliseconds per image (and per face for align/embed):

* ours, batch 1: ``decode_image``, ``FaceDetector.detect``, ``align_face`` + quality, the
  embedder on the faces of one image, and ``FacePipeline.process`` end to end;
* ours, batch 32: ``detect_batch`` (one MTCNN call for same-size images), one embedder call
  for all faces, and ``FacePipeline.process_batch`` end to end;
* dlib (dlib-bin): HOG detector (on the same downscaled copy; upsampled once when it is at
  most 800 pixels, like face_recognition's default), ``shape_predictor_5``,
  ``get_face_chip``, ``compute_face_descriptor``; end to end is their sum plus decode.

Memory: peak resident set size of the process (``getrusage``; includes TensorFlow) after each
size, and the peak of Python/NumPy allocations (``tracemalloc``) during one batch-32 run.
Timings share the machine with whatever else runs on it: compare ratios within one run.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import resource
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from .align import align_face
from .decode import decode_image
from .quality import assess_quality

__all__ = ["main", "make_images"]

logger = logging.getLogger(__name__)

DEFAULT_SIZES = ((250, 250), (640, 480), (1920, 1080))
DEFAULT_PHOTOS = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "faces"


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _cover(img: np.ndarray, w: int, h: int) -> np.ndarray:
    """Centre-crop to the aspect ratio of w x h (keeping the upper part, where faces are), then resize."""
    ih, iw = img.shape[:2]
    target = w / h
    if iw / ih > target:
        cw = round(ih * target)
        x0 = (iw - cw) // 2
        crop = img[:, x0 : x0 + cw]
    else:
        ch = round(iw / target)
        y0 = max(0, min((ih - ch) // 3, ih - ch))
        crop = img[y0 : y0 + ch]
    interp = cv2.INTER_AREA if crop.shape[1] > w else cv2.INTER_CUBIC
    return cv2.resize(crop, (w, h), interpolation=interp)


def make_images(photos: Sequence[Path], size: tuple[int, int], n: int, has_face: Callable) -> list[bytes]:
    """``n`` JPEG images of ``size`` made from the photos (and their mirror images) that contain a face."""
    w, h = size
    candidates = []
    for p in photos:
        img = decode_image(p)
        for variant in (img, np.ascontiguousarray(img[:, ::-1])):
            out = _cover(variant, w, h)
            if has_face(out):
                buf = io.BytesIO()
                Image.fromarray(out).save(buf, format="JPEG", quality=90)
                candidates.append(buf.getvalue())
    if not candidates:
        raise RuntimeError(f"no photo gives a detectable face at {w}x{h}")
    return [candidates[i % len(candidates)] for i in range(n)]


def _timed(fn: Callable[[], object]) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


class DlibReference:
    """dlib's pipeline, stage by stage (dlib-bin; imported lazily)."""

    def __init__(self, max_side: int = 1024, upsample_max_side: int = 800) -> None:
        import dlib
        import face_recognition_models as frm

        self.dlib = dlib
        self.hog = dlib.get_frontal_face_detector()
        self.sp = dlib.shape_predictor(frm.pose_predictor_five_point_model_location())
        self.rec = dlib.face_recognition_model_v1(frm.face_recognition_model_location())
        self.max_side = max_side
        self.upsample_max_side = upsample_max_side

    def detect(self, img: np.ndarray) -> list:
        """HOG rectangles in original pixels."""
        h, w = img.shape[:2]
        scale = min(1.0, self.max_side / max(h, w))
        work = img if scale == 1.0 else cv2.resize(img, (round(w * scale), round(h * scale)),
                                                   interpolation=cv2.INTER_AREA)
        up = 1 if max(work.shape[:2]) <= self.upsample_max_side else 0
        rects = self.hog(work, up)
        if scale == 1.0:
            return list(rects)
        r = self.dlib.rectangle
        return [r(round(x.left() / scale), round(x.top() / scale), round(x.right() / scale),
                  round(x.bottom() / scale)) for x in rects]

    def align(self, img: np.ndarray, rects: list) -> list[np.ndarray]:
        """shape_predictor_5 and dlib's own chip extraction."""
        return [self.dlib.get_face_chip(img, self.sp(img, r), size=150, padding=0.25) for r in rects]

    def embed(self, chips: list[np.ndarray]) -> list[np.ndarray]:
        """compute_face_descriptor on each chip."""
        return [np.asarray(self.rec.compute_face_descriptor(c)) for c in chips]


def _fmt_row(name: str, values: Sequence[float | None], width: int = 14) -> str:
    cells = "".join(f"{'-' if v is None else f'{v:.1f}':>{width}}" for v in values)
    return f"  {name:<22}{cells}"


def run(sizes: Sequence[tuple[int, int]], n: int, batch: int, photos: Sequence[Path], with_dlib: bool,
        repeats: int = 1) -> dict:
    """Run the benchmark; returns the figures and prints a table per size."""
    from .detect import get_detector
    from .pipeline import FacePipeline, embed_chips

    rss0 = _rss_mb()
    t_load, pipe = _timed(lambda: FacePipeline())
    det = pipe.detector
    t_emb_load, emb = _timed(lambda: pipe.embedder)
    det.detect(np.zeros((120, 120, 3), np.uint8))  # loads MTCNN
    dl = DlibReference() if with_dlib else None
    print(f"pipeline {pipe.version}")
    print(f"models loaded: embedder {t_emb_load:.1f} s; RSS {rss0:.0f} -> {_rss_mb():.0f} MB")
    results: dict = {"version": pipe.version, "sizes": {}}
    get_detector()  # same object as det

    def has_face(img: np.ndarray) -> bool:
        return bool(det.detect(img))

    for w, h in sizes:
        jpegs = make_images(photos, (w, h), n, has_face)
        # warm-up for this size (TensorFlow shapes)
        pipe.process(jpegs[0])
        pipe.process_batch(jpegs[: min(batch, len(jpegs))])
        best: dict[str, float] = {}
        faces_total = 0
        for _ in range(repeats):
            r: dict[str, float] = {}
            t, imgs = _timed(lambda jp=jpegs: [decode_image(b) for b in jp])
            r["decode"] = t
            t, dets = _timed(lambda im=imgs: [det.detect(x) for x in im])
            r["detect b1"] = t
            faces_total = sum(len(d) for d in dets)

            def align_all(im=imgs, ds=dets):
                out = []
                for x, dd in zip(im, ds, strict=True):
                    chips = [align_face(x, d.landmarks) for d in dd]
                    for d, c in zip(dd, chips, strict=True):
                        assess_quality(d.box, d.landmarks, d.score, c)
                    out.append(chips)
                return out

            t, chips = _timed(align_all)
            r["align+quality"] = t
            t, _ = _timed(lambda cs=chips: [embed_chips(emb, np.stack(c)) for c in cs if c])
            r["embed b1"] = t
            t, _ = _timed(lambda jp=jpegs: [pipe.process(b) for b in jp])
            r["end-to-end b1"] = t
            t, _ = _timed(lambda im=imgs: [d for s in range(0, len(im), batch)
                                           for d in det.detect_batch(im[s : s + batch])])
            r["detect b32"] = t
            flat = np.stack([c for cs in chips for c in cs])
            t, _ = _timed(lambda f=flat: embed_chips(emb, f, batch_size=batch))
            r["embed b32"] = t
            t, _ = _timed(lambda jp=jpegs: [x for s in range(0, len(jp), batch)
                                            for x in pipe.process_batch(jp[s : s + batch])])
            r["end-to-end b32"] = t
            if dl is not None:
                t, rects = _timed(lambda im=imgs: [dl.detect(x) for x in im])
                r["dlib detect"] = t
                t, dchips = _timed(lambda im=imgs, rs=rects: [dl.align(x, rr)
                                                              for x, rr in zip(im, rs, strict=True)])
                r["dlib align"] = t
                t, _ = _timed(lambda cs=dchips: [dl.embed(c) for c in cs])
                r["dlib embed"] = t
                r["dlib faces"] = sum(len(x) for x in rects)
                r["dlib end-to-end"] = r["decode"] + r["dlib detect"] + r["dlib align"] + r["dlib embed"]
            for k, v in r.items():
                best[k] = min(best.get(k, v), v) if k != "dlib faces" else v
        tracemalloc.start()
        pipe.process_batch(jpegs[: min(batch, len(jpegs))])
        _, traced_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        per_img = {k: v / n * 1000 for k, v in best.items() if k != "dlib faces"}
        per_face = {k: best[k] / max(faces_total, 1) * 1000
                    for k in ("align+quality", "embed b1", "embed b32")}
        if dl is not None:
            per_face["dlib align"] = best["dlib align"] / max(best["dlib faces"], 1) * 1000
            per_face["dlib embed"] = best["dlib embed"] / max(best["dlib faces"], 1) * 1000
        e2e = {
            "ours b1": (n / best["end-to-end b1"], faces_total / best["end-to-end b1"]),
            "ours b32": (n / best["end-to-end b32"], faces_total / best["end-to-end b32"]),
        }
        if dl is not None:
            e2e["dlib"] = (n / best["dlib end-to-end"], best["dlib faces"] / best["dlib end-to-end"])
        size_key = f"{w}x{h}"
        results["sizes"][size_key] = {
            "images": n, "faces_ours": faces_total, "faces_dlib": best.get("dlib faces"),
            "ms_per_image": per_img, "ms_per_face": per_face,
            "images_per_s": {k: v[0] for k, v in e2e.items()},
            "faces_per_s": {k: v[1] for k, v in e2e.items()},
            "peak_rss_mb": _rss_mb(), "tracemalloc_peak_mb_batch": traced_peak / 1e6,
        }
        _print_size(size_key, n, faces_total, best.get("dlib faces"), per_img, per_face, e2e,
                    dl is not None, _rss_mb(), traced_peak / 1e6)
    return results


def _print_size(size_key, n, faces, dlib_faces, per_img, per_face, e2e, with_dlib, rss, traced) -> None:
    print(f"\n== {size_key}: {n} images, {faces} faces (ours)"
          + (f", {dlib_faces} faces (dlib)" if with_dlib else ""))
    head = ["ours b1", "ours b32"] + (["dlib b1", "dlib/ours b1", "dlib/ours b32"] if with_dlib else [])
    print("  ms per image          " + "".join(f"{h:>14}" for h in head))

    def row(name, b1, b32, dk, table):
        o1, o32 = table.get(b1), table.get(b32) if b32 else None
        d = table.get(dk) if with_dlib and dk else None
        vals = [o1, o32]
        if with_dlib:
            vals += [d, (d / o1) if d and o1 else None, (d / o32) if d and o32 else None]
        print(_fmt_row(name, vals))

    row("decode", "decode", None, "decode", per_img)
    row("detect", "detect b1", "detect b32", "dlib detect", per_img)
    row("align+quality / face", "align+quality", None, "dlib align", per_face)
    row("embed / face", "embed b1", "embed b32", "dlib embed", per_face)
    row("end to end", "end-to-end b1", "end-to-end b32", "dlib end-to-end", per_img)
    for k, (ips, fps) in e2e.items():
        print(f"  {k:<10} end to end: {ips:6.2f} images/s, {fps:6.2f} faces/s")
    print(f"  peak RSS so far {rss:.0f} MB; Python/NumPy peak during one batch-32 run {traced:.0f} MB")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m recognition.engine.benchmark``."""
    ap = argparse.ArgumentParser(prog="python -m recognition.engine.benchmark", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="8 images per size instead of 32")
    ap.add_argument("--images", type=int, default=None, help="images per size (default 32, quick 8)")
    ap.add_argument("--sizes", default=",".join(f"{w}x{h}" for w, h in DEFAULT_SIZES),
                    help="comma-separated WxH list")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=1, help="repeat each measurement, keep the best")
    ap.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS, help="folder of photos with faces")
    ap.add_argument("--no-dlib", action="store_true", help="skip dlib's pipeline")
    ap.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = ap.parse_args(argv)
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    n = args.images or (8 if args.quick else 32)
    sizes = [tuple(int(v) for v in s.lower().split("x")) for s in args.sizes.split(",") if s]
    photos = sorted(p for p in args.photos.iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png"})
    if not photos:
        print(f"error: no photos in {args.photos}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    res = run(sizes, n, args.batch, photos, not args.no_dlib, args.repeats)
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
