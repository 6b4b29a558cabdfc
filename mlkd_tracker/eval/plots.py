"""Success / precision plots (the figures the public OPE toolkits draw) and a per-run timeline.

The only eval module allowed to use matplotlib (see .importlinter). It is imported inside the
functions with the Agg backend so that importing this module stays cheap and works headless
on a drone or CI machine.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .ope import (
    INVALID_GT_IOU,
    PRECISION_THRESHOLDS,
    SUCCESS_THRESHOLDS,
    DatasetScore,
    center_error,
    iou,
)

__all__ = ["OpePlot", "plot_ope", "plot_track_timeline", "plot_attributes", "legend_order"]

_LINESTYLES = ("-", "--", "-.", ":")


@dataclass(frozen=True)
class OpePlot:
    """What :func:`plot_ope` drew: the PNG path and the legend labels in drawing order.

    Path-like (``os.fspath``/``open``/``Path(...)`` work on it), so callers that only want the
    file can treat it as a path; tests use the labels to check the legend order.
    """

    path: Path
    success_labels: tuple[str, ...]
    precision_labels: tuple[str, ...]

    def __fspath__(self) -> str:
        return str(self.path)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Half-open [start, stop) index ranges where ``mask`` is True (one patch per run, not per frame)."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()))


def legend_order(scores: Mapping[str, DatasetScore], key: str) -> list[str]:
    """Tracker names sorted by ``key`` ("auc" or "precision_20") descending; ties by name so
    the figure is deterministic."""
    return sorted(scores, key=lambda name: (-getattr(scores[name], key), name))


def plot_ope(scores: Mapping[str, DatasetScore], out_path: str | os.PathLike[str], title: str = "") -> OpePlot:
    """Draw success (left) and precision (right) plots for several trackers and save a PNG.

    Legends read ``name [0.577]`` (AUC, resp. precision at 20 px) and are sorted best first,
    like the toolkits, so the ranking is readable without decoding colours.
    """
    if not scores:
        raise ValueError("plot_ope needs at least one tracker score")
    plt = _pyplot()
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    colours = plt.get_cmap("tab10").colors
    # Style is fixed per tracker (by AUC rank) so a tracker looks the same in both panels.
    style = {
        name: dict(color=colours[i % len(colours)], linestyle=_LINESTYLES[(i // len(colours)) % len(_LINESTYLES)])
        for i, name in enumerate(legend_order(scores, "auc"))
    }
    suffix = f" — {title}" if title else ""
    fig, (ax_s, ax_p) = plt.subplots(1, 2, figsize=(12, 5))
    try:
        for name in legend_order(scores, "auc"):
            s = scores[name]
            ax_s.plot(SUCCESS_THRESHOLDS, s.success_curve, lw=2, label=f"{name} [{s.auc:.3f}]", **style[name])
        for name in legend_order(scores, "precision_20"):
            s = scores[name]
            ax_p.plot(PRECISION_THRESHOLDS, s.precision_curve, lw=2, label=f"{name} [{s.precision_20:.3f}]", **style[name])
        ax_p.axvline(20, color="0.6", lw=0.8, ls=":")
        for ax, xlabel, ylabel, xmax, heading, loc in (
            (ax_s, "Overlap threshold", "Success rate", 1.0, "Success plots of OPE", "lower left"),
            (ax_p, "Location error threshold (px)", "Precision", 50.0, "Precision plots of OPE", "lower right"),
        ):
            ax.set(xlabel=xlabel, ylabel=ylabel, xlim=(0, xmax), ylim=(0, 1.0), title=heading + suffix)
            ax.grid(True, alpha=0.3)
            ax.legend(loc=loc, fontsize=9)
        labels = tuple(tuple(t.get_text() for t in ax.get_legend().get_texts()) for ax in (ax_s, ax_p))
        fig.tight_layout()
        fig.savefig(out, dpi=100)
    finally:
        plt.close(fig)
    return OpePlot(path=out, success_labels=labels[0], precision_labels=labels[1])


def plot_track_timeline(
    gt: np.ndarray,
    pred: np.ndarray,
    iou_per_frame: np.ndarray | None,
    out_path: str | os.PathLike[str],
    title: str = "",
) -> Path:
    """Two stacked panels for one run: IoU per frame and centre error per frame.

    Shows *when* a tracker drifted or recovered, which the aggregate curves hide. Frames with
    invalid ground truth are shaded; frames without a usable prediction or ground truth are
    gaps in the centre-error line. ``iou_per_frame=None`` computes it from the boxes.
    """
    gt_a = np.asarray(gt, dtype=np.float64)
    pred_a = np.asarray(pred, dtype=np.float64)
    overlaps = iou(pred_a, gt_a) if iou_per_frame is None else np.asarray(iou_per_frame, dtype=np.float64)
    if overlaps.shape != (len(gt_a),):
        raise ValueError(f"iou_per_frame has shape {overlaps.shape}; expected ({len(gt_a)},)")
    errors = center_error(pred_a, gt_a)
    invalid_gt = ~(np.isfinite(gt_a).all(axis=1) & (gt_a[:, 2] > 0) & (gt_a[:, 3] > 0))
    frames = np.arange(len(gt_a))

    plt = _pyplot()
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig, (ax_i, ax_e) = plt.subplots(2, 1, figsize=(8, 4.5), sharex=True)
    try:
        shown_iou = np.where(overlaps <= INVALID_GT_IOU, np.nan, overlaps)
        ax_i.plot(frames, shown_iou, color="tab:blue", lw=1.2)
        ax_i.axhline(0.5, color="0.6", lw=0.8, ls=":")
        ax_i.set(ylabel="IoU", ylim=(-0.02, 1.02), title=f"Tracking timeline{' — ' + title if title else ''}")
        ax_e.plot(frames, np.where(np.isfinite(errors), errors, np.nan), color="tab:red", lw=1.2)
        ax_e.axhline(20, color="0.6", lw=0.8, ls=":")
        ax_e.set(xlabel="Frame", ylabel="Centre error (px)", ylim=(0, None))
        for ax in (ax_i, ax_e):
            ax.grid(True, alpha=0.3)
            for k, (start, stop) in enumerate(_runs(invalid_gt)):
                ax.axvspan(start - 0.5, stop - 0.5, color="0.85", lw=0, label="invalid gt" if k == 0 else None)
        if invalid_gt.any():
            ax_i.legend(loc="upper right", fontsize=8)
        fig.tight_layout()
        fig.savefig(out, dpi=100)
    finally:
        plt.close(fig)
    return out


def plot_attributes(rows, out_path: str | os.PathLike[str], title: str = "") -> Path:
    """Success per attribute (rows) and tracker (columns) as an annotated heat map.

    ``rows`` are :class:`~mlkd_tracker.eval.attributes.AttributeRow`. A heat map rather than
    grouped bars because an ablation compares a dozen trackers: bars that many wide are unreadable,
    while a colour grid with the numbers printed still shows at a glance which column wins where.
    """
    if not rows:
        raise ValueError("plot_attributes needs at least one attribute row")
    labels = list(rows[0].success)
    grid = np.array([[100 * r.success[lb] for lb in labels] for r in rows])
    plt = _pyplot()
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(1.6 + 0.75 * len(labels), 1.2 + 0.42 * len(rows)))
    try:
        image = ax.imshow(grid, cmap="viridis", aspect="auto", vmin=0, vmax=max(float(grid.max()), 1.0))
        for (i, j), v in np.ndenumerate(grid):
            best = v == grid[i].max()
            ax.text(j, i, f"{v:.1f}", ha="center", va="center", fontsize=8,
                    color="black" if v > 0.6 * grid.max() else "white", fontweight="bold" if best else None)
        ax.set_xticks(range(len(labels)), labels, rotation=40, ha="right", fontsize=8)
        ax.set_yticks(range(len(rows)), [f"{r.attribute} ({r.n})" for r in rows], fontsize=8)
        ax.set_title("Success by attribute (sequences); bold = best of the row"
                     + (f" — {title}" if title else ""), fontsize=9)
        fig.colorbar(image, ax=ax, label="success ×100")
        fig.tight_layout()
        fig.savefig(out, dpi=100)
    finally:
        plt.close(fig)
    return out
