"""`report detector` refuses a bad ablation before it spends time exporting and scoring, and its
table marks each run's terms and its AP gain over the baseline. (The full path — export, COCO
scores, plots — runs on real Ultralytics runs in test/train/test_rdrkd_training.py.)"""
from __future__ import annotations

import pytest

from mlkd_tracker.train.reports.detector_report import _markdown, build_detector_report
from test_detection_metrics import _write_split


def _run(root, name):
    (root / name / "weights").mkdir(parents=True)
    (root / name / "weights" / "best.pt").write_bytes(b"")
    return root / name


def test_missing_runs_and_clashing_names_are_refused_first(tmp_path):
    data = _write_split(tmp_path / "set")
    with pytest.raises(FileNotFoundError, match="has no checkpoint"):
        build_detector_report(None, tmp_path / "none", [], data, "test", tmp_path / "out")
    a = _run(tmp_path / "a", "student")
    b = _run(tmp_path / "b", "student")
    with pytest.raises(ValueError, match="must be unique"):
        build_detector_report(None, a, [b], data, "test", tmp_path / "out")
    with pytest.raises(ValueError, match="no 'holdout' split"):
        build_detector_report(None, a, [], data, "holdout", tmp_path / "out")


def _row(name, role, ap, terms=None):
    stats = {"AP": ap, "AP50": 2 * ap, "AP75": ap / 2, "AP_S": ap, "AP_M": None, "AP_L": None}
    return {"name": name, "role": role, "terms": terms, "stats": stats, "imgsz": 320,
            "per_class_ap": {"car": ap}, "params": 3.0e6, "gflops": 2.0}


def test_the_table_marks_terms_and_the_gain_over_the_baseline():
    report = {"data": "d.yaml", "split": "test",
              "objects": {"all": 10, "small": 8, "medium": 2, "large": 0},
              "runs": [_row("student", "baseline", 0.100),
                       _row("rdrkd_d", "student", 0.112, {"R": False, "D": True, "Rs": False}),
                       _row("rdrkd_r", "student", 0.095, {"R": True, "D": False, "Rs": False}),
                       _row("teacher", "teacher", 0.200)]}
    report["runs"][1]["ap_delta"] = {"delta": 0.012, "low": -0.004, "high": 0.027}
    md = _markdown(report)
    assert "| student (baseline) |  |  |  | 10.0 | — | — | 20.0 | 5.0 | 10.0 | — | — |" in md
    assert "| rdrkd_d |  | ✓ |  | 11.2 | +1.2 | [-0.4, +2.7] |" in md
    assert "| rdrkd_r | ✓ |  |  | 9.5 | -0.5 | — |" in md  # no interval computed: a dash
    assert "| teacher (teacher) |  |  |  | 20.0 | — | — |" in md
