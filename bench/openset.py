"""Open-set identification on real photos plus synthetic distractors.

Real identities from labelled folders are split at random: half are enrolled (up to
``enrol_per_person`` photos each into the gallery; their other photos are probes of
enrolled people), the other half are never enrolled (all their photos are stranger
probes). Synthetic distractor faces drawn from the distribution file fill the gallery up
to each size (1k .. 1M). Search is exact (numpy). For each gallery size it prints, at
FPIR 1% and 0.1%:

* the threshold the application would use (``services.decision.threshold_for``) with the
  FPIR and true identification rate (TIR: an enrolled person's new photo matched to them
  at rank 1 within the threshold) measured at it on real photos, and
* the empirical threshold (the strangers' nearest-distance quantile) and its TIR.

The same is then done with synthetic probes only (thousands of strangers, so FPIR 0.1%
is measurable). Several random splits are pooled for more probes.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.synthetic import FaceDistribution, gallery


@dataclass
class LabelledSet:
    vectors: np.ndarray  # (n, 128)
    labels: np.ndarray  # (n,) identity strings
    skipped: int


def _labelled_paths(root: Path) -> list[tuple[Path, str]]:
    """deepface layout (identities.csv: file,identity_id) or one folder per identity (att_orl)."""
    ids = root / "identities.csv"
    if ids.is_file():
        with ids.open() as fh:
            return [(root / row["file"], f"{root.name}:{row['identity_id']}") for row in csv.DictReader(fh)]
    exts = {".jpg", ".jpeg", ".png", ".pgm", ".bmp", ".webp"}
    return [(p, f"{root.name}:{p.parent.name}") for p in sorted(root.rglob("*"))
            if p.suffix.lower() in exts and p.parent != root]


def embed_labelled(roots: Sequence[Path], cache_dir: Path, say: Callable[[str], None] = print) -> LabelledSet:
    """Embed every labelled photo with the application's pipeline (largest good face); cached."""
    items = [pair for root in roots for pair in _labelled_paths(Path(root))]
    key = hashlib.sha256("\n".join(f"{p}|{label}" for p, label in items).encode()).hexdigest()[:16]
    cache = cache_dir / f"openset-embeddings-{key}.npz"
    if cache.is_file():
        data = np.load(cache, allow_pickle=False)
        return LabelledSet(data["vectors"], data["labels"], int(data["skipped"]))
    from recognition.engine.pipeline import FacePipeline

    pipeline = FacePipeline()
    vectors, labels, skipped = [], [], 0
    for n, (path, label) in enumerate(items, 1):
        faces = [f for f in pipeline.process(path) if f.embedding is not None]
        if not faces:
            skipped += 1
            continue
        best = max(faces, key=lambda f: (f.quality.is_good, f.box[2] * f.box[3]))
        vectors.append(best.embedding.astype(np.float32))
        labels.append(label)
        if n % 50 == 0:
            say(f"  embedded {n}/{len(items)} photos")
    cache_dir.mkdir(parents=True, exist_ok=True)
    out = LabelledSet(np.stack(vectors), np.asarray(labels), skipped)
    np.savez(cache, vectors=out.vectors, labels=out.labels, skipped=skipped)
    return out


def _nearest_by_prefix(pool: np.ndarray, probes: np.ndarray, sizes: Sequence[int], chunk: int = 100_000
                       ) -> np.ndarray:
    """Min distance from each probe to the first ``size`` pool vectors, for each size: (len(sizes), n)."""
    if len(probes) > 500:
        return np.concatenate([_nearest_by_prefix(pool, probes[i:i + 500], sizes, chunk)
                               for i in range(0, len(probes), 500)], axis=1)
    best = np.full((len(sizes), len(probes)), np.inf, dtype=np.float32)
    p_sq = np.einsum("ij,ij->i", probes, probes)
    running = np.full(len(probes), np.inf, dtype=np.float32)
    sizes = list(sizes)
    for start in range(0, max(sizes), chunk):
        block = pool[start:start + chunk]
        d2 = np.einsum("ij,ij->i", block, block)[None, :] - 2 * probes @ block.T + p_sq[:, None]
        for j, size in enumerate(sizes):
            if start < size <= start + chunk:
                best[j] = np.minimum(running, d2[:, :size - start].min(axis=1))
        running = np.minimum(running, d2.min(axis=1))
    return np.sqrt(np.clip(best, 0, None))


@dataclass
class Cell:
    gallery: int
    target: float
    app_threshold: float
    app_fpir: float
    app_tir: float
    emp_threshold: float
    emp_fpir: float
    emp_tir: float
    strangers: int
    genuine: int


