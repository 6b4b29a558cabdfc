"""One-pass evaluation (OPE) metrics for single-object tracking.

Follows the UAVDark135 / NAT2021 / DarkTrack2021 convention (the same rules the public
pysot-style toolkits apply):

* boxes are ``x, y, w, h`` in pixels, top-left origin, right edge ``x + w`` (no ``+1``);
  the centre is therefore ``(x + w/2, y + h/2)``;
* success(τ) = fraction of frames with IoU **>** τ for τ in 0, 0.05, …, 1 (so at τ = 0 a frame
  with zero overlap fails, and at τ = 1 every frame fails: perfect tracking scores AUC = 20/21);
* precision(τ) = fraction of frames with centre distance **≤** τ px, τ in 0…50;
* normalised precision: centre offsets divided by the ground-truth w and h, then L2,
  τ in 0…0.5, reported at 0.2;
* frames with invalid ground truth (w ≤ 0, h ≤ 0 or non-finite) fail every threshold;
  they stay in the denominator, exactly as in the toolkits;
* frame 0 (the initialisation frame) counts as a perfect prediction;
* dataset numbers are means over sequences, not over pooled frames.

Pure numpy: this module must stay importable on a drone without torch, rclpy or matplotlib.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

__all__ = [
    "SUCCESS_THRESHOLDS",
    "PRECISION_THRESHOLDS",
    "NORM_PRECISION_THRESHOLDS",
    "INVALID_GT_IOU",
    "iou",
    "center_error",
    "normalized_center_error",
    "SequenceScore",
    "DatasetScore",
    "score_sequence",
    "score_dataset",
]

SUCCESS_THRESHOLDS = np.linspace(0, 1, 21)
PRECISION_THRESHOLDS = np.arange(51)  # pixels
NORM_PRECISION_THRESHOLDS = np.linspace(0, 0.5, 51)

# Index of the reported operating points (20 px and 0.2) in the threshold grids above.
_P20_INDEX = 20
_NP20_INDEX = 20
assert PRECISION_THRESHOLDS[_P20_INDEX] == 20 and NORM_PRECISION_THRESHOLDS[_NP20_INDEX] == 0.2

# IoU reported for frames whose ground truth is invalid. Below every threshold (incl. 0), so
# such frames fail the whole success curve; distinct from 0 so callers can tell them apart.
# Same sentinel as pysot's ``success_overlap``.
INVALID_GT_IOU = -1.0


def _as_boxes(a: np.ndarray, name: str) -> np.ndarray:
    boxes = np.asarray(a, dtype=np.float64)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"{name} must have shape (N, 4) as x, y, w, h; got {boxes.shape}")
    return boxes


def _as_pair(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p, g = _as_boxes(pred, "pred"), _as_boxes(gt, "gt")
    if len(p) != len(g):
        raise ValueError(f"pred has {len(p)} frames but gt has {len(g)}")
    return p, g


def _valid(boxes: np.ndarray) -> np.ndarray:
    """A box is valid when all four values are finite and it has positive width and height."""
    with np.errstate(invalid="ignore"):
        return np.isfinite(boxes).all(axis=1) & (boxes[:, 2] > 0) & (boxes[:, 3] > 0)


def iou(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Per-frame intersection over union, shape (N,).

    Invalid predictions (NaN/inf, w ≤ 0 or h ≤ 0 — e.g. a tracker reporting "lost") get
    IoU 0. Frames with invalid ground truth get ``INVALID_GT_IOU`` (-1) so they fail every
    success threshold, including τ = 0, rather than silently looking like a miss or a hit.
    Boxes that only touch (right edge of one == left edge of the other) have IoU 0.
    """
    p, g = _as_pair(pred, gt)
    valid_p, valid_g = _valid(p), _valid(g)
    both = valid_p & valid_g
    out = np.zeros(len(p))
    pv, gv = p[both], g[both]
    iw = np.clip(np.minimum(pv[:, 0] + pv[:, 2], gv[:, 0] + gv[:, 2]) - np.maximum(pv[:, 0], gv[:, 0]), 0, None)
    ih = np.clip(np.minimum(pv[:, 1] + pv[:, 3], gv[:, 1] + gv[:, 3]) - np.maximum(pv[:, 1], gv[:, 1]), 0, None)
    inter = iw * ih
    union = pv[:, 2] * pv[:, 3] + gv[:, 2] * gv[:, 3] - inter  # > 0: both areas are positive
    # Clip: (x + w) - x != w in floating point, so identical boxes can give 1 + 1 ulp, which
    # would pass the τ = 1 success threshold that no frame may pass.
    out[both] = np.minimum(inter / union, 1.0)
    out[~valid_g] = INVALID_GT_IOU
    return out


def _centres(boxes: np.ndarray) -> np.ndarray:
    return boxes[:, :2] + boxes[:, 2:] / 2.0


