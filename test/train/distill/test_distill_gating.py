"""Teacher-conditional gating: the four cases, the configurable boost, no gradient, and the
per-sample variant agreeing with the batch losses."""
from __future__ import annotations

import pytest
import torch

from mlkd_tracker.train.datasets.targets import make_targets
from mlkd_tracker.train.distill.gating import (
    DEFAULT_BOOST,
    gate,
    gate_per_sample,
    per_sample_tracking_losses,
)
from mlkd_tracker.train.distill.response_kd import ResponseKD
from mlkd_tracker.runtime.siamese_geometry import SiameseGeometry
from mlkd_tracker.train.losses import tracking_losses

TEACHER = {"cls": 0.5, "box": 0.3}


def losses(cls: float, box: float) -> dict[str, torch.Tensor]:
    """GT loss dict like tracking_losses returns, attached to a graph."""
    x = torch.tensor([cls, box], requires_grad=True)
    y = x * 1.0
    return {"cls": y[0], "box": y[1], "total": y.sum()}


@pytest.mark.parametrize("student,expected", [
    ((0.4, 0.2), (0.0, 0.0)),        # better on both -> no KD
    ((0.6, 0.2), (1.0, 0.0)),        # worse on cls only
    ((0.4, 0.4), (0.0, 1.0)),        # worse on box only
    ((0.6, 0.4), (7.0, 7.0)),        # worse on both -> boosted
])
def test_four_cases(student, expected):
    w = gate(losses(*student), losses(*TEACHER.values()), boost=7.0)
    assert w == expected
    assert all(type(v) is float for v in w)


def test_default_boost_and_paper_boost():
    worse = losses(1.0, 1.0)
    assert DEFAULT_BOOST == 10.0
    assert gate(worse, TEACHER) == (10.0, 10.0)
    assert gate(worse, TEACHER, boost=1e4) == (1e4, 1e4)


def test_equal_losses_mean_no_kd_and_margin():
    assert gate(losses(0.5, 0.3), losses(0.5, 0.3)) == (0.0, 0.0)
    # slightly worse but within the margin: still no KD
    assert gate(losses(0.51, 0.31), TEACHER, margin=0.05) == (0.0, 0.0)


def test_gate_carries_no_gradient():
    s = losses(0.6, 0.4)
    w_cls, w_box = gate(s, losses(*TEACHER.values()))
    assert not isinstance(w_cls, torch.Tensor) and not isinstance(w_box, torch.Tensor)


def test_per_sample_gate_four_cases():
    student = {"cls": torch.tensor([0.4, 0.6, 0.4, 0.6]), "box": torch.tensor([0.2, 0.2, 0.4, 0.4])}
    teacher = {"cls": torch.full((4,), 0.5), "box": torch.full((4,), 0.3)}
    w_cls, w_box = gate_per_sample(student, teacher, boost=5.0)
    assert w_cls.tolist() == [0.0, 1.0, 0.0, 5.0]
    assert w_box.tolist() == [0.0, 0.0, 1.0, 5.0]
    assert w_cls.dtype == torch.float32 and not w_cls.requires_grad


def _batch():
    geo = SiameseGeometry(template_size=64, search_size=160, stride=8)  # S = 13
    boxes = torch.tensor([[60.0, 60.0, 100.0, 110.0], [40.0, 50.0, 80.0, 70.0],
                          [70.0, 70.0, 90.0, 90.0]])
    targets = make_targets(boxes, torch.tensor([0, 0, 1]), geo)  # last is a negative pair
    g = torch.Generator().manual_seed(3)
    out = {"cls": torch.randn(3, 1, 13, 13, generator=g, requires_grad=True),
           "box": 8.0 * torch.exp(torch.randn(3, 4, 13, 13, generator=g))}
    return out, targets


def test_per_sample_losses_match_batch_losses_per_sample():
    out, targets = _batch()
    ps = per_sample_tracking_losses(out, targets)
    assert ps["cls"].shape == (3,) and ps["box"].shape == (3,)
    assert not ps["cls"].requires_grad
    for i in range(3):
        one = tracking_losses({k: v[i:i + 1] for k, v in out.items()},
                              {k: v[i:i + 1] for k, v in targets.items()})
        assert ps["cls"][i].item() == pytest.approx(one["cls"].item(), rel=1e-5)
        assert ps["box"][i].item() == pytest.approx(one["box"].item(), rel=1e-5)
    assert ps["box"][2].item() == 0.0  # negative pair: no box loss, hence never box KD


def test_per_sample_gate_feeds_response_kd():
    out, targets = _batch()
    teacher = {"cls": out["cls"].detach() * 2.0, "box": out["box"].detach() * 1.1}
    w = gate_per_sample(per_sample_tracking_losses(out, targets),
                        per_sample_tracking_losses(teacher, targets))
    kd = ResponseKD(form="per_location")(out, teacher, sample_weights=w)
    assert torch.isfinite(kd["kd_cls"]) and torch.isfinite(kd["kd_box"])
