"""Specification of ``mlkd-tracker quantize`` (mlkd_tracker.tools.quantize): static QDQ INT8 models
of a tracker's search branch, a detector and an enhancer that load in the runtime classes like
the float ones (metadata, template/search pairing and SHA256SUMS kept), hold
QuantizeLinear/DequantizeLinear nodes, and stay close to the float model on their calibration
inputs, which are captured from the runtime itself; bad input is one line and exit 2."""
from __future__ import annotations

import argparse
import hashlib
import json
import shutil

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from mlkd_tracker.runtime.crops import context_size, crop_square
from mlkd_tracker.runtime.detector import OnnxDetector
from mlkd_tracker.runtime.enhancer import OnnxEnhancer
from mlkd_tracker.runtime.onnx_siamese import (FORMAT_VERSION, KIND_SEARCH, KIND_TEMPLATE,
                                              OnnxSiameseEngine)
from mlkd_tracker.runtime.siamese_tracker import SiameseTracker
from mlkd_tracker.data.sequences import read_dataset
from mlkd_tracker.tools import quantize
from mlkd_tracker.tools.quantize_calibration import (detector_feeds, enhancer_feeds, image_files,
                                                     tracker_feeds)
from tiny_detector import shared_tiny_detector
from tiny_enhancer import export_tiny_enhancer
from tiny_got10k import write_split

S = 13  # score size of a 64/160/stride-8 Siamese export


def _meta(model: onnx.ModelProto) -> dict[str, str]:
    return {p.key: p.value for p in model.metadata_props}


def _save(graph, path, meta: dict) -> None:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for k, v in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = k, str(v)
    onnx.save(model, str(path))


def tiny_siamese(stem) -> str:
    """A small Siamese export with real convolutions (random weights): template -> (1, 8, 1, 1)
    features; search crop x features -> logits (1, 1, 13, 13) and ltrb (1, 4, 13, 13)."""
    rng = np.random.default_rng(0)

    def w(name, *shape, scale):
        return numpy_helper.from_array((rng.normal(0, scale, shape)).astype(np.float32), name)
    stem_w = 1.0 / (255 * 8 * np.sqrt(3))
    t_graph = helper.make_graph(
        [helper.make_node("Conv", ["template", "tw"], ["t1"], strides=[8, 8]),
         helper.make_node("Relu", ["t1"], ["t2"]),
         helper.make_node("ReduceMean", ["t2"], ["zf"], axes=[2, 3], keepdims=1)], "t",
        [helper.make_tensor_value_info("template", TensorProto.FLOAT, [1, 3, 64, 64])],
        [helper.make_tensor_value_info("zf", TensorProto.FLOAT, [1, 8, 1, 1])],
        initializer=[w("tw", 8, 3, 8, 8, scale=stem_w)])
    s_graph = helper.make_graph(
        [helper.make_node("Conv", ["search", "sw", "sb"], ["s1"], strides=[8, 8]),
         helper.make_node("Relu", ["s1"], ["s2"]),
         helper.make_node("Mul", ["s2", "zf"], ["s3"]),
         helper.make_node("Conv", ["s3", "cw", "cb"], ["cls"]),
         helper.make_node("Conv", ["s3", "bw", "bb"], ["b1"]),
         helper.make_node("Relu", ["b1"], ["box"])], "s",
        [helper.make_tensor_value_info("search", TensorProto.FLOAT, [1, 3, 160, 160]),
         helper.make_tensor_value_info("zf", TensorProto.FLOAT, [1, 8, 1, 1])],
        [helper.make_tensor_value_info("cls", TensorProto.FLOAT, [1, 1, S, S]),
         helper.make_tensor_value_info("box", TensorProto.FLOAT, [1, 4, S, S])],
        initializer=[w("sw", 8, 3, 8, 8, scale=stem_w), w("sb", 8, scale=0.1),
                     w("cw", 1, 8, 8, 8, scale=0.5), w("cb", 1, scale=0.1),
                     w("bw", 4, 8, 8, 8, scale=2.0),
                     numpy_helper.from_array(np.full(4, 8.0, np.float32), "bb")])
    meta = {"format_version": FORMAT_VERSION, "template_size": 64, "search_size": 160,
            "stride": 8, "name": "tiny_siamese", "export_id": "e1d2",
            "postprocess": json.dumps({"window_influence": 0.3})}
    _save(t_graph, f"{stem}.template.onnx", {**meta, "kind": KIND_TEMPLATE})
    _save(s_graph, f"{stem}.search.onnx", {**meta, "kind": KIND_SEARCH})
    return str(stem)