def center_error(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Euclidean distance in pixels between box centres, shape (N,).

    Returns inf (fails every precision threshold) for invalid ground truth and for
    non-finite predictions. A finite prediction with w or h ≤ 0 still has a well-defined
    centre, so it is scored by distance like any other.
    """
    p, g = _as_pair(pred, gt)
    ok = _valid(g) & np.isfinite(p).all(axis=1)
    out = np.full(len(p), np.inf)
    d = _centres(p[ok]) - _centres(g[ok])
    out[ok] = np.hypot(d[:, 0], d[:, 1])
    return out


def normalized_center_error(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Centre offset divided by the ground-truth (w, h), then L2; shape (N,).

    Makes precision scale-invariant (a 20 px miss on a 10 px target is not the same as on a
    200 px one). Same inf rules as :func:`center_error`.
    """
    p, g = _as_pair(pred, gt)
    ok = _valid(g) & np.isfinite(p).all(axis=1)
    out = np.full(len(p), np.inf)
    d = (_centres(p[ok]) - _centres(g[ok])) / g[ok, 2:]
    out[ok] = np.hypot(d[:, 0], d[:, 1])
    return out


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a, dtype=np.float64)
    a.flags.writeable = False
    return a


@dataclass(frozen=True, eq=False)
class SequenceScore:
    """OPE result of one sequence. Curves are indexed like the module's threshold grids."""

    success_curve: np.ndarray  # (21,) over SUCCESS_THRESHOLDS
    precision_curve: np.ndarray  # (51,) over PRECISION_THRESHOLDS
    norm_precision_curve: np.ndarray  # (51,) over NORM_PRECISION_THRESHOLDS
    auc: float  # mean of the 21 success values
    precision_20: float
    norm_precision_20: float
    n_frames: int


@dataclass(frozen=True, eq=False)
class DatasetScore:
    """OPE result of a benchmark: every number is a mean over sequences (not pooled frames),
    so a long sequence weighs as much as a short one — the benchmarks' convention."""

    per_sequence: dict[str, SequenceScore]
    success_curve: np.ndarray
    precision_curve: np.ndarray
    norm_precision_curve: np.ndarray
    auc: float
    precision_20: float
    norm_precision_20: float

    @property
    def n_sequences(self) -> int:
        return len(self.per_sequence)


def score_sequence(pred: np.ndarray, gt: np.ndarray, skip_first: bool = True) -> SequenceScore:
    """Score one tracking run against its ground truth.

    With ``skip_first`` (the protocol default) frame 0 is scored as a perfect prediction,
    because the tracker is initialised on it with the ground-truth box. This is implemented by
    replacing ``pred[0]`` with ``gt[0]``: frame 0 stays in the denominator and whatever the
    tracker wrote there is ignored. (So frame 0 still fails τ = 1.0, like any perfect frame, and
    fails everything if ``gt[0]`` itself is invalid.) ``skip_first=False`` scores ``pred[0]``
    as written.
    """
    p, g = _as_pair(pred, gt)
    if len(p) == 0:
        raise ValueError("cannot score a zero-length sequence")
    if skip_first:
        p = p.copy()
        p[0] = g[0]
    overlaps = iou(p, g)
    success = (overlaps[:, None] > SUCCESS_THRESHOLDS[None, :]).mean(axis=0)
    precision = (center_error(p, g)[:, None] <= PRECISION_THRESHOLDS[None, :]).mean(axis=0)
    norm_precision = (normalized_center_error(p, g)[:, None] <= NORM_PRECISION_THRESHOLDS[None, :]).mean(axis=0)
    return SequenceScore(
        success_curve=_readonly(success),
        precision_curve=_readonly(precision),
        norm_precision_curve=_readonly(norm_precision),
        auc=float(success.mean()),
        precision_20=float(precision[_P20_INDEX]),
        norm_precision_20=float(norm_precision[_NP20_INDEX]),
        n_frames=len(p),
    )


def score_dataset(
    results: Mapping[str, tuple[np.ndarray, np.ndarray]], skip_first: bool = True
) -> DatasetScore:
    """Score a benchmark run: ``results`` maps sequence name -> (pred, gt).

    Curves and headline numbers are sequence means. Errors in one sequence are re-raised
    with the sequence name so a bad results file is easy to find.
    """
    if len(results) == 0:
        raise ValueError("cannot score an empty set of sequences")
    per_sequence: dict[str, SequenceScore] = {}
    for name, (pred, gt) in results.items():
        try:
            per_sequence[name] = score_sequence(pred, gt, skip_first=skip_first)
        except ValueError as e:
            raise ValueError(f"sequence {name!r}: {e}") from e
    seqs = list(per_sequence.values())

    def mean_curve(attr: str) -> np.ndarray:
        return _readonly(np.mean([getattr(s, attr) for s in seqs], axis=0))

    return DatasetScore(
        per_sequence=per_sequence,
        success_curve=mean_curve("success_curve"),
        precision_curve=mean_curve("precision_curve"),
        norm_precision_curve=mean_curve("norm_precision_curve"),
        auc=float(np.mean([s.auc for s in seqs])),
        precision_20=float(np.mean([s.precision_20 for s in seqs])),
        norm_precision_20=float(np.mean([s.norm_precision_20 for s in seqs])),
    )
