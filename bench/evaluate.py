"""Verification accuracy on labelled images, for variants of our pipeline and for dlib's.

Run ``python -m bench.evaluate --help``. Inputs:

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
* ``--labels CSV``: ``file,identity`` rows (e.g. ``tests/fixtures/faces/labels.csv``); all-pairs only.

Every image is embedded once per pipeline configuration and the result cached on disk
(``--cache``, keyed by the configuration and the image's hash), so a second run, or another
variant that shares the detections, costs little. When an image has several faces the one
whose box centre is nearest the image centre is used; an image with no face is embedded from a
centre square (``found`` False; with ``--on-miss fail``/``drop`` the listed pairs with such an
image are scored "no match" or left out). The counts are always printed.

Printed per method, on a pair list: 10-fold accuracy (threshold chosen on 9 folds, tested on
the 10th) mean +- std, accuracy at 0.6, TAR at FAR 1e-3, ROC AUC and the recommended
threshold. With ``--all-pairs`` (every same-person and every different-person pair among the
images; identity = the image's folder name, or ``--labels``): TAR at FAR 1e-3, 1e-4 and 1e-5
and the AUC. With ``--paired``: every method against the first on the same pairs, the
difference with a 95% interval from a bootstrap over identities (all images of a person are
drawn together), and "better"/"worse" only when the interval excludes 0.

Variants of our pipeline (``--variant SPEC``, repeatable): ``flip=0`` / ``flip`` (without / with
the product's averaging with the mirrored chip), ``jitter=N`` (N dlib-style random crops
averaged), ``align=sp5`` (dlib's 5-point shape predictor on the MTCNN box, dlib's chip; needs
dlib-bin), detector settings ``max_side=``, ``upscale=``, ``min_face=``, ``scale_factor=``.
``--compare-dlib`` adds dlib's own pipeline.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import logging
import os
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from recognition.engine.align import CHIP_SIZE, MTCNN_TARGETS_150, landmarks_from_box, similarity_transform
from recognition.engine.decode import decode_image
from recognition.engine.detect import (
    DEFAULT_MAX_SIDE,
    DEFAULT_MIN_FACE_SIZE,
    DEFAULT_SCALE_FACTOR,
    DEFAULT_THRESHOLDS,
    DEFAULT_UPSCALE_BELOW,
)
from recognition.engine.pipeline import DEFAULT_FLIP

__all__ = [
    "FARS",
    "AllPairs",
    "DlibMethod",
    "OursMethod",
    "Variant",
    "all_pairs_metrics",
    "paired_bootstrap",
    "read_labels",
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
        d.name: sorted(
            (p for p in d.iterdir() if p.suffix.lower() in IMAGE_EXTS), key=lambda p: (len(p.stem), p.stem)
        )
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
    """ROC AUC of "smaller distance means same" (Mann-Whitney, ties counted half); vectorised."""
    d = np.asarray(d, dtype=np.float64)
    y = np.asarray(y, dtype=bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    _, inv, counts = np.unique(d, return_inverse=True, return_counts=True)
    # average 1-based rank of each distinct value
    ends = np.cumsum(counts)
    avg_rank = ends - (counts - 1) / 2.0
    r_neg = avg_rank[inv[~y]].sum()
    u = r_neg - n_neg * (n_neg + 1) / 2.0  # pairs (pos, neg) with the negative's distance larger
    return float(u / (n_pos * n_neg))


def _tar_at_far(d: np.ndarray, y: np.ndarray, far: float) -> tuple[float, str]:
    pos, neg = np.sort(d[y]), np.sort(d[~y])
    allowed = int(np.floor(far * len(neg)))
    note = ""
    if len(neg) < 1 / far:
        note = f"only {len(neg)} negatives: FAR {far:g} means 0 false accepts"
    # threshold: accept d < t, with at most `allowed` negatives below t
    t = neg[allowed] if allowed < len(neg) else np.inf
    return float((pos < t).mean()) if len(pos) else float("nan"), note


def compute_metrics(
    distances: Sequence[float],
    same: Sequence[bool],
    folds: Sequence[int],
    threshold: float = DEFAULT_THRESHOLD,
    far: float = 1e-3,
) -> Metrics:
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


# ---------------------------------------------------------------------------- all pairs


FARS = (1e-3, 1e-4, 1e-5)
"""False accept rates at which the all-pairs mode reports the true accept rate."""


def read_labels(labels_csv: Path, root: Path) -> dict[Path, str]:
    """Image -> identity from a CSV with ``file`` and ``identity`` columns (``labels.csv``).

    Rows whose identity is unknown or names several people (``a;b``) are left out, and so is a
    file that is not found under ``root`` (by its path or its base name).
    """
    out: dict[Path, str] = {}
    with open(labels_csv, newline="") as fh:
        for row in csv.DictReader(fh):
            ident = (row.get("identity") or "").strip()
            if not ident or ";" in ident or ident == "unknown":
                continue
            path = _resolve(row["file"], root)
            if path.exists():
                out[path] = ident
    return out


def labels_from_folders(paths: Sequence[Path]) -> dict[Path, str]:
    """Identity of each image = the name of its folder (LFW's ``Name/Name_0001.jpg``, AT&T's ``sN/``)."""
    return {p: p.parent.name for p in paths}


@dataclass
class AllPairs:
    """Every pair among labelled images: ``i < j`` indices, same-person flags, identity ids."""

    paths: list[Path]
    ident: np.ndarray  # (N,) int identity id per image
    i: np.ndarray
    j: np.ndarray
    same: np.ndarray

    @classmethod
    def from_labels(cls, labels: dict[Path, str]) -> AllPairs:
        """All pairs among the labelled images (sorted by path)."""
        paths = sorted(labels)
        names = sorted(set(labels.values()))
        idx = {n: k for k, n in enumerate(names)}
        ident = np.array([idx[labels[p]] for p in paths], dtype=np.int32)
        i, j = np.triu_indices(len(paths), k=1)
        i, j = i.astype(np.int32), j.astype(np.int32)
        return cls(paths, ident, i, j, ident[i] == ident[j])

    @property
    def identities(self) -> int:
        """Number of distinct identities."""
        return int(self.ident.max()) + 1 if len(self.ident) else 0

    def distances(self, vectors: np.ndarray) -> np.ndarray:
        """Euclidean distance of every pair (float32), from (N, 128) vectors in ``paths`` order."""
        v = np.asarray(vectors, dtype=np.float64)
        sq = (v * v).sum(axis=1)
        gram = v @ v.T
        d2 = sq[:, None] + sq[None, :] - 2.0 * gram
        return np.sqrt(np.maximum(d2[self.i, self.j], 0.0)).astype(np.float32)


def tar_at_fars(
    d: np.ndarray, same: np.ndarray, fars: Sequence[float] = FARS
) -> dict[float, tuple[float, float]]:
    """``{far: (tar, threshold)}``: accept ``d < threshold``; at most ``far`` of the negatives accepted."""
    neg = np.sort(d[~same])
    pos = d[same]
    out = {}
    for far in fars:
        allowed = int(np.floor(far * len(neg)))
        t = float(neg[allowed]) if allowed < len(neg) else float("inf")
        out[far] = (float((pos < t).mean()) if len(pos) else float("nan"), t)
    return out


@dataclass
class AllPairsMetrics:
    """All-pairs verification figures of one method."""

    images: int
    identities: int
    positives: int
    negatives: int
    tar: dict[float, float]
    thresholds: dict[float, float]
    auc: float
    misses: int = 0


def all_pairs_metrics(ap: AllPairs, d: np.ndarray, misses: int = 0) -> AllPairsMetrics:
    """TAR at each of ``FARS`` and the AUC over every pair."""
    ts = tar_at_fars(d, ap.same)
    return AllPairsMetrics(
        images=len(ap.paths),
        identities=ap.identities,
        positives=int(ap.same.sum()),
        negatives=int((~ap.same).sum()),
        tar={f: v[0] for f, v in ts.items()},
        thresholds={f: v[1] for f, v in ts.items()},
        auc=_auc(d, ap.same),
        misses=misses,
    )


def format_all_pairs(name: str, m: AllPairsMetrics) -> str:
    """One readable line per figure."""
    lines = [
        f"== {name}: all pairs of {m.images} images, {m.identities} identities "
        f"({m.positives} same, {m.negatives} different); {m.misses} detection misses"
    ]
    for far, tar in m.tar.items():
        lines.append(
            f"  TAR at FAR {far:g}  {tar * 100:6.2f}%  (threshold {m.thresholds[far]:.4f}; "
            f"{int(np.floor(far * m.negatives))} false accepts allowed)"
        )
    lines.append(f"  ROC AUC           {m.auc:.6f}")
    return "\n".join(lines)


class _Bootstrap:
    """Weighted statistics of one method's all-pair distances under identity resampling.

    A bootstrap draw resamples identities with replacement: identity ``k`` drawn ``w[k]``
    times gives its same-person pairs weight ``w[k]`` and a different-person pair of
    identities (a, b) weight ``w[a] * w[b]``. Pairs of one image with itself never appear, and
    all images of one person move together, so the interval reflects the person-to-person
    variation that decides a real deployment, not just the pair count.
    """

    def __init__(self, ap: AllPairs, d: np.ndarray):
        ia, ib = ap.ident[ap.i], ap.ident[ap.j]
        neg = ~ap.same
        order = np.argsort(d[neg], kind="stable")
        self.neg_d = d[neg][order]
        self.neg_a, self.neg_b = ia[neg][order], ib[neg][order]
        self.pos_d = d[ap.same]
        self.pos_id = ia[ap.same]
        # for each genuine pair: how many impostor pairs lie strictly below / at or below it
        self.pos_lo = np.searchsorted(self.neg_d, self.pos_d, side="left")
        self.pos_hi = np.searchsorted(self.neg_d, self.pos_d, side="right")

    def stats(self, w: np.ndarray, fars: Sequence[float]) -> list[float]:
        """Weighted TAR at each FAR, then the weighted AUC, for identity weights ``w``."""
        w = w.astype(np.float32)
        cum_neg = np.cumsum(w[self.neg_a] * w[self.neg_b], dtype=np.float64)
        tot_neg = cum_neg[-1]
        pw = w[self.pos_id].astype(np.float64)
        tot_pos = pw.sum()
        out = []
        for far in fars:
            # threshold: the first impostor distance past which the accepted weight exceeds far * total
            k = int(np.searchsorted(cum_neg, far * tot_neg, side="right"))
            t = self.neg_d[k] if k < len(self.neg_d) else np.inf
            out.append(float(pw[self.pos_d < t].sum() / tot_pos))
        # AUC: impostor weight above each genuine pair (ties counted half)
        below = np.where(self.pos_lo > 0, cum_neg[np.maximum(self.pos_lo - 1, 0)], 0.0)
        at_or_below = np.where(self.pos_hi > 0, cum_neg[np.maximum(self.pos_hi - 1, 0)], 0.0)
        above = tot_neg - (below + at_or_below) / 2.0
        out.append(float((pw * above).sum() / (tot_pos * tot_neg)))
        return out


@dataclass
class PairedDiff:
    """Difference B - A of one statistic with its bootstrap interval, and the verdict."""

    stat: str
    a: float
    b: float
    diff: float
    lo: float
    hi: float

    @property
    def verdict(self) -> str:
        """ "better" / "worse" only when the interval excludes 0."""
        if self.lo > 0:
            return "better"
        if self.hi < 0:
            return "worse"
        return "no difference"


def paired_bootstrap(
    ap: AllPairs,
    d_a: np.ndarray,
    d_b: np.ndarray,
    n_boot: int = 200,
    seed: int = 0,
    fars: Sequence[float] = FARS,
    level: float = 0.95,
) -> list[PairedDiff]:
    """Compare two methods on the same pairs: differences (B - A) of TAR at each FAR and AUC.

    Both methods see the same identity resamples (a paired bootstrap); the interval is the
    percentile interval at ``level``.
    """
    ba, bb = _Bootstrap(ap, d_a), _Bootstrap(ap, d_b)
    n_id = ap.identities
    full = np.ones(n_id)
    sa, sb = ba.stats(full, fars), bb.stats(full, fars)
    rng = np.random.default_rng(seed)
    diffs = np.empty((n_boot, len(sa)))
    for r in range(n_boot):
        w = np.bincount(rng.integers(0, n_id, n_id), minlength=n_id).astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            diffs[r] = np.subtract(bb.stats(w, fars), ba.stats(w, fars))
    q = (1 - level) / 2
    # a draw without any genuine or any impostor pair (tiny sets) has no statistic: left out
    diffs = diffs[np.isfinite(diffs).all(axis=1)]
    if len(diffs) < max(10, n_boot // 2):
        lo = hi = np.full(len(sa), np.nan)  # too few usable draws: no interval, no verdict
    else:
        lo, hi = np.quantile(diffs, q, axis=0), np.quantile(diffs, 1 - q, axis=0)
    names = [f"TAR@FAR{f:g}" for f in fars] + ["AUC"]
    return [
        PairedDiff(n, sa[k], sb[k], sb[k] - sa[k], float(lo[k]), float(hi[k])) for k, n in enumerate(names)
    ]


def format_paired(name_a: str, name_b: str, diffs: Sequence[PairedDiff], n_boot: int) -> str:
    """The comparison table of B against A."""
    lines = [f"== paired: {name_b} vs {name_a} (same pairs; {n_boot} identity-bootstrap draws, 95% interval)"]
    for x in diffs:
        scale, unit = (100.0, " pt") if x.stat.startswith("TAR") else (1.0, "")
        lines.append(
            f"  {x.stat:<13} {x.a * scale:9.4f} -> {x.b * scale:9.4f}  diff {x.diff * scale:+.4f}{unit} "
            f"[{x.lo * scale:+.4f}, {x.hi * scale:+.4f}]  {x.verdict}"
        )
    return "\n".join(lines)


# ---------------------------------------------------------------------------- embedding cache


def file_hash(path: Path) -> str:
    """sha1 of a file's bytes (cache key of an image; the same photo under two names is one entry)."""
    return hashlib.sha1(Path(path).read_bytes(), usedforsecurity=False).hexdigest()