def run_cli(*words: str) -> int:
    parser = argparse.ArgumentParser(prog="mlkd-tracker quantize")
    quantize.add_arguments(parser)
    return quantize.main(parser.parse_args([*words, "--no-progress"]))


def q_nodes(path) -> dict[str, int]:
    ops = [n.op_type for n in onnx.load(str(path)).graph.node]
    return {op: ops.count(op) for op in ("QuantizeLinear", "DequantizeLinear")}


def max_rel_error(float_path, int8_path, feeds) -> list[float]:
    """Per output: max |float - int8| over ``feeds`` relative to the float output's range."""
    a, b = (ort.InferenceSession(str(p), providers=["CPUExecutionProvider"])
            for p in (float_path, int8_path))
    worst, ranges = None, None
    for feed in feeds:
        fa, fb = a.run(None, feed), b.run(None, feed)
        err = [float(np.abs(x - y).max()) for x, y in zip(fa, fb)]
        rng = [float(x.max() - x.min()) for x in fa]
        worst = err if worst is None else [max(u, v) for u, v in zip(worst, err)]
        ranges = rng if ranges is None else [max(u, v) for u, v in zip(ranges, rng)]
    assert all(r > 0 for r in ranges), "float outputs are constant: the check would be empty"
    return [e / r for e, r in zip(worst, ranges)]


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    root = tmp_path_factory.mktemp("val")
    write_split(root, ["a", "b", "c"], seed=3, frames=12)
    return root


@pytest.fixture(scope="module")
def float_tracker(tmp_path_factory):
    return tiny_siamese(tmp_path_factory.mktemp("float") / "tiny")


# ---- tracker ----------------------------------------------------------------------------------
def test_tracker_feeds_are_the_runtime_search_inputs(float_tracker, split):
    engine = OnnxSiameseEngine(float_tracker, threads=1)
    feeds = tracker_feeds(engine, split, samples=9, progress=False)
    assert len(feeds) == 9
    assert {tuple(f) for f in feeds} == {("search", "zf")}
    assert feeds[0]["search"].shape == (1, 3, 160, 160)
    # the features are the float template's, of the first box cut as the tracker cuts it
    seq = read_dataset(split)[0]
    import cv2
    frame = cv2.imread(str(seq.frames[0]))
    x, y, w, h = seq.boxes[0]
    pad = tuple(float(v) for v in cv2.mean(frame)[:3])
    crop = crop_square(frame, x + w / 2, y + h / 2, context_size(w, h, 0.5), 64, pad)
    np.testing.assert_array_equal(feeds[0]["zf"], engine.template(crop))
    # the engine is given back its own session, which still runs
    tracker = SiameseTracker(engine)
    tracker.init(frame, seq.boxes[0])
    assert tracker.update(frame).box is not None
    assert type(engine._s).__name__ == "InferenceSession"


