"""Fit the open-set decision's distance model (``recognition/services/distance_model.json``).

Run ``python -m bench.fit_distance_model --root DIR [--variant SPEC] [--write]`` on a labelled
image folder (identity = sub-folder name, as LFW's). Embeddings come from the evaluator's cache
(``bench.evaluate``), made by the product's pipeline unless ``--variant`` says otherwise.

The model (see ``recognition.services.decision``): person = mean + N(0, B), face = person +
N(0, W). W is the pooled within-person covariance of the people with at least two images; B is
the covariance of the person means less the share of W they still carry (W / n per person). The
squared distance of two faces of different people is then a weighted sum of chi-squares with the
eigenvalues of 2(B + W) as weights, of one person with those of 2W. Printed: the mean squared
impostor and genuine distances of the fit against the measured ones, and against the model in
the file, so that a pipeline change that moves distances shows before it is written.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bench.evaluate import OursMethod, Variant, default_cache_dir, file_hash, labels_from_folders
from bench.quality_report import IMAGE_EXTS

__all__ = ["fit", "main"]

MODEL_FILE = Path(__file__).resolve().parents[1] / "recognition" / "services" / "distance_model.json"
MIN_EIGENVALUE = 1e-6  # drop the null space (fewer people than dimensions in a share of the fit)


def fit(vectors: np.ndarray, ident: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict]:
    """(B, W, counts) from (N, 128) vectors and (N,) identity ids."""
    ids, inv, counts = np.unique(ident, return_inverse=True, return_counts=True)
    means = np.zeros((len(ids), vectors.shape[1]))
    np.add.at(means, inv, vectors)
    means /= counts[:, None]
    multi = counts[inv] >= 2
    resid = vectors[multi] - means[inv[multi]]
    dof = int(multi.sum() - (counts >= 2).sum())
    within = resid.T @ resid / max(dof, 1)
    centred = means - means.mean(axis=0)
    between = centred.T @ centred / (len(ids) - 1) - within * float(np.mean(1.0 / counts))
    # keep B positive semi-definite: the correction can push small directions below zero
    vals, vecs = np.linalg.eigh((between + between.T) / 2)
    between = (vecs * np.clip(vals, 0, None)) @ vecs.T
    return (
        between,
        within,
        {
            "n_identities": int(len(ids)),
            "n_faces": int(len(vectors)),
            "identities_with_two_or_more": int((counts >= 2).sum()),
        },
    )


def _eig(m: np.ndarray) -> list[float]:
    vals = np.sort(np.linalg.eigvalsh((m + m.T) / 2))[::-1]
    return [float(f"{v:.6g}") for v in vals if v > MIN_EIGENVALUE]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m bench.fit_distance_model``."""
    ap = argparse.ArgumentParser(
        prog="python -m bench.fit_distance_model",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--root", type=Path, required=True, help="image folder (identity = sub-folder name)")
    ap.add_argument("--variant", default="", help="pipeline variant (bench.evaluate --variant syntax)")
    ap.add_argument("--cache", type=Path, default=None, help="embedding cache (as bench.evaluate)")
    ap.add_argument("--write", action="store_true", help=f"write the fit to {MODEL_FILE.name}")
    args = ap.parse_args(argv)
    labels = labels_from_folders(sorted(p for p in args.root.rglob("*") if p.suffix.lower() in IMAGE_EXTS))
    if len(set(labels.values())) < 3:
        print(f"error: fewer than 3 identities under {args.root}", file=sys.stderr)
        return 2
    paths = sorted(labels)
    names = sorted(set(labels.values()))
    ident = np.array([names.index(labels[p]) for p in paths])
    method = OursMethod(Variant.parse(args.variant), args.cache or default_cache_dir())
    vectors = np.stack([e.vector for e in method.embed(paths, hashes=[file_hash(p) for p in paths])])
    vectors = vectors.astype(np.float64)
    between, within, counts = fit(vectors, ident)
    imp, gen = _eig(2 * (between + within)), _eig(2 * within)
    # measured mean squared distances, for comparison with the model's (the sums of its weights)
    same = ident[:, None] == ident[None, :]
    norms = (vectors * vectors).sum(axis=1)
    sq = norms[:, None] + norms[None, :] - 2.0 * vectors @ vectors.T
    upper = np.triu(np.ones_like(same), 1)
    print(f"pipeline {method.version}")
    print(
        f"{counts['n_faces']} faces of {counts['n_identities']} people "
        f"({counts['identities_with_two_or_more']} with two or more)"
    )
    print(f"mean squared distance, impostor: model {sum(imp):.4f}, measured {sq[upper & ~same].mean():.4f}")
    print(f"mean squared distance, genuine:  model {sum(gen):.4f}, measured {sq[upper & same].mean():.4f}")
    old = json.loads(MODEL_FILE.read_text())
    print(
        f"model in {MODEL_FILE.name}: impostor {sum(old['impostor_eigenvalues']):.4f}, "
        f"genuine {sum(old['genuine_eigenvalues']):.4f} "
        f"({old['n_faces']} faces, {old['n_identities']} people)"
    )
    if args.write:
        model = {
            "source": f"bench.fit_distance_model on {counts['n_faces']} faces of {counts['n_identities']} "
            f"people, pipeline {method.version}: eigenvalues of 2(between+within) and 2*within",
            "n_identities": counts["n_identities"],
            "n_faces": counts["n_faces"],
            "pipeline": method.version,
            "impostor_eigenvalues": imp,
            "genuine_eigenvalues": gen,
        }
        MODEL_FILE.write_text(json.dumps(model, indent=0) + "\n")
        print(f"written to {MODEL_FILE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
