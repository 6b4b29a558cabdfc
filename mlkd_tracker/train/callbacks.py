"""Callbacks of the training loop: checkpoints, CSV, TensorBoard, the loss-curve plot and the
sampler's epoch. The loop calls them in list order, so :class:`Checkpoints` goes first: a run
killed while plotting has already saved the epoch."""
from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import torch

LAST, BEST = "last.pt", "best.pt"


class Callback:
    def on_train_start(self, trainer) -> None: ...
    def on_log(self, trainer, step: int, values: dict[str, float]) -> None: ...
    def on_train_epoch_end(self, trainer) -> None:
        """After an epoch's last step, before validation and checkpoints."""
    def on_epoch_end(self, trainer, epoch: int, values: dict[str, float]) -> None: ...
    def on_train_end(self, trainer) -> None: ...


def atomic_save(state: dict, path: Path) -> None:
    """Never a half-written checkpoint, even if the run is killed mid-save."""
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)


class Checkpoints(Callback):
    """``last.pt`` every epoch (everything the loop needs to resume), ``best.pt`` when the
    validation loss improved and ``epoch_NNN.pt`` every ``checkpoint_every`` epochs."""

    def on_epoch_end(self, trainer, epoch: int, values: dict[str, float]) -> None:
        state = trainer.state_dict()
        run_dir = trainer.run_dir
        atomic_save(state, run_dir / LAST)
        if trainer.improved:
            atomic_save(state, run_dir / BEST)
        if epoch % trainer.plan.checkpoint_every == 0:
            atomic_save(state, run_dir / f"epoch_{epoch:03d}.pt")


class SamplerEpoch(Callback):
    """On (re)start, continue the pair sampler where the run left off, not at epoch 0."""

    def __init__(self, loader) -> None:
        self.loader = loader

    def on_train_start(self, trainer) -> None:
        self.loader.sampler.set_epoch(trainer.epoch)


class CsvLogger(Callback):
    """``log.csv`` (one row per logged iteration) and ``epochs.csv``; appends on resume."""

    def __init__(self, run_dir: Path) -> None:
        self.paths = {"log": run_dir / "log.csv", "epoch": run_dir / "epochs.csv"}

    def _write(self, which: str, row: dict[str, float]) -> None:
        """Columns are fixed by the file's header (or the first row): a row with other keys is
        written under the same columns (missing ones empty), never shifted. A key the header
        lacks is an error rather than a silently dropped value."""
        path = self.paths[which]
        header = None
        if path.exists() and path.stat().st_size:
            with path.open(newline="") as f:
                header = next(csv.reader(f), None)
        extra = [k for k in row if header is not None and k not in header]
        if extra:
            raise ValueError(f"{path}: new columns {extra} not in its header {header}; "
                             "a resumed run must log what it logged before")
        with path.open("a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=header or list(row), restval="")
            if header is None:
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
    """``loss_curves.png`` after every epoch (see :func:`plot_loss_curves`)."""

    def __init__(self, run_dir: Path, panels: Sequence[str] = ()) -> None:
        self.run_dir, self.panels = run_dir, list(panels)

    def on_epoch_end(self, trainer, epoch: int, values: dict[str, float]) -> None:
        plot_loss_curves(self.run_dir, self.panels)


def _read(path: Path) -> dict[str, list[float]]:
    if not path.exists():
        return {}
    with path.open() as f:
        rows = list(csv.DictReader(f))
    return {k: [float(r[k]) for r in rows] for k in (rows[0] if rows else {})}


def plot_loss_curves(run_dir: Path, panels: Sequence[str] = ()) -> Path | None:
    """``loss_curves.png`` from log.csv and epochs.csv.

    No ``panels``: every loss term against the step with the val losses per epoch, and the
    learning rate beside it. ``panels`` (e.g. MLKD's student names): one panel per name with
    its ``<name>/`` terms on a log scale (KD and mimic terms are orders of magnitude apart)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    log, epochs = _read(run_dir / "log.csv"), _read(run_dir / "epochs.csv")
    if not log:
        return None
    if panels:
        fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4), squeeze=False)
        groups = [(ax, f"{name}/", name) for ax, name in zip(axes[0], panels)]
    else:
        fig, (ax, ax_lr) = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": [3, 1]})
        groups = [(ax, "", f"training losses — {run_dir.name}")]
    try:
        for ax, prefix, title in groups:
            keys = [k for k in log if k.startswith(prefix) and k not in ("step", "lr", "epoch")]
            for k in keys:
                vals = [max(v, 1e-8) for v in log[k]] if panels else log[k]
                ax.plot(log["step"], vals, lw=1, label=k[len(prefix):])
            for k in (k for k in epochs if k.startswith(f"{prefix}val_")):
                ax.plot(epochs["step"], epochs[k], "o-", lw=2, label=k[len(prefix):])
            ax.set(xlabel="iteration", ylabel="loss", title=title,
                   yscale="log" if panels else "linear")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7 if panels else 8)
        if panels:
            fig.suptitle(f"training losses — {run_dir.name}")
        elif "lr" in log:
            ax_lr.plot(log["step"], log["lr"], color="tab:gray")
            ax_lr.set(xlabel="iteration", title="learning rate")
            ax_lr.grid(alpha=0.3)
        fig.tight_layout()
        out = run_dir / "loss_curves.png"
        fig.savefig(out, dpi=100)
    finally:
        plt.close(fig)
    return out