class ArrayCache:
    """Per-image records of one configuration, in one ``.npz`` file keyed by image hash.

    The file name is a hash of the configuration string, so a changed detector, alignment,
    augmentation or embedder never reuses old numbers. ``save()`` is atomic; call it now and
    then so that an interrupted run resumes where it stopped.
    """

    def __init__(self, folder: Path | None, kind: str, config: str, fields: dict[str, tuple[int, ...]]):
        self.config = config
        self.fields = fields
        key = hashlib.sha1(f"{kind}|{config}".encode(), usedforsecurity=False).hexdigest()[:16]
        self.path = None if folder is None else Path(folder) / f"{kind}-{key}.npz"
        self.rows: dict[str, dict[str, np.ndarray]] = {}
        self.dirty = False
        if self.path is not None and self.path.exists():
            with np.load(self.path, allow_pickle=False) as z:
                if str(z["config"]) == config:
                    arrays = {f: z[f] for f in fields}  # each z[f] reads the file: once per field
                    for k, h in enumerate(z["hashes"]):
                        self.rows[str(h)] = {f: arrays[f][k] for f in fields}

    def get(self, h: str) -> dict[str, np.ndarray] | None:
        """The record of an image hash, or None."""
        return self.rows.get(h)

    def put(self, h: str, row: dict[str, np.ndarray]) -> None:
        """Store one record (in memory until ``save``)."""
        self.rows[h] = {
            f: np.asarray(row[f], dtype=np.float32).reshape(shape) for f, shape in self.fields.items()
        }
        self.dirty = True

    def save(self) -> None:
        """Write every record (atomically: a temporary file renamed over the old one)."""
        if self.path is None or not self.dirty:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        hashes = sorted(self.rows)
        arrays = {f: np.stack([self.rows[h][f] for h in hashes]) for f in self.fields}
        tmp = self.path.with_suffix(".tmp.npz")
        np.savez(tmp, config=np.array(self.config), hashes=np.array(hashes), **arrays)
        os.replace(tmp, self.path)
        self.dirty = False


