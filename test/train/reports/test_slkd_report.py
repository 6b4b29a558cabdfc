"""report slkd's PSNR differences: every enhancer against the reference and against --versus,
with an interval over the test sequences."""
from __future__ import annotations

from pathlib import Path

import pytest

from mlkd_tracker.train.reports.slkd_report import build_slkd_report, psnr_differences


def _row(label: str, **by_sequence: float) -> dict:
    return {"label": label, "psnr_by_sequence": by_sequence}


ROWS = [_row("teacher", a=20.0, b=19.0, c=21.0, d=18.0),
        _row("slkd", a=19.5, b=18.6, c=20.4, d=17.7),      # 0.3 to 0.6 dB below, every sequence
        _row("l1", a=19.0, b=18.9, c=20.5, d=17.2)]


def test_every_enhancer_is_compared_with_each_baseline_but_not_itself():
    pairs = [(d["label"], d["versus"]) for d in psnr_differences(ROWS, ["teacher", "l1"])]
    assert pairs == [("slkd", "teacher"), ("l1", "teacher"), ("teacher", "l1"), ("slkd", "l1")]


def test_versus_the_reference_itself_adds_nothing():
    assert len(psnr_differences(ROWS, ["teacher", "teacher"])) == 2
    assert len(psnr_differences(ROWS, ["teacher", None])) == 2


def test_a_loss_on_every_sequence_is_resolved():
    d = psnr_differences(ROWS, ["teacher"])[0]
    assert d["mean"] == pytest.approx(-0.45)
    assert d["high"] < 0 and d["low"] <= d["mean"] <= d["high"] and d["n_sequences"] == 4


def test_a_difference_of_mixed_sign_is_not():
    d = next(d for d in psnr_differences(ROWS, ["l1"]) if d["label"] == "slkd")
    assert d["low"] < 0 < d["high"]


def test_a_single_sequence_gives_no_interval():
    assert psnr_differences([_row("a", s=1.0), _row("b", s=2.0)], ["a"]) == []


def test_an_unknown_versus_label_is_refused_before_any_work(tmp_path):
    with pytest.raises(ValueError, match="--versus 'l1' is not one of the enhancers"):
        build_slkd_report([("teacher", Path("missing.onnx"))], "tracker", [], Path("data"),
                          tmp_path, versus="l1")
