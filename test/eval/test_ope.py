"""OPE metrics against hand-computed values and the UAVDark135/pysot OPE protocol."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlkd_tracker.eval.ope import (
    INVALID_GT_IOU,
    NORM_PRECISION_THRESHOLDS,
    PRECISION_THRESHOLDS,
    SUCCESS_THRESHOLDS,
    center_error,
    iou,
    normalized_center_error,
    score_dataset,
    score_sequence,
)

GT = np.array([10.0, 20.0, 40.0, 30.0])


def track(n: int, box=GT) -> np.ndarray:
    return np.tile(np.asarray(box, dtype=float), (n, 1))


def shifted(n: int, dx: float, dy: float = 0.0) -> np.ndarray:
    return track(n) + np.array([dx, dy, 0.0, 0.0])


# --- threshold grids -------------------------------------------------------------------------


def test_threshold_grids():
    assert SUCCESS_THRESHOLDS.shape == (21,) and SUCCESS_THRESHOLDS[0] == 0 and SUCCESS_THRESHOLDS[-1] == 1
    assert PRECISION_THRESHOLDS.shape == (51,) and PRECISION_THRESHOLDS[20] == 20
    assert NORM_PRECISION_THRESHOLDS.shape == (51,) and NORM_PRECISION_THRESHOLDS[20] == 0.2


# --- IoU --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "pred, gt, expected",
    [
        ([0, 0, 10, 10], [0, 0, 10, 10], 1.0),  # identical
        ([5, 0, 10, 10], [0, 0, 10, 10], 50 / 150),  # half of each overlaps: 50 / (100+100-50)
        ([0, 0, 10, 5], [0, 0, 10, 10], 0.5),  # half-height box inside: 50 / 100
        ([20, 20, 5, 5], [0, 0, 10, 10], 0.0),  # disjoint
        ([2, 2, 4, 4], [0, 0, 10, 10], 16 / 100),  # contained
        ([0, 0, 10, 10], [2, 2, 4, 4], 16 / 100),  # containing (symmetric)
        ([10, 0, 10, 10], [0, 0, 10, 10], 0.0),  # touching right edge x+w == x': no overlap
        ([0, 10, 10, 10], [0, 0, 10, 10], 0.0),  # touching bottom edge
        ([9, 9, 10, 10], [0, 0, 10, 10], 1 / 199),  # 1 px corner overlap with the x+w convention
    ],
)
def test_iou_hand_computed(pred, gt, expected):
    assert iou(np.array([pred], float), np.array([gt], float))[0] == pytest.approx(expected, abs=1e-12)


def test_iou_vectorised_matches_rows():
    pred = np.array([[0, 0, 10, 10], [5, 0, 10, 10], [20, 20, 5, 5]], float)
    gt = np.array([[0, 0, 10, 10]] * 3, float)
    np.testing.assert_allclose(iou(pred, gt), [1.0, 1 / 3, 0.0])


@pytest.mark.parametrize("bad_gt", [[0, 0, 0, 10], [0, 0, 10, -1], [np.nan, 0, 10, 10], [0, 0, 10, np.inf]])
def test_iou_invalid_gt_is_sentinel_below_every_threshold(bad_gt):
    out = iou(np.array([[0, 0, 10, 10]], float), np.array([bad_gt], float))
    assert out[0] == INVALID_GT_IOU
    assert not (out[0] > SUCCESS_THRESHOLDS).any()


@pytest.mark.parametrize("bad_pred", [[np.nan] * 4, [0, 0, 0, 10], [0, 0, 10, -3], [0, 0, np.inf, 10]])
def test_iou_invalid_prediction_is_zero_overlap(bad_pred):
    assert iou(np.array([bad_pred], float), np.array([[0, 0, 10, 10]], float))[0] == 0.0


def test_iou_rejects_bad_shapes_and_lengths():
    with pytest.raises(ValueError, match="3.*2"):
        iou(track(3), track(2))
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        iou(np.zeros((3, 5)), np.zeros((3, 5)))


box = st.tuples(
    st.floats(-100, 100), st.floats(-100, 100), st.floats(0.5, 100), st.floats(0.5, 100)
)


@settings(max_examples=150, deadline=None)
@given(box, box)
def test_iou_properties(a, b):
    a, b = np.array([a]), np.array([b])
    ab, ba = iou(a, b)[0], iou(b, a)[0]
    assert 0.0 <= ab <= 1.0
    assert ab == pytest.approx(ba, abs=1e-12)
    assert iou(a, a)[0] == pytest.approx(1.0)


# --- centre errors ------------------------------------------------------------------------------


def test_center_error_uses_box_centres():
    # Same centre (25, 25), different sizes: zero error even though IoU < 1.
    assert center_error(np.array([[20, 20, 10, 10]], float), np.array([[0, 0, 50, 50]], float))[0] == 0.0
    # 3-4-5 triangle.
    assert center_error(shifted(1, 3, 4), track(1))[0] == pytest.approx(5.0)


def test_center_error_invalid_inputs_are_infinite():
    pred = np.array([[np.nan] * 4, GT, GT])
    gt = np.array([GT, [0, 0, 0, 5], [np.nan, 0, 5, 5]])
    assert np.isinf(center_error(pred, gt)).all()
    assert np.isinf(normalized_center_error(pred, gt)).all()


def test_normalized_center_error_divides_by_gt_size():
    # gt 40x30: offset (8, 6) -> (0.2, 0.2) -> sqrt(0.08)
    assert normalized_center_error(shifted(1, 8, 6), track(1))[0] == pytest.approx(np.sqrt(0.08))
    # The prediction's own size is irrelevant, only its centre.
    pred = np.array([[GT[0] + 8 - 5, GT[1] - 5, GT[2] + 10, GT[3] + 10]])
    assert normalized_center_error(pred, track(1))[0] == pytest.approx(0.2)


# --- sequence scores ----------------------------------------------------------------------------


def test_perfect_tracking_scores_protocol_values():
    s = score_sequence(track(50), track(50))
    # IoU = 1 exceeds every τ < 1 but not τ = 1 (strict >): AUC = 20/21, not 1.
    np.testing.assert_array_equal(s.success_curve, [1.0] * 20 + [0.0])
    assert s.auc == pytest.approx(20 / 21)
    assert s.precision_20 == 1.0 and s.norm_precision_20 == 1.0
    np.testing.assert_array_equal(s.precision_curve, np.ones(51))  # distance 0 <= 0
    assert s.n_frames == 50


def test_perfect_tracking_never_passes_tau_one_despite_rounding():
    # (x + w) - x != w in floating point for these boxes; unclipped IoU would be 1 + 1 ulp.
    gt = np.array([[3.0, 0.0, 1.53895471, 1.0], [0.1, 0.7, 0.3, 2.9], [1e3 + 0.1, 7.3, 0.2, 0.6]])
    assert (iou(gt, gt) <= 1.0).all()
    assert score_sequence(gt, gt).auc == pytest.approx(20 / 21)


def test_success_threshold_is_strict():
    # Every frame (after frame 0) has IoU exactly 0.5: passes τ = 0.45, fails τ = 0.5.
    pred = np.tile([0.0, 0.0, 10.0, 5.0], (11, 1))
    gt = np.tile([0.0, 0.0, 10.0, 10.0], (11, 1))
    s = score_sequence(pred, gt, skip_first=False)
    assert s.success_curve[9] == 1.0  # τ = 0.45
    assert s.success_curve[10] == 0.0  # τ = 0.50
    assert s.auc == pytest.approx(10 / 21)


def test_zero_overlap_fails_at_tau_zero():
    s = score_sequence(shifted(4, 1000), track(4), skip_first=False)
    assert s.success_curve[0] == 0.0 and s.auc == 0.0


@pytest.mark.parametrize("dx, passes", [(20.0, True), (21.0, False)])
def test_precision_at_20_is_inclusive(dx, passes):
    s = score_sequence(shifted(10, dx), track(10), skip_first=False)
    assert s.precision_20 == (1.0 if passes else 0.0)
    assert s.precision_curve[int(dx)] == 1.0  # distance <= τ at τ == distance
    assert s.precision_curve[int(dx) - 1] == 0.0


@pytest.mark.parametrize("dx, passes", [(8.0, True), (8.4, False)])  # gt w = 40: 8 px = 0.2, 8.4 px = 0.21
def test_norm_precision_at_02(dx, passes):
    s = score_sequence(shifted(5, dx), track(5), skip_first=False)
    assert s.norm_precision_20 == (1.0 if passes else 0.0)


def test_norm_precision_is_scale_invariant_unlike_precision():
    # A 30 px miss is a big miss on a small target but a small one on a large target.
    small = score_sequence(track(5, [0, 0, 20, 20]) + [30, 0, 0, 0], track(5, [0, 0, 20, 20]), skip_first=False)
    large = score_sequence(track(5, [0, 0, 300, 300]) + [30, 0, 0, 0], track(5, [0, 0, 300, 300]), skip_first=False)
    assert small.precision_20 == large.precision_20 == 0.0
    assert small.norm_precision_20 == 0.0 and large.norm_precision_20 == 1.0


def test_invalid_gt_frames_fail_every_threshold():
    gt = track(5)
    gt[2] = [0, 0, 0, 10]  # w = 0
    gt[3] = [0, 0, 10, -1]  # h < 0
    gt[4] = [np.nan] * 4
    s = score_sequence(gt.copy(), gt)  # predictions equal gt everywhere
    # Only frames 0 and 1 succeed; the 3 invalid frames stay in the denominator.
    np.testing.assert_allclose(s.success_curve, [0.4] * 20 + [0.0])
    np.testing.assert_allclose(s.precision_curve, 0.4)
    np.testing.assert_allclose(s.norm_precision_curve, 0.4)


def test_nan_predictions_fail():
    pred = track(4)
    pred[1:3] = np.nan
    s = score_sequence(pred, track(4))
    np.testing.assert_allclose(s.success_curve[:20], 0.5)
    assert s.precision_20 == 0.5 and s.norm_precision_20 == 0.5


def test_frame_zero_counts_as_perfect_even_if_garbage():
    pred = shifted(4, 1000)
    pred[0] = [np.nan, 5, -3, 0]
    s = score_sequence(pred, track(4))
    assert s.success_curve[0] == 0.25 and s.precision_20 == 0.25 and s.norm_precision_20 == 0.25
    assert s.auc == pytest.approx(0.25 * 20 / 21)
    # Without skip_first the garbage frame counts as a failure.
    assert score_sequence(pred, track(4), skip_first=False).auc == 0.0


def test_score_sequence_does_not_modify_inputs():
    pred = shifted(3, 5)
    before = pred.copy()
    score_sequence(pred, track(3))
    np.testing.assert_array_equal(pred, before)


def test_success_curve_is_non_increasing():
    rng = np.random.default_rng(0)
    gt = track(200)
    pred = gt + rng.normal(0, 8, size=gt.shape)
    s = score_sequence(pred, gt)
    assert (np.diff(s.success_curve) <= 0).all()
    assert (np.diff(s.precision_curve) >= 0).all()
    assert s.auc == pytest.approx(s.success_curve.mean())


def test_length_mismatch_raises_with_both_lengths():
    with pytest.raises(ValueError, match=r"7.*5"):
        score_sequence(track(7), track(5))


def test_zero_length_sequence_raises():
    with pytest.raises(ValueError, match="zero-length"):
        score_sequence(np.zeros((0, 4)), np.zeros((0, 4)))


def test_curves_are_read_only():
    s = score_sequence(track(3), track(3))
    with pytest.raises(ValueError):
        s.success_curve[0] = 0.0


# --- dataset scores -----------------------------------------------------------------------------


def test_dataset_averages_over_sequences_not_frames():
    # Short perfect sequence (2 frames) + long lost one (98 frames after the perfect frame 0).
    short = (track(2), track(2))
    long = (shifted(99, 1000), track(99))
    d = score_dataset({"short": short, "long": long})
    auc_short, auc_long = 20 / 21, (1 / 99) * 20 / 21
    assert d.per_sequence["short"].auc == pytest.approx(auc_short)
    assert d.per_sequence["long"].auc == pytest.approx(auc_long)
    assert d.auc == pytest.approx((auc_short + auc_long) / 2)
    pooled = score_sequence(np.vstack([short[0], long[0]]), np.vstack([short[1], long[1]]), skip_first=False)
    assert d.auc != pytest.approx(pooled.auc)  # frame pooling would give ~3/101 * 20/21
    assert d.precision_20 == pytest.approx((1 + 1 / 99) / 2)
    assert d.norm_precision_20 == pytest.approx((1 + 1 / 99) / 2)
    np.testing.assert_allclose(
        d.success_curve, (d.per_sequence["short"].success_curve + d.per_sequence["long"].success_curve) / 2
    )
    assert d.auc == pytest.approx(d.success_curve.mean())
    assert d.n_sequences == 2


def test_dataset_errors_name_the_sequence():
    with pytest.raises(ValueError, match=r"'bad'.*3.*2"):
        score_dataset({"ok": (track(2), track(2)), "bad": (track(3), track(2))})
    with pytest.raises(ValueError):
        score_dataset({})


# --- dependency rule (.importlinter) ---------------------------------------------------------------


def test_metrics_and_io_import_neither_torch_rclpy_nor_matplotlib():
    code = (
        "import sys, mlkd_tracker.eval.ope, mlkd_tracker.data.results_io, mlkd_tracker.eval.plots;"
        "bad = [m for m in ('torch', 'rclpy', 'matplotlib') if m in sys.modules];"
        "assert not bad, bad"
    )
    repo_root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", code], check=True, cwd=repo_root)
