"""Speed of the engine, stage by stage, against dlib's own pipeline on the same images.

Run ``python -m bench.engine_benchmark`` (about 3 minutes on a quiet 2-core machine,
longer under load; ``--quick`` for a CI-size run of well under a minute). Test images are made
by cover-cropping and resizing the fixture photos (``tests/fixtures/faces`` or ``--photos DIR``)
to 250x250, 640x480 and 1920x1080, and JPEG-encoding them; every image holds at least one face.

Measured per size, in milliseconds per image (and per face for align/embed):

* ours, batch 1: ``decode_image``, ``FaceDetector.detect``, ``align_face`` + quality, the
  embedder on the faces of one image, and ``FacePipeline.process`` end to end;
* ours, batch 32: ``detect_batch`` (one MTCNN call for same-size small images), one embedder
  call for all faces, and ``FacePipeline.process_batch`` end to end;
* dlib (dlib-bin, one thread): HOG detector on a copy whose longer side is at most 1024
  (upsampled once when that copy is at most 800 pixels, like face_recognition's default),
  ``shape_predictor_5``, ``get_face_chip``, ``compute_face_descriptor``; end to end is their
  sum plus the same decode.

Every model is warmed up (compiled functions traced, shapes seen) before timing. Each
measurement is repeated (``--repeats``, default 2) and the best kept; ours and dlib's are
interleaved (the order alternates between repeats) so that a change in the machine's load
hits both. The load average is printed with every size. The summary checks the three targets:

(a) embedding per face at least 20x faster than dlib's ``compute_face_descriptor`` (ours
    batched, the way the pipeline embeds; batch 1 is shown too);
(b) end to end at least 2x dlib's images per second at every size (ours one image at a time
    and batched, both shown and judged);
(c) evaluator accuracy (10-fold) at least dlib's on the devsets (``--devset DIR`` or
    ``$FACEWEB_DEVSET``: its deepface pairs and att_orl), both run in this process;
    skipped by ``--quick`` and ``--no-accuracy``.

Memory: peak resident set size of the process (``getrusage``; includes TensorFlow) after each
size, and the peak of Python/NumPy allocations (``tracemalloc``) during one batch-32 run.
Timings share the machine with whatever else runs on it: compare ratios within one run.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import resource
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from bench.evaluate import DlibMethod
from recognition.engine.align import align_face
from recognition.engine.decode import decode_image
from recognition.engine.quality import assess_quality

__all__ = ["main", "make_images"]

logger = logging.getLogger(__name__)

DEFAULT_SIZES = ((250, 250), (640, 480), (1920, 1080))
DEFAULT_PHOTOS = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "faces"
DEFAULT_DEVSET = os.environ.get("FACEWEB_DEVSET", "")
"""Devset folder for the accuracy check: ``--devset`` or ``$FACEWEB_DEVSET`` (none: check skipped)."""
EMBED_TARGET = 20.0
E2E_TARGET = 2.0


def _load() -> str:
    try:
        return "load {:.1f}/{:.1f}/{:.1f}".format(*os.getloadavg())
    except OSError:  # pragma: no cover
        return "load n/a"


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


class DlibReference(DlibMethod):
    """dlib's pipeline (the evaluator's reference, same detector settings), split into stages."""

    def detect_rects(self, img: np.ndarray) -> list:
        """HOG boxes as dlib rectangles in original pixels."""
        r = self.dlib.rectangle
        return [r(round(x), round(y), round(x + w), round(y + h)) for x, y, w, h in self.detect(img)]

    def align(self, img: np.ndarray, rects: list) -> list[np.ndarray]:
        """shape_predictor_5 and dlib's own chip extraction."""
        return [self.dlib.get_face_chip(img, self.sp(img, r), size=150, padding=0.25) for r in rects]

    def embed(self, chips: list[np.ndarray]) -> list[np.ndarray]:
        """compute_face_descriptor on each chip."""
        return [np.asarray(self.rec.compute_face_descriptor(c)) for c in chips]


def _fmt_row(name: str, values: Sequence[float | None], width: int = 14) -> str:
    cells = "".join(f"{'-' if v is None else f'{v:.1f}':>{width}}" for v in values)
    return f"  {name:<22}{cells}"


