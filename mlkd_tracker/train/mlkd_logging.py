"""Logs of an MLKD run: CSV + TensorBoard of every loss term of every student, per-student
loss curves, the room's election log and plot, and the DDP replica-sync report."""
from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path

import torch

from mlkd_tracker.train.callbacks import CsvLogger, TensorBoardLogger, _read


def atomic_save(state: dict, path: Path) -> None:
    """Never a half-written checkpoint, even if the run is killed mid-save."""
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)


class RunLogger:
    """Rank 0 writes; other ranks get a logger that does nothing."""

    def __init__(self, run_dir: Path, students: Sequence[str], enabled: bool = True) -> None:
        self.run_dir, self.students, self.enabled = run_dir, list(students), enabled
        self.csv = self.tb = None
        if enabled:
            run_dir.mkdir(parents=True, exist_ok=True)
            self.csv, self.tb = CsvLogger(run_dir), TensorBoardLogger(run_dir)

    def log(self, step: int, values: dict[str, float]) -> None:
        if self.enabled:
            self.csv.on_log(None, step, values)
            self.tb.on_log(None, step, values)

    def epoch(self, epoch: int, values: dict[str, float], history: Sequence[tuple]) -> None:
        if not self.enabled:
            return
        self.csv.on_epoch_end(None, epoch, values)
        self.tb.on_epoch_end(None, epoch, values)
        plot_student_curves(self.run_dir, self.students)
        if history:
            write_elections(self.run_dir / "elections.csv", history, self.students)
            from mlkd_tracker.train.distill.room_plots import plot_elections
            plot_elections(history, self.run_dir / "elections.png", self.students)

    def close(self) -> None:
        if self.enabled:
            self.tb.on_train_end(None)


def write_elections(path: Path, history: Sequence[tuple], names: Sequence[str]) -> None:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["step", "superior", *[f"score_{n}" for n in names]])
        for step, sup, scores in history:
            w.writerow([step, names[sup], *[f"{s:.6g}" for s in scores]])


def write_sync_report(run_dir: Path, epoch: int, digests: list[list[str]]) -> None:
    """Append this epoch's per-rank parameter digests; a mismatch is an error, not a log line."""
    path = run_dir / "ddp_sync.json"
    report = json.loads(path.read_text()) if path.exists() else []
    in_sync = all(row == digests[0] for row in digests)
    report.append({"epoch": epoch, "world_size": len(digests), "digests": digests,
                   "in_sync": in_sync})
    path.write_text(json.dumps(report, indent=1))
    if not in_sync:
        raise RuntimeError(f"DDP replicas diverged at epoch {epoch}: {digests}")


def plot_student_curves(run_dir: Path, students: Sequence[str]) -> Path | None:
    """``loss_curves.png``: one panel per student with each of its loss terms (log scale, the
    KD and mimic terms are orders of magnitude apart) and its val GT loss per epoch."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    log, epochs = _read(run_dir / "log.csv"), _read(run_dir / "epochs.csv")
    if not log:
        return None
    fig, axes = plt.subplots(1, len(students), figsize=(5 * len(students), 4), squeeze=False)
    try:
        for ax, name in zip(axes[0], students):
            for key in (k for k in log if k.startswith(f"{name}/")):
                vals = [max(v, 1e-8) for v in log[key]]
                ax.plot(log["step"], vals, lw=1, label=key.split("/", 1)[1])
            val_key = f"{name}/val_total"
            if val_key in epochs:
                ax.plot(epochs["step"], epochs[val_key], "o-", lw=2, label="val gt")
            ax.set(xlabel="iteration", yscale="log", title=name)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
        fig.suptitle(f"MLKD losses — {run_dir.name}")
        fig.tight_layout()
        out = run_dir / "loss_curves.png"
        fig.savefig(out, dpi=100)
    finally:
        plt.close(fig)
    return out
