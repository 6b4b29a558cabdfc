"""`mlkd-tracker train detector`: a YOLO teacher or baseline student on Ultralytics, offline.

One YAML config per run (``config/train/detector_*.yaml``). The model is an Ultralytics model
definition (``yolov8n.yaml`` resolves inside the installed package; a path to your own ``.yaml``
works too) built from scratch: weight names such as ``yolov8n.pt`` would download and are
refused. Ultralytics writes its usual run folder (``<out>/<name>/weights/{best,last}.pt``,
``results.csv``, curves); running the same command again resumes an unfinished run and leaves a
finished one alone. The optimiser defaults are the RDR-KD paper's (SGD, momentum 0.937, weight
decay 5e-4), so the baseline student and the distilled ones share a schedule.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlkd_tracker.train.config import read_with_overrides


@dataclass
class DetectorTrainConfig:
    model: str = "yolov8n.yaml"
    data: str = "data/synth_detect/data.yaml"
    epochs: int = 20
    imgsz: int = 320
    batch: int = 16
    optimizer: str = "SGD"
    lr0: float = 0.01
    momentum: float = 0.937
    weight_decay: float = 5e-4
    workers: int = 1
    device: str = "cpu"
    seed: int = 0
    out: str = "runs/detect"
    name: str = "student"
    ultralytics: dict[str, Any] = field(default_factory=dict)  # any other train() argument

    def __post_init__(self) -> None:
        if min(self.epochs, self.imgsz, self.batch) < 1 or self.workers < 0:
            raise ValueError("epochs, imgsz and batch must be >= 1 and workers >= 0")

    @property
    def run_dir(self) -> Path:
        return Path(self.out).resolve() / self.name

    def train_args(self) -> dict[str, Any]:
        """Ultralytics ``train()`` arguments (it rejects unknown ones itself, with the name)."""
        args = {k: v for k, v in dataclasses.asdict(self).items()
                if k not in ("model", "out", "name", "ultralytics", "teacher", "rdrkd")}
        return {**args, "project": str(Path(self.out).resolve()), "name": self.name,
                "exist_ok": True, "pretrained": False, "amp": False, "deterministic": True,
                **self.ultralytics}


@dataclass
class RDRKDTrainConfig(DetectorTrainConfig):
    """A student distilled from ``teacher`` (a ``train detector`` checkpoint) with RDR-KD;
    ``rdrkd`` holds :class:`~mlkd_tracker.train.distill.rdrkd.RDRKDConfig` fields (a weight of 0
    switches a term off, which is how the ablation runs are made)."""
    teacher: str = "runs/detect/teacher/weights/best.pt"
    rdrkd: dict[str, Any] = field(default_factory=dict)
    name: str = "rdrkd"


def _load(cls, path: str | Path | None, overrides: list[str]):
    values = read_with_overrides(path, overrides)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown keys {unknown}; known: {sorted(known)} "
                         "(other Ultralytics arguments go under `ultralytics:`)")
    return cls(**values)


def load_detector_config(path: str | Path | None, overrides: list[str] = ()) -> DetectorTrainConfig:
    return _load(DetectorTrainConfig, path, overrides)


def load_rdrkd_config(path: str | Path | None, overrides: list[str] = ()) -> RDRKDTrainConfig:
    return _load(RDRKDTrainConfig, path, overrides)


def _finished(last: Path) -> bool:
    """Ultralytics strips the optimiser from ``last.pt`` when a run completes."""
    import torch
    return torch.load(last, map_location="cpu", weights_only=False).get("optimizer") is None


def train_detector(cfg: DetectorTrainConfig) -> Path:
    """Train (or resume, or skip a finished run); returns ``weights/best.pt``."""
    from mlkd_tracker.train.ultralytics_env import check_model_source, import_ultralytics
    check_model_source(cfg.model)
    if not Path(cfg.data).is_file():
        raise FileNotFoundError(f"data set '{cfg.data}' does not exist; render one with "
                                "`mlkd-tracker synth-detect` or convert VisDrone with "
                                "`mlkd-tracker convert-visdrone`")
    yolo = import_ultralytics().YOLO
    last = cfg.run_dir / "weights" / "last.pt"
    if last.is_file() and _finished(last):
        print(f"{cfg.run_dir} is finished; nothing to do")
    elif last.is_file():
        yolo(str(last)).train(resume=True)
    else:
        yolo(cfg.model).train(**cfg.train_args())
    return cfg.run_dir / "weights" / "best.pt"


RDRKD_RECORD = "rdrkd.yaml"


def write_rdrkd_record(run_dir: Path, teacher: str, rdrkd) -> Path:
    """The RDR-KD settings beside Ultralytics' ``args.yaml`` (which cannot hold them), so the
    ablation report knows which terms a run used."""
    import yaml
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / RDRKD_RECORD
    path.write_text(yaml.safe_dump({"teacher": str(teacher), **dataclasses.asdict(rdrkd)},
                                   sort_keys=False))
    return path


def train_rdrkd(cfg: RDRKDTrainConfig) -> Path:
    """Distil the student from the teacher; returns ``weights/best.pt`` (the student alone).

    An unfinished run is not resumed: Ultralytics rebuilds a plain ``DistillationModel`` from a
    distillation checkpoint, which would silently drop the RDR-KD terms."""
    from mlkd_tracker.train.distill.rdrkd import RDRKDConfig
    from mlkd_tracker.train.ultralytics_env import check_model_source, import_ultralytics
    check_model_source(cfg.model)
    rdrkd = RDRKDConfig(**cfg.rdrkd)
    for path, what in ((cfg.teacher, "teacher checkpoint"), (cfg.data, "data set")):
        if not Path(path).is_file():
            raise FileNotFoundError(f"{what} '{path}' does not exist")
    yolo = import_ultralytics().YOLO
    from mlkd_tracker.train.rdrkd_model import rdrkd_trainer
    last = cfg.run_dir / "weights" / "last.pt"
    if last.is_file() and _finished(last):
        print(f"{cfg.run_dir} is finished; nothing to do")
    elif last.is_file():
        raise RuntimeError(f"{cfg.run_dir} holds an unfinished RDR-KD run, which cannot be "
                           "resumed; remove the folder or choose another name=")
    else:
        write_rdrkd_record(cfg.run_dir, cfg.teacher, rdrkd)
        yolo(cfg.model).train(trainer=rdrkd_trainer(str(Path(cfg.teacher).resolve()), rdrkd),
                              **cfg.train_args())
    return cfg.run_dir / "weights" / "best.pt"
