"""`mlkd-tracker train mlkd`: K diverse students learn together from a frozen teacher and from
each other (the mutual-learning room), on one CPU or many GPUs (DDP under ``torchrun``).

Every step, all students see the same batch: the teacher's outputs are computed once, each
student computes its ground-truth and its own distillation losses, the room elects a superior
and the others add a mimic loss toward it; then every student's optimiser steps on its own
(warm-up + cosine schedule, backbone LR multiplier, gradient clipping).

This module is the per-step function and the MLKD callbacks; the loop, schedule, checkpoints,
resume and logs are the shared trainer's (:mod:`mlkd_tracker.train.loop`), and the run folder
follows :mod:`mlkd_tracker.train.run_folder` (resume only with ``resume=true`` and the same
config; a taken name gets the next free one).

Run folder: ``config.yaml``, ``last.pt`` (everything, for resume), ``<student>/epoch_NNN.pt``
and ``<student>/last.pt`` (plain tracker checkpoints for evaluation and export), ``log.csv``,
``epochs.csv``, ``tensorboard/``, ``loss_curves.png``, ``elections.png``, ``elections.csv``
and, under DDP, ``ddp_sync.json`` (parameter digests of every rank after each epoch).
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from mlkd_tracker.train.datasets.pairs import PairDataset, make_loader
from mlkd_tracker.data.sequences import read_dataset
from mlkd_tracker.train.datasets.targets import make_targets
from mlkd_tracker.train.distill.room import MutualLearningRoom
from mlkd_tracker.train.nets.siamese import build_tracker
from mlkd_tracker.train import mlkd_parallel as par
from mlkd_tracker.train import run_folder
from mlkd_tracker.train.callbacks import (
    Checkpoints, CsvLogger, LossCurvePlot, SamplerEpoch, TensorBoardLogger,
)
from mlkd_tracker.train.checkpoints import load_tracker
from mlkd_tracker.train.loop import OptimSlot, StateList, Trainer, make_optimizer, seed_everything
from mlkd_tracker.train.mlkd_callbacks import Elections, ReplicaSync, StudentCheckpoints
from mlkd_tracker.train.run_folder import RunFolder, RunFolderError
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
        self.run_dir = cfg.run_dir  # the asked-for folder; fit() sets the one it trains in
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
        self.loop: Trainer | None = None  # the shared loop, built by fit()

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
        return make_optimizer(tcfg.optim, groups)

    def _loader(self):
        net = self.units[0].net.cfg
        tc = self.tcfgs[0]
        pairs = pair_config(tc, net, samples_per_epoch=tc.iters_per_epoch * tc.batch_size * self.world)
        dataset = PairDataset(read_dataset(split_root(tc, tc.train_split)), pairs, seed=self.cfg.seed)
        return make_loader(dataset, tc.batch_size, tc.workers, self.cfg.seed, self.rank, self.world)

    # ---- one step -----------------------------------------------------------------------------
    @property
    def step(self) -> int:
        return self.loop.step if self.loop is not None else 0

    @property
    def epoch(self) -> int:
        return self.loop.epoch if self.loop is not None else 0

    def train_step(self, batch: dict) -> dict[str, torch.Tensor]:
        """Named losses of every student (``<student>/<term>``) and the room's superior; the
        shared loop back-propagates ``total`` (the students' sum: they share no parameters, so
        one backward is K independent ones) and steps each student's optimiser."""
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
        values: dict[str, torch.Tensor | float] = {
            f"{s.name}/{k}": v for s, l in zip(cfg.students, losses) for k, v in l.items()}
        values["room/superior"] = float(superior)
        values["total"] = sum(l["total"] for l in losses)
        return values

    # ---- validation and checkpoints -------------------------------------------------------------
    def validate(self, batches: list[dict]) -> dict[str, float]:
        """Ground-truth loss of each student on fixed val pairs (ranking is by OPE later); the
        loop calls it in eval mode without gradients."""
        values = {}
        for unit in self.units:
            sums = {"total": 0.0, "cls": 0.0, "box": 0.0}
            for b in batches:
                b = {k: v.to(self.device) for k, v in b.items()}
                out = unit.net(b["template"], b["search"])
                t = make_targets(b["box"], b["negative"], self.geometry)
                for k, v in tracking_losses(out, t, self.cfg.cls_weight, self.cfg.box_weight).items():
                    sums[k] += float(v) / len(batches)
            values |= {f"{unit.spec.name}/val_{k}": v for k, v in sums.items()}
        return values

    def _student_state(self, i: int) -> dict:
        unit, tc = self.units[i], self.tcfgs[i]
        return {"model": unit.net.state_dict(), "net_config": unit.net.cfg.to_dict(),
                "kind": "mlkd-student", "student": dataclasses.asdict(unit.spec),
                "epoch": self.epoch, "step": self.step, "train_config": tc.to_dict(),
                "teacher": self.teacher_state, "room": self.cfg.room.enabled}

    def student_states(self, trainer: Trainer) -> dict[str, dict]:
        return {spec.name: self._student_state(i) for i, spec in enumerate(self.cfg.students)}

    # ---- the run ------------------------------------------------------------------------------
    def _run_folder(self) -> RunFolder:
        """Rank 0 resolves (and may refuse) the run folder; every rank gets its answer."""
        result: RunFolder | RunFolderError | None = None
        if self.rank == 0:
            try:
                result = run_folder.prepare(self.cfg.run_dir, self.cfg.to_dict(), self.cfg.resume)
            except RunFolderError as exc:
                result = exc
        result = par.broadcast_object(result, self.world)
        if isinstance(result, RunFolderError):
            raise result
        return result

    def fit(self) -> Path:
        """Train every student to ``epochs``; returns the run folder."""
        cfg = self.cfg
        main = self.rank == 0
        run = self._run_folder()
        self.run_dir = run.path
        name = Path(cfg.name).parent / run.path.name  # the folder's name, if it had to move
        self.tcfgs = [dataclasses.replace(tc, name=f"{name}/{s.name}")
                      for tc, s in zip(self.tcfgs, cfg.students)]
        loader = self._loader()
        val_batches = _fixed_batches(self.tcfgs[0], self.units[0].net.cfg)
        names = [s.name for s in cfg.students]
        callbacks = [SamplerEpoch(loader), ReplicaSync(self.units, self.world, self.rank)]
        if main:  # one process writes the run folder
            callbacks += [Checkpoints(), StudentCheckpoints(self.student_states),
                          CsvLogger(run.path), TensorBoardLogger(run.path),
                          LossCurvePlot(run.path, names), Elections(self.room, names)]
        slots = [OptimSlot(opt, list(unit.parameters()), tc.optim)
                 for unit, opt, tc in zip(self.units, self.optimizers, self.tcfgs)]
        state = {"units": StateList(self.units), "optimizers": StateList(self.optimizers),
                 "room": self.room}

        def describe(values: dict[str, float]) -> str:
            return "val loss " + ", ".join(f"{n} {values[f'{n}/val_total']:.4f}" for n in names)

        self.loop = Trainer(run, cfg, self.train_step, forever(loader), slots, state, self.models,
                            callbacks, lambda: self.validate(val_batches), cfg.to_dict(),
                            main=main, describe=describe)
        self.loop.fit()
        par.cleanup(self.world)
        return run.path


def train_mlkd(cfg: MLKDConfig) -> Path:
    return MLKDTrainer(cfg).fit()
