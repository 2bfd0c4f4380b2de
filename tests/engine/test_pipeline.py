"""The whole engine on real photos with the real models: detection, alignment, quality, embedding."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from recognition.engine import detect
from recognition.engine.align import MTCNN_TARGETS_150, align_face, similarity_transform
from recognition.engine.errors import NotAnImage
from recognition.engine.pipeline import FacePipeline, FaceResult
from recognition.engine.quality import assess_quality, estimate_pose

THRESHOLD = 0.6


@pytest.fixture(scope="module")
def faces(face_pipeline: FacePipeline, faces_dir: Path) -> dict[str, list[FaceResult]]:
    names = ["obama", "obama2", "obama3", "biden", "two_people", "kit_with_rose", "obama_and_biden"]
    return {n: face_pipeline.process(faces_dir / f"{n}.jpg") for n in names}


def only_face(faces: dict[str, list[FaceResult]], name: str) -> FaceResult:
    assert len(faces[name]) == 1, f"{name}: expected one face, got {len(faces[name])}"
    return faces[name][0]


def test_single_face_results(faces: dict[str, list[FaceResult]]) -> None:
    for name in ("obama", "obama2", "obama3", "biden"):
        f = only_face(faces, name)
        assert f.chip.shape == (150, 150, 3) and f.chip.dtype == np.uint8
        assert f.embedding is not None and f.embedding.shape == (128,) and f.embedding.dtype == np.float32
        assert 1.0 < np.linalg.norm(f.embedding) < 2.0  # dlib space, not normalised
        assert f.landmarks.shape == (5, 2)
        assert f.score > 0.95
        assert f.quality.is_good, (name, f.quality.reasons)
        x, y, w, h = f.box
        # landmarks lie inside the box, eyes above the mouth, left eye left of the right eye
        assert (f.landmarks[:, 0] > x).all() and (f.landmarks[:, 0] < x + w).all()
        assert f.landmarks[0, 0] < f.landmarks[1, 0]
        assert f.landmarks[:2, 1].max() < f.landmarks[3:, 1].min()


def test_same_and_different_people(faces: dict[str, list[FaceResult]]) -> None:
    obama, obama2, obama3 = (only_face(faces, n) for n in ("obama", "obama2", "obama3"))
    biden = only_face(faces, "biden")
    assert obama.distance(obama2) < THRESHOLD
    assert obama.distance(obama3) < THRESHOLD
    assert obama.distance(biden) > THRESHOLD
    assert obama2.distance(biden) > THRESHOLD


def test_several_faces_sorted_left_to_right(faces: dict[str, list[FaceResult]]) -> None:
    assert len(faces["two_people"]) == 2
    assert len(faces["kit_with_rose"]) == 2
    assert len(faces["obama_and_biden"]) == 3
    for name in ("two_people", "kit_with_rose", "obama_and_biden"):
        xs = [f.center[0] for f in faces[name]]
        assert xs == sorted(xs), name
        assert all(f.embedding is not None for f in faces[name])


def test_two_people_are_obama_then_biden(faces: dict[str, list[FaceResult]]) -> None:
    left, right = faces["two_people"]
    obama, biden = only_face(faces, "obama"), only_face(faces, "biden")
    assert left.distance(obama) < THRESHOLD < left.distance(biden)
    assert right.distance(biden) < THRESHOLD < right.distance(obama)


def test_no_face(face_pipeline: FacePipeline) -> None:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:480, 0:640]
    sky = np.stack([100 + yy / 6, 150 + yy / 8, 230 - yy / 10], axis=2)
    texture = rng.normal(0, 12, (480, 640, 3))
    landscape = np.clip(sky + texture, 0, 255).astype(np.uint8)
    landscape[300:] = np.clip(rng.normal(90, 25, (180, 640, 3)) * [0.6, 1.0, 0.4], 0, 255).astype(np.uint8)
    assert face_pipeline.process(landscape) == []
    assert face_pipeline.process(np.zeros((200, 300, 3), np.uint8)) == []
    assert face_pipeline.process(np.full((8, 8, 3), 128, np.uint8)) == []


def test_bytes_path_and_array_agree(face_pipeline: FacePipeline, faces_dir: Path) -> None:
    from recognition.engine.decode import decode_image

    path = faces_dir / "obama_small.jpg"
    a = face_pipeline.process(path)
    b = face_pipeline.process(path.read_bytes())
    c = face_pipeline.process(decode_image(path))
    assert len(a) == len(b) == len(c) == 1
    assert a[0].distance(b[0]) == 0.0 and a[0].distance(c[0]) == 0.0


def test_bad_input_raises_typed_error(face_pipeline: FacePipeline) -> None:
    with pytest.raises(NotAnImage):
        face_pipeline.process(b"definitely not a photo")
    with pytest.raises(ValueError):
        face_pipeline.process(np.zeros((10, 10), np.uint8))


def test_process_batch_matches_process(face_pipeline: FacePipeline, faces_dir: Path, obama_rgb) -> None:
    # Three same-size images (detected in one MTCNN call) and one of another size.
    flipped = np.ascontiguousarray(obama_rgb[:, ::-1])
    darker = (obama_rgb * 0.8).astype(np.uint8)
    batch = [obama_rgb, flipped, darker, faces_dir / "two_people.jpg"]
    together = face_pipeline.process_batch(batch)
    alone = [face_pipeline.process(x) for x in batch]
    assert [len(r) for r in together] == [len(r) for r in alone] == [1, 1, 1, 2]
    for rt, ra in zip(together, alone, strict=True):
        for ft, fa in zip(rt, ra, strict=True):
            assert np.abs(np.array(ft.box) - np.array(fa.box)).max() < 4
            assert ft.distance(fa) < 0.05


def test_version_string(face_pipeline: FacePipeline) -> None:
    v = face_pipeline.version
    assert v.startswith("mtcnn-1.0.0(")
    assert "+align5-v1+flip+" in v  # flip averaging is the default (docs/engine.md)
    assert v.endswith(face_pipeline.embedder.version)
    assert FacePipeline(flip=False).version != v and "+flip+" not in FacePipeline(flip=False).version
    assert FacePipeline(detector=detect.FaceDetector(max_side=640)).version != v


def test_models_loaded_once_per_process(face_pipeline: FacePipeline, faces_dir: Path) -> None:
    from recognition.engine.embedder import Embedder, get_embedder

    face_pipeline.process(faces_dir / "obama_small.jpg")  # both models are loaded by now
    loads_before = (detect.net_load_count(), Embedder.instances_created)
    second = FacePipeline()
    assert second.detector is face_pipeline.detector
    assert second.embedder is face_pipeline.embedder is get_embedder()
    assert second.detector.net is face_pipeline.detector.net
    assert FacePipeline(detector=detect.FaceDetector(max_side=512)).detector.net is face_pipeline.detector.net
    assert len(second.process(faces_dir / "obama_small.jpg")) == 1
    assert (detect.net_load_count(), Embedder.instances_created) == loads_before
    assert detect.net_load_count() == 1


def test_without_flip_averaging_decisions_stay(faces_dir: Path) -> None:
    p = FacePipeline(flip=False)
    o, o2, b = (p.process(faces_dir / f"{n}.jpg")[0] for n in ("obama", "obama2", "biden"))
    assert o.distance(o2) < THRESHOLD < o.distance(b)


def test_large_image_is_downscaled_and_mapped_back(faces_dir: Path, face_pipeline: FacePipeline) -> None:
    from recognition.engine.decode import decode_image

    img = decode_image(faces_dir / "obama.jpg")  # 910x1137
    small_det = detect.FaceDetector(max_side=400)
    full = face_pipeline.detector.detect(img)[0]
    down = small_det.detect(img)[0]
    # boxes agree in original pixels within 5% of the face size
    assert np.abs(np.array(full.box) - np.array(down.box)).max() < 0.05 * full.size
    assert np.abs(full.landmarks - down.landmarks).max() < 0.05 * full.size


def test_min_face_size_filters(faces_dir: Path) -> None:
    from recognition.engine.decode import decode_image

    img = decode_image(faces_dir / "two_people.jpg")  # faces ~150 px
    assert len(detect.FaceDetector(min_face_size=20).detect(img)) == 2
    assert detect.FaceDetector(min_face_size=300).detect(img) == []


# ----------------------------------------------------------------------------- quality


def test_quality_flags_small_and_blurred_faces(face_pipeline: FacePipeline, obama_rgb) -> None:
    tiny = cv2.resize(obama_rgb, (96, 120), interpolation=cv2.INTER_AREA)
    f = face_pipeline.process(tiny)
    assert len(f) == 1
    assert not f[0].quality.is_good
    assert any("too small" in r for r in f[0].quality.reasons)
    blurred = cv2.GaussianBlur(obama_rgb, (0, 0), 6)
    fb = face_pipeline.process(blurred)
    assert len(fb) == 1 and not fb[0].quality.is_good
    assert any("blurred" in r for r in fb[0].quality.reasons)
    good = face_pipeline.process(obama_rgb)[0].quality
    assert good.is_good and good.score > fb[0].quality.score and good.score > 0.7
    assert set(good.metrics) >= {"face_size", "sharpness", "yaw", "pitch", "roll", "score"}


def test_pose_estimates() -> None:
    frontal = MTCNN_TARGETS_150
    yaw, pitch, roll = estimate_pose(frontal)
    assert abs(yaw) < 1 and abs(pitch) < 1 and abs(roll) < 1
    theta = np.deg2rad(20)
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    assert estimate_pose(frontal @ rot.T)[2] == pytest.approx(20, abs=0.5)
    turned = frontal.copy()
    turned[2, 0] += 25  # nose far toward the image-right eye: a profile-ish face
    yaw = estimate_pose(turned)[0]
    assert yaw > 35
    q = assess_quality((0, 0, 150, 150), turned, 0.99)
    assert not q.is_good and any("sideways" in r for r in q.reasons)


# ----------------------------------------------------------------------------- alignment


def test_similarity_transform_recovers_known_transform() -> None:
    rng = np.random.default_rng(1)
    src = rng.uniform(0, 200, (5, 2))
    s, t = 1.7, np.deg2rad(-33)
    m = np.array([[s * np.cos(t), -s * np.sin(t), 12.0], [s * np.sin(t), s * np.cos(t), -40.0]])
    dst = src @ m[:, :2].T + m[:, 2]
    assert np.allclose(similarity_transform(src, dst), m, atol=1e-9)


def test_aligned_chip_puts_landmarks_on_targets(faces: dict[str, list[FaceResult]], faces_dir: Path) -> None:
    from recognition.engine.decode import decode_image

    f = only_face(faces, "obama")
    m = similarity_transform(f.landmarks, MTCNN_TARGETS_150)
    mapped = f.landmarks @ m[:, :2].T + m[:, 2]
    assert np.abs(mapped - MTCNN_TARGETS_150).max() < 12  # a real face is not the mean face
    chip = align_face(decode_image(faces_dir / "obama.jpg"), f.landmarks)
    assert np.array_equal(chip, f.chip)
    assert align_face(np.zeros((50, 50, 3), np.uint8), f.landmarks, size=112).shape == (112, 112, 3)


def test_detector_defaults_and_version() -> None:
    d = detect.FaceDetector()
    assert d.max_side == detect.DEFAULT_MAX_SIDE == 576
    assert d.upscale_below == detect.DEFAULT_UPSCALE_BELOW == 200
    assert ",up200" in d.version and ",sf" not in d.version
    assert ",sf0.6)" in detect.FaceDetector(scale_factor=0.6).version
    with pytest.raises(ValueError):
        detect.FaceDetector(scale_factor=0.95)


def test_scale_pyramid_never_goes_below_the_pnet_window() -> None:
    # mtcnn 1.0.0's own pyramid ignores min_face_size when counting levels and fails on them
    scales = detect._scale_pyramid(200, 164, 30, 0.709)
    assert scales[0] == pytest.approx(12 / 30)
    assert (164 * scales >= 12).all() and 164 * scales[-1] * 0.709 < 12
    assert np.allclose(np.diff(np.log(scales)), np.log(0.709))
    assert detect._scale_pyramid(10, 10, 20, 0.709).size == 0


def _lfw_like(rgb: np.ndarray, pipeline: FacePipeline, blur: float) -> np.ndarray:
    """A 250x250 head-and-shoulders crop around the face, softened like a web JPEG (LFW's look)."""
    x, y, w, h = pipeline.process(rgb)[0].box
    cx, cy, side = x + w / 2, y + h / 2, 2.2 * w
    top, left = max(0, int(cy - side / 2)), max(0, int(cx - side / 2))
    crop = rgb[top : int(cy + side / 2), left : int(cx + side / 2)]
    small = cv2.resize(crop, (250, 250), interpolation=cv2.INTER_AREA)
    return cv2.GaussianBlur(small, (0, 0), blur)


def test_an_ordinary_web_photo_is_usable_for_proposals_and_enrolment(face_pipeline: FacePipeline,
                                                                      obama_rgb) -> None:
    """LFW-like softness (sharpness 15-40) was "too blurred" under the old hand-set limit of 40;
    measured, such faces match as well as sharp ones (docs/engine.md, "Quality gate")."""
    q = face_pipeline.process(_lfw_like(obama_rgb, face_pipeline, 1.5))[0].quality
    assert 15 < q.metrics["sharpness"] < 40
    assert q.usable_for_proposals and q.usable_for_enrolment, q.reasons + q.enrol_reasons


def test_the_enrolment_gate_is_stricter_than_the_proposal_gate(face_pipeline: FacePipeline,
                                                               obama_rgb) -> None:
    softer = face_pipeline.process(_lfw_like(obama_rgb, face_pipeline, 2.5))[0].quality
    assert softer.usable_for_proposals and not softer.usable_for_enrolment
    assert any("blurred" in r for r in softer.enrol_reasons)
    h, w = obama_rgb.shape[:2]
    tilted = cv2.warpAffine(obama_rgb, cv2.getRotationMatrix2D((w / 2, h / 2), 35, 1.0), (w, h),
                            borderMode=cv2.BORDER_REPLICATE)
    q = face_pipeline.process(tilted)[0].quality
    assert q.usable_for_proposals and not q.usable_for_enrolment
    assert any("head tilted" in r for r in q.enrol_reasons)
    # a face that may not be proposed may not be enrolled either
    tiny = face_pipeline.process(cv2.resize(obama_rgb, (96, 120), interpolation=cv2.INTER_AREA))[0].quality
    assert not tiny.usable_for_proposals and not tiny.usable_for_enrolment
