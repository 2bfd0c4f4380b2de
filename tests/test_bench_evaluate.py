"""The evaluator (bench.evaluate): labelled fixture photos scored for ours and dlib's pipeline in
one run, all-pairs figures, the on-disk embedding cache, and the paired bootstrap comparison."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import FACES

from bench import evaluate

# Identities from tests/fixtures/faces/labels.csv (the repo's own labels, not judged by eye).
PAIRS = """path_a,path_b,same
obama.jpg,obama2.jpg,1
obama.jpg,obama3.jpg,1
obama2.jpg,obama3.jpg,1
obama_small.jpg,obama.jpg,1
obama.jpg,biden.jpg,0
obama2.jpg,biden.jpg,0
obama3.jpg,biden.jpg,0
obama_small.jpg,biden.jpg,0
obama_small.jpg,two_people.jpg,0
biden.jpg,kit_with_rose.jpg,0
"""


def test_the_evaluator_scores_labelled_pairs_for_ours_and_dlib(tmp_path, capsys):
    pairs = tmp_path / "pairs.csv"
    pairs.write_text(PAIRS)
    out = tmp_path / "metrics.json"
    assert (
        evaluate.main(
            [
                "--pairs",
                str(pairs),
                "--root",
                str(FACES),
                "--compare-dlib",
                "--cache",
                str(tmp_path / "cache"),
                "--json",
                str(out),
            ]
        )
        == 0
    )
    report = json.loads(out.read_text())
    assert report["images"] == 7
    for name in ("ours", "dlib"):
        m = report["results"][name]
        assert (m["pairs"], m["positives"], m["negatives"]) == (10, 4, 6)
        assert m["misses"] == 0 and m["dropped_pairs"] == 0
        assert m["auc"] >= 0.85  # obama against biden and the others is not a hard call
        assert 0.4 < m["recommended_threshold"] < 0.7
    assert report["results"]["ours"]["version"].startswith("mtcnn-")
    printed = capsys.readouterr().out
    assert "10-fold accuracy" in printed and "== dlib" in printed


def test_all_pairs_of_the_labelled_photos_with_a_cache_that_is_reused(tmp_path, capsys):
    """labels.csv gives every same and different pair; the second run reads the cache, same figures."""
    cache = tmp_path / "cache"
    args = [
        "--labels",
        str(FACES / "labels.csv"),
        "--root",
        str(FACES),
        "--compare-dlib",
        "--variant",
        "flip=0",
        "--paired",
        "--bootstrap",
        "50",
        "--cache",
        str(cache),
    ]
    out1, out2 = tmp_path / "a.json", tmp_path / "b.json"
    assert evaluate.main([*args, "--json", str(out1)]) == 0
    r1 = json.loads(out1.read_text())
    # single-person photos of labels.csv found in the fixture folder: obama x4, biden x1
    assert r1["images"] == 5
    for name in ("ours", "ours[noflip]", "dlib"):
        m = r1["all_pairs"][name]
        assert (m["positives"], m["negatives"], m["identities"]) == (6, 4, 2)
        assert m["misses"] == 0
        assert m["auc"] == 1.0  # obama's 4 photos are nearer each other than to biden
    # on 5 photos of 2 people nothing can be decided: the interval must say so
    verdicts = {v["stat"]: v["verdict"] for v in r1["paired"]["ours[noflip] vs ours"]}
    assert set(verdicts.values()) == {"no difference"}
    files = sorted(p.name for p in cache.iterdir())
    assert len([f for f in files if f.startswith("emb-")]) == 3  # ours, ours[noflip], dlib
    assert len([f for f in files if f.startswith("det-")]) == 1  # the variants share detections
    stamp = {p: p.stat().st_mtime_ns for p in cache.iterdir()}
    assert evaluate.main([*args, "--json", str(out2)]) == 0
    assert json.loads(out2.read_text())["all_pairs"] == r1["all_pairs"]
    assert {p: p.stat().st_mtime_ns for p in cache.iterdir()} == stamp  # nothing re-embedded
    printed = capsys.readouterr().out
    assert "TAR at FAR 0.0001" in printed and "== paired: ours[noflip] vs ours" in printed


def test_a_cache_of_another_configuration_is_never_used(tmp_path):
    """The cache file is named by the configuration; a record under one config is not read by another."""
    c1 = evaluate.ArrayCache(tmp_path, "emb", "config-A", {"vector": (2,)})
    c1.put("h1", {"vector": [1.0, 2.0]})
    c1.save()
    assert evaluate.ArrayCache(tmp_path, "emb", "config-A", {"vector": (2,)}).get("h1") is not None
    assert evaluate.ArrayCache(tmp_path, "emb", "config-B", {"vector": (2,)}).get("h1") is None


def _synthetic(n_id: int = 60, per: int = 4, seed: int = 0) -> evaluate.AllPairs:
    labels = {Path(f"p{k}/img{m}.jpg"): f"p{k}" for k in range(n_id) for m in range(per)}
    return evaluate.AllPairs.from_labels(labels)


def test_all_pairs_tar_at_far_counts_exactly():
    ap = _synthetic(n_id=50, per=2)  # 50 same pairs, 4900 different pairs
    d = np.where(ap.same, 0.3, 0.9).astype(np.float32)
    neg_idx = np.flatnonzero(~ap.same)
    d[neg_idx[:4]] = 0.1  # 4 false accepts below every genuine pair
    m = evaluate.all_pairs_metrics(ap, d)
    assert (m.positives, m.negatives) == (50, 4900)
    # FAR 1e-3 allows 4 false accepts: the threshold sits above them, every genuine pair is accepted
    assert m.tar[1e-3] == 1.0
    # FAR 1e-4 allows none: the threshold is 0.1, nothing is accepted
    assert m.tar[1e-4] == 0.0


def test_a_gain_on_one_person_only_is_not_called_better():
    """The attack on the statistics: a change that helps one identity's many pairs looks significant
    to a pair-level test; resampling identities says "no difference"."""
    rng = np.random.default_rng(1)
    ap = _synthetic(n_id=60, per=4)
    d_a = np.where(
        ap.same, rng.normal(0.6, 0.1, len(ap.same)), rng.normal(0.8, 0.1, len(ap.same))
    ).astype(np.float32)
    d_b = d_a.copy()
    one = (ap.ident[ap.i] == 0) & ap.same
    d_b[one] -= 0.3  # only person 0's pairs improve
    diffs = {x.stat: x for x in evaluate.paired_bootstrap(ap, d_a, d_b, n_boot=200)}
    # B is at least as good on every pair and strictly better on some: any resampling of pairs
    # would find a gain every time; a third of identity draws leave person 0 out
    assert diffs["AUC"].diff > 0 and diffs["AUC"].hi > 0
    assert diffs["AUC"].verdict == "no difference"


def test_a_gain_on_everyone_is_called_better_and_a_loss_worse():
    rng = np.random.default_rng(2)
    ap = _synthetic(n_id=60, per=4)
    d_a = np.where(ap.same, rng.normal(0.5, 0.1, len(ap.same)), rng.normal(0.8, 0.08, len(ap.same))).astype(
        np.float32
    )
    d_b = np.where(ap.same, d_a - 0.08, d_a).astype(np.float32)
    better = {x.stat: x for x in evaluate.paired_bootstrap(ap, d_a, d_b, n_boot=200)}
    exact = evaluate.all_pairs_metrics(ap, d_a)  # the bootstrap's full-sample figures are the exact ones
    assert better["AUC"].a == pytest.approx(exact.auc, abs=1e-9)
    assert better["TAR@FAR0.001"].a == pytest.approx(exact.tar[1e-3], abs=1e-9)
    assert better["AUC"].verdict == "better" and better["AUC"].lo > 0
    assert better["TAR@FAR0.001"].verdict == "better"
    worse = {x.stat: x for x in evaluate.paired_bootstrap(ap, d_b, d_a, n_boot=200)}
    assert worse["AUC"].verdict == "worse"
    same = {x.stat: x for x in evaluate.paired_bootstrap(ap, d_a, d_a.copy(), n_boot=50)}
    assert all(x.verdict == "no difference" for x in same.values())


@pytest.mark.parametrize(
    "spec,expect",
    [
        ("flip", "ours"),
        ("flip=0", "ours[noflip]"),
        ("align=sp5,jitter=4,flip=0", "ours[align=sp5,noflip,jitter=4]"),
        ("", "ours"),
    ],
)
def test_variant_names(spec, expect):
    assert evaluate.Variant.parse(spec).name == expect
