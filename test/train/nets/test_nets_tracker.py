"""Siamese tracker: response-map geometry, branch consistency, determinism, gradient flow."""
from __future__ import annotations

import pytest
import torch

from mlkd_tracker.train.nets import (PRESETS, SearchBranch, TemplateBranch, TrackerNetConfig,
                               build_tracker, get_preset, recalibrate_batchnorm, xcorr_depthwise)


def _crops(cfg: TrackerNetConfig, batch: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    z = torch.rand(batch, 3, cfg.template_size, cfg.template_size, generator=g) * 255
    x = torch.rand(batch, 3, cfg.search_size, cfg.search_size, generator=g) * 255
    return z, x


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_preset_output_shapes_and_branch_consistency(name):
    cfg = get_preset(name)
    assert cfg.geometry().score_size == 13
    torch.manual_seed(0)
    z, x = _crops(cfg, batch=2)
    # realistic eval-mode BN statistics (fresh ones leave deep nets' activations unnormalised)
    model = recalibrate_batchnorm(build_tracker(cfg), [(z, x)])
    assert not model.training
    with torch.no_grad():
        out = model(z, x)
        zf = model.template(z)
        again = model.search(x, zf)
        branch_cls, branch_box = SearchBranch(model)(x, TemplateBranch(model)(z))
    c = cfg.neck_channels
    assert out["cls"].shape == (2, 1, 13, 13)
    assert out["box"].shape == (2, 4, 13, 13)
    assert out["corr"].shape == (2, c, 13, 13)
    assert out["xf"].shape == (2, c, 20, 20)
    assert zf.shape == out["zf"].shape == (2, c, 8, 8)
    assert (out["box"] > 0).all() and torch.isfinite(out["box"]).all()
    for key in ("cls", "box", "corr", "xf"):
        assert torch.equal(out[key], again[key]), key
    assert torch.equal(branch_cls, out["cls"]) and torch.equal(branch_box, out["box"])
    # low initial foreground prior (focal-loss style), so early training is not swamped
    assert 0.002 < torch.sigmoid(out["cls"]).mean().item() < 0.05


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_eval_mode_is_deterministic_and_per_sample(name):
    cfg = get_preset(name).replace(template_size=32, search_size=64)
    model = build_tracker(cfg).eval()
    z, x = _crops(cfg, batch=2, seed=1)
    with torch.no_grad():
        a, b = model(z, x), model(z, x)
        single = model(z[1:], x[1:])
    assert torch.equal(a["cls"], b["cls"]) and torch.equal(a["box"], b["box"])
    # eval-mode BN: a sample's output does not depend on the rest of the batch
    torch.testing.assert_close(single["cls"], a["cls"][1:], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_gradients_reach_every_part(name):
    cfg = get_preset(name).replace(template_size=32, search_size=64)
    torch.manual_seed(0)
    model = build_tracker(cfg).train()
    z, x = _crops(cfg, batch=2, seed=2)
    out = model(z, x)
    assert out["cls"].shape == (2, 1, 5, 5)
    (out["cls"].sigmoid().mean() + out["box"].log().mean() + out["corr"].pow(2).mean()).backward()
    parts = {"backbone": model.backbone, "neck": model.neck, "cls": model.head.cls_tower,
             "box": model.head.box_tower}
    if cfg.enhancer is not None:
        parts["enhancer"] = model.enhancer
    for part, module in parts.items():
        grads = [p.grad for p in module.parameters()]
        assert all(g is not None and torch.isfinite(g).all() for g in grads), part
        assert sum(g.abs().sum().item() for g in grads) > 0, part
    assert model.head.cls_out.weight.grad.abs().sum() > 0
    assert model.head.box_out.weight.grad.abs().sum() > 0


def test_teacher_enhancer_sees_crops_and_student_has_none():
    assert build_tracker(get_preset("teacher")).enhancer is not None
    assert all(build_tracker(get_preset(n)).enhancer is None for n in PRESETS if n != "teacher")


def test_other_valid_crop_sizes_give_the_geometry_score_size():
    cfg = TrackerNetConfig(backbone="shufflenet", template_size=48, search_size=128)
    assert cfg.geometry().score_size == 11
    with torch.no_grad():
        out = build_tracker(cfg).eval()(*_crops(cfg, batch=1))
    assert out["cls"].shape == (1, 1, 11, 11) and out["box"].shape == (1, 4, 11, 11)


def test_xcorr_depthwise_matches_naive_per_sample_correlation():
    g = torch.Generator().manual_seed(3)
    x, k = torch.randn(2, 3, 9, 9, generator=g), torch.randn(2, 3, 4, 4, generator=g)
    out = xcorr_depthwise(x, k)
    ref = torch.zeros(2, 3, 6, 6)
    for b in range(2):
        for c in range(3):
            for i in range(6):
                for j in range(6):
                    ref[b, c, i, j] = (x[b, c, i:i + 4, j:j + 4] * k[b, c]).sum()
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    # the peak sits where the template was cut from: this is what SiameseGeometry.points assumes
    peak = xcorr_depthwise(x, x[:, :, 2:6, 3:7]).sum(1).flatten(1).argmax(1)
    assert peak.tolist() == [2 * 6 + 3] * 2


def test_raw_pixel_normalisation_happens_inside_the_model():
    cfg = get_preset("student_alex")
    model = build_tracker(cfg)
    mean = torch.tensor(cfg.mean_bgr).view(1, 3, 1, 1).expand(1, 3, 8, 8)
    assert torch.allclose(model.normalize(mean), torch.zeros(1, 3, 8, 8))
