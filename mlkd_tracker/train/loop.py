"""The one training loop: teacher, student, MLKD and SLKD runs all go through :class:`Trainer`.

What a run needs is passed in: a step function computing named losses for a batch (``total``
is back-propagated), the optimisers with the parameters each one steps and its schedule, the
objects whose state makes up a checkpoint, a data iterator and callbacks. The loop owns warm-up
+ cosine decay (per optimiser), gradient clipping, the epoch bookkeeping, validation, the best
validation loss and resume; what is written where is the callbacks' job (``Checkpoints``,
``CsvLogger``, ``TensorBoardLogger``, ``LossCurvePlot``, and per-run extras such as MLKD's
elections). The run folder comes from :func:`mlkd_tracker.train.run_folder.prepare`, which also
decides whether the run resumes.
"""
from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from mlkd_tracker.train.callbacks import LAST, Callback
from mlkd_tracker.train.config import OptimConfig
from mlkd_tracker.train.run_folder import RunFolder

StepFn = Callable[[dict], dict[str, torch.Tensor]]  # batch -> {"total": ..., other terms}


class Plan(Protocol):
    """The loop's length and cadence; every run config has these fields."""
    epochs: int
    iters_per_epoch: int
    log_every: int          # iterations between log rows
    checkpoint_every: int   # epochs between epoch_NNN.pt files


