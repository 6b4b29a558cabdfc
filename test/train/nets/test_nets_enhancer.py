"""Low-light enhancer: range, shape, size, differentiability."""
from __future__ import annotations

import pytest
import torch

from mlkd_tracker.train.nets import EnhancerConfig, LowLightEnhancer
from mlkd_tracker.train.nets.summary import count_params


def test_default_size_is_darklighter_like():
    net = LowLightEnhancer(EnhancerConfig())
    assert 0.7 * 75_000 <= count_params(net) <= 1.3 * 75_000
    assert len(net.convs) + 1 == 7


@pytest.mark.parametrize("layers", [3, 4, 7, 8])
def test_output_in_unit_range_any_size_and_maps(layers):
    torch.manual_seed(0)
    net = LowLightEnhancer(EnhancerConfig(channels=8, layers=layers, iterations=3))
    torch.nn.init.normal_(net.out.weight, std=0.5)  # saturated maps: the clip must hold
    x = torch.rand(2, 3, 37, 53)
    y, maps = net(x, return_maps=True)
    assert y.shape == x.shape and y.min() >= 0 and y.max() <= 1
    assert maps["r"].shape == maps["n"].shape == (2, 3, 3, 37, 53)
    assert maps["r"].abs().max() <= 1 and maps["n"].abs().max() <= 1


def test_starts_near_identity():
    x = torch.rand(1, 3, 24, 24) * 0.3
    with torch.no_grad():
        y = LowLightEnhancer()(x)
    assert (y - x).abs().mean() < 0.05


def test_learns_to_brighten_a_dark_image():
    torch.manual_seed(0)
    net = LowLightEnhancer(EnhancerConfig(channels=16, layers=5, iterations=4))
    dark = torch.rand(2, 3, 24, 24) * 0.15
    target = (dark * 4).clamp(0, 1)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    before = net(dark).mean().item()
    for _ in range(15):
        opt.zero_grad()
        loss = torch.nn.functional.l1_loss(net(dark), target)
        loss.backward()
        opt.step()
    after = net(dark).mean().item()
    assert after > before + 0.05 and after > dark.mean().item() + 0.05


def test_bad_config_rejected():
    with pytest.raises(ValueError):
        EnhancerConfig(layers=2)