def _ours_once(r: dict, pipe, det, emb, jpegs: list[bytes], batch: int) -> tuple[list, list]:
    """One timing pass of our stages; fills ``r`` (seconds) and returns the images and chips."""
    from recognition.engine.pipeline import embed_chips

    t, imgs = _timed(lambda: [decode_image(b) for b in jpegs])
    r["decode"] = t
    t, dets = _timed(lambda: [det.detect(x) for x in imgs])
    r["detect b1"] = t
    r["faces"] = sum(len(d) for d in dets)

    def align_all():
        out = []
        for x, dd in zip(imgs, dets, strict=True):
            chips = [align_face(x, d.landmarks) for d in dd]
            for d, c in zip(dd, chips, strict=True):
                assess_quality(d.box, d.landmarks, d.score, c)
            out.append(chips)
        return out

    t, chips = _timed(align_all)
    r["align+quality"] = t
    t, _ = _timed(lambda: [embed_chips(emb, np.stack(c)) for c in chips if c])
    r["embed b1"] = t
    t, _ = _timed(lambda: [pipe.process(b) for b in jpegs])
    r["end-to-end b1"] = t
    t, _ = _timed(lambda: [d for s in range(0, len(imgs), batch)
                           for d in det.detect_batch(imgs[s : s + batch])])
    r["detect b32"] = t
    flat = np.stack([c for cs in chips for c in cs])
    t, _ = _timed(lambda: embed_chips(emb, flat, batch_size=batch))
    r["embed b32"] = t
    t, _ = _timed(lambda: [x for s in range(0, len(jpegs), batch)
                           for x in pipe.process_batch(jpegs[s : s + batch])])
    r["end-to-end b32"] = t
    return imgs, chips


def _dlib_once(r: dict, dl: DlibReference, jpegs: list[bytes]) -> None:
    """One timing pass of dlib's stages (decode timed again so both sides pay the same)."""
    t, imgs = _timed(lambda: [decode_image(b) for b in jpegs])
    r["dlib decode"] = t
    t, rects = _timed(lambda: [dl.detect_rects(x) for x in imgs])
    r["dlib detect"] = t
    t, dchips = _timed(lambda: [dl.align(x, rr) for x, rr in zip(imgs, rects, strict=True)])
    r["dlib align"] = t
    t, _ = _timed(lambda: [dl.embed(c) for c in dchips])
    r["dlib embed"] = t
    r["dlib faces"] = sum(len(x) for x in rects)
    r["dlib end-to-end"] = r["dlib decode"] + r["dlib detect"] + r["dlib align"] + r["dlib embed"]


def run(sizes: Sequence[tuple[int, int]], n: int, batch: int, photos: Sequence[Path], with_dlib: bool,
        repeats: int = 2) -> dict:
    """Run the benchmark; returns the figures and prints a table per size."""
    from recognition.engine.pipeline import FacePipeline, embed_chips

    rss0 = _rss_mb()
    pipe = FacePipeline()
    det = pipe.detector
    t_emb_load, emb = _timed(lambda: pipe.embedder)
    det.detect(np.zeros((120, 120, 3), np.uint8))  # loads MTCNN
    dl = DlibReference() if with_dlib else None
    threads = _tf_threads()
    print(f"pipeline {pipe.version}")
    print(f"TensorFlow threads intra/inter {threads[0]}/{threads[1]} (0 = TensorFlow's default, one per "
          f"core; {os.cpu_count()} CPUs); dlib-bin runs on one thread")
    print(f"models loaded: embedder {t_emb_load:.1f} s; RSS {rss0:.0f} -> {_rss_mb():.0f} MB; {_load()}")
    results: dict = {"version": pipe.version, "threads": threads, "sizes": {}}

    def has_face(img: np.ndarray) -> bool:
        return bool(det.detect(img))

    for w, h in sizes:
        jpegs = make_images(photos, (w, h), n, has_face)
        # warm-up for this size: compiled functions see every shape they will see when timed
        warm = jpegs[: min(batch, len(jpegs))]
        pipe.process(jpegs[0])
        pipe.process_batch(warm)
        embed_chips(emb, np.zeros((1, 150, 150, 3), np.uint8))
        if dl is not None:
            _dlib_once({}, dl, jpegs[:2])
        load_before = _load()
        best: dict[str, float] = {}
        for rep in range(repeats):
            r: dict[str, float] = {}
            order = ["ours", "dlib"] if rep % 2 == 0 else ["dlib", "ours"]
            for who in order:
                if who == "ours":
                    _ours_once(r, pipe, det, emb, jpegs, batch)
                elif dl is not None:
                    _dlib_once(r, dl, jpegs)
            for k, v in r.items():
                best[k] = v if k.endswith("faces") else min(best.get(k, v), v)
        load_after = _load()
        tracemalloc.start()
        pipe.process_batch(jpegs[: min(batch, len(jpegs))])
        _, traced_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        faces_total = int(best["faces"])
        per_img = {k: v / n * 1000 for k, v in best.items() if not k.endswith("faces")}
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
            "load_before": load_before, "load_after": load_after,
        }
        _print_size(size_key, n, faces_total, best.get("dlib faces"), per_img, per_face, e2e,
                    dl is not None, _rss_mb(), traced_peak / 1e6)
        print(f"  {load_before} before, {load_after} after")
    return results


