"""Verification accuracy on labelled pairs, for our pipeline and (optionally) dlib's.

Run ``python -m recognition.engine.evaluate --help``. Inputs:

* ``--pairs FILE --format lfw``: LFW ``pairs.txt`` (``name n1 n2`` = same,
  ``name1 n1 name2 n2`` = different; an optional first header line of counts); images at
  ``ROOT/name/name_0001.jpg``. The 10 folds are the file's 10 consecutive blocks.
* ``--pairs FILE --format csv``: a header and two path columns plus a label column. Column
  names recognised: ``path_a,path_b`` / ``file_x,file_y`` / the first two columns; label
  ``same`` / ``label`` / ``issame`` / ``decision`` (1/0, yes/no, true/false). Paths are
  relative to ``--root`` (or to the CSV's folder); a path that does not exist there is tried
  by its base name. Folds are a seeded stratified split.
* ``--folders DIR``: one sub-folder per identity (e.g. AT&T/ORL ``sN/*.pgm``); every same pair
  and as many seeded-random different pairs (``--max-pairs`` caps each).

Every image is embedded once; when it has several faces the one whose box centre is nearest
the image centre is used. An image with no face is handled per ``--on-miss``: ``centre``
(default) embeds a centre square as if it were a face box, ``fail`` scores its pairs as
"no match", ``drop`` leaves its pairs out. The counts are always printed.

Printed per method: pairs used, detection misses, 10-fold accuracy (threshold chosen on 9
folds, tested on the 10th) mean +- std, accuracy at 0.6, TAR at FAR 1e-3, ROC AUC and the
recommended threshold (median of the 10 training-fold thresholds).
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .align import CHIP_SIZE, align_face, landmarks_from_box
from .decode import decode_image
from .detect import (
    DEFAULT_MAX_SIDE,
    DEFAULT_MIN_FACE_SIZE,
    DEFAULT_SCALE_FACTOR,
    DEFAULT_THRESHOLDS,
    DEFAULT_UPSCALE_BELOW,
)

__all__ = [
    "DEFAULT_THRESHOLD",
    "Metrics",
    "Pair",
    "compute_metrics",
    "folder_pairs",
    "main",
    "read_csv_pairs",
    "read_lfw_pairs",
]

logger = logging.getLogger(__name__)

DEFAULT_THRESHOLD = 0.6
IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".pgm", ".ppm", ".bmp", ".tif", ".tiff", ".webp", ".gif"}
MISS_DISTANCE = 1e3  # distance given to a pair with a missed face under --on-miss fail


@dataclass(frozen=True)
class Pair:
    """Two image paths and whether they show the same person; ``fold`` is -1 when unassigned."""

    a: Path
    b: Path
    same: bool
    fold: int = -1


# ---------------------------------------------------------------------------- pair readers


def read_lfw_pairs(pairs_file: Path, root: Path, ext: str = ".jpg") -> list[Pair]:
    """Read LFW ``pairs.txt``; folds are the consecutive blocks given by its header (10 x 600)."""
    lines = [ln.split() for ln in Path(pairs_file).read_text().splitlines() if ln.strip()]
    n_folds, per_fold = 10, None
    if lines and all(tok.isdigit() for tok in lines[0]):
        head = [int(t) for t in lines[0]]
        lines = lines[1:]
        if len(head) == 2:
            n_folds, per_fold = head[0], 2 * head[1]
        elif len(head) == 1:
            n_folds, per_fold = 10, None

    def img(name: str, num: str) -> Path:
        return root / name / f"{name}_{int(num):04d}{ext}"

    pairs = []
    for i, tok in enumerate(lines):
        if len(tok) == 3:
            a, b, same = img(tok[0], tok[1]), img(tok[0], tok[2]), True
        elif len(tok) == 4:
            a, b, same = img(tok[0], tok[1]), img(tok[2], tok[3]), False
        else:
            raise ValueError(f"{pairs_file}: line {i + 2}: expected 3 or 4 fields, got {tok}")
        pairs.append((a, b, same))
    if per_fold is None:
        per_fold = max(1, -(-len(pairs) // n_folds))
    return [Pair(a, b, s, min(i // per_fold, n_folds - 1)) for i, (a, b, s) in enumerate(pairs)]


_LABEL_COLS = ("same", "label", "issame", "is_same", "decision", "match")
_TRUE = {"1", "yes", "true", "y", "t", "same"}
_FALSE = {"0", "no", "false", "n", "f", "different"}


def _resolve(path: str, root: Path) -> Path:
    p = Path(path)
    if p.is_absolute() and p.exists():
        return p
    cand = root / p
    if cand.exists():
        return cand
    by_name = root / p.name
    if by_name.exists():
        return by_name
    hits = list(root.rglob(p.name))
    return hits[0] if len(hits) == 1 else cand


def read_csv_pairs(pairs_file: Path, root: Path | None = None) -> list[Pair]:
    """Read a CSV of pairs (see the module doc for the column names recognised)."""
    root = Path(root) if root is not None else Path(pairs_file).parent
    with open(pairs_file, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        return []
    cols = list(rows[0].keys())
    lower = {c.lower().strip(): c for c in cols}
    for ca, cb in (("path_a", "path_b"), ("file_x", "file_y"), ("img1", "img2"), ("a", "b")):
        if ca in lower and cb in lower:
            col_a, col_b = lower[ca], lower[cb]
            break
    else:
        col_a, col_b = cols[0], cols[1]
    label = next((lower[c] for c in _LABEL_COLS if c in lower), None)
    if label is None:
        raise ValueError(f"{pairs_file}: no label column (one of {', '.join(_LABEL_COLS)})")
    pairs = []
    for i, row in enumerate(rows):
        v = str(row[label]).strip().lower()
        if v in _TRUE:
            same = True
        elif v in _FALSE:
            same = False
        else:
            raise ValueError(f"{pairs_file}: row {i + 2}: cannot read label {row[label]!r}")
        pairs.append(Pair(_resolve(row[col_a], root), _resolve(row[col_b], root), same))
    return pairs


def folder_pairs(root: Path, max_pairs: int = 0, seed: int = 0) -> list[Pair]:
    """All same-identity pairs of ``root/<identity>/*`` and as many random different pairs (seeded).

    ``max_pairs`` > 0 caps the same and the different pairs at that many each.
    """
    ids = sorted(d for d in Path(root).iterdir() if d.is_dir())
    images = {
        d.name: sorted((p for p in d.iterdir() if p.suffix.lower() in IMAGE_EXTS),
                       key=lambda p: (len(p.stem), p.stem))
        for d in ids
    }
    images = {k: v for k, v in images.items() if v}
    rng = random.Random(seed)  # noqa: S311 - deterministic sampling, not security
    same = [(a, b) for v in images.values() for i, a in enumerate(v) for b in v[i + 1 :]]
    if max_pairs and len(same) > max_pairs:
        same = rng.sample(same, max_pairs)
    names = sorted(images)
    want = len(same)
    diff: set[tuple[Path, Path]] = set()
    max_possible = sum(len(images[a]) * len(images[b]) for i, a in enumerate(names) for b in names[i + 1 :])
    want = min(want, max_possible)
    while len(diff) < want:
        na, nb = rng.sample(names, 2)
        pa, pb = rng.choice(images[na]), rng.choice(images[nb])
        diff.add((pa, pb) if str(pa) < str(pb) else (pb, pa))
    pairs = [Pair(a, b, True) for a, b in same] + [Pair(a, b, False) for a, b in sorted(diff)]
    return pairs


def assign_folds(pairs: list[Pair], n_folds: int = 10, seed: int = 0) -> list[Pair]:
    """Seeded stratified folds for pairs that have none (keeps existing folds)."""
    if all(p.fold >= 0 for p in pairs):
        return pairs
    rng = random.Random(seed)  # noqa: S311 - deterministic folds, not security
    out = list(pairs)
    for label in (True, False):
        idx = [i for i, p in enumerate(pairs) if p.same == label]
        rng.shuffle(idx)
        for k, i in enumerate(idx):
            p = out[i]
            out[i] = Pair(p.a, p.b, p.same, k % n_folds)
    return out


# ---------------------------------------------------------------------------- metrics


@dataclass
class Metrics:
    """Verification metrics of one method on one pair set."""

    pairs: int
    positives: int
    negatives: int
    cv_accuracy_mean: float
    cv_accuracy_std: float
    accuracy_at_default: float
    tar_at_far: float
    far_target: float
    far_resolution_note: str
    auc: float
    recommended_threshold: float
    fold_thresholds: list[float] = field(default_factory=list)
    misses: int = 0
    fallbacks: int = 0
    dropped_pairs: int = 0
    seconds: float = 0.0


def _best_threshold(d: np.ndarray, y: np.ndarray) -> float:
    """Threshold (predict same when d < t) with the highest accuracy; the middle of the best plateau."""
    order = np.argsort(d, kind="stable")
    ds, ys = d[order], y[order]
    # accuracy when the threshold sits just above ds[k-1] (k pairs predicted same), k = 0..n
    tp = np.concatenate([[0], np.cumsum(ys)])
    fp = np.concatenate([[0], np.cumsum(~ys)])
    n_neg = (~ys).sum()
    correct = tp + (n_neg - fp)
    # only cut between distinct distances
    valid = np.ones(len(ds) + 1, dtype=bool)
    valid[1:-1] = ds[1:] > ds[:-1]
    correct = np.where(valid, correct, -1)
    best = np.flatnonzero(correct == correct.max())
    k = int(best[len(best) // 2])
    lo = ds[k - 1] if k > 0 else ds[0] - 1e-3
    hi = ds[k] if k < len(ds) else ds[-1] + 1e-3
    return float((lo + hi) / 2.0)


def _auc(d: np.ndarray, y: np.ndarray) -> float:
    """ROC AUC of "smaller distance means same" (Mann-Whitney, ties counted half)."""
    pos, neg = d[y], d[~y]
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    allv = np.concatenate([pos, neg])
    order = allv.argsort(kind="mergesort")
    ranks = np.empty(len(allv))
    sorted_v = allv[order]
    # average ranks for ties
    i = 0
    while i < len(sorted_v):
        j = i
        while j + 1 < len(sorted_v) and sorted_v[j + 1] == sorted_v[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2.0 + 1
        i = j + 1
    r_neg = ranks[len(pos) :].sum()
    u = r_neg - len(neg) * (len(neg) + 1) / 2.0  # pairs (pos, neg) with neg distance larger
    return float(u / (len(pos) * len(neg)))


def _tar_at_far(d: np.ndarray, y: np.ndarray, far: float) -> tuple[float, str]:
    pos, neg = np.sort(d[y]), np.sort(d[~y])
    allowed = int(np.floor(far * len(neg)))
    note = ""
    if len(neg) < 1 / far:
        note = f"only {len(neg)} negatives: FAR {far:g} means 0 false accepts"
    # threshold: accept d < t, with at most `allowed` negatives below t
    t = neg[allowed] if allowed < len(neg) else np.inf
    return float((pos < t).mean()) if len(pos) else float("nan"), note


def compute_metrics(distances: Sequence[float], same: Sequence[bool], folds: Sequence[int],
                    threshold: float = DEFAULT_THRESHOLD, far: float = 1e-3) -> Metrics:
    """Metrics for distances (smaller = more alike) with labels and fold ids (0..9)."""
    d = np.asarray(distances, dtype=np.float64)
    y = np.asarray(same, dtype=bool)
    f = np.asarray(folds)
    accs, ths = [], []
    for k in sorted(set(f.tolist())):
        train, test = f != k, f == k
        if not test.any() or not train.any():
            continue
        t = _best_threshold(d[train], y[train])
        ths.append(t)
        accs.append(float(((d[test] < t) == y[test]).mean()))
    tar, note = _tar_at_far(d, y, far)
    return Metrics(
        pairs=len(d),
        positives=int(y.sum()),
        negatives=int((~y).sum()),
        cv_accuracy_mean=float(np.mean(accs)) if accs else float("nan"),
        cv_accuracy_std=float(np.std(accs)) if accs else float("nan"),
        accuracy_at_default=float(((d < threshold) == y).mean()) if len(d) else float("nan"),
        tar_at_far=tar,
        far_target=far,
        far_resolution_note=note,
        auc=_auc(d, y),
        recommended_threshold=float(np.median(ths)) if ths else float("nan"),
        fold_thresholds=[round(t, 4) for t in ths],
    )


# ---------------------------------------------------------------------------- embedding methods


@dataclass
class ImageEmbedding:
    """The embedding chosen for one image, and how it was obtained."""

    vector: np.ndarray | None
    found: bool  # a face was detected
    faces: int = 0


def _nearest_centre(boxes: Sequence[tuple[float, float, float, float]], h: int, w: int) -> int:
    cx, cy = w / 2.0, h / 2.0
    dist = [((x + bw / 2 - cx) ** 2 + (y + bh / 2 - cy) ** 2) for x, y, bw, bh in boxes]
    return int(np.argmin(dist))


def _centre_box(h: int, w: int) -> tuple[float, float, float, float]:
    side = 0.8 * min(h, w)
    return ((w - side) / 2.0, (h - side) / 2.0, side, side)


class OursMethod:
    """Our pipeline: MTCNN -> align5 -> TF ResNet; optional flip averaging from the same chips."""

    def __init__(self, detector_kwargs: dict, flip_variants: Sequence[bool] = (False,), batch: int = 32):
        from .detect import FaceDetector
        from .pipeline import embed_chips

        self.detector = FaceDetector(**detector_kwargs)
        self.flip_variants = list(flip_variants)
        self.batch = batch
        self._embed_chips = embed_chips
        self._embedder = None

    @property
    def embedder(self):
        """The process-wide embedder."""
        if self._embedder is None:
            from .embedder import get_embedder

            self._embedder = get_embedder()
        return self._embedder

    def names(self) -> list[str]:
        """One method name per flip variant."""
        return ["ours+flip" if f else "ours" for f in self.flip_variants]

    def version(self, flip: bool) -> str:
        """Pipeline version string of a variant."""
        from .align import ALIGNMENT_VERSION

        parts = [self.detector.version, ALIGNMENT_VERSION, *(["flip"] if flip else []), self.embedder.version]
        return "+".join(parts)

    def embed_paths(self, paths: Sequence[Path], on_miss: str,
                    progress: Callable[[int], None]) -> list[dict[bool, ImageEmbedding]]:
        """Embed each image once per flip variant (detection and alignment shared)."""
        out: list[dict[bool, ImageEmbedding]] = []
        for start in range(0, len(paths), self.batch):
            chunk = paths[start : start + self.batch]
            images = [decode_image(p) for p in chunk]
            dets = self.detector.detect_batch(images)
            chips, found, nfaces = [], [], []
            for img, ds in zip(images, dets, strict=True):
                h, w = img.shape[:2]
                if ds:
                    i = _nearest_centre([d.box for d in ds], h, w)
                    chips.append(align_face(img, ds[i].landmarks, CHIP_SIZE))
                    found.append(True)
                else:
                    chips.append(align_face(img, landmarks_from_box(*_centre_box(h, w)), CHIP_SIZE))
                    found.append(False)
                nfaces.append(len(ds))
            arr = np.stack(chips)
            per_variant = {f: self._embed_chips(self.embedder, arr, flip=f) for f in self.flip_variants}
            for j in range(len(chunk)):
                use = found[j] or on_miss == "centre"
                out.append({f: ImageEmbedding(per_variant[f][j] if use else None, found[j], nfaces[j])
                            for f in self.flip_variants})
            progress(len(chunk))
        return out


class DlibMethod:
    """dlib's own pipeline: HOG detector, shape_predictor_5, compute_face_descriptor (dlib-bin).

    The detector sees a copy downscaled to a longer side of at most ``max_side`` (1024 by
    default, ``--dlib-max-side``; independent of ours) and
    upsamples once when that copy's longer side is at most ``upsample_max_side`` (as
    face_recognition's default ``number_of_times_to_upsample=1``, bounded for speed).
    """

    def __init__(self, max_side: int = 1024, upsample_max_side: int = 800, jitters: int = 1):
        import dlib  # lazily: a test/benchmark dependency only
        import face_recognition_models as frm

        self.dlib = dlib
        self.hog = dlib.get_frontal_face_detector()
        self.sp = dlib.shape_predictor(frm.pose_predictor_five_point_model_location())
        self.rec = dlib.face_recognition_model_v1(frm.face_recognition_model_location())
        self.max_side = max_side
        self.upsample_max_side = upsample_max_side
        self.jitters = jitters

    def detect(self, img: np.ndarray) -> list[tuple[float, float, float, float]]:
        """HOG boxes (x, y, w, h) in original pixels."""
        import cv2

        h, w = img.shape[:2]
        scale = min(1.0, self.max_side / max(h, w))
        work = img if scale == 1.0 else cv2.resize(img, (round(w * scale), round(h * scale)),
                                                   interpolation=cv2.INTER_AREA)
        up = 1 if max(work.shape[:2]) <= self.upsample_max_side else 0
        rects = self.hog(work, up)
        return [(r.left() / scale, r.top() / scale, r.width() / scale, r.height() / scale) for r in rects]

    def descriptor(self, img: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
        """shape_predictor_5 + compute_face_descriptor for one box."""
        x, y, w, h = box
        rect = self.dlib.rectangle(int(round(x)), int(round(y)), int(round(x + w)), int(round(y + h)))
        shape = self.sp(img, rect)
        return np.asarray(self.rec.compute_face_descriptor(img, shape, self.jitters), dtype=np.float32)

    def embed_paths(self, paths: Sequence[Path], on_miss: str,
                    progress: Callable[[int], None]) -> list[ImageEmbedding]:
        """Embed each image once."""
        out = []
        for p in paths:
            img = decode_image(p)
            h, w = img.shape[:2]
            boxes = self.detect(img)
            if boxes:
                vec = self.descriptor(img, boxes[_nearest_centre(boxes, h, w)])
            elif on_miss == "centre":
                vec = self.descriptor(img, _centre_box(h, w))
            else:
                vec = None
            out.append(ImageEmbedding(vec, bool(boxes), len(boxes)))
            progress(1)
        return out


# ---------------------------------------------------------------------------- running


def score_pairs(pairs: Sequence[Pair], index: dict[Path, int], embs: Sequence[ImageEmbedding],
                on_miss: str) -> tuple[list[float], list[bool], list[int], int]:
    """Distances of the pairs; returns (distances, same, folds, dropped)."""
    d, y, f, dropped = [], [], [], 0
    for p in pairs:
        ea, eb = embs[index[p.a]], embs[index[p.b]]
        if ea.vector is None or eb.vector is None:
            if on_miss == "drop":
                dropped += 1
                continue
            dist = MISS_DISTANCE
        else:
            dist = float(np.linalg.norm(ea.vector - eb.vector))
        d.append(dist)
        y.append(p.same)
        f.append(p.fold)
    return d, y, f, dropped


def format_metrics(name: str, m: Metrics, n_images: int) -> str:
    """A readable block for one method."""
    nan = float("nan")
    lines = [
        f"== {name}",
        f"  pairs used            {m.pairs} ({m.positives} same, {m.negatives} different)"
        + (f"; {m.dropped_pairs} dropped" if m.dropped_pairs else ""),
        f"  detection misses      {m.misses} of {n_images} images"
        + (f" ({m.fallbacks} embedded from a centre crop)" if m.fallbacks else ""),
        f"  10-fold accuracy      {m.cv_accuracy_mean * 100:.2f}% +- {m.cv_accuracy_std * 100:.2f}%",
        f"  accuracy at {DEFAULT_THRESHOLD:g}       {m.accuracy_at_default * 100:.2f}%",
        f"  TAR at FAR {m.far_target:g}     {m.tar_at_far * 100:.2f}%"
        + (f"  ({m.far_resolution_note})" if m.far_resolution_note else ""),
        f"  ROC AUC               {m.auc:.5f}",
        f"  recommended threshold {m.recommended_threshold:.3f} (median of fold thresholds "
        f"{min(m.fold_thresholds, default=nan):.3f}..{max(m.fold_thresholds, default=nan):.3f})",
        f"  embedding time        {m.seconds:.1f} s ({m.seconds / max(n_images, 1) * 1000:.0f} ms/image)",
    ]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    ap = argparse.ArgumentParser(prog="python -m recognition.engine.evaluate", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--pairs", type=Path, help="pairs file (LFW pairs.txt or CSV)")
    src.add_argument("--folders", type=Path, help="folder of identity sub-folders; pairs are generated")
    ap.add_argument("--root", type=Path, help="image root for --pairs (default: the pairs file's folder)")
    ap.add_argument("--format", choices=("auto", "lfw", "csv"), default="auto")
    ap.add_argument("--lfw-ext", default=".jpg", help="image extension for LFW names")
    ap.add_argument("--max-pairs", type=int, default=0, help="--folders: cap on same (and different) pairs")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--on-miss", choices=("centre", "fail", "drop"), default="centre",
                    help="image without a detected face: embed a centre crop (default), "
                         "score its pairs as 'no match', or drop its pairs")
    ap.add_argument("--flip", action="store_true",
                    help="also report ours with flip averaging (same detections)")
    ap.add_argument("--max-side", type=int, default=DEFAULT_MAX_SIDE,
                    help=f"our detector: downscale above this longer side (default {DEFAULT_MAX_SIDE})")
    ap.add_argument("--min-face", type=int, default=DEFAULT_MIN_FACE_SIZE,
                    help=f"our detector: minimum face size, pixels (default {DEFAULT_MIN_FACE_SIZE})")
    ap.add_argument("--upscale-below", type=int, default=DEFAULT_UPSCALE_BELOW,
                    help="our detector: upscale images whose longer side is below this "
                         f"(default {DEFAULT_UPSCALE_BELOW}; 0 = never)")
    ap.add_argument("--scale-factor", type=float, default=DEFAULT_SCALE_FACTOR,
                    help=f"our detector: MTCNN pyramid scale factor (default {DEFAULT_SCALE_FACTOR:g})")
    ap.add_argument("--thresholds", type=float, nargs=3, default=DEFAULT_THRESHOLDS, metavar=("P", "R", "O"))
    ap.add_argument("--dlib-max-side", type=int, default=1024,
                    help="dlib's HOG: downscale above this longer side (default 1024)")
    ap.add_argument("--compare-dlib", action="store_true", help="also run dlib's own pipeline (dlib-bin)")
    ap.add_argument("--no-ours", action="store_true", help="skip our pipeline (with --compare-dlib)")
    ap.add_argument("--json", type=Path, help="also write the metrics as JSON here")
    ap.add_argument("-v", "--verbose", action="store_true")
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m recognition.engine.evaluate``."""
    args = build_parser().parse_args(argv)
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if args.folders:
        pairs = folder_pairs(args.folders, args.max_pairs, args.seed)
        source = f"folders {args.folders}"
    else:
        fmt = args.format
        if fmt == "auto":
            fmt = "csv" if args.pairs.suffix.lower() == ".csv" else "lfw"
        root = args.root or args.pairs.parent
        if fmt == "lfw":
            pairs = read_lfw_pairs(args.pairs, root, args.lfw_ext)
        else:
            pairs = read_csv_pairs(args.pairs, root)
        source = f"{fmt} pairs {args.pairs}"
    pairs = assign_folds(pairs, 10, args.seed)
    paths = sorted({p.a for p in pairs} | {p.b for p in pairs})
    missing = [p for p in paths if not p.exists()]
    if missing:
        print(f"error: {len(missing)} image(s) not found, e.g. {missing[0]}", file=sys.stderr)
        return 2
    index = {p: i for i, p in enumerate(paths)}
    print(f"{source}: {len(pairs)} pairs ({sum(p.same for p in pairs)} same) over {len(paths)} images; "
          f"on-miss={args.on_miss}")

    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover
        tqdm = None

    def embed_timed(desc: str, method) -> tuple[list, float]:
        """``method.embed_paths`` over every image, with a progress bar; returns (embeddings, seconds)."""
        b = None if tqdm is None else tqdm(total=len(paths), desc=desc, file=sys.stderr, leave=False,
                                           disable=not sys.stderr.isatty())
        t0 = time.perf_counter()
        embeddings = method.embed_paths(paths, args.on_miss, (lambda n: None) if b is None else b.update)
        secs = time.perf_counter() - t0
        if b is not None:
            b.close()
        return embeddings, secs

    def score(embeddings: list[ImageEmbedding], secs: float) -> Metrics:
        """The pair metrics of one method's embeddings, with its misses and time."""
        d, y, f, dropped = score_pairs(pairs, index, embeddings, args.on_miss)
        m = compute_metrics(d, y, f)
        m.misses = sum(not x.found for x in embeddings)
        m.fallbacks = m.misses if args.on_miss == "centre" else 0
        m.dropped_pairs = dropped
        m.seconds = secs
        return m

    results: dict[str, Metrics] = {}
    versions: dict[str, str] = {}
    if not args.no_ours:
        det_kw = {"max_side": args.max_side, "min_face_size": args.min_face,
                  "upscale_below": args.upscale_below, "thresholds": tuple(args.thresholds),
                  "scale_factor": args.scale_factor}
        ours = OursMethod(det_kw, flip_variants=(False, True) if args.flip else (False,))
        _ = ours.embedder  # load before timing
        ours.detector.detect(np.zeros((64, 64, 3), np.uint8))  # warm MTCNN
        embs, secs = embed_timed("ours", ours)
        for flip, name in zip(ours.flip_variants, ours.names(), strict=True):
            results[name] = score([x[flip] for x in embs], secs)
            versions[name] = ours.version(flip)
    if args.compare_dlib:
        dl = DlibMethod(max_side=args.dlib_max_side)
        e, secs = embed_timed("dlib", dl)
        results["dlib"] = score(e, secs)
        versions["dlib"] = (f"dlib-{dl.dlib.__version__}(hog,max{args.dlib_max_side},"
                            f"up<={dl.upsample_max_side})+sp5+resnet")

    for name, m in results.items():
        print(format_metrics(f"{name}  [{versions[name]}]", m, len(paths)))
    if args.json:
        args.json.write_text(json.dumps({"source": source, "on_miss": args.on_miss, "images": len(paths),
                                         "results": {k: {**vars(v), "version": versions[k]}
                                                     for k, v in results.items()}}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
