"""Named network configurations: the teacher and the diverse students MLKD trains together.

Costs at template 64 / search 160 px (``python -m mlkd_tracker.train.nets`` prints them):
students ~0.05-0.2 GMAC per tracked frame, the teacher >= 8x each of them (most of it is the
enhancer, which runs on every full-resolution crop). All use 64 neck channels so their
correlation maps have the same shape for correlation-level distillation.
"""
from __future__ import annotations

import copy

from mlkd_tracker.train.nets.config import EnhancerConfig, TrackerNetConfig

PRESETS: dict[str, TrackerNetConfig] = {
    "teacher": TrackerNetConfig(name="teacher", backbone="resnet", width_mult=1.0,
                                neck_channels=64, head_channels=128, head_layers=2,
                                enhancer=EnhancerConfig()),
    "student_mobile": TrackerNetConfig(name="student_mobile", backbone="mobilenet"),
    "student_shuffle": TrackerNetConfig(name="student_shuffle", backbone="shufflenet"),
    "student_alex": TrackerNetConfig(name="student_alex", backbone="alexnet_slim"),
    "student_tiny": TrackerNetConfig(name="student_tiny", backbone="mobilenet", width_mult=0.5,
                                     head_channels=32),
}

STUDENT_PRESETS = tuple(n for n in PRESETS if n.startswith("student"))


def get_preset(name: str) -> TrackerNetConfig:
    """A private copy of preset ``name`` (callers may change sizes without touching PRESETS)."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; known presets: {sorted(PRESETS)}")
    return copy.deepcopy(PRESETS[name])