def _tf_threads() -> tuple[int, int]:
    import tensorflow as tf

    cfg = tf.config.threading
    return cfg.get_intra_op_parallelism_threads(), cfg.get_inter_op_parallelism_threads()


def _print_size(size_key, n, faces, dlib_faces, per_img, per_face, e2e, with_dlib, rss, traced) -> None:
    print(f"\n== {size_key}: {n} images, {faces} faces (ours)"
          + (f", {dlib_faces} faces (dlib)" if with_dlib else ""))
    head = ["ours b1", "ours b32"] + (["dlib", "dlib/ours b1", "dlib/ours b32"] if with_dlib else [])
    print("  ms per image          " + "".join(f"{h:>14}" for h in head))

    def row(name, b1, b32, dk, table):
        o1, o32 = table.get(b1), table.get(b32) if b32 else None
        d = table.get(dk) if with_dlib and dk else None
        vals = [o1, o32]
        if with_dlib:
            vals += [d, (d / o1) if d and o1 else None, (d / o32) if d and o32 else None]
        print(_fmt_row(name, vals))

    row("decode", "decode", None, "dlib decode", per_img)
    row("detect", "detect b1", "detect b32", "dlib detect", per_img)
    row("align+quality / face", "align+quality", None, "dlib align", per_face)
    row("embed / face", "embed b1", "embed b32", "dlib embed", per_face)
    row("end to end", "end-to-end b1", "end-to-end b32", "dlib end-to-end", per_img)
    for k, (ips, fps) in e2e.items():
        print(f"  {k:<10} end to end: {ips:6.2f} images/s, {fps:6.2f} faces/s")
    print(f"  peak RSS so far {rss:.0f} MB; Python/NumPy peak during one batch-32 run {traced:.0f} MB")


def accuracy(devset: Path, detector_kwargs: dict) -> dict[str, dict[str, float]]:
    """10-fold accuracy of ours and dlib's on the devset's deepface pairs and att_orl folders.

    Returns ``{set: {"ours": acc, "dlib": acc, "ours_misses": n, "dlib_misses": n}}`` for the
    sets found under ``devset``.
    """
    from bench.evaluate import (
        DlibMethod,
        OursMethod,
        assign_folds,
        compute_metrics,
        folder_pairs,
        read_csv_pairs,
        score_pairs,
    )

    sets = []
    if (devset / "deepface" / "pairs_all.csv").is_file():
        sets.append(("deepface", lambda: read_csv_pairs(devset / "deepface" / "pairs_all.csv")))
    if (devset / "att_orl").is_dir():
        sets.append(("att_orl", lambda: folder_pairs(devset / "att_orl")))
    out: dict[str, dict[str, float]] = {}
    ours = OursMethod(detector_kwargs)
    dl = DlibMethod()
    for name, load in sets:
        pairs = assign_folds(load(), 10, 0)
        paths = sorted({p.a for p in pairs} | {p.b for p in pairs})
        index = {p: i for i, p in enumerate(paths)}
        res: dict[str, float] = {}
        t0 = time.perf_counter()
        embs = ours.embed(paths)
        t1 = time.perf_counter()
        d, y, f, _ = score_pairs(pairs, index, embs, "centre")
        res["ours"] = compute_metrics(d, y, f).cv_accuracy_mean
        res["ours_misses"] = sum(not e.found for e in embs)
        dembs = dl.embed(paths)
        t2 = time.perf_counter()
        d, y, f, _ = score_pairs(pairs, index, dembs, "centre")
        res["dlib"] = compute_metrics(d, y, f).cv_accuracy_mean
        res["dlib_misses"] = sum(not e.found for e in dembs)
        res["pairs"], res["images"] = len(pairs), len(paths)
        res["ours_s"], res["dlib_s"] = t1 - t0, t2 - t1
        out[name] = res
        print(f"\n== accuracy {name}: {len(pairs)} pairs, {len(paths)} images; 10-fold accuracy "
              f"ours {res['ours'] * 100:.2f}% ({res['ours_misses']} misses, {t1 - t0:.0f} s), "
              f"dlib {res['dlib'] * 100:.2f}% ({res['dlib_misses']} misses, {t2 - t1:.0f} s); {_load()}")
    return out


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("PASS" if ok else "FAIL")


