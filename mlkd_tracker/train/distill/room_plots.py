"""Who led the mutual-learning room when: a PNG of the election history.

Panels: each student's election score over steps (top left), a timeline with one row per
student and a coloured bar wherever it was the superior (bottom left), and each student's
share of the elections (right). matplotlib (Agg) is imported inside the function so that
importing the distillation package stays cheap and headless-safe.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np


def _runs(steps: np.ndarray, leaders: np.ndarray) -> list[tuple[int, float, float]]:
    """(leader, start, width) per maximal run of one leader; a step lasts until the next."""
    gaps = np.diff(steps)
    last = float(np.median(gaps)) if len(gaps) else 1.0
    ends = np.append(steps[1:], steps[-1] + last).astype(float)
    runs: list[tuple[int, float, float]] = []
    start = 0
    for i in range(1, len(steps) + 1):
        if i == len(steps) or leaders[i] != leaders[start]:
            runs.append((int(leaders[start]), float(steps[start]), ends[i - 1] - steps[start]))
            start = i
    return runs


def _moving_mean(vals: np.ndarray, window: int) -> np.ndarray:
    """Centred moving mean that ignores NaNs and does not sag at the ends (no zero padding)."""
    ok = np.isfinite(vals)
    kernel = np.ones(window)
    total = np.convolve(np.where(ok, vals, 0.0), kernel, mode="same")
    count = np.convolve(ok.astype(float), kernel, mode="same")
    with np.errstate(invalid="ignore", divide="ignore"):
        return total / count


def plot_elections(history: Sequence[tuple], path: str | Path,
                   names: Sequence[str] | None = None, title: str = "Mutual-learning room") -> Path:
    """Draw ``history`` (``(step, superior, scores)`` entries, e.g. ``room.history``) to
    ``path`` (PNG) and return the path. ``names`` label the students (default ``student i``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not history:
        raise ValueError("empty election history: nothing to plot")
    steps = np.array([int(h[0]) for h in history])
    leaders = np.array([int(h[1]) for h in history])
    scores = [tuple(h[2]) for h in history]
    k = max(max(len(s) for s in scores), int(leaders.max()) + 1)
    names = list(names) if names is not None else [f"student {i}" for i in range(k)]
    if len(names) < k:
        raise ValueError(f"{len(names)} names for {k} students")
    colours = [plt.get_cmap("tab10")(i % 10) for i in range(k)]

    fig = plt.figure(figsize=(11, 6), constrained_layout=True)
    grid = fig.add_gridspec(2, 2, width_ratios=[3, 1], height_ratios=[3, 2])
    ax_score = fig.add_subplot(grid[0, 0])
    ax_time = fig.add_subplot(grid[1, 0], sharex=ax_score)
    ax_share = fig.add_subplot(grid[:, 1])

    table = np.array([[s[i] if i < len(s) else np.nan for i in range(k)] for s in scores],
                     dtype=float)
    window = max(1, len(steps) // 60)  # long runs: faint raw scores + a moving average
    for i in range(k):
        vals = table[:, i]
        if window > 1:
            ax_score.plot(steps, vals, color=colours[i], lw=0.6, alpha=0.25)
            vals = _moving_mean(vals, window)
        ax_score.plot(steps, vals, color=colours[i], lw=1.4, label=names[i])
    finite = table[np.isfinite(table)]
    if finite.size and finite.min() > 0 and finite.max() / finite.min() > 20:
        ax_score.set_yscale("log")  # peak ratios span orders of magnitude
    ax_score.set_ylabel("election score (higher wins)"
                        + (f", {window}-step mean" if window > 1 else ""))
    ax_score.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=k, fontsize=8,
                    frameon=False)
    ax_score.grid(alpha=0.3)
    fig.suptitle(title)

    for leader, start, width in _runs(steps, leaders):
        ax_time.broken_barh([(start, width)], (leader - 0.4, 0.8), color=colours[leader])
    ax_time.set_yticks(range(k), names[:k])
    ax_time.set_ylim(k - 0.5, -0.5)
    ax_time.set_xlabel("step")
    ax_time.set_title("superior student per step", fontsize=10)
    ax_time.grid(axis="x", alpha=0.3)

    share = np.bincount(leaders, minlength=k) / len(leaders) * 100.0
    bars = ax_share.bar(range(k), share, color=colours)
    ax_share.bar_label(bars, fmt="%.0f%%", fontsize=8)
    ax_share.set_xticks(range(k), names[:k], rotation=30, ha="right")
    ax_share.set_ylabel("share of elections won (%)")
    ax_share.set_ylim(0, max(100.0, share.max() * 1.1))
    ax_share.set_title(f"{len(leaders)} elections", fontsize=10)

    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
