"""`mlkd-tracker train slkd`: Teacher A, Teacher B, then the SLKD student enhancer.

Teacher A learns dark -> clean and Teacher B clean -> clean (both with L1), each in its own run
folder with checkpoints and resume. The student then learns from the clean image (L1), from
Teacher A's output, from Teacher A's encoder through the BRISQUE-based lens (DRL), from Teacher
B's decoder through the PIQE-based lens (IRL) and optionally from a frozen tracker's view of its
output (task). Every term has a weight in the config; 0 switches it off, which is how the
ablation students are trained. Batches from ``unpaired_data`` (dark frames with no clean
version) train only the terms that need no ground truth.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mlkd_tracker.train.datasets.enhance_patches import PatchConfig, PatchDataset, whole_frames
from mlkd_tracker.train.datasets.pairs import make_loader
from mlkd_tracker.data.sequences import read_dataset
from mlkd_tracker.train.distill.slkd_losses import StageStatsKD, stage_pairs
from mlkd_tracker.train.nets.enhancer_unet import UNetEnhancer, build_enhancer, enhancer_config
from mlkd_tracker.train import run_folder
from mlkd_tracker.train.enhancer_export import load_enhancer
from mlkd_tracker.train.loop import seed_everything
from mlkd_tracker.train.slkd_config import SLKDConfig
from mlkd_tracker.train.tracker_training import forever, logging_callbacks, single_model_trainer

# Which config key names each stage's folder; the keys a resumed stage may change besides
# run_folder.ALWAYS_IGNORED (``stages`` is which stages a call runs, not what one trains).
STAGE_NAME_KEYS = {"teacher_a": "teacher_a_run", "teacher_b": "teacher_b_run", "student": "name"}
STAGE_IGNORED = ("stages", "teacher_epochs")


class StagePlan:
    """The loop's length and cadence for one stage (teachers may train for teacher_epochs)."""

    def __init__(self, cfg: SLKDConfig, stage: str) -> None:
        teacher = stage != "student"
        self.epochs = cfg.teacher_epochs if teacher and cfg.teacher_epochs else cfg.epochs
        self.iters_per_epoch = cfg.iters_per_epoch
        self.log_every, self.checkpoint_every = cfg.log_every, cfg.checkpoint_every


def psnr(out: Tensor, target: Tensor) -> Tensor:
    """Mean PSNR (dB) over the batch of images in [0, 1]."""
    mse = ((out.clamp(0, 1) - target) ** 2).flatten(1).mean(1).clamp_min(1e-10)
    return (10 * torch.log10(1.0 / mse)).mean()


def _split(cfg: SLKDConfig, root: str, split: str) -> Path:
    path = Path(root)
    return path / split if (path / split).is_dir() else path


def _loader(cfg: SLKDConfig, root: str, split: str, paired: bool, samples: int, seed: int,
            workers: int, recolour: float = 0.0):
    seqs = read_dataset(_split(cfg, root, split))
    patch_cfg = PatchConfig(cfg.patch_size, samples, paired=paired, recolour=recolour)
    dataset = PatchDataset(seqs, patch_cfg, seed)
    return make_loader(dataset, cfg.batch_size, workers, seed)