def summary(res: dict, acc: dict | None) -> list[str]:
    """The summary table: ratios against dlib and PASS/FAIL for the three targets."""
    lines = ["", "== summary (ratios are dlib time / our time, measured in this run)",
             f"  {'size':<11}{'embed b1':>10}{'embed b32':>11}{'e2e b1':>9}{'e2e b32':>9}"
             f"{'img/s b1':>10}{'img/s b32':>11}{'img/s dlib':>12}"]
    emb_ok: list[bool] = []
    e2e_ok = {"b1": [], "b32": []}
    for size, r in res["sizes"].items():
        pf, ips = r["ms_per_face"], r["images_per_s"]
        if "dlib" not in ips:
            lines.append(f"  {size:<11}(no dlib)")
            continue
        eb1 = pf["dlib embed"] / pf["embed b1"]
        eb32 = pf["dlib embed"] / pf["embed b32"]
        r1, r32 = ips["ours b1"] / ips["dlib"], ips["ours b32"] / ips["dlib"]
        emb_ok.append(eb32 >= EMBED_TARGET)
        e2e_ok["b1"].append(r1 >= E2E_TARGET)
        e2e_ok["b32"].append(r32 >= E2E_TARGET)
        lines.append(f"  {size:<11}{eb1:>9.1f}x{eb32:>10.1f}x{r1:>8.1f}x{r32:>8.1f}x"
                     f"{ips['ours b1']:>10.2f}{ips['ours b32']:>11.2f}{ips['dlib']:>12.2f}")
    lines.append("")
    a = all(emb_ok) if emb_ok else None
    lines.append(f"  (a) embedding >= {EMBED_TARGET:g}x dlib per face (ours batched, every size): "
                 f"{_verdict(a)}")
    b1 = all(e2e_ok["b1"]) if e2e_ok["b1"] else None
    b32 = all(e2e_ok["b32"]) if e2e_ok["b32"] else None
    lines.append(f"  (b) end to end >= {E2E_TARGET:g}x dlib's images/s at every size: "
                 f"one image at a time {_verdict(b1)}, batched {_verdict(b32)}")
    if acc:
        ok = all(v["ours"] >= v["dlib"] for v in acc.values())
        detail = "; ".join(f"{k} ours {v['ours'] * 100:.2f}% vs dlib {v['dlib'] * 100:.2f}%"
                           for k, v in acc.items())
        lines.append(f"  (c) accuracy >= dlib's on the devsets: {_verdict(ok)} ({detail})")
    else:
        lines.append("  (c) accuracy >= dlib's on the devsets: not run (see --devset; "
                     "or python -m bench.evaluate --compare-dlib)")
    lines.append(f"  {_load()}")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m bench.engine_benchmark``."""
    ap = argparse.ArgumentParser(prog="python -m bench.engine_benchmark", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="CI-size run: 8 images per size, one repeat, no accuracy run")
    ap.add_argument("--images", type=int, default=None, help="images per size (default 32, quick 8)")
    ap.add_argument("--sizes", default=",".join(f"{w}x{h}" for w, h in DEFAULT_SIZES),
                    help="comma-separated WxH list")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=None,
                    help="repeat each measurement, keep the best (default 2, quick 1)")
    ap.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS, help="folder of photos with faces")
    ap.add_argument("--no-dlib", action="store_true", help="skip dlib's pipeline")
    ap.add_argument("--devset", type=Path, default=Path(DEFAULT_DEVSET) if DEFAULT_DEVSET else None,
                    help="devset folder for the accuracy check (deepface/pairs_all.csv, att_orl/)")
    ap.add_argument("--no-accuracy", action="store_true", help="skip the accuracy check (c)")
    ap.add_argument("--threads", type=int, default=None,
                    help="TensorFlow intra/inter-op threads (default: $FACEWEB_TF_THREADS, "
                         "else TensorFlow's)")
    ap.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = ap.parse_args(argv)
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.threads is not None:
        from recognition.engine.embedder import configure_threads

        configure_threads(args.threads)
    n = args.images or (8 if args.quick else 32)
    repeats = args.repeats or (1 if args.quick else 2)
    sizes = [tuple(int(v) for v in s.lower().split("x")) for s in args.sizes.split(",") if s]
    photos = sorted(p for p in args.photos.iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png"})
    if not photos:
        print(f"error: no photos in {args.photos}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    print(f"{_load()} at start ({os.cpu_count()} CPUs)")
    res = run(sizes, n, args.batch, photos, not args.no_dlib, repeats)
    acc = None
    run_acc = not (args.quick or args.no_accuracy or args.no_dlib)
    if run_acc and args.devset is not None and args.devset.is_dir():
        from recognition.engine.pipeline import FacePipeline

        d = FacePipeline().detector
        acc = accuracy(args.devset, {"max_side": d.max_side, "min_face_size": d.min_face_size,
                                     "thresholds": d.thresholds, "upscale_below": d.upscale_below,
                                     "scale_factor": d.scale_factor})
        res["accuracy"] = acc
    for line in summary(res, acc):
        print(line)
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
