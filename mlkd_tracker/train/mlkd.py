"""`mlkd-tracker train mlkd`: K diverse students learn together from a frozen teacher and from
each other (the mutual-learning room), on one CPU or many GPUs (DDP under ``torchrun``).

Every step, all students see the same batch: the teacher's outputs are computed once, each
student computes its ground-truth and its own distillation losses, the room elects a superior
and the others add a mimic loss toward it; then every student's optimiser steps on its own
(warm-up + cosine schedule, backbone LR multiplier, gradient clipping).

Run folder: ``config.yaml``, ``last.pt`` (everything, for resume), ``<student>/epoch_NNN.pt``
and ``<student>/last.pt`` (plain tracker checkpoints for evaluation and export), ``log.csv``,
``epochs.csv``, ``tensorboard/``, ``loss_curves.png``, ``elections.png``, ``elections.csv``
and, under DDP, ``ddp_sync.json`` (parameter digests of every rank after each epoch).
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import torch
import yaml
from torch import nn

from mlkd_tracker.train.datasets.pairs import PairDataset, make_loader
from mlkd_tracker.data.sequences import read_dataset
from mlkd_tracker.train.datasets.targets import make_targets
from mlkd_tracker.train.distill.room import MutualLearningRoom
from mlkd_tracker.train.nets.siamese import build_tracker
from mlkd_tracker.train import mlkd_logging as logs
from mlkd_tracker.train import mlkd_parallel as par
from mlkd_tracker.train.checkpoints import load_tracker
from mlkd_tracker.train.loop import lr_factor, make_optimizer, seed_everything
from mlkd_tracker.train.losses import tracking_losses
from mlkd_tracker.train.mlkd_config import MLKDConfig
from mlkd_tracker.train.mlkd_student import DistilledStudent, teacher_view
from mlkd_tracker.train.tracker_training import (
    _fixed_batches, forever, net_config, pair_config, param_groups, split_root,
)


def _check_geometry(students: list[DistilledStudent], teacher) -> None:
    """The room and the KD losses compare maps cell by cell: every model must share them."""
    models = [(s.spec.name, s.net) for s in students] + ([("teacher", teacher)] if teacher else [])
    ref_name, ref = models[0]
    for name, m in models[1:]:
        if m.cfg.geometry() != ref.cfg.geometry():
            raise ValueError(f"'{name}' crop/score geometry {m.cfg.geometry()} differs from "
                             f"'{ref_name}' {ref.cfg.geometry()}; all MLKD models must match")


class MLKDTrainer:
    def __init__(self, cfg: MLKDConfig) -> None:
        self.cfg = cfg
        self.rank, self.world = par.setup(cfg.device)
        seed_everything(cfg.seed)  # identical initial weights on every rank (DDP also broadcasts)
        torch.set_num_threads(cfg.threads)
        self.device = torch.device(par.local_device(cfg.device))
        self.run_dir = cfg.run_dir
        self.teacher_state: dict | None = None  # where the teacher came from, for checkpoints
        self.teacher = self._load_teacher() if cfg.uses_teacher else None
        self.tcfgs = [cfg.student_train_config(s) for s in cfg.students]
        t_ch = self.teacher.cfg.neck_channels if self.teacher is not None else None
        self.units = [DistilledStudent(build_tracker(net_config(tc)), spec, cfg.cls_weight,
                                       cfg.box_weight, t_ch).to(self.device)
                      for spec, tc in zip(cfg.students, self.tcfgs)]
        _check_geometry(self.units, self.teacher)
        self.models = [par.wrap(u, self.world, self.device) for u in self.units]
        self.optimizers = [self._optimizer(u, tc) for u, tc in zip(self.units, self.tcfgs)]
        self.room = MutualLearningRoom(cfg.room.rule, cfg.room.target, cfg.room.weight,
                                       score_reducer=par.mean_reducer(self.world))
        self.geometry = self.units[0].net.cfg.geometry()
        self.epoch, self.step = 0, 0
        self.logger = logs.RunLogger(self.run_dir, [s.name for s in cfg.students],
                                     enabled=self.rank == 0)

    # ---- set-up -------------------------------------------------------------------------------
    def _load_teacher(self):
        teacher, state = load_tracker(self.cfg.teacher)
        if teacher.enhancer is None:
            print(f"note: teacher '{self.cfg.teacher}' has no enhancer")
        for p in teacher.parameters():
            p.requires_grad_(False)
        self.teacher_state = {"path": self.cfg.teacher, "epoch": state.get("epoch")}
        return teacher.eval().to(self.device)

    def _optimizer(self, unit: DistilledStudent, tcfg) -> torch.optim.Optimizer:
        groups = param_groups(unit.net, tcfg)
        adapters = unit.adapter_parameters()
        if adapters:
            groups.append({"params": adapters, "lr_mult": 1.0, "name": "adapter"})
        return make_optimizer(tcfg, groups)

    def _loader(self):
        net = self.units[0].net.cfg
        tc = self.tcfgs[0]
        pairs = pair_config(tc, net, samples_per_epoch=tc.iters_per_epoch * tc.batch_size * self.world)
        dataset = PairDataset(read_dataset(split_root(tc, tc.train_split)), pairs, seed=self.cfg.seed)
        return make_loader(dataset, tc.batch_size, tc.workers, self.cfg.seed, self.rank, self.world)

    # ---- one step -----------------------------------------------------------------------------
    def _set_lrs(self) -> None:
        for opt, tc in zip(self.optimizers, self.tcfgs):
            o = tc.optim
            warmup = int(o.warmup_epochs * tc.iters_per_epoch)
            total = tc.epochs * tc.iters_per_epoch
            factor = lr_factor(self.step, total, warmup, o.final_lr_ratio)
            for g in opt.param_groups:
                g["lr"] = g["base_lr"] * factor

    def train_step(self, batch: dict) -> dict[str, float]:
        cfg = self.cfg
        batch = {k: v.to(self.device) for k, v in batch.items()}
        z, x = batch["template"], batch["search"]
        targets = make_targets(batch["box"], batch["negative"], self.geometry)
        teacher = None
        if self.teacher is not None:
            per_sample = any(u.spec.gating == "per_sample" for u in self.units)
            teacher = teacher_view(self.teacher, z, x, targets, cfg.cls_weight, cfg.box_weight,
                                   per_sample)
        outs, losses = zip(*(m(z, x, targets, teacher) for m in self.models))
        losses = [dict(l) for l in losses]
        superior = -1
        if cfg.room.enabled:
            for l in losses:  # same CSV columns before and after the room's warm-up
                l["mimic"] = l["total"].new_zeros(())
        if cfg.room.enabled and self.step >= cfg.room.warmup_iters:
            gt = [{"cls": l["cls"], "box": l["box"], "total": l["gt"]} for l in losses]
            res = self.room.step(list(outs), self.step, gt, teacher.out if teacher else None)
            superior = res.superior
            for l, mimic in zip(losses, res.losses):
                l["mimic"] = mimic
                l["total"] = l["total"] + mimic
        total = sum(l["total"] for l in losses)
        if not torch.isfinite(total):
            raise FloatingPointError(f"non-finite loss at step {self.step}: "
                                     f"{[{k: float(v) for k, v in l.items()} for l in losses]}")
        for opt in self.optimizers:
            opt.zero_grad(set_to_none=True)
        total.backward()  # students share no parameters: one backward = K independent ones
        for unit, opt, tc in zip(self.units, self.optimizers, self.tcfgs):
            nn.utils.clip_grad_norm_(unit.parameters(), tc.optim.grad_clip)
            opt.step()
        values = {f"{s.name}/{k}": float(v.detach())
                  for s, l in zip(cfg.students, losses) for k, v in l.items()}
        values["room/superior"] = float(superior)
        return values

    # ---- validation and checkpoints -------------------------------------------------------------
    @torch.no_grad()
    def validate(self, batches: list[dict]) -> dict[str, float]:
        """Ground-truth loss of each student on fixed val pairs (ranking is by OPE later)."""
        values = {}
        for unit in self.units:
            unit.eval()
            sums = {"total": 0.0, "cls": 0.0, "box": 0.0}
            for b in batches:
                b = {k: v.to(self.device) for k, v in b.items()}
                out = unit.net(b["template"], b["search"])
                t = make_targets(b["box"], b["negative"], self.geometry)
                for k, v in tracking_losses(out, t, self.cfg.cls_weight, self.cfg.box_weight).items():
                    sums[k] += float(v) / len(batches)
            values |= {f"{unit.spec.name}/val_{k}": v for k, v in sums.items()}
            unit.train()
        return values

    def _student_state(self, i: int) -> dict:
        unit, tc = self.units[i], self.tcfgs[i]
        return {"model": unit.net.state_dict(), "net_config": unit.net.cfg.to_dict(),
                "kind": "mlkd-student", "student": dataclasses.asdict(unit.spec),
                "epoch": self.epoch, "step": self.step, "train_config": tc.to_dict(),
                "teacher": self.teacher_state, "room": self.cfg.room.enabled}

    def save(self) -> None:
        if self.rank != 0:
            return
        for i, spec in enumerate(self.cfg.students):
            d = self.run_dir / spec.name
            d.mkdir(parents=True, exist_ok=True)
            state = self._student_state(i)
            logs.atomic_save(state, d / "last.pt")
            if self.epoch % self.cfg.checkpoint_every == 0:
                logs.atomic_save(state, d / f"epoch_{self.epoch:03d}.pt")
        logs.atomic_save({
            "units": [u.state_dict() for u in self.units],
            "optimizers": [o.state_dict() for o in self.optimizers],
            "epoch": self.epoch, "step": self.step,
            "room": self.room.state_dict(), "torch_rng": torch.get_rng_state(),
            "config": self.cfg.to_dict()}, self.run_dir / "last.pt")

    def resume(self) -> bool:
        path = self.run_dir / "last.pt"
        if not path.exists():
            return False
        state = torch.load(path, map_location="cpu", weights_only=False)
        if len(state["units"]) != len(self.units):
            raise ValueError(f"{path} has {len(state['units'])} students, config has "
                             f"{len(self.units)}: use a new run name")
        for unit, s in zip(self.units, state["units"]):
            unit.load_state_dict(s)
        for opt, s in zip(self.optimizers, state["optimizers"]):
            opt.load_state_dict(s)
        self.epoch, self.step = state["epoch"], state["step"]
        self.room.load_state_dict(state["room"])
        torch.set_rng_state(state["torch_rng"])
        return True

    # ---- the run ------------------------------------------------------------------------------
    def fit(self) -> Path:
        from tqdm import tqdm
        cfg = self.cfg
        if self.rank == 0:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            (self.run_dir / "config.yaml").write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
        par.barrier(self.world)
        if self.resume() and self.rank == 0:
            print(f"resumed {self.run_dir} at epoch {self.epoch}, step {self.step}")
        loader = self._loader()
        loader.sampler.set_epoch(self.epoch)
        batches = forever(loader)
        val_batches = _fixed_batches(self.tcfgs[0], self.units[0].net.cfg)
        for m in self.models:
            m.train()
        while self.epoch < cfg.epochs:
            bar = tqdm(range(cfg.iters_per_epoch), desc=f"epoch {self.epoch + 1}/{cfg.epochs}",
                       leave=False, dynamic_ncols=True, disable=self.rank != 0)
            sums: dict[str, float] = {}
            for _ in bar:
                self._set_lrs()
                values = self.train_step(next(batches))
                self.step += 1
                for k, v in values.items():
                    sums[k] = sums.get(k, 0.0) + v
                bar.set_postfix({s.name: f"{values[f'{s.name}/total']:.3f}" for s in cfg.students})
                if self.step % cfg.log_every == 0:
                    self.logger.log(self.step, values | {"lr": self.optimizers[0].param_groups[0]["lr"]})
            self.epoch += 1
            self._end_epoch({f"train_{k}": v / cfg.iters_per_epoch for k, v in sums.items()},
                            val_batches)
        self.logger.close()
        par.cleanup(self.world)
        return self.run_dir

    def _end_epoch(self, means: dict[str, float], val_batches: list[dict]) -> None:
        par.sync_buffers(self.units, self.world)
        values = means | self.validate(val_batches) | {"step": self.step}
        if self.world > 1:
            digests = par.gather_digests(self.units, self.world)
            if self.rank == 0:
                logs.write_sync_report(self.run_dir, self.epoch, digests)
        self.save()
        self.logger.epoch(self.epoch, values, self.room.history)
        if self.rank == 0:
            vals = ", ".join(f"{s.name} {values[f'{s.name}/val_total']:.4f}" for s in self.cfg.students)
            print(f"epoch {self.epoch}/{self.cfg.epochs}: val loss {vals}")


def train_mlkd(cfg: MLKDConfig) -> Path:
    return MLKDTrainer(cfg).fit()