# ---------------------------------------------------------------------------- embedding methods


@dataclass
class ImageEmbedding:
    """The embedding chosen for one image, and how it was obtained."""

    vector: np.ndarray | None
    found: bool  # a face was detected
    faces: int = 0
    quality: dict[str, float] = field(default_factory=dict)


QUALITY_FIELDS = ("face_size", "eye_distance", "sharpness", "yaw", "pitch", "roll", "score")


def _nearest_centre(boxes: Sequence[tuple[float, float, float, float]], h: int, w: int) -> int:
    cx, cy = w / 2.0, h / 2.0
    dist = [((x + bw / 2 - cx) ** 2 + (y + bh / 2 - cy) ** 2) for x, y, bw, bh in boxes]
    return int(np.argmin(dist))


def _centre_box(h: int, w: int) -> tuple[float, float, float, float]:
    side = 0.8 * min(h, w)
    return ((w - side) / 2.0, (h - side) / 2.0, side, side)


def jitter_transforms(
    m: np.ndarray, n: int, rng: np.random.Generator, size: int = CHIP_SIZE
) -> list[np.ndarray]:
    """``n`` dlib-style random variants of the chip transform ``m`` (2x3, image -> chip).

    Each is rotated by up to 3 degrees, scaled by 0.97-1.0 and shifted by up to 2% of the chip
    about the chip centre, as dlib's ``num_jitters`` does; mirroring is done by the caller.
    """
    out = []
    c = size / 2.0
    for _ in range(n):
        ang = rng.uniform(-3.0, 3.0)
        sc = rng.uniform(0.97, 1.0)
        shift = rng.uniform(-0.02, 0.02, 2) * size
        j = cv2.getRotationMatrix2D((c, c), ang, 1.0 / sc)
        j[:, 2] += shift
        jm = np.vstack([j, [0, 0, 1]]) @ np.vstack([m, [0, 0, 1]])
        out.append(jm[:2])
    return out