class SLKDStudent(nn.Module):
    """The student and everything that trains with it (stage adapters), one module so the
    optimiser, gradient clipping and checkpoints see all of it."""

    def __init__(self, cfg: SLKDConfig, teacher_a: UNetEnhancer | None,
                 teacher_b: UNetEnhancer | None,
                 tracker: nn.Module | None) -> None:
        super().__init__()
        from mlkd_tracker.train.distill.iqa_features import BrisqueExtractor, PiqeExtractor
        self.terms = cfg.terms
        self.net = build_enhancer(cfg.student)
        s_cfg = self.net.cfg
        self.drl = StageStatsKD(BrisqueExtractor(), stage_pairs(s_cfg, teacher_a.cfg, "encoder")) \
            if cfg.terms.drl > 0 else None
        self.irl = StageStatsKD(PiqeExtractor(block=cfg.irl_block),
                                stage_pairs(s_cfg, teacher_b.cfg, "decoder")) \
            if cfg.terms.irl > 0 and teacher_b is not None else None
        # Frozen helpers are kept out of the module tree: not trained, not checkpointed.
        self._frozen = {"a": teacher_a, "b": teacher_b, "tracker": tracker}

    def forward(self, dark: Tensor, clean: Tensor | None) -> dict[str, Tensor]:
        w, a, b = self.terms, self._frozen["a"], self._frozen["b"]
        out, enc, dec = self.net.features(dark)
        with torch.no_grad():  # a teacher is loaded (and runs) only if a switched-on term needs it
            a_out, a_enc, _ = a.features(dark) if a is not None else (None, None, None)
            b_dec = b.features(clean)[2] if self.irl is not None and clean is not None else None
        # Terms that need the clean image are 0 on unpaired batches, so every step logs the
        # same columns.
        zero = out.new_zeros(())
        terms: dict[str, Tensor] = {}
        if w.l1 > 0:
            terms["l1"] = F.l1_loss(out, clean) if clean is not None else zero
        if w.output_kd > 0:
            terms["output_kd"] = F.l1_loss(out, a_out)
        if self.drl is not None:
            terms["drl"] = self.drl(enc, a_enc)
        if self.irl is not None:
            terms["irl"] = self.irl(dec, b_dec) if b_dec is not None else zero
        if w.task > 0:
            terms["task"] = self._task(out, a_out)
        total = sum(getattr(w, k) * v for k, v in terms.items())
        return {"total": total, **terms}

    def _task(self, out: Tensor, target: Tensor) -> Tensor:
        """MSE of standardised tracker features (neck output) of the two enhanced images."""
        tracker = self._frozen["tracker"]

        def feats(x01: Tensor) -> Tensor:
            f = tracker.neck(tracker.backbone(tracker.normalize(x01 * 255.0))).flatten(1)
            return (f - f.mean(1, keepdim=True)) / (f.std(1, keepdim=True) + 1e-6)
        with torch.no_grad():
            t = feats(target)
        return F.mse_loss(feats(out), t)


def _frozen(model: nn.Module) -> nn.Module:
    for p in model.parameters():
        p.requires_grad_(False)
    return model.eval()


def _teacher(cfg: SLKDConfig, stage: str) -> UNetEnhancer:
    path = cfg.stage_dir(stage) / "best.pt"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: train stage {stage} first "
                                f"(stages: [{stage}, ...])")
    model, _ = load_enhancer(path)
    if model.cfg.to_dict() != enhancer_config(cfg.teacher).to_dict():
        raise ValueError(f"{path} holds {model.cfg}, but the config's teacher is {cfg.teacher}")
    return _frozen(model)


def _task_tracker(cfg: SLKDConfig) -> nn.Module | None:
    if cfg.terms.task <= 0:
        return None
    from mlkd_tracker.train.checkpoints import load_tracker
    return _frozen(load_tracker(cfg.task_tracker)[0])


def _mixed(paired: Iterator[dict], unpaired: Iterator[dict] | None, every: int) -> Iterator[dict]:
    """Paired batches, with every ``every``-th replaced by an unpaired one (no "clean")."""
    step = 0
    while True:
        step += 1
        if unpaired is not None and every and step % every == 0:
            yield {"dark": next(unpaired)["dark"]}
        else:
            yield next(paired)


def _build(cfg: SLKDConfig, stage: str) -> tuple[nn.Module, UNetEnhancer, Callable]:
    """(module the optimiser trains, the enhancer inside it, step function) of a stage."""
    if stage == "student":
        w = cfg.terms  # each teacher is loaded only if a switched-on term needs it
        teacher_b = _teacher(cfg, "teacher_b") if w.irl > 0 else None
        needs_a = w.output_kd > 0 or w.drl > 0 or w.task > 0
        teacher_a = _teacher(cfg, "teacher_a") if needs_a else None
        module = SLKDStudent(cfg, teacher_a, teacher_b, _task_tracker(cfg))
        return module, module.net, lambda batch: module(batch["dark"], batch.get("clean"))
    net = build_enhancer(cfg.teacher)
    source = "dark" if stage == "teacher_a" else "clean"

    def step(batch: dict) -> dict[str, Tensor]:
        l1 = F.l1_loss(net(batch[source]), batch["clean"])
        return {"total": l1, "l1": l1}
    return net, net, step


