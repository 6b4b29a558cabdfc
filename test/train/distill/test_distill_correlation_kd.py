"""Correlation-map KD variants: finite scalars, zero at student == teacher, gradient into the
student (and the hint adapter) but never the teacher, scale-free comparisons, and the reason
the published binarised-map loss had to become a soft mask."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from mlkd_tracker.train.distill.correlation_kd import (
    CORRELATION_KD,
    FeatureHint,
    SoftMaskedMSE,
    SpatialConsistency,
    build_correlation_kd,
    hard_mask,
)

B, C, S = 2, 8, 9
NAMES = sorted(CORRELATION_KD)


def build(name: str):
    # FeatureHint with an explicit adapter (identity-initialised because channels match)
    return FeatureHint(C, C, adapter=True) if name == "feature_hint" else build_correlation_kd(name)


def maps(seed: int, channels: int = C, requires_grad: bool = True) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(B, channels, S, S, generator=g) * 2).requires_grad_(requires_grad)


def test_registry_names_and_errors():
    assert set(CORRELATION_KD) == {"softmax_mse", "spatial_consistency", "soft_mask",
                                   "feature_hint"}
    with pytest.raises(ValueError):
        build_correlation_kd("hard_mask")
    with pytest.raises(ValueError):
        build_correlation_kd("softmax_mse")(maps(0), maps(1)[:, :, :5, :5])


@pytest.mark.parametrize("name", NAMES)
def test_scalar_finite_positive(name):
    loss = build(name)(maps(1), maps(2))
    assert loss.shape == () and torch.isfinite(loss) and loss.item() > 0


@pytest.mark.parametrize("name", NAMES)
def test_zero_when_student_equals_teacher(name):
    s = maps(3)
    assert build(name)(s, s.detach().clone()).item() < 1e-8


@pytest.mark.parametrize("name", NAMES)
def test_gradient_reaches_student_never_teacher(name):
    s, t = maps(4), maps(5)  # the teacher map requires grad: the module must detach it
    module = build(name)
    module(s, t).backward()
    assert s.grad is not None and s.grad.abs().sum() > 0
    assert t.grad is None
    for p in module.parameters():  # only FeatureHint has any: its adapter
        assert p.grad is not None and p.grad.abs().sum() > 0


def test_feature_hint_identity_adapter_when_channels_match():
    hint = FeatureHint(C, C, adapter=True)
    x = maps(6, requires_grad=False)
    assert torch.allclose(hint.adapter(x), x)
    assert isinstance(FeatureHint(C, C).adapter, torch.nn.Identity)  # default: none needed


def test_feature_hint_adapter_maps_channels_and_is_exposed():
    hint = FeatureHint(s_channels=8, t_channels=16)
    params = hint.adapter_parameters()
    assert [tuple(p.shape) for p in params] == [(16, 8, 1, 1), (16,)]
    assert {id(p) for p in params} == {id(p) for p in hint.parameters()}
    s, t = maps(7, channels=8), maps(8, channels=16)
    hint(s, t).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in params)
    assert s.grad is not None and t.grad is None
    with pytest.raises(ValueError):
        FeatureHint(8, 16, adapter=False)


def test_feature_hint_resizes_student_to_teacher_grid():
    s = torch.randn(B, C, 5, 5, requires_grad=True)
    loss = FeatureHint(C, C)(s, torch.randn(B, C, S, S))
    loss.backward()
    assert torch.isfinite(loss) and s.grad.abs().sum() > 0


@pytest.mark.parametrize("name,transform", [
    ("softmax_mse", lambda t: 30.0 * t + 3.0),               # standardised, then softmax
    ("spatial_consistency", lambda t: 10.0 * t + 1.0),       # std-normalised differences
    ("soft_mask", lambda t: 5.0 * t - 2.0),                  # mask relative to mean and std
    ("feature_hint", lambda t: 0.1 * t + 4.0),               # standardised features
])
def test_unrelated_scales_are_not_penalised(name, transform):
    """Student and teacher backbones produce correlation maps of unrelated magnitudes."""
    t = maps(9, requires_grad=False)
    assert build(name)(transform(t), t).item() < 1e-8


def test_spatial_consistency_sees_structure():
    t = torch.zeros(1, C, S, S)
    t[..., 4, 4] = 5.0
    moved = torch.zeros(1, C, S, S)
    moved[..., 2, 6] = 5.0
    assert SpatialConsistency()(moved, t).item() > 0.1
    assert SpatialConsistency(normalize=False)(t + 7.0, t).item() < 1e-10  # offsets vanish


def test_soft_mask_has_gradient_hard_mask_has_none():
    """Why the published loss was replaced: binarising at the mean is a step function, so
    MSE(binary_s, binary_t) is flat in the student map — training never moves it."""
    s, t = maps(10), maps(11, requires_grad=False)

    # the published form through autograd: sign() is a step, its derivative is exactly 0
    F.mse_loss(hard_mask(s), hard_mask(t)).backward()
    assert s.grad is not None and s.grad.abs().sum().item() == 0.0
    # written as a comparison it is not even connected to the graph
    mean = s.mean(dim=(1, 2, 3), keepdim=True)
    assert not F.mse_loss((s > mean).float(), (t > t.mean()).float()).requires_grad

    s.grad = None
    soft = SoftMaskedMSE(tau=0.5)
    soft(s, t).backward()
    assert s.grad.abs().sum().item() > 0
    assert s.grad.abs().gt(0).float().mean().item() > 0.5  # most cells receive a signal

    # small tau approaches the hard mask's value
    hard_value = F.mse_loss(hard_mask(s), hard_mask(t)).item()
    assert SoftMaskedMSE(tau=1e-4)(s, t).item() == pytest.approx(hard_value, abs=1e-3)
