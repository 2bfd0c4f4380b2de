"""How recognition degrades with each face-quality signal, and what the quality gates cost.

Run ``python -m bench.quality_report --root DIR`` on a labelled image folder (identity = the
image's folder name, as LFW's ``Name/Name_0001.jpg``; or ``--labels file,identity CSV``).
Embeddings come from the evaluator's cache (``bench.evaluate``; computed once when missing).

For every signal the product's gate uses (sharpness, face size, yaw, pitch, roll, detector
score) the images are bucketed by that signal; a pair belongs to the bucket of its worse image.
With one threshold for the whole set, the one at FAR 1e-4 over every different-person pair
(as the product uses one threshold), the table prints per bucket: the share of images, the
genuine pairs and their TAR (with a Wilson 95% interval), and the different-person pairs and
their FAR. A bucket whose TAR interval lies below the set's TAR is where recognition measurably
degrades; the gates in ``recognition.engine.quality`` are set from these tables.

Then, for the proposal gate and the (stricter) enrolment gate: the share of images without a
usable face (no face found, or gated), and the TAR / FAR of the pairs the gate keeps against
those it rejects.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bench.evaluate import (
    AllPairs,
    OursMethod,
    Variant,
    default_cache_dir,
    file_hash,
    labels_from_folders,
    read_labels,
    tar_at_fars,
)
from recognition.engine.quality import ENROL_THRESHOLDS, PROPOSAL_THRESHOLDS, QualityThresholds, gate_reasons

__all__ = ["BUCKETS", "main", "wilson"]

IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".pgm", ".bmp", ".webp"}

# Bucket edges per signal; "worse" is the lower value, except for the pose angles (absolute value, higher).
BUCKETS: dict[str, tuple[list[float], bool]] = {
    "sharpness": ([0, 10, 15, 20, 25, 30, 40, 60, 100, math.inf], False),
    "face_size": ([0, 20, 30, 40, 50, 60, 80, 100, 150, math.inf], False),
    "yaw": ([0, 10, 20, 30, 40, 50, 60, math.inf], True),
    "pitch": ([0, 10, 20, 30, 40, math.inf], True),
    "roll": ([0, 10, 20, 30, 45, math.inf], True),
    "score": ([0, 0.8, 0.9, 0.95, 0.98, 0.99, 0.999, 1.0001], False),
}


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a proportion k/n."""
    if n == 0:
        return float("nan"), float("nan")
    p = k / n
    den = 1 + z * z / n
    mid = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return max(0.0, mid - half), min(1.0, mid + half)


def _pair_worst(values: np.ndarray, ap: AllPairs, higher_is_worse: bool) -> np.ndarray:
    a, b = values[ap.i], values[ap.j]
    return np.maximum(a, b) if higher_is_worse else np.minimum(a, b)


def bucket_table(signal: str, values: np.ndarray, ap: AllPairs, d: np.ndarray, thr: float) -> list[dict]:
    """Rows of one signal's table (see the module doc)."""
    edges, higher_worse = BUCKETS[signal]
    v = np.abs(values) if signal in ("yaw", "pitch", "roll") else values
    worst = _pair_worst(v, ap, higher_worse)
    rows = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        img = (v >= lo) & (v < hi)
        sel = (worst >= lo) & (worst < hi)
        gen, imp = sel & ap.same, sel & ~ap.same
        k = int((d[gen] < thr).sum())
        n = int(gen.sum())
        rows.append(
            {
                "bucket": f"[{lo:g}, {hi:g})",
                "images": int(img.sum()),
                "genuine": n,
                "tar": k / n if n else float("nan"),
                "tar_ci": wilson(k, n),
                "impostor": int(imp.sum()),
                "far": float((d[imp] < thr).mean()) if imp.any() else float("nan"),
            }
        )
    return rows


def gate_split(
    name: str,
    th: QualityThresholds,
    quality: list[dict[str, float]],
    found: np.ndarray,
    ap: AllPairs,
    d: np.ndarray,
    thr: float,
) -> dict:
    """Images a gate rejects, and TAR / FAR of kept-kept pairs against pairs with a rejected image."""
    usable = np.array([f and not gate_reasons(q, th) for q, f in zip(quality, found, strict=True)])
    keep = usable[ap.i] & usable[ap.j]
    out = {
        "gate": name,
        "images": len(usable),
        "unusable": int((~usable).sum()),
        "no_face": int((~found).sum()),
    }
    for label, sel in (("kept", keep), ("rejected", ~keep)):
        gen, imp = sel & ap.same, sel & ~ap.same
        k, n = int((d[gen] < thr).sum()), int(gen.sum())
        out[label] = {
            "genuine": n,
            "tar": k / n if n else float("nan"),
            "tar_ci": wilson(k, n),
            "impostor": int(imp.sum()),
            "far": float((d[imp] < thr).mean()) if imp.any() else float("nan"),
        }
    return out


