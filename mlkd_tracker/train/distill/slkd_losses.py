"""SLKD's feature terms: student stages mimic a teacher's stages *through* an image-quality lens.

DRL (degradation removal): student encoder stages vs Teacher A's encoder stages (A sees the dark
image) through the BRISQUE-based natural-scene-statistics extractor. IRL (image reconstruction):
student decoder stages vs Teacher B's decoder stages (B sees the clean image) through the
PIQE-based edge/texture extractor. A 1x1 adapter per stage maps the student's channels to the
teacher's, so each teacher channel's statistics have a student counterpart; the adapters train
with the student and are dropped at export.

Comparing statistics rather than raw activations is the point of the method: the student is
asked to produce features with the *quality* properties of the teacher's (how Gaussian, how
correlated, how edgy), which a 4x narrower network can match where it cannot match values.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mlkd_tracker.train.nets.enhancer_unet import UNetEnhancerConfig


def stage_scales(cfg: UNetEnhancerConfig, part: str) -> list[tuple[int, int]]:
    """(down-sampling factor, channels) of each stage ``UNetEnhancer.features`` returns."""
    w = cfg.widths()
    levels = range(cfg.depth + 1) if part == "encoder" else reversed(range(cfg.depth))
    return [(cfg.stem * 2 ** i, w[i]) for i in levels]


def stage_pairs(student: UNetEnhancerConfig, teacher: UNetEnhancerConfig,
                part: str) -> list[tuple[int, int, int, int]]:
    """(student index, teacher index, student channels, teacher channels) of the ``part``
    ("encoder" or "decoder") stages at the same resolution."""
    if part not in ("encoder", "decoder"):
        raise ValueError(f"part must be 'encoder' or 'decoder', not {part!r}")
    t_index = {f: (j, c) for j, (f, c) in enumerate(stage_scales(teacher, part))}
    pairs = [(i, t_index[f][0], c, t_index[f][1])
             for i, (f, c) in enumerate(stage_scales(student, part)) if f in t_index]
    if not pairs:
        raise ValueError(f"no {part} stage of {student.name} has the resolution of one of "
                         f"{teacher.name}'s")
    return pairs


class StageStatsKD(nn.Module):
    """Mean over matched stages of smooth-L1(Φ(adapter(student stage)), Φ(teacher stage)).

    Stages are matched by resolution (:func:`stage_pairs`), so a shallower student distils
    only the levels it has; there is one adapter per matched pair, and the teacher side never
    gets a gradient.
    """

    def __init__(self, extractor: nn.Module, pairs: list[tuple[int, int, int, int]]) -> None:
        super().__init__()
        self.extractor = extractor
        self.pairs = [(i, j) for i, j, _, _ in pairs]
        self.adapters = nn.ModuleList(nn.Conv2d(cs, ct, 1) for _, _, cs, ct in pairs)

    def forward(self, student: list[Tensor], teacher: list[Tensor]) -> Tensor:
        losses = []
        for adapter, (i, j) in zip(self.adapters, self.pairs):
            s, t = adapter(student[i]), teacher[j].detach()
            if s.shape != t.shape:
                raise ValueError(f"stage {i} of the student {tuple(s.shape)} and {j} of the "
                                 f"teacher {tuple(t.shape)} differ after the adapter")
            with torch.no_grad():
                t_stats = self.extractor(t)
            losses.append(F.smooth_l1_loss(self.extractor(s), t_stats))
        return torch.stack(losses).mean()
