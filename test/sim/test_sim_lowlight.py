"""The low-light camera model: darker, noisier, glaring, deterministic, and fast to call."""
from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

from mlkd_tracker.sim.lowlight import (
    DARKNESS_LEVELS, Light, LowLightConfig, NightCamera, degrade, sample_lowlight,
)
from mlkd_tracker.sim.photos import load_photo

QUIET = LowLightConfig(glare=0)  # no random street lamps


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return cv2.resize(np.array(load_photo("coffee")), (320, 240), interpolation=cv2.INTER_AREA)


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def test_keeps_shape_and_dtype(photo):
    out = degrade(photo, LowLightConfig(), rng())
    assert out.shape == photo.shape and out.dtype == np.uint8


@pytest.mark.parametrize("bad", [np.zeros((8, 8), np.uint8), np.zeros((8, 8, 3), np.float32),
                                 np.zeros((8, 8, 4), np.uint8)])
def test_rejects_non_bgr_uint8(bad):
    with pytest.raises(ValueError, match="BGR uint8"):
        degrade(bad, QUIET, rng())


def test_invalid_config_is_rejected():
    with pytest.raises(ValueError, match="exposure > 0"):
        LowLightConfig(exposure=0.0)
    with pytest.raises(ValueError, match="jpeg_quality"):
        LowLightConfig(jpeg_quality=0)


def test_darker_exposure_lowers_brightness_monotonically(photo):
    means = [degrade(photo, dataclasses.replace(QUIET, exposure=e), rng()).mean()
             for e in (1.0, 0.3, 0.1, 0.03, 0.01)]
    assert all(a > b + 2 for a, b in zip(means, means[1:])), means


def test_relative_noise_grows_as_exposure_falls():
    flat = np.full((200, 200, 3), 128, np.uint8)
    rel = []
    for e in (0.5, 0.1, 0.02):
        out = degrade(flat, dataclasses.replace(QUIET, exposure=e), rng()).astype(np.float64)
        rel.append(out.std() / out.mean())
    assert rel[0] < rel[1] < rel[2], rel
    assert rel[0] > 0.005  # the brightest setting is still noisy


def test_noise_free_day_setting_roughly_reproduces_the_clean_image(photo):
    day = LowLightConfig(exposure=1.0, colour_cast=(1, 1, 1), read_noise=0, shot_noise_gain=0,
                         glare=0, shutter=0)
    diff = np.abs(degrade(photo, day, rng()).astype(int) - photo.astype(int))
    assert diff.mean() < 3  # sRGB decode vs gamma 1/2.2 encode differ a little in the shadows


def test_glare_brightens_around_the_light_only(photo):
    without = degrade(photo, QUIET, rng(3))
    with_light = degrade(photo, QUIET, rng(3), lights=[(100, 120, 3.0)])
    near = (slice(110, 131), slice(90, 111))
    assert with_light[near].mean() > without[near].mean() + 40
    far = (slice(0, 30), slice(290, 320))  # > 3 pool radii away: same noise draws, ~no light
    assert np.abs(with_light[far].astype(int) - without[far].astype(int)).max() <= 1


def test_light_colour_shows_in_the_glare():
    black = np.zeros((120, 120, 3), np.uint8)
    red = degrade(black, QUIET, rng(), lights=[Light(60, 60, 2.0, (0.05, 0.05, 1.0))])
    ring = red[45:76, 45:76].astype(float)
    assert ring[..., 2].mean() > 2 * ring[..., 0].mean()


def test_deterministic_per_rng(photo):
    cfg = DARKNESS_LEVELS["dark"]
    a = degrade(photo, cfg, rng(5), motion=(3, 1))
    b = degrade(photo, cfg, rng(5), motion=(3, 1))
    c = degrade(photo, cfg, rng(6), motion=(3, 1))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_night_camera_matches_degrade(photo):
    cam = NightCamera(LowLightConfig())
    for seed in range(3):  # buffers are reused; results must not depend on earlier calls
        assert np.array_equal(cam.render(photo, rng(seed), (2, -5), [(50, 50, 2)]),
                              degrade(photo, LowLightConfig(), rng(seed), (2, -5), [(50, 50, 2)]))


def test_darkness_levels_are_ordered(photo):
    names = list(DARKNESS_LEVELS)
    assert names[0] == "dusk" and len(names) >= 3
    exposures = [DARKNESS_LEVELS[n].exposure for n in names]
    assert exposures == sorted(exposures, reverse=True)
    means = [degrade(photo, DARKNESS_LEVELS[n], rng(1)).mean() for n in names]
    assert all(a > b for a, b in zip(means, means[1:])), dict(zip(names, means))


def test_motion_blur_smears_along_the_motion_only():
    stripes = np.zeros((64, 64, 3), np.uint8)
    stripes[:, ::4] = 255  # vertical lines
    cfg = LowLightConfig(exposure=1.0, read_noise=0, shot_noise_gain=0, glare=0, shutter=1.0)

    def horiz_contrast(img):
        return np.abs(np.diff(img[8:-8, 8:-8, 1].astype(int), axis=1)).mean()

    sharp = horiz_contrast(degrade(stripes, cfg, rng()))
    across = horiz_contrast(degrade(stripes, cfg, rng(), motion=(6, 0)))
    along = horiz_contrast(degrade(stripes, cfg, rng(), motion=(0, 6)))
    long = horiz_contrast(degrade(stripes, cfg, rng(), motion=(25, 0)))  # shifted-sum path
    assert across < 0.3 * sharp and long < 0.3 * sharp
    assert along > 0.9 * sharp


def test_jpeg_option_compresses(photo):
    plain = degrade(photo, QUIET, rng(2))
    jpeg = degrade(photo, dataclasses.replace(QUIET, jpeg_quality=30), rng(2))
    assert jpeg.shape == plain.shape and jpeg.dtype == np.uint8
    assert 0 < np.abs(jpeg.astype(int) - plain.astype(int)).mean() < 15


def test_sample_lowlight_is_deterministic_and_valid():
    a = [sample_lowlight(rng(9)) for _ in range(2)]
    assert a[0] == a[1]
    very = sample_lowlight(rng(1), "very_dark")
    assert very.exposure < DARKNESS_LEVELS["dusk"].exposure
    with pytest.raises(ValueError, match="unknown darkness level"):
        sample_lowlight(rng(), "noon")