@dataclass(frozen=True)
class Variant:
    """One configuration of our pipeline to evaluate (detector, alignment, augmentation)."""

    max_side: int = DEFAULT_MAX_SIDE
    min_face: int = DEFAULT_MIN_FACE_SIZE
    upscale_below: int = DEFAULT_UPSCALE_BELOW
    scale_factor: float = DEFAULT_SCALE_FACTOR
    thresholds: tuple[float, float, float] = tuple(DEFAULT_THRESHOLDS)
    align: str = "mtcnn5"  # mtcnn5 (the product's) | sp5 (dlib's shape predictor on the mapped box)
    flip: bool = DEFAULT_FLIP
    jitter: int = 0

    @classmethod
    def parse(cls, spec: str, base: Variant | None = None) -> Variant:
        """``"flip,align=sp5,max_side=800,jitter=4"`` on top of ``base`` (default settings)."""
        kw = dict(vars(base or cls()))
        for tok in filter(None, (t.strip() for t in spec.split(","))):
            k, _, v = tok.partition("=")
            k = k.replace("-", "_")
            if k == "flip":
                kw["flip"] = v.lower() not in ("0", "false", "no") if v else True
            elif k in ("max_side", "min_face", "upscale_below", "jitter"):
                kw[k] = int(v)
            elif k == "upscale":
                kw["upscale_below"] = int(v)
            elif k == "scale_factor":
                kw[k] = float(v)
            elif k == "align":
                if v not in ("mtcnn5", "sp5"):
                    raise ValueError(f"unknown alignment {v!r} (mtcnn5, sp5)")
                kw[k] = v
            elif k != "ours":
                raise ValueError(f"unknown variant setting {k!r} in {spec!r}")
        return cls(**kw)

    @property
    def name(self) -> str:
        """Short name: ``ours`` plus the settings that differ from the product's defaults."""
        diff = []
        for k, v in vars(self).items():
            if v == getattr(Variant(), k):
                continue
            diff.append((k if v else f"no{k}") if isinstance(v, bool) else f"{k}={v}")
        return "ours" + (f"[{','.join(diff)}]" if diff else "")

    def detector_kwargs(self) -> dict:
        """Keyword arguments of ``FaceDetector``."""
        return {
            "max_side": self.max_side,
            "min_face_size": self.min_face,
            "upscale_below": self.upscale_below,
            "thresholds": tuple(self.thresholds),
            "scale_factor": self.scale_factor,
        }


_DET_FIELDS = {"found": (), "faces": (), "box": (4,), "landmarks": (5, 2), "score": ()}
_EMB_FIELDS = {"vector": (128,), "found": (), "faces": (), "quality": (len(QUALITY_FIELDS),)}


