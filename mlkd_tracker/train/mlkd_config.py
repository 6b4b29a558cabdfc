"""One config object per MLKD run: the frozen teacher, K students (each with its own
distillation method and optimiser), the mutual-learning room, and the shared data settings."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mlkd_tracker.train.config import OptimConfig, TrainConfig, parse_override

CORR_KD_NAMES = ("none", "softmax_mse", "spatial_consistency", "soft_mask", "feature_hint")
GATINGS = ("none", "batch", "per_sample")


@dataclass
class StudentSpec:
    """One student: an architecture, its distillation method and its optimiser.

    ``corr_kd`` is the correlation-level method that makes this student different from the
    others (``feature_hint`` distils the search features ``xf`` through a 1×1 adapter instead of
    the correlation map). ``response_kd: false`` and ``corr_kd: none`` make a no-KD student."""
    name: str = "mobile"
    model: str | dict = "student_mobile"
    response_kd: bool = True
    response_form: str = "spatial"       # spatial | per_location
    temperature: float = 4.0
    kd_weight: float = 1.0               # on kd_cls + kd_box, before gating
    gating: str = "batch"                # none | batch | per_sample
    gating_boost: float = 10.0
    corr_kd: str = "softmax_mse"
    corr_kd_args: dict[str, Any] = field(default_factory=dict)
    corr_kd_weight: float = 1.0
    freeze_head: bool = False            # keep the final 1x1 cls/box convs fixed
    optim: OptimConfig = field(default_factory=OptimConfig)


@dataclass
class RoomConfig:
    enabled: bool = True
    rule: str = "peak_ratio"             # peak_ratio | lowest_gt_loss | teacher_agreement
    target: str = "corr"                 # corr | cls
    weight: float = 1 / 60
    warmup_iters: int = 0                # no mimicking before this step (everyone is random)


@dataclass
class MLKDConfig:
    teacher: str = "runs/train/teacher-teacher/best.pt"
    students: list[StudentSpec] = field(default_factory=lambda: [StudentSpec()])
    room: RoomConfig = field(default_factory=RoomConfig)
    # false: every student trains on ground truth only — the no-KD baseline at the same budget,
    # from the same config (with room.enabled=false)
    kd: bool = True
    data: str = "data/synth_night"
    train_split: str = "train"
    val_split: str = "val"
    pairs: dict[str, Any] = field(default_factory=dict)
    epochs: int = 2
    iters_per_epoch: int = 250
    batch_size: int = 16                 # per process
    workers: int = 1
    threads: int = 2
    device: str = "cpu"
    seed: int = 0
    cls_weight: float = 1.0
    box_weight: float = 2.0
    out: str = "runs/mlkd"
    name: str = "mlkd"
    resume: bool = False                 # continue <out>/<name> (same config; run_folder.py)
    checkpoint_every: int = 1
    log_every: int = 10

    @property
    def run_dir(self) -> Path:
        return Path(self.out) / self.name

    @property
    def uses_teacher(self) -> bool:
        return any(s.response_kd or s.corr_kd != "none" for s in self.students)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def student_train_config(self, spec: StudentSpec) -> TrainConfig:
        """The single-model view of one student: what the shared pair loader, the LR schedule
        and the checkpoint format (``train_config``) of the plain trainer expect."""
        return TrainConfig(kind="mlkd-student", model=spec.model, data=self.data,
                           train_split=self.train_split, val_split=self.val_split,
                           pairs=dict(self.pairs), epochs=self.epochs,
                           iters_per_epoch=self.iters_per_epoch, batch_size=self.batch_size,
                           workers=self.workers, threads=self.threads, device=self.device,
                           seed=self.seed, cls_weight=self.cls_weight,
                           box_weight=self.box_weight, optim=spec.optim, out=self.out,
                           name=f"{self.name}/{spec.name}")

    def validate(self) -> None:
        names = [s.name for s in self.students]
        if not names:
            raise ValueError("an MLKD run needs at least one student")
        if len(set(names)) != len(names):
            raise ValueError(f"student names must be unique, got {names}")
        if self.room.enabled and len(names) < 2:
            raise ValueError("the mutual-learning room needs at least two students")
        for s in self.students:
            if s.corr_kd not in CORR_KD_NAMES:
                raise ValueError(f"student '{s.name}': corr_kd '{s.corr_kd}' is not one of "
                                 f"{CORR_KD_NAMES}")
            if s.gating not in GATINGS:
                raise ValueError(f"student '{s.name}': gating '{s.gating}' is not one of {GATINGS}")


def _build(cls, values: dict | None):
    """Dataclass from a dict, recursing into nested config dataclasses; unknown keys fail."""
    values = dict(values or {})
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(values) - set(fields)
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown keys {sorted(unknown)}; known: {sorted(fields)}")
    nested = {"optim": OptimConfig, "room": RoomConfig}
    for key, sub in nested.items():
        if key in values and key in fields:
            values[key] = _build(sub, values[key])
    if cls is MLKDConfig and "students" in values:
        values["students"] = [_build(StudentSpec, s) for s in values["students"]]
    return cls(**values)


def load_mlkd_config(path: str | Path | None, overrides: list[str] = ()) -> MLKDConfig:
    """YAML + ``key=value`` overrides (``room.enabled=false``, ``students.0.corr_kd=none``)."""
    values = (yaml.safe_load(Path(path).read_text()) if path else {}) or {}
    for text in overrides:
        keys, value = parse_override(text)
        node: Any = values
        for k in keys[:-1]:
            node = node[int(k)] if isinstance(node, list) else node.setdefault(k, {})
        if isinstance(node, list):
            node[int(keys[-1])] = value
        else:
            node[keys[-1]] = value
    cfg = _build(MLKDConfig, values)
    if not cfg.kd:
        cfg.students = [dataclasses.replace(s, response_kd=False, corr_kd="none")
                        for s in cfg.students]
    cfg.validate()
    return cfg
