"""What ships in models/: every file is listed in SHA256SUMS with its real digest, described in
MODELS.md, loads in the torch-free runtime, and the student tracker config points at it."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import yaml

from mlkd_tracker.runtime.onnx_siamese import OnnxSiameseEngine

MIN_SHIPPED_AP50 = 0.05  # measured 0.115 on these six images; an untrained model scores ~0
MODELS = Path(__file__).resolve().parents[1] / "models"
CONFIG = Path(__file__).resolve().parents[1] / "config"


def _sums() -> dict[str, str]:
    lines = (MODELS / "SHA256SUMS").read_text().splitlines()
    return {name.lstrip("*"): digest for digest, name in (line.split() for line in lines if line)}


def test_every_shipped_file_has_its_real_checksum():
    onnx_files = sorted(p.name for p in MODELS.glob("*.onnx"))
    assert onnx_files, "no model ships"
    sums = _sums()
    assert sorted(sums) == onnx_files
    for name, digest in sums.items():
        assert hashlib.sha256((MODELS / name).read_bytes()).hexdigest() == digest, name


def test_every_export_loads_and_is_described_in_the_model_card():
    card = (MODELS / "MODELS.md").read_text()
    stems = {p.name.removesuffix(".search.onnx") for p in MODELS.glob("*.search.onnx")}
    assert stems
    for stem in stems:
        engine = OnnxSiameseEngine(MODELS / stem)  # also verifies SHA256SUMS
        assert stem in card
        assert engine.meta["training_data"] and "synthetic" in engine.meta["training_data"]


@pytest.mark.parametrize("config", ["tracker_student.yaml", "tracker_mlkd.yaml"])
def test_neural_tracker_configs_use_a_shipped_model(config):
    params = yaml.safe_load((CONFIG / config).read_text())["/**/tracker_node"]["ros__parameters"]
    kind, _, stem = params["tracker"].partition(":")
    assert kind == "onnx"
    assert (CONFIG.parent / (stem + ".search.onnx")).is_file()


def test_mlkd_track_is_the_distilled_student_selected_on_val():
    engine = OnnxSiameseEngine(MODELS / "mlkd_track")
    assert "MLKD" in engine.meta["training_data"] and "selected on val" in engine.meta["training_data"]


def test_the_shipped_enhancer_loads_enhances_a_frame_and_is_what_the_node_uses():
    from mlkd_tracker.runtime.enhancer import OnnxEnhancer
    engine = OnnxEnhancer(MODELS / "slkd_enhancer.onnx")  # also verifies SHA256SUMS
    assert "slkd_enhancer" in (MODELS / "MODELS.md").read_text()
    assert "synthetic" in engine.meta["training_data"]
    dark = np.full((480, 640, 3), 20, np.uint8)
    out = engine.enhance(dark)
    assert out.shape == dark.shape and out.mean() > dark.mean()
    params = yaml.safe_load((CONFIG / "enhancer.yaml").read_text())["/**/enhancer_node"]
    assert params["ros__parameters"]["model_path"] == "models/slkd_enhancer.onnx"


def test_the_shipped_detector_loads_finds_objects_and_is_what_the_node_uses(tmp_path):
    """The file the node and launch files use, with its provenance, scored on freshly rendered
    synthetic night images (a seed the training set never used)."""
    from mlkd_tracker.data.synth_detect import CLASSES, SynthDetectConfig, generate
    from mlkd_tracker.eval.detection_metrics import coco_scores, detect_split, read_split
    from mlkd_tracker.runtime.detector import KIND_DETECTOR, OnnxDetector
    detector = OnnxDetector(MODELS / "detector.onnx", threads=2)  # also verifies SHA256SUMS
    assert "detector.onnx" in (MODELS / "MODELS.md").read_text()
    assert detector.meta["kind"] == KIND_DETECTOR and "synthetic" in detector.meta["training_data"]
    assert detector.names == tuple(CLASSES) and detector.dynamic
    params = yaml.safe_load((CONFIG / "detector.yaml").read_text())["/**/detector_node"]
    assert params["ros__parameters"]["model_path"] == "models/detector.onnx"
    data = generate(SynthDetectConfig(out=tmp_path / "set", seed=2027, train_images=0,
                                      val_images=0, test_images=6, progress=False))
    scores = coco_scores(*detect_split(detector, read_split(data / "data.yaml", "test"),
                                       progress=False))
    assert scores.stats["AP50"] > MIN_SHIPPED_AP50, scores.stats


def _quantize_nodes(path: Path) -> int:
    import onnx
    return sum(n.op_type == "QuantizeLinear" for n in onnx.load(str(path)).graph.node)


def test_the_int8_variants_are_quantised_copies_that_track_and_enhance_like_their_float_models():
    """INT8 (QDQ) variants: the same metadata as the float model plus how they were quantised,
    the float template shared byte for byte, and outputs close to the float model's."""
    from mlkd_tracker.runtime.enhancer import OnnxEnhancer
    from mlkd_tracker.runtime.siamese_tracker import SiameseTracker
    floats, int8 = OnnxSiameseEngine(MODELS / "mlkd_track"), OnnxSiameseEngine(MODELS / "mlkd_track_int8")
    assert {k: v for k, v in int8.meta.items() if k != "quantization"} == floats.meta
    assert (MODELS / "mlkd_track_int8.template.onnx").read_bytes() == \
        (MODELS / "mlkd_track.template.onnx").read_bytes()
    assert _quantize_nodes(MODELS / "mlkd_track_int8.search.onnx") > 0
    rng = np.random.default_rng(0)
    frame = (rng.random((240, 320, 3)) * 60).astype(np.uint8)
    frame[100:140, 140:180] = 200  # a bright target
    boxes = []
    for engine in (floats, int8):
        tracker = SiameseTracker(engine)
        tracker.init(frame, (140.0, 100.0, 40.0, 40.0))
        boxes.append(np.array(tracker.update(frame).box))
    assert np.abs(boxes[0] - boxes[1]).max() < 4.0  # px, on a 40-px target
    f_enh, q_enh = OnnxEnhancer(MODELS / "slkd_enhancer.onnx"), OnnxEnhancer(MODELS / "slkd_enhancer_int8.onnx")
    assert _quantize_nodes(MODELS / "slkd_enhancer_int8.onnx") > 0 and "quantization" in q_enh.meta
    diff = np.abs(f_enh.enhance(frame).astype(int) - q_enh.enhance(frame).astype(int))
    assert diff.mean() < 6.0  # grey levels of 255
    card = (MODELS / "MODELS.md").read_text()
    assert "mlkd_track_int8" in card and "slkd_enhancer_int8" in card
