"""Recolouring augmentation: grey scenes become multi-hued at unchanged brightness, and the
night patch is rendered from the recoloured clean one (so the pair stays consistent)."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from mlkd_tracker.train.datasets.enhance_patches import PatchConfig, PatchDataset
from mlkd_tracker.train.datasets.recolour import recolour, recoloured_pair
from test_enhance_patches import _seq


def _grey_ramp(h: int = 64, w: int = 64) -> np.ndarray:
    ramp = np.tile(np.linspace(20, 235, w, dtype=np.float32), (h, 1)).astype(np.uint8)
    return cv2.cvtColor(ramp, cv2.COLOR_GRAY2BGR)


def _hsv(img: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(img, cv2.COLOR_BGR2HSV).astype(np.float32)


def test_a_grey_image_becomes_saturated_and_multi_hued_at_the_same_brightness():
    grey = _grey_ramp()
    hues = []
    for seed in range(8):
        out = recolour(grey, np.random.default_rng(seed))
        assert out.shape == grey.shape and out.dtype == np.uint8
        hsv = _hsv(out)
        assert hsv[..., 1].mean() > 20, "still grey"
        np.testing.assert_allclose(hsv[..., 2], grey[..., 0], atol=3)  # HSV value kept
        hues.append(np.ptp(hsv[..., 0]))
    assert max(hues) > 30, "a brightness ramp should span several hues, not one tint"


def test_recolouring_is_deterministic_in_the_generator_and_accepts_views():
    img = np.random.default_rng(0).integers(0, 256, (40, 50, 3), dtype=np.uint8)
    view = img[5:37, 3:35]  # a crop, as the patch dataset passes it
    a = recolour(view, np.random.default_rng(4))
    assert np.array_equal(a, recolour(view, np.random.default_rng(4)))
    assert not np.array_equal(a, recolour(view, np.random.default_rng(5)))


def test_the_night_patch_is_a_darker_noisy_render_of_the_recoloured_clean_one():
    clean_in = _grey_ramp(96, 96)
    for seed in range(4):
        dark, clean = recoloured_pair(clean_in, np.random.default_rng(seed))
        assert dark.shape == clean.shape == clean_in.shape and dark.dtype == np.uint8
        assert dark.mean() < clean.mean(), "night must be darker than its clean version"
        assert _hsv(clean)[..., 1].mean() > 20
    d1, c1 = recoloured_pair(clean_in, np.random.default_rng(7))
    d2, c2 = recoloured_pair(clean_in, np.random.default_rng(7))
    assert np.array_equal(d1, d2) and np.array_equal(c1, c2)


def test_patch_dataset_recolours_the_configured_share_and_only_paired_patches(tmp_path):
    seq = _seq(tmp_path, "a", True)
    plain = PatchDataset([seq], PatchConfig(patch_size=16, samples_per_epoch=40), 3)
    every = PatchDataset([seq], PatchConfig(patch_size=16, samples_per_epoch=40, recolour=1.0), 3)
    half = PatchDataset([seq], PatchConfig(patch_size=16, samples_per_epoch=40, recolour=0.5), 3)

    def changed(ds) -> int:
        return sum(not torch.equal(ds[i]["clean"], plain[i]["clean"]) for i in range(40))
    assert changed(every) == 40
    assert 8 <= changed(half) <= 32
    item = every[0]
    assert item["dark"].shape == item["clean"].shape == (3, 16, 16)
    assert torch.equal(item["clean"], every[0]["clean"])  # still deterministic per index


@pytest.mark.parametrize("share", [-0.1, 1.5])
def test_a_share_outside_0_1_is_refused(share):
    with pytest.raises(ValueError, match="PatchConfig"):
        PatchConfig(recolour=share)
