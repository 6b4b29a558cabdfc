"""`mlkd-tracker train student|teacher`: a Siamese tracker on night pairs with ground truth only.

The student run is the no-distillation baseline the MLKD trainer must beat; the teacher run puts
the low-light enhancer in front (optionally pre-trained on clean/dark pairs first) and trains
both, the enhancer at a reduced learning rate.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import torch
import torch.nn.functional as F

from mlkd_tracker.train.datasets.pairs import PairConfig, PairDataset, make_loader
from mlkd_tracker.data.sequences import read_dataset
from mlkd_tracker.train.datasets.targets import make_targets
from mlkd_tracker.train.nets.config import TrackerNetConfig
from mlkd_tracker.train.nets.siamese import SiameseTracker, build_tracker
from mlkd_tracker.train.nets.presets import PRESETS
from mlkd_tracker.train import run_folder
from mlkd_tracker.train.callbacks import (
    Checkpoints, CsvLogger, LossCurvePlot, SamplerEpoch, TensorBoardLogger,
)
from mlkd_tracker.train.config import OptimConfig, TrainConfig
from mlkd_tracker.train.loop import OptimSlot, Trainer, make_optimizer, seed_everything
from mlkd_tracker.train.run_folder import RunFolder
from mlkd_tracker.train.losses import tracking_losses

VAL_BATCHES = 8


def net_config(cfg: TrainConfig) -> TrackerNetConfig:
    if isinstance(cfg.model, str):
        if cfg.model not in PRESETS:
            raise ValueError(f"model '{cfg.model}' is not a preset; known: {sorted(PRESETS)}")
        return dataclasses.replace(PRESETS[cfg.model])
    return TrackerNetConfig.from_dict(cfg.model)


def split_root(cfg: TrainConfig, split: str) -> Path:
    root = Path(cfg.data)
    return root / split if (root / split).is_dir() else root


def pair_config(cfg: TrainConfig, net: TrackerNetConfig, **extra) -> PairConfig:
    values = {"template_size": net.template_size, "search_size": net.search_size,
              "samples_per_epoch": cfg.iters_per_epoch * cfg.batch_size, **cfg.pairs, **extra}
    return PairConfig(**values)


def forever(loader) -> Iterator[dict]:
    while True:
        yield from loader


def param_groups(model: SiameseTracker, cfg: TrainConfig) -> list[dict]:
    """Backbone and enhancer get their own learning-rate multipliers."""
    backbone = {id(p) for p in model.backbone.parameters()}
    enhancer = {id(p) for p in model.enhancer.parameters()} if model.enhancer is not None else set()
    groups = {"backbone": [], "enhancer": [], "head": []}
    for p in model.parameters():
        if p.requires_grad:
            key = "backbone" if id(p) in backbone else "enhancer" if id(p) in enhancer else "head"
            groups[key].append(p)
    mults = {"backbone": cfg.optim.backbone_lr_mult, "enhancer": cfg.enhancer_lr_mult, "head": 1.0}
    return [{"params": ps, "lr_mult": mults[k], "name": k} for k, ps in groups.items() if ps]


def tracking_step(model: SiameseTracker, cfg: TrainConfig):
    geometry = model.cfg.geometry()

    def step(batch: dict) -> dict[str, torch.Tensor]:
        out = model(batch["template"], batch["search"])
        targets = make_targets(batch["box"], batch["negative"], geometry)
        return tracking_losses(out, targets, cfg.cls_weight, cfg.box_weight)
    return step


def validator(step, batches: list[dict]):
    """Mean of each loss term over fixed batches, as ``val_<term>``."""
    def validate() -> dict[str, float]:
        sums: dict[str, float] = {}
        for batch in batches:
            for k, v in step(batch).items():
                sums[k] = sums.get(k, 0.0) + float(v.detach())
        return {f"val_{k}": v / len(batches) for k, v in sums.items()}
    return validate


def _fixed_batches(cfg: TrainConfig, net: TrackerNetConfig, **extra) -> list[dict]:
    """The same validation pairs every epoch, so val losses are comparable."""
    seqs = read_dataset(split_root(cfg, cfg.val_split))
    pairs = pair_config(cfg, net, samples_per_epoch=VAL_BATCHES * cfg.batch_size, **extra)
    loader = make_loader(PairDataset(seqs, pairs, seed=cfg.seed + 1), cfg.batch_size, 0, cfg.seed)
    return list(loader)


def single_model_trainer(run: RunFolder, plan, module: torch.nn.Module, groups: list[dict],
                         optim: OptimConfig, step, batches, callbacks: list, validate=None,
                         config: dict | None = None, extra_state=None) -> Trainer:
    """The shared loop on one module with one optimiser: the tracker, enhancer and SLKD runs."""
    optimizer = make_optimizer(optim, groups)
    slot = OptimSlot(optimizer, list(module.parameters()), optim)
    return Trainer(run, plan, step, batches, [slot], {"model": module, "optimizer": optimizer},
                   [module], [Checkpoints(), *callbacks], validate, config, extra_state)


def logging_callbacks(run_dir: Path, loader=None) -> list:
    """CSV, TensorBoard and loss curves, and the sampler's epoch when a loader is given."""
    extra = [SamplerEpoch(loader)] if loader is not None else []
    return [CsvLogger(run_dir), TensorBoardLogger(run_dir), LossCurvePlot(run_dir), *extra]


