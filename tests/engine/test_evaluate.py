"""The evaluator command on labelled pairs of the fixture photos: ours and dlib's pipeline in one run."""

from __future__ import annotations

import json

from recognition.engine import evaluate

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


def test_the_evaluator_scores_labelled_pairs_for_ours_and_dlib(faces_dir, tmp_path, capsys):
    pairs = tmp_path / "pairs.csv"
    pairs.write_text(PAIRS)
    out = tmp_path / "metrics.json"
    assert evaluate.main(["--pairs", str(pairs), "--root", str(faces_dir), "--compare-dlib",
                          "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["images"] == 7
    for name in ("ours", "dlib"):
        m = report["results"][name]
        assert (m["pairs"], m["positives"], m["negatives"]) == (10, 4, 6)
        assert m["misses"] == 0 and m["dropped_pairs"] == 0
        assert m["auc"] >= 0.85  # obama against biden and the others is not a hard call
        assert 0.4 < m["recommended_threshold"] < 0.7
        assert m["seconds"] > 0
    assert report["results"]["ours"]["version"].startswith("mtcnn-")
    printed = capsys.readouterr().out
    assert "10-fold accuracy" in printed and "== dlib" in printed