class OursMethod:
    """Our pipeline (MTCNN -> alignment -> TensorFlow ResNet) in one ``Variant``, with disk caches.

    Detections are cached per detector configuration and embeddings per full configuration
    (detector + alignment + augmentation + embedder), each keyed by image hash.
    """

    def __init__(self, variant: Variant | dict | None = None, cache_dir: Path | None = None, batch: int = 64):
        if isinstance(variant, dict):  # detector keyword arguments (older callers)
            d = variant
            variant = Variant(
                max_side=d.get("max_side", DEFAULT_MAX_SIDE),
                min_face=d.get("min_face_size", DEFAULT_MIN_FACE_SIZE),
                upscale_below=d.get("upscale_below", DEFAULT_UPSCALE_BELOW),
                scale_factor=d.get("scale_factor", DEFAULT_SCALE_FACTOR),
                thresholds=tuple(d.get("thresholds", DEFAULT_THRESHOLDS)),
            )
        from recognition.engine.detect import FaceDetector

        self.variant = variant or Variant()
        self.detector = FaceDetector(**self.variant.detector_kwargs())
        self.cache_dir = cache_dir
        self.batch = batch
        self._embedder = None
        self._sp = None

    @property
    def embedder(self):
        """The process-wide embedder."""
        if self._embedder is None:
            from recognition.engine.embedder import get_embedder

            self._embedder = get_embedder()
        return self._embedder

    @property
    def name(self) -> str:
        """The variant's short name."""
        return self.variant.name

    @property
    def version(self) -> str:
        """Pipeline version string of this variant."""
        from recognition.engine.align import ALIGNMENT_VERSION

        v = self.variant
        align = ALIGNMENT_VERSION if v.align == "mtcnn5" else "dlib-sp5-mappedbox"
        parts = [
            self.detector.version,
            align,
            *(["flip"] if v.flip else []),
            *([f"jitter{v.jitter}"] if v.jitter else []),
            self.embedder.version,
        ]
        return "+".join(parts)

    def _detections(self, paths: Sequence[Path], hashes: Sequence[str], progress: Callable[[int], None]):
        cache = ArrayCache(self.cache_dir, "det", self.detector.version, _DET_FIELDS)
        todo = [k for k, h in enumerate(hashes) if cache.get(h) is None]
        done = len(paths) - len(todo)
        if done:
            progress(done)
        self.detector.detect(np.zeros((64, 64, 3), np.uint8))  # load MTCNN
        for n, start in enumerate(range(0, len(todo), self.batch)):
            chunk = todo[start : start + self.batch]
            images = [decode_image(paths[k]) for k in chunk]
            for k, img, ds in zip(chunk, images, self.detector.detect_batch(images), strict=True):
                h, w = img.shape[:2]
                if ds:
                    d = ds[_nearest_centre([x.box for x in ds], h, w)]
                    row = {
                        "found": 1,
                        "faces": len(ds),
                        "box": d.box,
                        "landmarks": d.landmarks,
                        "score": d.score,
                    }
                else:
                    box = _centre_box(h, w)
                    row = {
                        "found": 0,
                        "faces": 0,
                        "box": box,
                        "landmarks": landmarks_from_box(*box),
                        "score": 0,
                    }
                cache.put(hashes[k], row)
            progress(len(chunk))
            if n % 10 == 9:
                cache.save()
        cache.save()
        return [cache.get(h) for h in hashes]

    def _sp5_chip(self, img: np.ndarray, box: np.ndarray) -> np.ndarray:
        """dlib's shape_predictor_5 on the MTCNN box mapped to dlib's box geometry, dlib's chip."""
        import dlib  # bench/test dependency only
        import face_recognition_models as frm

        if self._sp is None:
            self._sp = dlib.shape_predictor(frm.pose_predictor_five_point_model_location())
        x, y, w, h = (float(v) for v in box)
        # dlib's HOG boxes sit lower and are larger than MTCNN's: centre shifted, side 1.161 w
        cx, cy, side = x + w / 2 - 0.025 * w, y + h / 2 + 0.048 * h, 1.161 * w
        rect = dlib.rectangle(
            round(cx - side / 2), round(cy - side / 2), round(cx + side / 2), round(cy + side / 2)
        )
        return np.asarray(dlib.get_face_chip(img, self._sp(img, rect), size=CHIP_SIZE, padding=0.25))

    def _chips(self, img: np.ndarray, det: dict, seed: int) -> tuple[list[np.ndarray], np.ndarray]:
        """The chips to embed for one face (averaged afterwards) and the chip quality is judged on."""
        v = self.variant
        if v.align == "sp5":
            base = self._sp5_chip(img, det["box"])
            chips = [base]
        else:
            m = similarity_transform(
                np.asarray(det["landmarks"], np.float64).reshape(5, 2), MTCNN_TARGETS_150
            )
            base = cv2.warpAffine(
                img,
                m,
                (CHIP_SIZE, CHIP_SIZE),
                flags=cv2.INTER_LINEAR,
                borderMode=cv2.BORDER_CONSTANT,
                borderValue=(0, 0, 0),
            )
            chips = [base]
            if v.jitter:
                rng = np.random.default_rng(seed)
                for jm in jitter_transforms(m, v.jitter, rng):
                    c = cv2.warpAffine(
                        img,
                        jm,
                        (CHIP_SIZE, CHIP_SIZE),
                        flags=cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_CONSTANT,
                        borderValue=(0, 0, 0),
                    )
                    chips.append(c[:, ::-1] if rng.random() < 0.5 else c)
        if v.flip:
            chips += [c[:, ::-1] for c in chips]
        return chips, base

    def embed(
        self,
        paths: Sequence[Path],
        progress: Callable[[int], None] = lambda n: None,
        hashes: Sequence[str] | None = None,
    ) -> list[ImageEmbedding]:
        """One ``ImageEmbedding`` per image (a centre crop stands in for a missed face: ``found`` False)."""
        from recognition.engine.quality import assess_quality

        hashes = list(hashes) if hashes is not None else [file_hash(p) for p in paths]
        cache = ArrayCache(self.cache_dir, "emb", self.version, _EMB_FIELDS)
        todo = [k for k, h in enumerate(hashes) if cache.get(h) is None]
        dets = self._detections([paths[k] for k in todo], [hashes[k] for k in todo], progress) if todo else []
        if not todo:
            progress(len(paths))
        for n, start in enumerate(range(0, len(todo), self.batch)):
            chunk = list(range(start, min(start + self.batch, len(todo))))
            groups, quals = [], []
            for c in chunk:
                k = todo[c]
                img = decode_image(paths[k])
                chips, base = self._chips(img, dets[c], seed=int(hashes[k][:8], 16))
                groups.append(chips)
                d = dets[c]
                q = assess_quality(tuple(d["box"]), d["landmarks"], float(d["score"]), base)
                quals.append([q.metrics.get(f, np.nan) for f in QUALITY_FIELDS])
            flat = np.stack([c for g in groups for c in g])
            vecs = np.concatenate(
                [
                    np.asarray(self.embedder.embed(flat[s : s + 64]), np.float32)
                    for s in range(0, len(flat), 64)
                ]
            )
            pos = 0
            for c, g, q in zip(chunk, groups, quals, strict=True):
                vec = vecs[pos : pos + len(g)].mean(axis=0)
                pos += len(g)
                cache.put(
                    hashes[todo[c]],
                    {"vector": vec, "found": dets[c]["found"], "faces": dets[c]["faces"], "quality": q},
                )
            if n % 10 == 9:
                cache.save()
        cache.save()
        out = []
        for h in hashes:
            r = cache.get(h)
            out.append(
                ImageEmbedding(
                    r["vector"].astype(np.float32),
                    bool(r["found"]),
                    int(r["faces"]),
                    dict(zip(QUALITY_FIELDS, (float(x) for x in r["quality"]), strict=True)),
                )
            )
        return out