def _evaluate(enrolled_vectors, enrolled_ids, genuine_probes, genuine_ids, stranger_probes, pool, sizes,
              targets, threshold_for, *, g_pool=None, s_pool=None) -> list[Cell]:
    """Exact open-set figures for real or synthetic enrolled sets plus distractors from ``pool``.

    ``g_pool`` / ``s_pool``: the probes' nearest distractor distances per size, when precomputed.
    """
    def nearest(probes):
        d = np.linalg.norm(probes[:, None, :] - enrolled_vectors[None, :, :], axis=2)
        i = d.argmin(axis=1)
        return d[np.arange(len(probes)), i], enrolled_ids[i]

    g_d, g_who = nearest(genuine_probes)
    s_d, _ = nearest(stranger_probes)
    distractors = [max(s - len(enrolled_vectors), 1) for s in sizes]
    if g_pool is None:
        g_pool = _nearest_by_prefix(pool, genuine_probes, distractors)
    if s_pool is None:
        s_pool = _nearest_by_prefix(pool, stranger_probes, distractors)
    cells = []
    for j, size in enumerate(sizes):
        s_best = np.minimum(s_d, s_pool[j])
        # An enrolled probe is identified when its own person is nearest (not a distractor) and close.
        g_right = (g_who == genuine_ids) & (g_d < g_pool[j])
        for target in targets:
            t_app = threshold_for(size, target)
            ranked = np.sort(s_best)
            k = int(np.floor(target * len(ranked)))  # at most k strangers may pass
            t_emp = float(np.nextafter(ranked[k], 0)) if k < len(ranked) else float(ranked[-1])
            cells.append(Cell(
                gallery=size, target=target,
                app_threshold=t_app, app_fpir=float((s_best <= t_app).mean()),
                app_tir=float((g_right & (g_d <= t_app)).mean()),
                emp_threshold=t_emp, emp_fpir=float((s_best <= t_emp).mean()),
                emp_tir=float((g_right & (g_d <= t_emp)).mean()),
                strangers=len(s_best), genuine=len(g_d)))
    return cells


def real_openset(labelled: LabelledSet, pool: np.ndarray, sizes, targets, threshold_for, *, splits: int,
                 enrol_per_person: int, seed: int) -> list[Cell]:
    """Pool several random enrolled/never-enrolled splits of the real identities."""
    rng = np.random.default_rng(seed)
    identities = np.unique(labelled.labels)
    parts = []
    for _ in range(splits):
        chosen = set(rng.permutation(identities)[: len(identities) // 2].tolist())
        enrol_idx, genuine_idx, stranger_idx = [], [], []
        for ident in identities:
            idx = rng.permutation(np.flatnonzero(labelled.labels == ident))
            if ident in chosen and len(idx) > 1:
                enrol_idx += idx[:min(enrol_per_person, len(idx) - 1)].tolist()
                genuine_idx += idx[min(enrol_per_person, len(idx) - 1):].tolist()
            elif ident not in chosen:
                stranger_idx += idx.tolist()
        parts.append((np.array(enrol_idx), np.array(genuine_idx), np.array(stranger_idx)))
    v, lab = labelled.vectors, labelled.labels
    # Distances to the distractors do not depend on the split: compute them once for every photo
    # (distractor count = size minus the average number of enrolled real faces).
    enrolled_faces = int(round(np.mean([len(p[0]) for p in parts])))
    near = _nearest_by_prefix(pool, v, [max(size - enrolled_faces, 1) for size in sizes])
    # Evaluate each split separately, then pool the per-probe outcomes by summing counts.
    pooled: dict[tuple[int, float], list] = {}
    for e, g, s in parts:
        for cell in _evaluate(v[e], lab[e], v[g], lab[g], v[s], pool, sizes, targets, threshold_for,
                              g_pool=near[:, g], s_pool=near[:, s]):
            pooled.setdefault((cell.gallery, cell.target), []).append(cell)
    out = []
    for (size, target), cells in pooled.items():
        ns = sum(c.strangers for c in cells)
        ng = sum(c.genuine for c in cells)
        out.append(Cell(
            gallery=size, target=target, app_threshold=cells[0].app_threshold,
            app_fpir=sum(c.app_fpir * c.strangers for c in cells) / ns,
            app_tir=sum(c.app_tir * c.genuine for c in cells) / ng,
            emp_threshold=float(np.median([c.emp_threshold for c in cells])),
            emp_fpir=sum(c.emp_fpir * c.strangers for c in cells) / ns,
            emp_tir=sum(c.emp_tir * c.genuine for c in cells) / ng, strangers=ns, genuine=ng))
    return sorted(out, key=lambda c: (c.gallery, -c.target))


def synthetic_openset(dist: FaceDistribution, pool: np.ndarray, sizes, targets, threshold_for, *,
                      enrolled_people: int, probes: int, seed: int) -> list[Cell]:
    """The same figures with synthetic enrolled people (1-5 faces) and many synthetic strangers."""
    rng = np.random.default_rng(seed + 1)
    centres, faces, owner = gallery(dist, min(enrolled_people * 3, min(sizes) // 2), rng)
    who = rng.integers(0, len(centres), probes)
    genuine = dist.faces_of(centres[who], rng)
    strangers = dist.faces_of(dist.people(probes, rng), rng)
    return _evaluate(faces, owner, genuine, who, strangers, pool, sizes, targets, threshold_for)


HEADER = ("gallery    FPIR target | app threshold  FPIR    TIR   | empirical threshold  FPIR    TIR   "
          "| probes (strangers/enrolled)")


def format_cell(c: Cell) -> str:
    return (f"{c.gallery:>9,}  {c.target:>6.1%}     |   {c.app_threshold:.4f}    {c.app_fpir:6.2%} "
            f"{c.app_tir:6.1%} |   {c.emp_threshold:.4f}           {c.emp_fpir:6.2%} {c.emp_tir:6.1%} "
            f"| {c.strangers}/{c.genuine}")