def _trainer(cfg: TrainConfig, run: RunFolder, module: torch.nn.Module, net: TrackerNetConfig,
             step, groups, extra_state=None, **pair_extra) -> Trainer:
    """A Trainer of ``module`` on the run's training pairs, validated on fixed val pairs."""
    train_seqs = read_dataset(split_root(cfg, cfg.train_split))
    dataset = PairDataset(train_seqs, pair_config(cfg, net, **pair_extra), seed=cfg.seed)
    loader = make_loader(dataset, cfg.batch_size, cfg.workers, cfg.seed)
    val = validator(step, _fixed_batches(cfg, net, **pair_extra))
    return single_model_trainer(run, cfg, module, groups, cfg.optim, step, forever(loader),
                                logging_callbacks(run.path, loader), val, cfg.to_dict(),
                                extra_state)


def train_tracker(cfg: TrainConfig) -> Path:
    """Train a student or a teacher; returns the last checkpoint. The run folder follows
    :mod:`mlkd_tracker.train.run_folder` (config.yaml first, resume only when asked)."""
    seed_everything(cfg.seed)
    torch.set_num_threads(cfg.threads)
    net = net_config(cfg)
    if cfg.kind == "teacher" and net.enhancer is None:
        raise ValueError(f"a teacher needs an enhancer; model '{net.name}' has none")
    model = build_tracker(net).to(cfg.device)
    run = run_folder.prepare(cfg.run_dir, cfg.to_dict(), cfg.resume)
    if cfg.kind == "teacher" and cfg.enhancer_pretrain_epochs > 0:
        pretrain_enhancer(cfg, run, model, net)
    extra = lambda: {"net_config": net.to_dict(), "kind": cfg.kind}  # noqa: E731
    trainer = _trainer(cfg, run, model, net, tracking_step(model, cfg), param_groups(model, cfg),
                       extra)
    return trainer.fit()


def pretrain_enhancer(cfg: TrainConfig, run: RunFolder, model: SiameseTracker,
                      net: TrackerNetConfig) -> None:
    """Enhancer alone on (night, clean) search crops with an L1 loss, in the run folder's
    ``enhancer/`` (a run folder of its own, resumed with its parent)."""
    folder = run.path / "enhancer"
    parent = run_folder.read_config(run.path)["name"]  # the folder's resolved name
    sub = dataclasses.replace(cfg, epochs=cfg.enhancer_pretrain_epochs, name=f"{parent}/enhancer")
    sub_run = run_folder.prepare(folder, sub.to_dict(),
                                 run.resume and (folder / run_folder.CONFIG_FILE).is_file())
    enhancer = model.enhancer

    def step(batch: dict) -> dict[str, torch.Tensor]:
        out = enhancer(batch["search"] / 255.0)
        l1 = F.l1_loss(out, batch["search_clean"] / 255.0)
        return {"total": l1, "l1": l1}

    groups = [{"params": list(enhancer.parameters()), "lr_mult": 1.0, "name": "enhancer"}]
    _trainer(sub, sub_run, enhancer, net, step, groups, return_clean=True).fit()