def _pct(x: float) -> str:
    return "   n/a" if x != x else f"{x * 100:6.2f}"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m bench.quality_report``."""
    ap_ = argparse.ArgumentParser(
        prog="python -m bench.quality_report",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap_.add_argument("--root", type=Path, required=True, help="image folder (identity = sub-folder name)")
    ap_.add_argument("--labels", type=Path, help="CSV of file,identity instead of folder names")
    ap_.add_argument("--far", type=float, default=1e-4, help="FAR of the one threshold (default 1e-4)")
    ap_.add_argument("--variant", default="", help="pipeline variant (bench.evaluate --variant syntax)")
    ap_.add_argument("--cache", type=Path, default=None, help="embedding cache (as bench.evaluate)")
    ap_.add_argument("--json", type=Path, help="also write the tables as JSON here")
    args = ap_.parse_args(argv)
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)
    if args.labels:
        labels = read_labels(args.labels, args.root)
    else:
        labels = labels_from_folders(
            sorted(p for p in args.root.rglob("*") if p.suffix.lower() in IMAGE_EXTS)
        )
    if len(labels) < 3:
        print(f"error: fewer than 3 labelled images under {args.root}", file=sys.stderr)
        return 2
    ap = AllPairs.from_labels(labels)
    method = OursMethod(Variant.parse(args.variant), args.cache or default_cache_dir())
    embs = method.embed(ap.paths, hashes=[file_hash(p) for p in ap.paths])
    d = ap.distances(np.stack([e.vector for e in embs]))
    found = np.array([e.found for e in embs])
    tar, thr = tar_at_fars(d, ap.same, (args.far,))[args.far]
    quality = [e.quality for e in embs]
    print(
        f"{len(ap.paths)} images, {ap.identities} identities, {int(ap.same.sum())} genuine and "
        f"{int((~ap.same).sum())} impostor pairs; {int((~found).sum())} images without a detected face"
    )
    print(f"pipeline {method.version}")
    print(f"one threshold for all: {thr:.4f} (FAR {args.far:g} over all pairs), TAR {tar * 100:.2f}%")
    report: dict = {
        "images": len(ap.paths),
        "threshold": thr,
        "far": args.far,
        "tar": tar,
        "signals": {},
        "version": method.version,
    }
    for signal in ("sharpness", "face_size", "yaw", "pitch", "roll", "score"):
        values = np.array([q[signal] for q in quality], dtype=np.float64)
        rows = bucket_table(signal, values, ap, d, thr)
        report["signals"][signal] = rows
        worse = "higher |value| is worse" if BUCKETS[signal][1] else "lower is worse"
        print(f"\n{signal} (a pair counts in the bucket of its worse image; {worse})")
        print(
            f"  {'bucket':<16}{'images':>8}{'%':>7}{'genuine':>9}{'TAR %':>8}  {'95% CI':<17}"
            f"{'impostor':>10}{'FAR x1e-4':>10}"
        )
        for r in rows:
            lo, hi = r["tar_ci"]
            far = "   n/a" if r["far"] != r["far"] else f"{r['far'] * 1e4:8.2f}"
            print(
                f"  {r['bucket']:<16}{r['images']:>8}{r['images'] / len(ap.paths) * 100:7.2f}"
                f"{r['genuine']:>9}"
                f"{_pct(r['tar']):>8}  [{_pct(lo)}, {_pct(hi)}]{r['impostor']:>10}{far:>10}"
            )
    report["gates"] = []
    print("\ngates (an image is usable when a face was found and passes the gate)")
    for name, th in (("proposals", PROPOSAL_THRESHOLDS), ("enrolment", ENROL_THRESHOLDS)):
        g = gate_split(name, th, quality, found, ap, d, thr)
        report["gates"].append(g)
        print(
            f"  {name:<10} images without a usable face {g['unusable']} of {g['images']} "
            f"({g['unusable'] / g['images'] * 100:.2f}%; {g['no_face']} with no face found)"
        )
        for label in ("kept", "rejected"):
            x = g[label]
            lo, hi = x["tar_ci"]
            print(
                f"    {label:<9} genuine {x['genuine']:>6} TAR {_pct(x['tar'])}% [{_pct(lo)}, {_pct(hi)}]  "
                f"impostor {x['impostor']:>8} FAR {x['far'] * 1e4:.2f}e-4"
            )
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
