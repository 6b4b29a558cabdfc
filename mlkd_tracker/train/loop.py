"""The training loop shared by the teacher and student trainers (and later the distillers).

What a run needs is passed in: parameter groups, a step function computing named losses for a
batch, a data iterator, callbacks. The loop owns warm-up + cosine decay, gradient clipping,
checkpoints (every ``checkpoint_every`` epochs, ``last.pt`` always) and resume.
"""
from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch
from torch import nn

from mlkd_tracker.train.callbacks import Callback
from mlkd_tracker.train.config import TrainConfig

StepFn = Callable[[dict], dict[str, torch.Tensor]]  # batch -> {"total": ..., other terms}


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


def make_optimizer(cfg: TrainConfig, groups: list[dict]) -> torch.optim.Optimizer:
    o = cfg.optim
    for g in groups:
        g["base_lr"] = o.lr * g.pop("lr_mult", 1.0)
        g["lr"] = g["base_lr"]
    if o.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay)
    if o.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=o.lr, weight_decay=o.weight_decay)
    raise ValueError(f"optim.optimizer '{o.optimizer}' is not one of adamw, sgd")


class Trainer:
    def __init__(self, cfg: TrainConfig, model: nn.Module, groups: list[dict], step_fn: StepFn,
                 batches: Iterator[dict], callbacks: list[Callback] = (),
                 validate: Callable[[], dict[str, float]] | None = None,
                 extra_state: Callable[[], dict] | None = None) -> None:
        self.cfg, self.model, self.step_fn, self.batches = cfg, model, step_fn, batches
        self.callbacks, self.validate, self.extra_state = list(callbacks), validate, extra_state
        self.run_dir = cfg.run_dir
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.optimizer = make_optimizer(cfg, groups)
        self.epoch, self.step = 0, 0
        self.total_steps = cfg.epochs * cfg.iters_per_epoch
        self.best_val = math.inf

    # ---- checkpoints ------------------------------------------------------------------------
    def checkpoint(self, path: Path) -> None:
        state = {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                 "epoch": self.epoch, "step": self.step, "best_val": self.best_val,
                 "train_config": self.cfg.to_dict(), "torch_rng": torch.get_rng_state()}
        if self.extra_state is not None:
            state.update(self.extra_state())
        tmp = path.with_suffix(".tmp")
        torch.save(state, tmp)
        tmp.replace(path)  # never a half-written checkpoint, even if the run is killed

    def resume(self) -> bool:
        last = self.run_dir / "last.pt"
        if not last.exists():
            return False
        state = torch.load(last, map_location="cpu", weights_only=False)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.epoch, self.step = state["epoch"], state["step"]
        self.best_val = state.get("best_val", math.inf)
        torch.set_rng_state(state["torch_rng"])
        return True

    # ---- loop ---------------------------------------------------------------------------------
    def fit(self) -> Path:
        from tqdm import tqdm
        if self.resume():
            print(f"resumed {self.run_dir} at epoch {self.epoch}, step {self.step}")
        for cb in self.callbacks:
            cb.on_train_start(self)
        warmup = int(self.cfg.optim.warmup_epochs * self.cfg.iters_per_epoch)
        while self.epoch < self.cfg.epochs:
            self.model.train()
            sums: dict[str, float] = {}
            bar = tqdm(range(self.cfg.iters_per_epoch), desc=f"epoch {self.epoch + 1}/{self.cfg.epochs}",
                       leave=False, dynamic_ncols=True)
            for _ in bar:
                factor = lr_factor(self.step, self.total_steps, warmup, self.cfg.optim.final_lr_ratio)
                for g in self.optimizer.param_groups:
                    g["lr"] = g["base_lr"] * factor
                losses = self.step_fn(next(self.batches))
                if not torch.isfinite(losses["total"]):
                    raise FloatingPointError(f"non-finite loss at step {self.step}: "
                                             f"{ {k: float(v) for k, v in losses.items()} }")
                self.optimizer.zero_grad(set_to_none=True)
                losses["total"].backward()
                nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.optim.grad_clip)
                self.optimizer.step()
                self.step += 1
                values = {k: float(v.detach()) for k, v in losses.items()}
                for k, v in values.items():
                    sums[k] = sums.get(k, 0.0) + v
                bar.set_postfix({k: f"{v:.3f}" for k, v in values.items()})
                if self.step % self.cfg.log_every == 0:
                    lr = self.optimizer.param_groups[0]["lr"]
                    for cb in self.callbacks:
                        cb.on_log(self, self.step, {**values, "lr": lr})
            self.epoch += 1
            self._end_epoch({k: v / self.cfg.iters_per_epoch for k, v in sums.items()})
        for cb in self.callbacks:
            cb.on_train_end(self)
        return self.run_dir / "last.pt"

    def _end_epoch(self, means: dict[str, float]) -> None:
        values = {f"train_{k}": v for k, v in means.items()} | {"step": self.step}
        if self.validate is not None:
            self.model.eval()
            with torch.no_grad():
                values |= {f"val_{k}": v for k, v in self.validate().items()}
        val = values.get("val_total", math.inf)
        improved = val < self.best_val
        if improved:
            self.best_val = val
        self.checkpoint(self.run_dir / "last.pt")
        if improved:
            self.checkpoint(self.run_dir / "best.pt")
        if self.epoch % self.cfg.checkpoint_every == 0:
            self.checkpoint(self.run_dir / f"epoch_{self.epoch:03d}.pt")
        summary = ", ".join(f"{k} {v:.4f}" for k, v in values.items() if k != "step")
        print(f"epoch {self.epoch}/{self.cfg.epochs}: {summary}")
        for cb in self.callbacks:
            cb.on_epoch_end(self, self.epoch, values)