def test_tracker_int8_loads_like_the_float_export(float_tracker, split, tmp_path):
    out = tmp_path / "int8" / "tiny_int8"
    out.parent.mkdir()
    (out.parent / "SHA256SUMS").write_text("0" * 64 + "  other.onnx\n")
    assert run_cli("tracker", float_tracker, "--calib", str(split), "--out", str(out),
                   "--samples", "12", "--threads", "1") == 0
    t_int8, s_int8 = (out.parent / "tiny_int8.template.onnx", out.parent / "tiny_int8.search.onnx")
    # the template is the float one (same export id), the search branch is quantised
    assert t_int8.read_bytes() == open(f"{float_tracker}.template.onnx", "rb").read()
    counts = q_nodes(s_int8)
    assert counts["QuantizeLinear"] >= 3 and counts["DequantizeLinear"] >= 3
    float_meta = _meta(onnx.load(f"{float_tracker}.search.onnx"))
    meta = _meta(onnx.load(str(s_int8)))
    info = json.loads(meta.pop("quantization"))
    assert meta == float_meta
    assert info["format"] == "QDQ" and info["calibration_samples"] == 12 and info["per_channel"]
    # checksums: both files added, the other line kept, and the runtime verifies them
    sums = (out.parent / "SHA256SUMS").read_text().splitlines()
    assert sums[0].endswith("other.onnx")
    for f in (t_int8, s_int8):
        assert f"{hashlib.sha256(f.read_bytes()).hexdigest()}  {f.name}" in sums
    engine = OnnxSiameseEngine(out, threads=1)
    assert engine.meta["export_id"] == "e1d2" and engine.postprocess == {"window_influence": 0.3}
    seq = read_dataset(split)[0]
    import cv2
    tracker = SiameseTracker(engine)
    tracker.init(cv2.imread(str(seq.frames[0])), seq.boxes[0])
    result = tracker.update(cv2.imread(str(seq.frames[1])))
    assert np.isfinite(result.box).all()
    feeds = tracker_feeds(OnnxSiameseEngine(float_tracker, threads=1), split, 12, False)
    assert max(max_rel_error(f"{float_tracker}.search.onnx", s_int8, feeds)) < 0.05


def test_a_changed_file_fails_the_checksum_the_tool_wrote(float_tracker, split, tmp_path):
    (tmp_path / "SHA256SUMS").write_text("")
    out = tmp_path / "q"
    assert run_cli("tracker", f"{float_tracker}.search.onnx", "--calib", str(split),
                   "--out", str(out) + ".search.onnx", "--samples", "4") == 0
    model = onnx.load(str(tmp_path / "q.search.onnx"))
    model.doc_string = "changed"
    onnx.save(model, str(tmp_path / "q.search.onnx"))
    with pytest.raises(ValueError, match="SHA256SUMS"):
        OnnxSiameseEngine(out)


def test_update_checksums_replaces_the_files_line(tmp_path):
    f = tmp_path / "m.onnx"
    f.write_bytes(b"new")
    assert not quantize.update_checksums(tmp_path, [f])  # no SHA256SUMS: none is created
    assert not (tmp_path / "SHA256SUMS").exists()
    (tmp_path / "SHA256SUMS").write_text(f"{'a' * 64}  m.onnx\n{'b' * 64}  keep.onnx\n")
    assert quantize.update_checksums(tmp_path, [f])
    assert (tmp_path / "SHA256SUMS").read_text().splitlines() == [
        f"{'b' * 64}  keep.onnx", f"{hashlib.sha256(b'new').hexdigest()}  m.onnx"]


# ---- enhancer ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def float_enhancer(tmp_path_factory):
    return export_tiny_enhancer(tmp_path_factory.mktemp("enh") / "tiny_enhancer.onnx")


def test_enhancer_int8_loads_and_stays_close(float_enhancer, split, tmp_path):
    out = tmp_path / "tiny_enhancer_int8.onnx"
    assert run_cli("enhancer", str(float_enhancer), "--calib", str(split), "--out", str(out),
                   "--samples", "6") == 0
    counts = q_nodes(out)
    assert counts["QuantizeLinear"] >= 2 and counts["DequantizeLinear"] >= 2
    meta = _meta(onnx.load(str(out)))
    assert json.loads(meta.pop("quantization"))["calibration_samples"] == 6
    assert meta == _meta(onnx.load(str(float_enhancer)))
    enhancer = OnnxEnhancer(out, threads=1)
    frame = np.full((30, 50, 3), 40, np.uint8)
    assert enhancer.enhance(frame).shape == frame.shape
    # the feeds are the runtime's: frames of 160x120, edge-padded to the size multiple (4)
    feeds = enhancer_feeds(OnnxEnhancer(float_enhancer, threads=1), split, 6, False)
    assert len(feeds) == 6 and feeds[0]["image"].shape == (1, 3, 120, 160)
    assert max(max_rel_error(float_enhancer, out, feeds)) < 0.05


