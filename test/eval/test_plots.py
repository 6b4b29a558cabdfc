"""OPE plots are written as PNGs and rank trackers in their legends like the toolkits do."""

import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from mlkd_tracker.eval.ope import iou, score_dataset
from mlkd_tracker.eval.plots import plot_attributes, plot_ope, plot_track_timeline

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
GT = np.tile([50.0, 40.0, 30.0, 20.0], (60, 1))


def run(noise: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return GT + rng.normal(0.0, noise, size=GT.shape) * [1, 1, 0.3, 0.3], GT


def tracker(noise: float) -> object:
    return score_dataset({"a": run(noise, 1), "b": run(noise, 2)})


def assert_png(path) -> None:
    data = Path(path).read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 5000


def test_plot_ope_writes_png_and_sorts_legends(tmp_path):
    scores = {"noisy": tracker(12.0), "good": tracker(1.0), "medium": tracker(5.0)}
    # Give the precision legend a ranking different from the AUC one, so a plot that sorted
    # both legends by the same key would fail.
    for name, p20 in (("noisy", 0.999), ("good", 0.6), ("medium", 0.7)):
        scores[name] = replace(scores[name], precision_20=p20)
    out = plot_ope(scores, tmp_path / "plots" / "ope.png", title="unit test")
    assert_png(out.path)
    assert os.fspath(out) == str(tmp_path / "plots" / "ope.png")  # usable as a path

    by_auc = sorted(scores, key=lambda n: -scores[n].auc)
    assert by_auc == ["good", "medium", "noisy"]
    assert out.success_labels == tuple(f"{n} [{scores[n].auc:.3f}]" for n in by_auc)
    assert out.precision_labels == ("noisy [0.999]", "medium [0.700]", "good [0.600]")


def test_plot_ope_requires_scores(tmp_path):
    with pytest.raises(ValueError):
        plot_ope({}, tmp_path / "x.png")


def test_plot_track_timeline(tmp_path):
    pred, gt = run(6.0, 3)
    gt = gt.copy()
    gt[20:25] = [0, 0, 0, 0]  # invalid gt frames are shaded, not plotted as IoU -1
    pred[40] = np.nan
    path = plot_track_timeline(gt, pred, iou(pred, gt), tmp_path / "timeline.png", title="demo")
    assert_png(path)
    # iou_per_frame may be omitted; a wrong-length one is rejected.
    assert_png(plot_track_timeline(gt, pred, None, tmp_path / "t2.png"))
    with pytest.raises(ValueError, match="iou_per_frame"):
        plot_track_timeline(gt, pred, np.zeros(3), tmp_path / "t3.png")


def test_plot_attributes_draws_one_cell_per_attribute_and_tracker(tmp_path):
    from mlkd_tracker.eval.attributes import attribute_rows

    rows = attribute_rows({"csrt": {"a": 0.2, "b": 0.7}, "ours": {"a": 0.5, "b": 0.6}},
                          {"a": {"light: dark"}, "b": {"fast motion"}})
    assert_png(plot_attributes(rows, tmp_path / "attributes.png", title="unit test"))
    with pytest.raises(ValueError, match="at least one"):
        plot_attributes([], tmp_path / "none.png")
