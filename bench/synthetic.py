"""Synthetic face-like embeddings drawn from a fitted distribution (for scale work only).

The distribution file holds ``mean`` (128), ``between`` and ``within`` (128x128
covariances) fitted to real dlib descriptors. A synthetic person is
``mean + N(0, between)``; each of their faces adds ``N(0, within)``. Never use these as
test data for recognition itself: real faces have thicker tails.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DEFAULT_DISTRIBUTION = (Path(__file__).resolve().parents[2] / "shared" / "data"
                        / "face-embedding-distribution.npz")


def distribution_path(path: str | os.PathLike | None = None) -> Path:
    """The distribution file: ``path``, else ``FACEWEB_FACE_DISTRIBUTION``, else ../shared/data/."""
    chosen = Path(path or os.environ.get("FACEWEB_FACE_DISTRIBUTION") or DEFAULT_DISTRIBUTION)
    if not chosen.is_file():
        raise FileNotFoundError(f"no face-embedding distribution file at {chosen} "
                                "(set FACEWEB_FACE_DISTRIBUTION or pass --distribution)")
    return chosen


def _sqrt_psd(cov: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh((cov + cov.T) / 2)
    return vectors * np.sqrt(np.clip(values, 0, None))


@dataclass
class FaceDistribution:
    mean: np.ndarray
    between: np.ndarray
    within: np.ndarray

    @classmethod
    def load(cls, path: str | os.PathLike | None = None) -> FaceDistribution:
        data = np.load(distribution_path(path))
        return cls(mean=data["mean"].astype(np.float64), between=data["between"].astype(np.float64),
                   within=data["within"].astype(np.float64))

    def __post_init__(self):
        self._lb = _sqrt_psd(self.between)
        self._lw = _sqrt_psd(self.within)

    def people(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` identity centres, float32 (n, 128)."""
        z = rng.standard_normal((n, self.mean.size), dtype=np.float32)
        return (self.mean.astype(np.float32) + z @ self._lb.T.astype(np.float32)).astype(np.float32)

    def faces_of(self, centres: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One face per row of ``centres``: centre + N(0, within)."""
        z = rng.standard_normal(centres.shape, dtype=np.float32)
        return (centres + z @ self._lw.T.astype(np.float32)).astype(np.float32)


def gallery(dist: FaceDistribution, n_faces: int, rng: np.random.Generator, *, max_faces_per_person: int = 5
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """About ``n_faces`` faces of people with 1..max faces each: (centres, faces, person_of_face)."""
    counts = rng.integers(1, max_faces_per_person + 1, size=n_faces)  # more than enough people
    cum = np.cumsum(counts)
    n_people = int(np.searchsorted(cum, n_faces) + 1)
    counts = counts[:n_people]
    counts[-1] -= int(cum[n_people - 1] - n_faces)
    centres = dist.people(n_people, rng)
    person_of_face = np.repeat(np.arange(n_people), counts)
    faces = np.empty((n_faces, dist.mean.size), dtype=np.float32)
    for start in range(0, n_faces, 200_000):
        stop = min(start + 200_000, n_faces)
        faces[start:stop] = dist.faces_of(centres[person_of_face[start:stop]], rng)
    return centres, faces, person_of_face


def exact_knn(gallery_vectors: np.ndarray, queries: np.ndarray, k: int, *, allowed: np.ndarray | None = None,
              chunk: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest (Euclidean) in numpy: (indices (q,k), distances (q,k)), nearest first."""
    g = gallery_vectors.astype(np.float32)
    g_sq = np.einsum("ij,ij->i", g, g)
    if allowed is not None:
        g_sq = np.where(allowed, g_sq, np.inf).astype(np.float32)
    out_i = np.empty((len(queries), k), dtype=np.int64)
    out_d = np.empty((len(queries), k), dtype=np.float32)
    for start in range(0, len(queries), chunk):
        q = queries[start:start + chunk].astype(np.float32)
        d2 = g_sq[None, :] - 2.0 * (q @ g.T) + np.einsum("ij,ij->i", q, q)[:, None]
        part = np.argpartition(d2, k, axis=1)[:, :k]
        vals = np.take_along_axis(d2, part, axis=1)
        order = np.argsort(vals, axis=1)
        out_i[start:start + chunk] = np.take_along_axis(part, order, axis=1)
        out_d[start:start + chunk] = np.sqrt(np.clip(np.take_along_axis(vals, order, axis=1), 0, None))
    return out_i, out_d
