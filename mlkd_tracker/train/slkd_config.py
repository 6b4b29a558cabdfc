"""One config object per SLKD run: the two teachers' runs and the student's, loaded from YAML.

A run trains Teacher A (dark -> clean), Teacher B (clean -> clean) and then the student; the
teachers live in their own folders (``teacher_a_run``/``teacher_b_run``) so that ablation
students with other loss switches reuse them instead of retraining.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlkd_tracker.train.config import OptimConfig, read_with_overrides

STAGES = ("teacher_a", "teacher_b", "student")


@dataclass
class SLKDTerms:
    """Loss weights; 0 switches a term off. The paper gives 0.5/0.1/0.1 without saying which is
    which; we read 0.5 as output KD and 0.1 each for DRL and IRL."""
    l1: float = 1.0          # L1 to the clean image (paired batches only)
    output_kd: float = 0.5   # L1 to Teacher A's output
    drl: float = 0.1         # encoder vs Teacher A's encoder through the BRISQUE-based extractor
    irl: float = 0.1         # decoder vs Teacher B's decoder through the PIQE-based extractor
    task: float = 0.0        # frozen tracker backbone features of student vs Teacher A output

    def __post_init__(self) -> None:
        bad = {k: v for k, v in dataclasses.asdict(self).items() if not v >= 0}
        if bad:
            raise ValueError(f"loss weights must be >= 0: {bad}")


@dataclass
class SLKDConfig:
    data: str = "data/synth_night"
    train_split: str = "train"
    val_split: str = "val"
    unpaired_data: str = ""      # dark sequences without clean frames (terms that need none)
    unpaired_every: int = 0      # every n-th step takes an unpaired batch (0: never)
    teacher: str | dict = "slkd_teacher"   # enhancer_unet preset name or config dict (A and B)
    student: str | dict = "slkd_student"
    terms: SLKDTerms = field(default_factory=SLKDTerms)
    irl_block: int = 4           # PIQE block size on decoder features
    task_tracker: str = ""       # tracker checkpoint whose backbone the task term uses
    patch_size: int = 128
    recolour: float = 0.0        # share of train patches recoloured (data/recolour.py)
    batch_size: int = 8
    epochs: int = 4              # per stage (teacher_epochs overrides it for the teachers)
    teacher_epochs: int = 0
    iters_per_epoch: int = 250
    val_patches: int = 64
    val_frames: int = 0          # > 0: validate on this many whole val frames, not on patches
    workers: int = 1
    threads: int = 2
    device: str = "cpu"
    seed: int = 0
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=1e-3, warmup_epochs=0.2,
                                                                   grad_clip=1.0))
    out: str = "runs/slkd"
    name: str = "student"        # the student's run folder
    teacher_a_run: str = "teacher_a"
    teacher_b_run: str = "teacher_b"
    stages: list[str] = field(default_factory=lambda: list(STAGES))
    resume: bool = False         # continue each stage's folder (same config; run_folder.py)
    checkpoint_every: int = 1
    log_every: int = 10

    def __post_init__(self) -> None:
        if isinstance(self.terms, dict):
            self.terms = SLKDTerms(**self.terms)
        if isinstance(self.optim, dict):
            self.optim = OptimConfig(**self.optim)
        unknown = set(self.stages) - set(STAGES)
        if unknown:
            raise ValueError(f"unknown stages {sorted(unknown)}; known: {list(STAGES)}")
        if min(self.batch_size, self.epochs, self.iters_per_epoch, self.val_patches) < 1 \
                or min(self.unpaired_every, self.teacher_epochs, self.val_frames) < 0:
            raise ValueError("batch_size, epochs, iters_per_epoch and val_patches must be >= 1; "
                             "unpaired_every, teacher_epochs and val_frames >= 0")
        if not 0.0 <= self.recolour <= 1.0:
            raise ValueError(f"recolour is a share of patches in [0, 1], got {self.recolour}")
        if self.unpaired_every and not self.unpaired_data:
            raise ValueError("unpaired_every > 0 needs unpaired_data")
        if self.terms.task > 0 and not self.task_tracker:
            raise ValueError("terms.task > 0 needs task_tracker (a tracker checkpoint)")

    def stage_dir(self, stage: str) -> Path:
        names = {"teacher_a": self.teacher_a_run, "teacher_b": self.teacher_b_run,
                 "student": self.name}
        return Path(self.out) / names[stage]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def load_slkd_config(path: str | Path | None, overrides: list[str] = ()) -> SLKDConfig:
    values = read_with_overrides(path, overrides)
    known = {f.name for f in dataclasses.fields(SLKDConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"SLKDConfig: unknown keys {unknown}; known: {sorted(known)}")
    try:
        return SLKDConfig(**values)
    except TypeError as exc:  # unknown keys inside terms/optim
        raise ValueError(f"SLKDConfig: {exc}") from exc