class DlibMethod:
    """dlib's own pipeline: HOG detector, shape_predictor_5, compute_face_descriptor (dlib-bin).

    The detector sees a copy downscaled to a longer side of at most ``max_side`` (1024 by
    default, ``--dlib-max-side``; independent of ours) and
    upsamples once when that copy's longer side is at most ``upsample_max_side`` (as
    face_recognition's default ``number_of_times_to_upsample=1``, bounded for speed).
    """

    name = "dlib"

    def __init__(
        self,
        max_side: int = 1024,
        upsample_max_side: int = 800,
        jitters: int = 1,
        cache_dir: Path | None = None,
    ):
        import dlib  # lazily: a test/benchmark dependency only
        import face_recognition_models as frm

        self.dlib = dlib
        self.hog = dlib.get_frontal_face_detector()
        self.sp = dlib.shape_predictor(frm.pose_predictor_five_point_model_location())
        self.rec = dlib.face_recognition_model_v1(frm.face_recognition_model_location())
        self.max_side = max_side
        self.upsample_max_side = upsample_max_side
        self.jitters = jitters
        self.cache_dir = cache_dir

    @property
    def version(self) -> str:
        """dlib's version and the detector settings."""
        return (
            f"dlib-{self.dlib.__version__}(hog,max{self.max_side},up<={self.upsample_max_side})"
            f"+sp5+resnet" + (f"+jitter{self.jitters}" if self.jitters > 1 else "")
        )

    def detect(self, img: np.ndarray) -> list[tuple[float, float, float, float]]:
        """HOG boxes (x, y, w, h) in original pixels."""
        h, w = img.shape[:2]
        scale = min(1.0, self.max_side / max(h, w))
        work = (
            img
            if scale == 1.0
            else cv2.resize(img, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
        )
        up = 1 if max(work.shape[:2]) <= self.upsample_max_side else 0
        rects = self.hog(work, up)
        return [(r.left() / scale, r.top() / scale, r.width() / scale, r.height() / scale) for r in rects]

    def descriptor(self, img: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
        """shape_predictor_5 + compute_face_descriptor for one box."""
        x, y, w, h = box
        rect = self.dlib.rectangle(int(round(x)), int(round(y)), int(round(x + w)), int(round(y + h)))
        shape = self.sp(img, rect)
        return np.asarray(self.rec.compute_face_descriptor(img, shape, self.jitters), dtype=np.float32)

    def embed(
        self,
        paths: Sequence[Path],
        progress: Callable[[int], None] = lambda n: None,
        hashes: Sequence[str] | None = None,
    ) -> list[ImageEmbedding]:
        """One ``ImageEmbedding`` per image (centre crop for a missed face), cached like ours."""
        hashes = list(hashes) if hashes is not None else [file_hash(p) for p in paths]
        cache = ArrayCache(self.cache_dir, "emb", self.version, _EMB_FIELDS)
        pending = 0
        for p, h in zip(paths, hashes, strict=True):
            if cache.get(h) is None:
                img = decode_image(p)
                ih, iw = img.shape[:2]
                boxes = self.detect(img)
                box = boxes[_nearest_centre(boxes, ih, iw)] if boxes else _centre_box(ih, iw)
                cache.put(
                    h,
                    {
                        "vector": self.descriptor(img, box),
                        "found": bool(boxes),
                        "faces": len(boxes),
                        "quality": [np.nan] * len(QUALITY_FIELDS),
                    },
                )
                pending += 1
                if pending % 500 == 0:
                    cache.save()
            progress(1)
        cache.save()
        return [
            ImageEmbedding(
                cache.get(h)["vector"].astype(np.float32),
                bool(cache.get(h)["found"]),
                int(cache.get(h)["faces"]),
            )
            for h in hashes
        ]


# ---------------------------------------------------------------------------- running


def score_pairs(
    pairs: Sequence[Pair], index: dict[Path, int], embs: Sequence[ImageEmbedding], on_miss: str
) -> tuple[list[float], list[bool], list[int], int]:
    """Distances of the pairs; returns (distances, same, folds, dropped)."""
    d, y, f, dropped = [], [], [], 0
    for p in pairs:
        ea, eb = embs[index[p.a]], embs[index[p.b]]
        if on_miss != "centre" and not (ea.found and eb.found):
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
        f"  embedding time        {m.seconds:.1f} s ({m.seconds / max(n_images, 1) * 1000:.0f} ms/image; "
        "0 when cached)",
    ]
    return "\n".join(lines)


def default_cache_dir() -> Path | None:
    """``$FACEWEB_EVAL_CACHE``, else ``.cache/evaluate`` under the current directory."""
    env = os.environ.get("FACEWEB_EVAL_CACHE")
    return Path(env) if env else Path(".cache") / "evaluate"


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    ap = argparse.ArgumentParser(
        prog="python -m bench.evaluate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--pairs", type=Path, help="pairs file (LFW pairs.txt or CSV)")
    src.add_argument("--folders", type=Path, help="folder of identity sub-folders; pairs are generated")
    src.add_argument("--labels", type=Path, help="CSV of file,identity (e.g. labels.csv): all-pairs only")
    ap.add_argument("--root", type=Path, help="image root (default: the pairs/labels file's folder)")
    ap.add_argument("--format", choices=("auto", "lfw", "csv"), default="auto")
    ap.add_argument("--lfw-ext", default=".jpg", help="image extension for LFW names")
    ap.add_argument("--max-pairs", type=int, default=0, help="--folders: cap on same (and different) pairs")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--on-miss",
        choices=("centre", "fail", "drop"),
        default="centre",
        help="image without a detected face (pair lists): embed a centre crop (default), "
        "score its pairs as 'no match', or drop its pairs",
    )
    ap.add_argument(
        "--all-pairs",
        action="store_true",
        help="also score every pair among the images (identity = --labels, else the image's "
        "folder name): TAR at FAR 1e-3/1e-4/1e-5 and AUC",
    )
    ap.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="SPEC",
        help="a variant of our pipeline, e.g. 'flip=0', 'align=sp5', 'max_side=800,upscale=0', "
        "'jitter=4'; repeatable. Default: ours as configured",
    )
    ap.add_argument("--flip", action="store_true", help="shorthand for --variant flip")
    ap.add_argument(
        "--paired",
        action="store_true",
        help="compare every method with the first on the same pairs (identity bootstrap)",
    )
    ap.add_argument("--bootstrap", type=int, default=200, help="bootstrap draws for --paired (default 200)")
    ap.add_argument(
        "--max-side",
        type=int,
        default=DEFAULT_MAX_SIDE,
        help=f"our detector: downscale above this longer side (default {DEFAULT_MAX_SIDE})",
    )
    ap.add_argument(
        "--min-face",
        type=int,
        default=DEFAULT_MIN_FACE_SIZE,
        help=f"our detector: minimum face size, pixels (default {DEFAULT_MIN_FACE_SIZE})",
    )
    ap.add_argument(
        "--upscale-below",
        type=int,
        default=DEFAULT_UPSCALE_BELOW,
        help="our detector: upscale images whose longer side is below this "
        f"(default {DEFAULT_UPSCALE_BELOW}; 0 = never)",
    )
    ap.add_argument(
        "--scale-factor",
        type=float,
        default=DEFAULT_SCALE_FACTOR,
        help=f"our detector: MTCNN pyramid scale factor (default {DEFAULT_SCALE_FACTOR:g})",
    )
    ap.add_argument("--thresholds", type=float, nargs=3, default=DEFAULT_THRESHOLDS, metavar=("P", "R", "O"))
    ap.add_argument(
        "--dlib-max-side",
        type=int,
        default=1024,
        help="dlib's HOG: downscale above this longer side (default 1024)",
    )
    ap.add_argument("--compare-dlib", action="store_true", help="also run dlib's own pipeline (dlib-bin)")
    ap.add_argument("--no-ours", action="store_true", help="skip our pipeline (with --compare-dlib)")
    ap.add_argument(
        "--cache",
        type=Path,
        default=None,
        help="embedding cache folder (default $FACEWEB_EVAL_CACHE, else ./.cache/evaluate)",
    )
    ap.add_argument("--no-cache", action="store_true", help="embed everything afresh, write no cache")
    ap.add_argument("--json", type=Path, help="also write the metrics as JSON here")
    ap.add_argument("-v", "--verbose", action="store_true")
    return ap