class Stateful(Protocol):
    def state_dict(self) -> dict: ...
    def load_state_dict(self, state: dict) -> Any: ...


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def lr_factor(step: int, total: int, warmup: int, final_ratio: float) -> float:
    """Linear warm-up to 1, then cosine decay to ``final_ratio``."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return final_ratio + (1 - final_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def make_optimizer(o: OptimConfig, groups: list[dict]) -> torch.optim.Optimizer:
    """Parameter groups may carry ``lr_mult``; each group keeps its ``base_lr``."""
    for g in groups:
        g["base_lr"] = o.lr * g.pop("lr_mult", 1.0)
        g["lr"] = g["base_lr"]
    if o.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay)
    if o.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=o.lr, weight_decay=o.weight_decay)
    raise ValueError(f"optim.optimizer '{o.optimizer}' is not one of adamw, sgd")


@dataclass
class OptimSlot:
    """One optimiser, the parameters whose gradients it clips and the schedule it follows."""
    optimizer: torch.optim.Optimizer
    params: list[nn.Parameter]
    cfg: OptimConfig


class StateList:
    """A list of stateful objects saved as one checkpoint entry (e.g. one optimiser per
    student); loading checks the count, so a checkpoint of another run shape fails clearly."""

    def __init__(self, items: Sequence[Stateful]) -> None:
        self.items = list(items)

    def state_dict(self) -> list[dict]:
        return [x.state_dict() for x in self.items]

    def load_state_dict(self, states: list[dict]) -> None:
        if len(states) != len(self.items):
            raise ValueError(f"checkpoint holds {len(states)} entries, this run {len(self.items)}")
        for x, s in zip(self.items, states):
            x.load_state_dict(s)


class Trainer:
    def __init__(self, run: RunFolder, plan: Plan, step_fn: StepFn, batches: Iterator[dict],
                 optimizers: Sequence[OptimSlot], state: Mapping[str, Stateful],
                 modules: Sequence[nn.Module], callbacks: Sequence[Callback] = (),
                 validate: Callable[[], dict[str, float]] | None = None,
                 config: Mapping[str, Any] | None = None,
                 extra_state: Callable[[], dict] | None = None, main: bool = True,
                 describe: Callable[[dict[str, float]], str] | None = None) -> None:
        """``state``: checkpoint key -> object (models, optimisers, a room) restored on resume.
        ``modules``: put in train mode for training and eval mode for ``validate``, whose keys
        are logged as they are (``val_total`` is the best-checkpoint criterion when present).
        ``main``: this process prints and shows progress (rank 0 under DDP)."""
        self.run, self.plan, self.step_fn, self.batches = run, plan, step_fn, batches
        self.run_dir = run.path
        self.optimizers, self.state, self.modules = list(optimizers), dict(state), list(modules)
        self.callbacks, self.validate, self.extra_state = list(callbacks), validate, extra_state
        self.config, self.main, self.describe = dict(config or {}), main, describe
        self.epoch, self.step = 0, 0
        self.total_steps = plan.epochs * plan.iters_per_epoch
        self.best_val, self.improved = math.inf, False

    # ---- checkpoints ------------------------------------------------------------------------
    def state_dict(self) -> dict:
        state = {k: v.state_dict() for k, v in self.state.items()}
        state |= {"epoch": self.epoch, "step": self.step, "best_val": self.best_val,
                  "train_config": self.config, "torch_rng": torch.get_rng_state()}
        if self.extra_state is not None:
            state.update(self.extra_state())
        return state

    def resume(self) -> bool:
        """Load ``last.pt`` of a run asked to resume; False when there is none yet."""
        last = self.run_dir / LAST
        if not (self.run.resume and last.exists()):
            return False
        state = torch.load(last, map_location="cpu", weights_only=False)
        for key, obj in self.state.items():
            obj.load_state_dict(state[key])
        self.epoch, self.step = state["epoch"], state["step"]
        self.best_val = state.get("best_val", math.inf)
        torch.set_rng_state(state["torch_rng"])
        return True

    # ---- loop ---------------------------------------------------------------------------------
    def _set_lrs(self) -> None:
        for slot in self.optimizers:
            o = slot.cfg
            warmup = int(o.warmup_epochs * self.plan.iters_per_epoch)
            factor = lr_factor(self.step, self.total_steps, warmup, o.final_lr_ratio)
            for g in slot.optimizer.param_groups:
                g["lr"] = g["base_lr"] * factor

    def _train_step(self, batch: dict) -> dict[str, float]:
        self._set_lrs()
        losses = self.step_fn(batch)
        total = losses["total"]
        if not torch.isfinite(total):
            raise FloatingPointError(f"non-finite loss at step {self.step}: "
                                     f"{ {k: float(v) for k, v in losses.items()} }")
        for slot in self.optimizers:
            slot.optimizer.zero_grad(set_to_none=True)
        total.backward()
        for slot in self.optimizers:
            nn.utils.clip_grad_norm_(slot.params, slot.cfg.grad_clip)
            slot.optimizer.step()
        self.step += 1
        return {k: float(v.detach()) if isinstance(v, torch.Tensor) else float(v)
                for k, v in losses.items()}

    def fit(self) -> Path:
        """Train to ``plan.epochs`` (continuing ``last.pt`` when resuming); returns last.pt."""
        from tqdm import tqdm
        if self.resume() and self.main:
            print(f"resumed {self.run_dir} at epoch {self.epoch}, step {self.step}")
        for cb in self.callbacks:
            cb.on_train_start(self)
        plan = self.plan
        while self.epoch < plan.epochs:
            for m in self.modules:
                m.train()
            sums: dict[str, float] = {}
            bar = tqdm(range(plan.iters_per_epoch), desc=f"epoch {self.epoch + 1}/{plan.epochs}",
                       leave=False, dynamic_ncols=True, disable=not self.main)
            for _ in bar:
                values = self._train_step(next(self.batches))
                for k, v in values.items():
                    sums[k] = sums.get(k, 0.0) + v
                bar.set_postfix({k: f"{v:.3f}" for k, v in values.items() if "/" not in k})
                if self.step % plan.log_every == 0:
                    lr = self.optimizers[0].optimizer.param_groups[0]["lr"]
                    for cb in self.callbacks:
                        cb.on_log(self, self.step, {**values, "lr": lr})
            self.epoch += 1
            self._end_epoch({k: v / plan.iters_per_epoch for k, v in sums.items()})
        for cb in self.callbacks:
            cb.on_train_end(self)
        return self.run_dir / LAST

    def _end_epoch(self, means: dict[str, float]) -> None:
        for cb in self.callbacks:
            cb.on_train_epoch_end(self)
        values = {f"train_{k}": v for k, v in means.items()} | {"step": self.step}
        if self.validate is not None:
            for m in self.modules:
                m.eval()
            with torch.no_grad():
                values |= self.validate()
        val = values.get("val_total", math.inf)
        self.improved = val < self.best_val
        if self.improved:
            self.best_val = val
        for cb in self.callbacks:
            cb.on_epoch_end(self, self.epoch, values)
        if self.main:
            summary = (self.describe(values) if self.describe is not None else
                       ", ".join(f"{k} {v:.4f}" for k, v in values.items() if k != "step"))
            print(f"epoch {self.epoch}/{self.plan.epochs}: {summary}")
