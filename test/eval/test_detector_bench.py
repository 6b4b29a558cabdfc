"""`mlkd-tracker bench detectors` times a real detector export at every requested input size
through the runtime, records the result, and refuses bad files before timing anything."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from mlkd_tracker.cli import main
from mlkd_tracker.eval.detector_bench import onnx_params
from tiny_detector import shared_tiny_detector


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return shared_tiny_detector(tmp_path_factory)


def test_a_dynamic_export_is_timed_at_each_size_and_recorded(tiny, tmp_path, capsys):
    frame = tmp_path / "frame.jpg"
    cv2.imwrite(str(frame), np.random.default_rng(0).integers(0, 255, (480, 640, 3), np.uint8))
    md = tmp_path / "BENCH.md"
    assert main(["bench", "detectors", "--model", str(tiny.onnx_dynamic), "--imgsz", "64",
                 "--imgsz", "128", "--image", str(frame), "--threads", "1", "--runs", "3",
                 "--out", str(tmp_path), "--markdown", str(md)]) == 0
    rows = json.loads((tmp_path / "benchmarks.json").read_text())["detectors"]["detectors"]
    assert [r["imgsz"] for r in rows] == [64, 128]
    # a 640x480 frame letterboxed to the stride (dynamic export), not padded to a square
    assert [r["input"] for r in rows] == [[64, 64], [96, 128]]
    assert all(r["ms_median"] > 0 and r["fps"] > 0 for r in rows)
    assert rows[0]["params"] == onnx_params(tiny.onnx_dynamic) > 1_000_000  # YOLOv8n: 3.0 M
    assert "| 128 | 96x128 |" in md.read_text()
    assert "--image" in capsys.readouterr().out


def test_a_fixed_size_export_is_only_timed_at_its_size(tiny, tmp_path, capsys):
    assert main(["bench", "detectors", "--model", str(tiny.onnx), "--imgsz", "64", "--imgsz",
                 "128", "--threads", "1", "--runs", "2", "--out", str(tmp_path),
                 "--markdown", str(tmp_path / "B.md")]) == 0
    rows = json.loads((tmp_path / "benchmarks.json").read_text())["detectors"]["detectors"]
    assert [r["imgsz"] for r in rows] == [128]
    assert "skipped" in capsys.readouterr().err


def test_bad_models_and_images_are_refused_before_timing(tiny, tmp_path, capsys):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    assert main(["bench", "detectors", "--model", str(bad), "--out", str(tmp_path),
                 "--markdown", str(tmp_path / "B.md")]) == 2
    missing = tmp_path / "none.jpg"
    assert main(["bench", "detectors", "--model", str(tiny.onnx), "--image", str(missing),
                 "--out", str(tmp_path), "--markdown", str(tmp_path / "B.md")]) == 2
    err = capsys.readouterr().err
    assert "bad.onnx" in err and "none.jpg" in err
    assert not (tmp_path / "benchmarks.json").exists()
