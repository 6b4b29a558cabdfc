"""ResponseKD: both forms are finite, zero at student == teacher, push gradient into the
student only, and behave as documented (spatial = relative layout, per-location = absolute
confidence; per-location box KD only where the teacher sees the target)."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from mlkd_tracker.train.distill.response_kd import ResponseKD, spatial_kl

B, S = 3, 7
FORMS = [("spatial", "l1"), ("per_location", "l1"), ("per_location", "kl")]


def leaves(requires_grad: bool = True, seed: int = 0) -> tuple[dict, list[torch.Tensor]]:
    """Head-like outputs built from leaf tensors: cls logits and positive box distances."""
    g = torch.Generator().manual_seed(seed)
    cls = (torch.randn(B, 1, S, S, generator=g) * 3).requires_grad_(requires_grad)
    raw = (torch.randn(B, 4, S, S, generator=g) * 0.5).requires_grad_(requires_grad)
    return {"cls": cls, "box": 8.0 * torch.exp(raw)}, [cls, raw]


@pytest.mark.parametrize("form,box_loss", FORMS)
def test_scalar_finite_nonnegative(form, box_loss):
    kd = ResponseKD(temperature=4.0, form=form, box_loss=box_loss)
    s, _ = leaves(seed=1)
    t, _ = leaves(seed=2)
    out = kd(s, t)
    assert set(out) == {"kd_cls", "kd_box"}
    for v in out.values():
        assert v.shape == () and torch.isfinite(v) and v.item() > 0


@pytest.mark.parametrize("form,box_loss", FORMS)
def test_zero_when_student_equals_teacher(form, box_loss):
    kd = ResponseKD(form=form, box_loss=box_loss)
    s, _ = leaves(seed=3)
    t = {k: v.detach().clone() for k, v in s.items()}
    out = kd(s, t)
    assert out["kd_cls"].abs().item() < 1e-6
    assert out["kd_box"].abs().item() < 1e-6


@pytest.mark.parametrize("form,box_loss", FORMS)
def test_gradient_reaches_student_never_teacher(form, box_loss):
    kd = ResponseKD(form=form, box_loss=box_loss)
    s, s_leaves = leaves(seed=4)
    t, t_leaves = leaves(seed=5)  # teacher leaves require grad: the module must detach them
    out = kd(s, t)
    (out["kd_cls"] + out["kd_box"]).backward()
    for leaf in s_leaves:
        assert leaf.grad is not None and leaf.grad.abs().sum() > 0
    for leaf in t_leaves:
        assert leaf.grad is None


def test_weights_scale_the_terms():
    s, _ = leaves(seed=6)
    t, _ = leaves(seed=7)
    base = ResponseKD()(s, t)
    scaled = ResponseKD(cls_weight=2.0, box_weight=0.5)(s, t)
    assert torch.allclose(scaled["kd_cls"], 2.0 * base["kd_cls"])
    assert torch.allclose(scaled["kd_box"], 0.5 * base["kd_box"])


def test_spatial_kl_matches_definition_with_t_squared():
    s, t = torch.randn(2, 1, 5, 5), torch.randn(2, 1, 5, 5)
    T = 3.0
    ref = F.kl_div(F.log_softmax(s.flatten(1) / T, 1), F.softmax(t.flatten(1) / T, 1),
                   reduction="none").sum(1) * T**2
    assert torch.allclose(spatial_kl(s, t, T), ref, atol=1e-6)


def test_spatial_form_ignores_a_logit_offset_per_location_does_not():
    """The spatial softmax keeps only the layout; the per-cell form also transfers how
    confident the teacher is (a uniformly under-confident student is penalised)."""
    t, _ = leaves(requires_grad=False, seed=8)
    s = {"cls": t["cls"] - 2.0, "box": t["box"]}
    assert ResponseKD(form="spatial")(s, t)["kd_cls"].item() < 1e-5
    assert ResponseKD(form="per_location")(s, t)["kd_cls"].item() > 1e-3


def test_per_location_box_kd_only_where_teacher_sees_the_target():
    cls_t = torch.full((1, 1, S, S), -20.0)
    cls_t[0, 0, 3, 3] = 20.0  # the teacher's single foreground cell
    box_t = torch.full((1, 4, S, S), 16.0)
    teacher = {"cls": cls_t, "box": box_t}
    kd = ResponseKD(form="per_location")

    off_target = box_t.clone()
    off_target[..., 0, 0] = 64.0  # student differs on a background cell only
    assert kd({"cls": cls_t.clone(), "box": off_target}, teacher)["kd_box"].item() < 1e-6

    on_target = box_t.clone()
    on_target[..., 3, 3] = 64.0  # log(64/16) = log 4 on the foreground cell
    got = kd({"cls": cls_t.clone(), "box": on_target}, teacher)["kd_box"].item()
    assert got == pytest.approx(torch.log(torch.tensor(4.0)).item(), rel=1e-3)


def test_per_location_box_kl_is_blind_to_box_scale_l1_is_not():
    t, _ = leaves(requires_grad=False, seed=9)
    s = {"cls": t["cls"], "box": t["box"] * 2.0}  # same shape, twice the size
    assert ResponseKD(form="per_location", box_loss="kl")(s, t)["kd_box"].item() < 1e-6
    assert ResponseKD(form="per_location", box_loss="l1")(s, t)["kd_box"].item() > 0.1


@pytest.mark.parametrize("form", ["spatial", "per_location"])
def test_sample_weights_select_samples(form):
    kd = ResponseKD(form=form)
    s, _ = leaves(seed=10)
    t, _ = leaves(seed=11)
    ps = kd.per_sample(s, t)
    assert ps["kd_cls"].shape == (B,) and ps["kd_box"].shape == (B,)
    w_cls, w_box = torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.0, 0.0, 2.0])
    out = kd(s, t, sample_weights=(w_cls, w_box))
    assert out["kd_cls"].item() == pytest.approx(ps["kd_cls"][0].item() / B, rel=1e-5)
    assert out["kd_box"].item() == pytest.approx(2 * ps["kd_box"][2].item() / B, rel=1e-5)
    zero = kd(s, t, sample_weights=(torch.zeros(B), torch.zeros(B)))
    assert zero["kd_cls"].item() == 0.0 and zero["kd_box"].item() == 0.0


def test_rejects_bad_arguments_and_shapes():
    with pytest.raises(ValueError):
        ResponseKD(form="channel")
    with pytest.raises(ValueError):
        ResponseKD(temperature=0.0)
    with pytest.raises(ValueError):
        ResponseKD(box_loss="l2")
    s, _ = leaves(seed=12)
    t = {"cls": torch.zeros(B, 1, S - 2, S - 2), "box": torch.ones(B, 4, S - 2, S - 2)}
    with pytest.raises(ValueError):
        ResponseKD()(s, t)