def _padded_forward(net: UNetEnhancer, x: Tensor) -> Tensor:
    """The net on any size, padded like the runtime pads (replicate) and cropped back."""
    m = net.cfg.size_multiple
    h, w = x.shape[-2:]
    if h % m or w % m:
        return net(F.pad(x, (0, -w % m, 0, -h % m), mode="replicate"))[..., :h, :w]
    return net(x)


def _val_batches(cfg: SLKDConfig) -> list[dict]:
    """Fixed val patches, or whole val frames when ``val_frames`` is set."""
    if cfg.val_frames:
        return whole_frames(read_dataset(_split(cfg, cfg.data, cfg.val_split)), cfg.val_frames)
    return list(_loader(cfg, cfg.data, cfg.val_split, True, cfg.val_patches, cfg.seed + 1, 0))


def _validator(net: UNetEnhancer, batches: list[dict], source: str) -> Callable:
    """L1 (the checkpoint criterion) and PSNR of the stage's output on the fixed val set."""
    def validate() -> dict[str, float]:
        sums = {"total": 0.0, "psnr": 0.0}
        for batch in batches:
            out = _padded_forward(net, batch[source])
            sums["total"] += float(F.l1_loss(out, batch["clean"]))
            sums["psnr"] += float(psnr(out, batch["clean"]))
        return {f"val_{k}": v / len(batches) for k, v in sums.items()}
    return validate


def run_stage(cfg: SLKDConfig, stage: str) -> Path:
    """Train one stage in its run folder (resuming its ``last.pt`` only with ``resume=true``);
    returns the folder it trained in."""
    seed_everything(cfg.seed)
    torch.set_num_threads(cfg.threads)
    module, net, step = _build(cfg, stage)
    run = run_folder.prepare(cfg.stage_dir(stage), cfg.to_dict() | {"stage": stage}, cfg.resume,
                             name_key=STAGE_NAME_KEYS[stage], ignore=STAGE_IGNORED)
    samples = cfg.iters_per_epoch * cfg.batch_size
    train = _loader(cfg, cfg.data, cfg.train_split, True, samples, cfg.seed, cfg.workers,
                    cfg.recolour)
    unpaired = None
    if stage == "student" and cfg.unpaired_every:
        unpaired = forever(_loader(cfg, cfg.unpaired_data, cfg.train_split, False, samples,
                                   cfg.seed + 7, 0))
    validate = _validator(net, _val_batches(cfg), "clean" if stage == "teacher_b" else "dark")
    extra = lambda: {"enhancer": net.state_dict(), "enhancer_config": net.cfg.to_dict(),  # noqa: E731
                     "role": stage}
    groups = [{"params": [p for p in module.parameters() if p.requires_grad], "name": stage}]
    single_model_trainer(run, StagePlan(cfg, stage), module, groups, cfg.optim, step,
                         _mixed(forever(train), unpaired, cfg.unpaired_every),
                         logging_callbacks(run.path, train), validate,
                         cfg.to_dict() | {"stage": stage}, extra).fit()
    return run.path


def train_slkd(cfg: SLKDConfig) -> dict[str, Path]:
    """Run the configured stages in order. A stage that had to move to a new folder name
    (``teacher_a2``) is the one the later stages of this call learn from."""
    dirs = {}
    for stage in cfg.stages:
        dirs[stage] = run_stage(cfg, stage)
        key = STAGE_NAME_KEYS[stage]  # the stored config names the folder the stage used
        cfg = dataclasses.replace(cfg, **{key: run_folder.read_config(dirs[stage])[key]})
    return dirs
