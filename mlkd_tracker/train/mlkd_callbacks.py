"""The MLKD run's own callbacks for the shared loop: per-student tracker checkpoints, the room's
election log and plot, and the DDP replica-sync check. Checkpoints, CSV, TensorBoard and the
loss curves are the shared ones (:mod:`mlkd_tracker.train.callbacks`)."""
from __future__ import annotations

import csv
import json
from collections.abc import Callable, Sequence
from pathlib import Path

from torch import nn

from mlkd_tracker.train import mlkd_parallel as par
from mlkd_tracker.train.callbacks import LAST, Callback, atomic_save


class StudentCheckpoints(Callback):
    """``<student>/last.pt`` every epoch and ``<student>/epoch_NNN.pt`` every
    ``checkpoint_every`` epochs: plain tracker checkpoints for selection, evaluation and export.
    ``states(trainer)`` gives student name -> checkpoint dict."""

    def __init__(self, states: Callable[[object], dict[str, dict]]) -> None:
        self.states = states

    def on_epoch_end(self, trainer, epoch: int, values: dict[str, float]) -> None:
        for name, state in self.states(trainer).items():
            folder = trainer.run_dir / name
            folder.mkdir(parents=True, exist_ok=True)
            atomic_save(state, folder / LAST)
            if epoch % trainer.plan.checkpoint_every == 0:
                atomic_save(state, folder / f"epoch_{epoch:03d}.pt")


class Elections(Callback):
    """``elections.csv`` and ``elections.png``: who the room elected at every step, with every
    student's score (the room's history is part of the resumable state, so both are whole)."""

    def __init__(self, room, names: Sequence[str]) -> None:
        self.room, self.names = room, list(names)

    def on_epoch_end(self, trainer, epoch: int, values: dict[str, float]) -> None:
        history = self.room.history
        if not history:
            return
        write_elections(trainer.run_dir / "elections.csv", history, self.names)
        from mlkd_tracker.train.distill.room_plots import plot_elections
        plot_elections(history, trainer.run_dir / "elections.png", self.names)


class ReplicaSync(Callback):
    """Under DDP, on every rank: rank 0's BatchNorm statistics everywhere before validation and
    checkpoints, then every rank's parameter digests into ``ddp_sync.json`` (rank 0 writes;
    replicas out of sync stop the run). A no-op in a single process."""

    def __init__(self, modules: Sequence[nn.Module], world: int, rank: int) -> None:
        self.modules, self.world, self.rank = list(modules), world, rank

    def on_train_epoch_end(self, trainer) -> None:
        par.sync_buffers(self.modules, self.world)
        if self.world > 1:
            digests = par.gather_digests(self.modules, self.world)
            if self.rank == 0:
                write_sync_report(trainer.run_dir, trainer.epoch, digests)


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
