"""Pictures for the detector ablation: how each run learned, and its precision-recall curve."""
from __future__ import annotations

import csv
from pathlib import Path


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _finish(fig, axes, legend_ax, out_path: Path) -> Path:
    """Grid on every axis, a legend where lines are, saved and closed."""
    for ax in axes:
        ax.grid(alpha=0.3)
    if legend_ax.lines:
        legend_ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out_path, dpi=100)
    return out_path


def read_results_csv(path: Path) -> dict[str, list[float]]:
    """Ultralytics' ``results.csv`` as columns (its headers carry padding spaces)."""
    if not path.is_file():
        return {}
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if len(rows) < 2:
        return {}
    header = [h.strip() for h in rows[0]]
    return {h: [float(r[i]) for r in rows[1:] if len(r) == len(header)] for i, h in enumerate(header)}


def plot_training_curves(histories: dict[str, dict[str, list[float]]], out_path: Path) -> Path:
    """Validation mAP50-95 and the training box loss per epoch, one line per run."""
    plt = _pyplot()
    fig, (ax_map, ax_loss) = plt.subplots(1, 2, figsize=(11, 4))
    try:
        for label, cols in histories.items():
            if "epoch" not in cols:  # a checkpoint without its run folder
                continue
            if "metrics/mAP50-95(B)" in cols:
                ax_map.plot(cols["epoch"], [100 * v for v in cols["metrics/mAP50-95(B)"]],
                            label=label)
            if "train/box_loss" in cols:
                ax_loss.plot(cols["epoch"], cols["train/box_loss"], label=label)
        ax_map.set(xlabel="epoch", ylabel="val AP (mAP50-95) ×100", title="validation AP")
        ax_loss.set(xlabel="epoch", ylabel="box loss", title="training box loss")
        return _finish(fig, (ax_map, ax_loss), ax_map, out_path)
    finally:
        plt.close(fig)


def plot_pr_curves(curves: dict[str, tuple[list[float], list[float]]], out_path: Path,
                   title: str) -> Path:
    """Class-averaged precision against recall at IoU 0.5, one line per run."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    try:
        for label, (recall, precision) in curves.items():
            ax.plot(recall or [0.0, 1.0], precision or [0.0, 0.0], label=label)  # none: 0
        ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02), title=title)
        return _finish(fig, (ax,), ax, out_path)
    finally:
        plt.close(fig)