def _progress_bar(total: int, desc: str):
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover
        return None
    return tqdm(total=total, desc=desc, file=sys.stderr, leave=False, disable=not sys.stderr.isatty())


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m bench.evaluate``."""
    args = build_parser().parse_args(argv)
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    pairs: list[Pair] = []
    labels: dict[Path, str] | None = None
    if args.labels:
        labels = read_labels(args.labels, args.root or args.labels.parent)
        source = f"labels {args.labels}"
        args.all_pairs = True
    elif args.folders:
        pairs = folder_pairs(args.folders, args.max_pairs, args.seed)
        source = f"folders {args.folders}"
    else:
        fmt = args.format
        if fmt == "auto":
            fmt = "csv" if args.pairs.suffix.lower() == ".csv" else "lfw"
        root = args.root or args.pairs.parent
        pairs = (
            read_lfw_pairs(args.pairs, root, args.lfw_ext)
            if fmt == "lfw"
            else read_csv_pairs(args.pairs, root)
        )
        source = f"{fmt} pairs {args.pairs}"
    pairs = assign_folds(pairs, 10, args.seed)
    paths = sorted({p.a for p in pairs} | {p.b for p in pairs} | set(labels or ()))
    missing = [p for p in paths if not p.exists()]
    if missing:
        print(f"error: {len(missing)} image(s) not found, e.g. {missing[0]}", file=sys.stderr)
        return 2
    index = {p: i for i, p in enumerate(paths)}
    print(
        f"{source}: {len(pairs)} listed pairs ({sum(p.same for p in pairs)} same) over {len(paths)} images; "
        f"on-miss={args.on_miss}"
    )
    cache_dir = None if args.no_cache else (args.cache or default_cache_dir())
    hashes = [file_hash(p) for p in paths]

    base = Variant(
        max_side=args.max_side,
        min_face=args.min_face,
        upscale_below=args.upscale_below,
        scale_factor=args.scale_factor,
        thresholds=tuple(args.thresholds),
    )
    methods: list = []
    if not args.no_ours:
        specs = [""] + list(args.variant) + (["flip"] if args.flip else [])
        seen = set()
        for spec in specs:
            v = Variant.parse(spec, base)
            if v not in seen:
                seen.add(v)
                methods.append(OursMethod(v, cache_dir))
    if args.compare_dlib:
        methods.append(DlibMethod(max_side=args.dlib_max_side, cache_dir=cache_dir))
    if not methods:
        print("error: nothing to evaluate (--no-ours without --compare-dlib)", file=sys.stderr)
        return 2

    embeddings: dict[str, list[ImageEmbedding]] = {}
    seconds: dict[str, float] = {}
    versions: dict[str, str] = {}
    for m in methods:
        bar = _progress_bar(len(paths), m.name)
        t0 = time.perf_counter()
        embeddings[m.name] = m.embed(paths, (lambda n: None) if bar is None else bar.update, hashes)
        seconds[m.name] = time.perf_counter() - t0
        if bar is not None:
            bar.close()
        versions[m.name] = m.version

    report: dict = {"source": source, "on_miss": args.on_miss, "images": len(paths), "results": {}}
    if pairs:
        for name, embs in embeddings.items():
            d, y, f, dropped = score_pairs(pairs, index, embs, args.on_miss)
            met = compute_metrics(d, y, f)
            met.misses = sum(not x.found for x in embs)
            met.fallbacks = met.misses if args.on_miss == "centre" else 0
            met.dropped_pairs = dropped
            met.seconds = seconds[name]
            print(format_metrics(f"{name}  [{versions[name]}]", met, len(paths)))
            report["results"][name] = {**vars(met), "version": versions[name]}
    if args.all_pairs:
        ap_set = AllPairs.from_labels(labels if labels is not None else labels_from_folders(paths))
        order = [index[p] for p in ap_set.paths]
        dists = {}
        report["all_pairs"] = {}
        for name, embs in embeddings.items():
            vecs = np.stack([embs[k].vector for k in order])
            dists[name] = ap_set.distances(vecs)
            met = all_pairs_metrics(ap_set, dists[name], sum(not embs[k].found for k in order))
            print(format_all_pairs(f"{name}  [{versions[name]}]", met))
            report["all_pairs"][name] = {
                **{k: v for k, v in vars(met).items() if k not in ("tar", "thresholds")},
                "tar": {f"{k:g}": v for k, v in met.tar.items()},
                "thresholds": {f"{k:g}": v for k, v in met.thresholds.items()},
                "version": versions[name],
            }
        if args.paired and len(dists) > 1:
            names = list(dists)
            report["paired"] = {}
            for other in names[1:]:
                diffs = paired_bootstrap(ap_set, dists[names[0]], dists[other], args.bootstrap, args.seed)
                print(format_paired(names[0], other, diffs, args.bootstrap))
                report["paired"][f"{other} vs {names[0]}"] = [
                    {**vars(x), "verdict": x.verdict} for x in diffs
                ]
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
