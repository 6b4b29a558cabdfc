"""The SLKD enhancer family: one design at several settings, stages that line up by resolution,
and presets that meet the compression target (student <= 20 % of Teacher A's MACs and params)."""
from __future__ import annotations

import pytest
import torch

from mlkd_tracker.train.distill.slkd_losses import stage_scales
from mlkd_tracker.train.nets.enhancer_unet import (ENHANCER_PRESETS, UNetEnhancer, UNetEnhancerConfig,
                                             build_enhancer, enhancer_config, enhancer_cost,
                                             for_export, subpixel_head)

TINY = UNetEnhancerConfig(name="tiny", width=4, depth=2, blocks=1, stem=2)


def test_output_has_the_input_size_and_eval_output_is_clamped_to_0_1():
    net = UNetEnhancer(TINY).eval()
    x = torch.rand(2, 3, 16, 24)
    with torch.no_grad():
        out = net(x)
    assert out.shape == x.shape
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0


def test_stages_have_the_resolutions_and_widths_the_distillers_expect():
    net = UNetEnhancer(TINY).eval()
    _, enc, dec = net.features(torch.rand(1, 3, 32, 48))
    for part, stages in (("encoder", enc), ("decoder", dec)):
        expected = stage_scales(TINY, part)
        assert [(32 // s.shape[-2], s.shape[1]) for s in stages] == expected


def test_sizes_that_are_not_a_multiple_are_refused_with_the_multiple():
    with pytest.raises(ValueError, match="multiple of 8"):
        UNetEnhancer(TINY)(torch.rand(1, 3, 20, 24))


@pytest.mark.parametrize("bad", [dict(width=0), dict(depth=-1), dict(stem=3), dict(blocks=-1)])
def test_bad_settings_are_refused(bad):
    with pytest.raises(ValueError):
        UNetEnhancerConfig(**bad)


def test_configs_come_from_presets_or_dicts_and_typos_are_refused():
    assert enhancer_config("slkd_student") == ENHANCER_PRESETS["slkd_student"]
    assert enhancer_config({"width": 6}).width == 6
    with pytest.raises(ValueError, match="unknown"):
        enhancer_config({"widht": 6})
    with pytest.raises(ValueError, match="slkd_teacher"):
        enhancer_config("nope")


def test_the_student_preset_is_at_most_a_fifth_of_teacher_a():
    """The issue's target (>= 80 % fewer params and FLOPs), like the paper's 85 %."""
    teacher = enhancer_cost(ENHANCER_PRESETS["slkd_teacher"], 96, 128)
    student = enhancer_cost(ENHANCER_PRESETS["slkd_student"], 96, 128)
    assert student["params"] <= 0.2 * teacher["params"]
    assert student["macs"] <= 0.2 * teacher["macs"]


def test_gradients_reach_every_parameter():
    net = build_enhancer(TINY.to_dict()).train()
    net(torch.rand(2, 3, 16, 16)).mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters())


def _cell_leak(overlap: bool) -> float:
    """How much output outside one 4x4 stem cell changes when only that cell's input changes."""
    torch.manual_seed(0)
    net = UNetEnhancer(UNetEnhancerConfig(width=4, depth=0, blocks=0, stem=4,
                                          overlap_head=overlap)).train()
    x = torch.rand(1, 3, 16, 16)
    y = x.clone()
    y[..., 4:8, 4:8] += 0.5
    with torch.no_grad():
        diff = (net(y) - net(x)).abs()[0].sum(0)
    diff[4:8, 4:8] = 0
    return float(diff.max())


def test_the_overlapping_head_blends_neighbouring_stem_cells():
    assert _cell_leak(overlap=False) == 0.0  # each cell paints its own block: a visible grid
    assert _cell_leak(overlap=True) > 1e-4
    out = build_enhancer({"width": 4, "depth": 1, "stem": 4, "overlap_head": True})(
        torch.rand(1, 3, 24, 40))
    assert out.shape == (1, 3, 24, 40)


@pytest.mark.parametrize("stride", [2, 4, 8])
def test_the_subpixel_form_of_the_overlapping_head_is_the_same_function(stride):
    torch.manual_seed(stride)
    head = torch.nn.ConvTranspose2d(5, 3, 2 * stride, stride=stride, padding=stride // 2)
    x = torch.randn(2, 5, 7, 9)  # odd sizes: the borders must match too
    with torch.no_grad():
        assert torch.allclose(subpixel_head(head)(x), head(x), atol=1e-5)


def test_only_overlapping_heads_have_a_subpixel_form():
    for head in (torch.nn.ConvTranspose2d(4, 3, 4, stride=4),
                 torch.nn.ConvTranspose2d(4, 3, 8, stride=4, padding=1),
                 torch.nn.ConvTranspose2d(4, 3, 6, stride=3, padding=1)):
        with pytest.raises(ValueError, match="not an overlapping head"):
            subpixel_head(head)


def test_the_export_form_of_a_model_computes_the_same_image():
    torch.manual_seed(0)
    net = UNetEnhancer(UNetEnhancerConfig(width=4, depth=1, stem=4, overlap_head=True)).eval()
    fast = for_export(net)
    assert isinstance(fast.head, torch.nn.Sequential) and isinstance(net.head, torch.nn.ConvTranspose2d)
    x = torch.rand(1, 3, 24, 40)
    with torch.no_grad():
        assert torch.allclose(fast(x), net(x), atol=1e-5)


def test_the_colour_head_starts_as_the_identity_and_mixes_channels_per_image():
    torch.manual_seed(0)
    plain = UNetEnhancer(UNetEnhancerConfig(width=4, depth=1, stem=2)).train()
    coloured = UNetEnhancer(UNetEnhancerConfig(width=4, depth=1, stem=2, colour_head=True)).train()
    coloured.load_state_dict(plain.state_dict(), strict=False)
    x = torch.rand(2, 3, 16, 16)
    assert torch.equal(coloured(x), plain(x))
    with torch.no_grad():  # a matrix that swaps red and blue (the identity is added inside)
        swap = torch.tensor([[0., 0, 1], [0, 1, 0], [1, 0, 0]]) - torch.eye(3)
        coloured.colour.bias[:9] = swap.reshape(-1)
        coloured.colour.bias[9:] = torch.tensor([0.1, 0.0, 0.0])
    out, ref = coloured(x), plain(x)
    assert torch.allclose(out[:, 0], ref[:, 2] + 0.1, atol=1e-6)
    assert torch.allclose(out[:, 2], ref[:, 0], atol=1e-6)


@pytest.mark.parametrize("preset", ["slkd_student_v2", "slkd_student_v3", "slkd_student_w16"])
def test_the_later_students_stay_within_a_fifth_of_teacher_a(preset):
    teacher = enhancer_cost(ENHANCER_PRESETS["slkd_teacher"], 96, 128)
    student = enhancer_cost(ENHANCER_PRESETS[preset], 96, 128)
    assert student["params"] <= 0.2 * teacher["params"]
    assert student["macs"] <= 0.2 * teacher["macs"]
