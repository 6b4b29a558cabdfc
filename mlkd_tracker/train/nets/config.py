"""One dataclass describes a tracker network, so trainers, exporters and the summary tool build
exactly the same model from a YAML/dict config (and a checkpoint can carry its config)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from mlkd_tracker.runtime.siamese_geometry import SiameseGeometry

# Output stride of every backbone in nets/backbones.py (three stride-2 stages).
BACKBONE_STRIDE = 8

# ImageNet statistics in BGR order and 0..255 units: a neutral, well-known default that the
# runtime can read from the ONNX metadata (the models are trained from scratch anyway).
IMAGENET_MEAN_BGR = (103.53, 116.28, 123.675)
IMAGENET_STD_BGR = (57.375, 57.12, 58.395)


def _check_keys(cls: type, d: dict[str, Any]) -> None:
    """Reject unknown keys: a typo in a YAML config must not silently fall back to a default."""
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - known)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} keys {unknown}; known: {sorted(known)}")


@dataclass
class EnhancerConfig:
    """DarkLighter-style curve estimator: ``layers`` 3x3 convs of ``channels`` predicting
    ``iterations`` illumination + noise maps."""
    channels: int = 32
    layers: int = 7
    iterations: int = 8

    def __post_init__(self) -> None:
        if self.channels < 1 or self.layers < 3 or self.iterations < 1:
            raise ValueError(f"bad enhancer config {self}: need channels>=1, layers>=3, "
                             "iterations>=1")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "EnhancerConfig":
        _check_keys(cls, d)
        return cls(**d)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class TrackerNetConfig:
    """Everything needed to build a :class:`~mlkd_tracker.train.nets.siamese.SiameseTracker`.

    Sizes are in crop pixels; ``stride`` must be the backbones' stride (8). Inputs are raw BGR
    0..255 crops; the optional enhancer and the mean/std normalisation run inside the model.
    """
    name: str = "student"
    backbone: str = "mobilenet"
    width_mult: float = 1.0
    neck_channels: int = 64
    head_channels: int = 64
    head_layers: int = 2
    template_size: int = 64
    search_size: int = 160
    stride: int = BACKBONE_STRIDE
    enhancer: EnhancerConfig | None = None
    mean_bgr: tuple[float, float, float] = IMAGENET_MEAN_BGR
    std_bgr: tuple[float, float, float] = IMAGENET_STD_BGR

    def __post_init__(self) -> None:
        # YAML gives lists and dicts: normalise so equality and hashing of tuples behave.
        self.mean_bgr = tuple(float(v) for v in self.mean_bgr)  # type: ignore[assignment]
        self.std_bgr = tuple(float(v) for v in self.std_bgr)  # type: ignore[assignment]
        if isinstance(self.enhancer, dict):
            self.enhancer = EnhancerConfig.from_dict(self.enhancer)
        if len(self.mean_bgr) != 3 or len(self.std_bgr) != 3 or min(self.std_bgr) <= 0:
            raise ValueError(f"mean_bgr/std_bgr must be 3 values, std > 0: {self.mean_bgr}, "
                             f"{self.std_bgr}")
        if self.width_mult <= 0 or min(self.neck_channels, self.head_channels) < 1 \
                or self.head_layers < 0:
            raise ValueError("width_mult, neck_channels and head_channels must be positive and "
                             "head_layers >= 0")
        if self.stride != BACKBONE_STRIDE:
            raise ValueError(f"stride {self.stride} unsupported: every backbone has output "
                             f"stride {BACKBONE_STRIDE}")
        self.geometry()  # SiameseGeometry raises ValueError for inconsistent sizes
        if self.template_size % self.stride:
            # Padded stride-2 convs round up; the feature grid is centred on the crop only when
            # the crop divides exactly, which the runtime's points() assume.
            raise ValueError(f"template_size {self.template_size} must be a multiple of the "
                             f"stride {self.stride}")
        from mlkd_tracker.train.nets.backbones import check_backbone_name  # lazy: avoid an import cycle
        check_backbone_name(self.backbone)

    def geometry(self) -> SiameseGeometry:
        return SiameseGeometry(self.template_size, self.search_size, self.stride)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrackerNetConfig":
        _check_keys(cls, d)
        d = dict(d)
        if d.get("enhancer") is not None:
            d["enhancer"] = EnhancerConfig.from_dict(d["enhancer"])
        return cls(**d)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of builtins (tuples become lists) that YAML/JSON can write."""
        d = dataclasses.asdict(self)
        d["mean_bgr"] = list(self.mean_bgr)
        d["std_bgr"] = list(self.std_bgr)
        return d

    def replace(self, **changes: Any) -> "TrackerNetConfig":
        """A validated copy with some fields changed (e.g. smaller crops for a quick test)."""
        return dataclasses.replace(self, **changes)


__all__ = ["EnhancerConfig", "TrackerNetConfig", "BACKBONE_STRIDE", "IMAGENET_MEAN_BGR",
           "IMAGENET_STD_BGR"]