# ---- detector ---------------------------------------------------------------------------------
def test_detector_int8_loads_and_stays_close(tmp_path_factory, tmp_path):
    tiny = shared_tiny_detector(tmp_path_factory)
    out = tmp_path / "det_int8.onnx"
    # the YOLO data set's root: its images/val are the calibration images
    assert [p.parent.name for p in image_files(tiny.data)] == ["val"] * 4
    assert run_cli("detector", str(tiny.onnx), "--calib", str(tiny.data), "--out", str(out)) == 0
    counts = q_nodes(out)
    assert counts["QuantizeLinear"] >= 20 and counts["DequantizeLinear"] >= 20
    meta = _meta(onnx.load(str(out)))
    assert json.loads(meta.pop("quantization"))["calibration_samples"] == 4
    assert meta == _meta(onnx.load(str(tiny.onnx)))
    detector = OnnxDetector(out, threads=1)
    assert detector.names == OnnxDetector(tiny.onnx).names
    frame = np.full((128, 160, 3), 30, np.uint8)
    assert isinstance(detector.detect(frame, conf=0.0), list)
    feeds = detector_feeds(OnnxDetector(tiny.onnx, threads=1), tiny.data, 4, False)
    assert feeds[0]["images"].shape == (1, 3, 128, 128)
    assert feeds[0]["images"].max() <= 1.0  # letterboxed and /255, as the runtime feeds it
    assert max(max_rel_error(tiny.onnx, out, feeds)) < 0.05
    # the class scores (0..1) keep their precision next to the boxes (0..128 px): the decoding
    # stays float, so they are not rounded on the boxes' scale
    assert score_error(tiny.onnx, out, feeds) < 0.1


def score_error(float_path, int8_path, feeds) -> float:
    """Max |float - int8| of a detector's class-score rows relative to their float range."""
    a, b = (ort.InferenceSession(str(p), providers=["CPUExecutionProvider"])
            for p in (float_path, int8_path))
    err = rng = 0.0
    for feed in feeds:
        fa, fb = a.run(None, feed)[0][0, 4:], b.run(None, feed)[0][0, 4:]
        err, rng = max(err, float(np.abs(fa - fb).max())), max(rng, float(np.ptp(fa)))
    assert rng > 0
    return err / rng


# ---- bad input --------------------------------------------------------------------------------
def _one_line_error(capsys, words, needle: str) -> None:
    assert run_cli(*words) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("mlkd-tracker quantize: error:")
    assert needle in err


def test_bad_input_is_one_line_and_exit_2(float_tracker, float_enhancer, split, tmp_path, capsys):
    _one_line_error(capsys, ["tracker", str(tmp_path / "nope"), "--calib", str(split)],
                    "missing")
    _one_line_error(capsys, ["enhancer", str(tmp_path / "nope.onnx"), "--calib", str(split),
                             "--out", str(tmp_path / "o.onnx")], "does not exist")
    _one_line_error(capsys, ["tracker", float_tracker, "--calib", str(tmp_path / "no_calib"),
                             "--out", str(tmp_path / "o")], "calibration folder")
    empty = tmp_path / "empty"
    empty.mkdir()
    _one_line_error(capsys, ["enhancer", str(float_enhancer), "--calib", str(empty),
                             "--out", str(tmp_path / "o.onnx")], "holds no images")
    _one_line_error(capsys, ["tracker", float_tracker, "--calib", str(empty),
                             "--out", str(tmp_path / "o")], "calibration folder")
    _one_line_error(capsys, ["enhancer", str(float_enhancer), "--calib", str(split),
                             "--out", str(float_enhancer)], "overwrite")
    _one_line_error(capsys, ["tracker", float_tracker, "--calib", str(split),
                             "--out", float_tracker], "overwrite")
    _one_line_error(capsys, ["detector", str(float_enhancer), "--calib", str(split),
                             "--out", str(tmp_path / "d.onnx")], "kind")
    assert not list(tmp_path.glob("o*"))
