"""Logging callbacks for the training loop: CSV, TensorBoard and a loss-curve plot."""
from __future__ import annotations

import csv
from pathlib import Path


class Callback:
    def on_train_start(self, trainer) -> None: ...
    def on_log(self, trainer, step: int, values: dict[str, float]) -> None: ...
    def on_epoch_end(self, trainer, epoch: int, values: dict[str, float]) -> None: ...
    def on_train_end(self, trainer) -> None: ...


class CsvLogger(Callback):
    """``log.csv`` (one row per logged iteration) and ``epochs.csv``; appends on resume."""

    def __init__(self, run_dir: Path) -> None:
        self.paths = {"log": run_dir / "log.csv", "epoch": run_dir / "epochs.csv"}

    def _write(self, which: str, row: dict[str, float]) -> None:
        path = self.paths[which]
        fresh = not path.exists()
        with path.open("a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(row))
            if fresh:
                writer.writeheader()
            writer.writerow(row)

    def on_log(self, trainer, step: int, values: dict[str, float]) -> None:
        self._write("log", {"step": step, **values})

    def on_epoch_end(self, trainer, epoch: int, values: dict[str, float]) -> None:
        self._write("epoch", {"epoch": epoch, **values})


class TensorBoardLogger(Callback):
    def __init__(self, run_dir: Path) -> None:
        from torch.utils.tensorboard import SummaryWriter
        self.writer = SummaryWriter(str(run_dir / "tensorboard"))

    def on_log(self, trainer, step: int, values: dict[str, float]) -> None:
        for key, value in values.items():
            self.writer.add_scalar(f"train/{key}", value, step)

    def on_epoch_end(self, trainer, epoch: int, values: dict[str, float]) -> None:
        for key, value in values.items():
            self.writer.add_scalar(f"epoch/{key}", value, epoch)
        self.writer.flush()

    def on_train_end(self, trainer) -> None:
        self.writer.close()


class LossCurvePlot(Callback):
    """``loss_curves.png`` from log.csv: every loss term against the step, plus val loss."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir

    def on_epoch_end(self, trainer, epoch: int, values: dict[str, float]) -> None:
        plot_loss_curves(self.run_dir)


def _read(path: Path) -> dict[str, list[float]]:
    if not path.exists():
        return {}
    with path.open() as f:
        rows = list(csv.DictReader(f))
    return {k: [float(r[k]) for r in rows] for k in (rows[0] if rows else {})}


def plot_loss_curves(run_dir: Path) -> Path | None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    log, epochs = _read(run_dir / "log.csv"), _read(run_dir / "epochs.csv")
    if not log:
        return None
    keys = [k for k in log if k not in ("step", "lr", "epoch")]
    fig, (ax, ax_lr) = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": [3, 1]})
    try:
        for k in keys:
            ax.plot(log["step"], log[k], lw=1, label=k)
        for k in (k for k in epochs if k.startswith("val_")):
            ax.plot(epochs["step"], epochs[k], "o-", lw=2, label=k)
        ax.set(xlabel="iteration", ylabel="loss", title=f"training losses — {run_dir.name}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        if "lr" in log:
            ax_lr.plot(log["step"], log["lr"], color="tab:gray")
            ax_lr.set(xlabel="iteration", title="learning rate")
            ax_lr.grid(alpha=0.3)
        fig.tight_layout()
        out = run_dir / "loss_curves.png"
        fig.savefig(out, dpi=100)
    finally:
        plt.close(fig)
    return out
