"""One MLKD student with its own distillation losses, as a single module.

Everything that has trainable parameters (the tracker and a feature-hint adapter) lives inside
this module and every loss is computed in ``forward``, so DistributedDataParallel can wrap it
as a unit: gradients of the adapter are all-reduced like the tracker's.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from mlkd_tracker.train.distill.correlation_kd import build_correlation_kd
from mlkd_tracker.train.distill.gating import gate, gate_per_sample, per_sample_tracking_losses
from mlkd_tracker.train.distill.response_kd import ResponseKD
from mlkd_tracker.train.nets.siamese import SiameseTracker
from mlkd_tracker.train.losses import tracking_losses
from mlkd_tracker.train.mlkd_config import StudentSpec


class TeacherView(NamedTuple):
    """The frozen teacher's outputs and GT losses on the batch (computed once per step)."""
    out: dict[str, Tensor]
    gt: dict[str, Tensor]
    gt_per_sample: dict[str, Tensor] | None


class DistilledStudent(nn.Module):
    def __init__(self, net: SiameseTracker, spec: StudentSpec, cls_weight: float,
                 box_weight: float, teacher_channels: int | None = None) -> None:
        super().__init__()
        self.net, self.spec = net, spec
        self.cls_weight, self.box_weight = cls_weight, box_weight
        self.response = (ResponseKD(spec.temperature, spec.response_form)
                         if spec.response_kd else None)
        self.corr: nn.Module | None = None
        if spec.corr_kd == "feature_hint":
            args = {"s_channels": net.cfg.neck_channels,
                    "t_channels": teacher_channels or net.cfg.neck_channels, **spec.corr_kd_args}
            self.corr = build_correlation_kd("feature_hint", **args)
        elif spec.corr_kd != "none":
            self.corr = build_correlation_kd(spec.corr_kd, **spec.corr_kd_args)
        if spec.freeze_head:
            # The published "tight coupling": the last 1x1 convs keep their initial mapping.
            for p in (*net.head.cls_out.parameters(), *net.head.box_out.parameters()):
                p.requires_grad_(False)

    @property
    def needs_teacher(self) -> bool:
        return self.response is not None or self.corr is not None

    def adapter_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.corr.parameters() if p.requires_grad] if self.corr else []

    def _response_terms(self, out: dict, gt: dict, targets: dict,
                        teacher: TeacherView) -> dict[str, Tensor]:
        spec = self.spec
        if spec.gating == "per_sample":
            s_ps = per_sample_tracking_losses(out, targets)
            weights = gate_per_sample(s_ps, teacher.gt_per_sample, spec.gating_boost)
            kd = self.response(out, teacher.out, sample_weights=weights)
            w_cls = w_box = 1.0
        else:
            kd = self.response(out, teacher.out)
            w_cls, w_box = (gate(gt, teacher.gt, spec.gating_boost) if spec.gating == "batch"
                            else (1.0, 1.0))
        return {"kd_cls": spec.kd_weight * w_cls * kd["kd_cls"],
                "kd_box": spec.kd_weight * w_box * kd["kd_box"]}

    def forward(self, template: Tensor, search: Tensor, targets: dict,
                teacher: TeacherView | None) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """-> (network outputs, named losses with ``total``; no mimic term — the room adds it)."""
        out = self.net(template, search)
        gt = tracking_losses(out, targets, self.cls_weight, self.box_weight)
        losses = {"gt": gt["total"], "cls": gt["cls"], "box": gt["box"]}
        if self.needs_teacher and teacher is None:
            raise ValueError(f"student '{self.spec.name}' distils but no teacher output was given")
        if self.response is not None:
            losses |= self._response_terms(out, gt, targets, teacher)
        if self.corr is not None:
            key = "xf" if self.spec.corr_kd == "feature_hint" else "corr"
            losses["kd_corr"] = self.spec.corr_kd_weight * self.corr(out[key], teacher.out[key])
        losses["total"] = sum(v for k, v in losses.items() if k not in ("cls", "box"))
        return out, losses


@torch.no_grad()
def teacher_view(teacher: SiameseTracker, template: Tensor, search: Tensor, targets: dict,
                 cls_weight: float, box_weight: float, per_sample: bool) -> TeacherView:
    out = teacher(template, search)
    gt = tracking_losses(out, targets, cls_weight, box_weight)
    ps = per_sample_tracking_losses(out, targets) if per_sample else None
    return TeacherView(out, gt, ps)
