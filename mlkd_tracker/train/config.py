"""One config object per training run (Ultralytics' habit), loaded from YAML with overrides."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


@dataclass
class OptimConfig:
    optimizer: str = "adamw"        # adamw | sgd
    lr: float = 2e-3
    backbone_lr_mult: float = 1.0   # < 1 to fine-tune a pretrained backbone gently
    weight_decay: float = 1e-4
    momentum: float = 0.9           # sgd only
    warmup_epochs: float = 1.0
    final_lr_ratio: float = 0.05    # cosine decay to lr * this
    grad_clip: float = 10.0


@dataclass
class TrainConfig:
    kind: str = "student"           # student | teacher
    model: str | dict = "student_mobile"   # a nets PRESETS name or a TrackerNetConfig dict
    data: str = "data/synth_night"  # synth root (train/ and val/ inside) or any tracking data set
    train_split: str = "train"
    val_split: str = "val"
    pairs: dict[str, Any] = field(default_factory=dict)   # data.pairs.PairConfig fields
    epochs: int = 10
    iters_per_epoch: int = 500
    batch_size: int = 32
    workers: int = 1
    threads: int = 2                # torch intra-op threads
    device: str = "cpu"
    seed: int = 0
    cls_weight: float = 1.0
    box_weight: float = 2.0
    optim: OptimConfig = field(default_factory=OptimConfig)
    enhancer_pretrain_epochs: int = 0     # teacher only: enhancer on clean/dark pairs first
    enhancer_lr_mult: float = 0.1         # teacher only: enhancer LR while training the tracker
    out: str = "runs/train"
    name: str = ""                  # run folder name; default <kind>-<model>
    resume: bool = False            # continue the run in <out>/<name> (same config; run_folder.py)
    checkpoint_every: int = 1       # epochs
    log_every: int = 10             # iterations

    @property
    def run_dir(self) -> Path:
        model = self.model if isinstance(self.model, str) else self.model.get("name", "custom")
        return Path(self.out) / (self.name or f"{self.kind}-{model}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _merge(cls, values: dict):
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(values) - set(fields)
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown keys {sorted(unknown)}; known: {sorted(fields)}")
    kwargs = {}
    for key, value in values.items():
        if key == "optim":
            value = _merge(OptimConfig, value or {})
        kwargs[key] = value
    return cls(**kwargs)


def parse_override(text: str) -> tuple[list[str], Any]:
    """``optim.lr=0.01`` -> (["optim", "lr"], 0.01); values parsed as YAML scalars."""
    key, sep, value = text.partition("=")
    if not sep:
        raise ValueError(f"override '{text}' must look like key=value (e.g. epochs=2)")
    return key.split("."), yaml.safe_load(value)


def read_with_overrides(path: str | Path | None, overrides: list[str] = ()) -> dict[str, Any]:
    """A YAML config (or {}) with ``a.b=value`` overrides applied to its nested dicts."""
    values = (yaml.safe_load(Path(path).read_text()) if path else {}) or {}
    for text in overrides:
        keys, value = parse_override(text)
        node = values
        for k in keys[:-1]:
            node = node.setdefault(k, {})
        node[keys[-1]] = value
    return values


def load_config(path: str | Path | None, overrides: list[str] = ()) -> TrainConfig:
    return _merge(TrainConfig, read_with_overrides(path, overrides))
