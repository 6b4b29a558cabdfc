"""The distillation modules on real (narrowed, untrained) tracker outputs: the keys and shapes
that SiameseTracker produces are what the losses and the room consume, and a careless caller
that runs the teacher with grad enabled still cannot train it. One forward each, no training."""
from __future__ import annotations

import dataclasses

import torch

from mlkd_tracker.train.datasets.targets import make_targets
from mlkd_tracker.train.distill import (
    FeatureHint,
    MutualLearningRoom,
    ResponseKD,
    build_correlation_kd,
    gate,
)
from mlkd_tracker.train.nets.presets import get_preset
from mlkd_tracker.train.nets.siamese import build_tracker
from mlkd_tracker.train.losses import tracking_losses


def narrow(name: str, channels: int = 16):
    cfg = dataclasses.replace(get_preset(name), neck_channels=channels, head_channels=channels)
    return build_tracker(cfg)


def test_one_distillation_step_on_real_outputs():
    teacher = narrow("student_alex").eval()  # a stand-in: the real teacher is much heavier
    students = [narrow("student_tiny"), narrow("student_shuffle")]
    geo = teacher.cfg.geometry()
    z, x = torch.rand(2, 3, 64, 64) * 255, torch.rand(2, 3, 160, 160) * 255
    targets = make_targets(torch.tensor([[60.0, 60.0, 100.0, 100.0], [50.0, 70.0, 90.0, 95.0]]),
                           torch.zeros(2), geo)

    t_out = teacher(z, x)  # grad enabled on purpose
    outs = [s(z, x) for s in students]
    t_gt = tracking_losses(t_out, targets)
    kd = ResponseKD(form="spatial")
    corr_kd = [build_correlation_kd("soft_mask"), FeatureHint(16, 16, adapter=True)]
    room = MutualLearningRoom(target="corr")
    res = room.step(outs)

    total = 0.0
    for k, out in enumerate(outs):
        gt = tracking_losses(out, targets)
        w_cls, w_box = gate(gt, t_gt)
        r = kd(out, t_out)
        corr_key = "xf" if isinstance(corr_kd[k], FeatureHint) else "corr"
        total = total + gt["total"] + w_cls * r["kd_cls"] + w_box * r["kd_box"] \
            + corr_kd[k](out[corr_key], t_out[corr_key]) + res.losses[k]
    assert torch.isfinite(total)
    total.backward()

    assert all(p.grad is None for p in teacher.parameters())
    for s in students:
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in s.parameters())
    assert all(p.grad is not None for p in corr_kd[1].adapter_parameters())
    assert len(room.history) == 1 and room.history[0].superior == res.superior
