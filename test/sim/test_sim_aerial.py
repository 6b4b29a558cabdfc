"""Aerial texture ground: folder reading, splits, scale, seams, night lights, scene integration.

Every texture is a tiny PNG drawn here, so nothing is downloaded.
"""
from __future__ import annotations

import dataclasses
import logging
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from mlkd_tracker.sim import texture_folder as tf
from mlkd_tracker.sim.aerial import AerialConfig, build_aerial_ground, road_like
from mlkd_tracker.sim.camera import nadir_gsd
from mlkd_tracker.sim.ground import GroundConfig
from mlkd_tracker.sim.lowlight import NightCamera, LowLightConfig
from mlkd_tracker.sim.scene import NightScene, SimConfig

EXACT = AerialConfig(texture_scale=(1.0, 1.0), colour_jitter=0.0)


def town(seed: int, size: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """A grass texture with a grey street grid and red/grey roofs, and its light map."""
    rng = np.random.default_rng(seed)
    img = np.full((size, size, 3), (50, 120, 60), np.uint8)
    img = cv2.add(img, rng.integers(0, 20, img.shape, dtype=np.uint8))
    light = np.zeros((size, size, 4), np.uint8)
    light[:, :, 1:3] = 127
    for c in range(8, size, 40):
        for band in (img[:, c:c + 6], img[c:c + 6, :]):
            band[:] = (95, 95, 95)
        light[:, c:c + 6, 0] = 255
        light[c:c + 6, :, 0] = 255
    for _ in range(12):
        x, y = rng.integers(16, size - 12, 2)
        colour = ((40, 40, 170), (160, 160, 165))[int(rng.integers(2))]
        cv2.rectangle(img, (int(x), int(y)), (int(x) + 8, int(y) + 6), colour, -1)
    return img, light


def write_textures(folder: Path, n: int = 6, size: int = 128) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        img, light = town(i, size)
        cv2.imwrite(str(folder / f"town{i}.png"), img)
        if i % 2 == 0:
            cv2.imwrite(str(folder / f"town{i}-relief-light.png"), light)
    cv2.imwrite(str(folder / "town0.mask.png"), np.zeros((16, 16), np.uint8))
    return folder


@pytest.fixture(scope="module")
def textures(tmp_path_factory) -> Path:
    return write_textures(tmp_path_factory.mktemp("tex") / "aerial")


def test_colour_textures_exclude_masks_and_normal_maps():
    for name in ("town.png", "city1-middle-east.png", "a/b.jpg", "forest.tif"):
        assert tf.is_colour_texture(name), name
    for name in ("town.mask.png", "city1-relief-light.png", "city1_overlay.png",
                 "golf-mask.png", "forest-relief.png", "crop-colors.png", "notes.txt"):
        assert not tf.is_colour_texture(name), name


def test_splits_are_disjoint_deterministic_stable_and_keep_variants_together():
    names = [f"tex{i:03d}.png" for i in range(200)] + ["town-europe.png",
                                                         "town-europe-autumn.png"]
    a = tf.assign_splits(names)
    assert a == tf.assign_splits(list(reversed(names)))
    assert set(a.values()) == set(tf.SPLITS)
    counts = {s: sum(v == s for v in a.values()) for s in tf.SPLITS}
    assert 15 <= counts["val"] <= 50 and 15 <= counts["test"] <= 50
    assert a["town-europe.png"] == a["town-europe-autumn.png"]
    more = tf.assign_splits(names + [f"new{i}.png" for i in range(30)])
    assert all(more[n] == a[n] for n in names)  # adding images moves nothing
    small = tf.assign_splits(["a.png", "b.png", "c.png"])
    assert sorted(small.values()) == ["test", "train", "val"]


def test_scanned_folder_finds_textures_and_street_light_maps(textures):
    folder = tf.TextureFolder.open(textures)
    assert not folder.indexed and folder.names() == [f"town{i}.png" for i in range(6)]
    assert {e.split for e in folder.entries} == set(tf.SPLITS)
    assert folder.entry("town0.png").light_mask == "town0-relief-light.png"
    assert folder.entry("town1.png").light_mask is None
    lm = folder.light_map("town0.png")
    assert lm.shape == (128, 128) and lm.max() == 1.0 and lm[8, 50] == 1.0 and lm[20, 20] == 0


def test_resolve_textures_explicit_auto_env_and_fallback(textures, tmp_path, monkeypatch, caplog):
    assert tf.resolve_textures(None) is None and tf.resolve_textures("none") is None
    assert tf.resolve_textures(str(textures)).root == textures.resolve()
    with pytest.raises(FileNotFoundError):
        tf.resolve_textures(tmp_path / "missing")
    monkeypatch.setenv(tf.ENV_VAR, str(textures))
    assert tf.resolve_textures("auto").root == textures.resolve()
    monkeypatch.setenv(tf.ENV_VAR, "none")
    assert tf.resolve_textures("auto") is None
    monkeypatch.delenv(tf.ENV_VAR)
    monkeypatch.chdir(tmp_path)  # no data/textures/flightgear here ...
    monkeypatch.setattr(tf, "_default_dirs", lambda: [tf.DEFAULT_DIR])  # ... nor in the checkout
    tf._warn_once.cache_clear()
    with caplog.at_level(logging.WARNING, logger=tf.LOG.name):
        assert tf.resolve_textures("auto") is None
        assert tf.resolve_textures("auto") is None
    assert len([r for r in caplog.records if "falls back" in r.message]) == 1
    write_textures(tmp_path / tf.DEFAULT_DIR, n=3)
    tf._open_cached.cache_clear()
    assert len(tf.resolve_textures("auto")) == 3


def _period(img: np.ndarray) -> float:
    """Dominant spatial period (px) of a square grey image."""
    g = img.astype(np.float64) - img.mean()
    mag = np.abs(np.fft.fftshift(np.fft.fft2(g)))
    n = g.shape[0]
    c = n // 2
    mag[c - 2:c + 3, c - 2:c + 3] = 0
    y, x = np.unravel_index(np.argmax(mag), mag.shape)
    return n / math.hypot(x - c, y - c)


def test_ground_scale_follows_the_stated_metres_per_pixel(tmp_path):
    xx = np.arange(64, dtype=np.float64)
    stripes = (128 + 100 * np.sin(2 * np.pi * xx / 8))[None, :].repeat(64, 0)
    cv2.imwrite(str(tmp_path / "stripes.png"), np.dstack([stripes] * 3).astype(np.uint8))
    folder = tf.TextureFolder.open(tmp_path, default_m_per_px=1.0)
    for res, period in ((0.5, 16.0), (0.25, 32.0)):  # 8 px of 1 m at res m per ground px
        g = build_aerial_ground(folder, "stripes.png", 256, res, np.random.default_rng(1), EXACT)
        assert g.texture_m_per_px == 1.0 and g.ground_res_m == res
        assert _period(cv2.cvtColor(g.image, cv2.COLOR_BGR2GRAY)) == pytest.approx(period, rel=0.1)


def test_ground_has_no_seams_where_the_texture_is_extended(tmp_path):
    yy, xx = np.mgrid[0:48, 0:48].astype(np.float64)
    ramp = np.clip(2.5 * xx + 2.5 * yy, 0, 255)  # smooth: a tiled copy would jump by ~240
    cv2.imwrite(str(tmp_path / "ramp.png"), np.dstack([ramp] * 3).astype(np.uint8))
    folder = tf.TextureFolder.open(tmp_path, default_m_per_px=1.0)
    for seed in range(3):
        g = build_aerial_ground(folder, "ramp.png", 512, 0.5, np.random.default_rng(seed), EXACT)
        grey = g.image[:, :, 1].astype(np.int32)  # 512 px at 2 px per texture px: 5 copies
        jump = max(np.abs(np.diff(grey, axis=0)).max(), np.abs(np.diff(grey, axis=1)).max())
        assert jump <= 6


def test_lamps_stand_on_lit_streets_and_windows_on_built_ground(textures):
    folder = tf.TextureFolder.open(textures)
    rng = np.random.default_rng(0)
    dense = AerialConfig(windows_per_ha=20000.0)  # the 51 m ground holds only a dozen roofs
    g = build_aerial_ground(folder, "town0.png", 512, 0.1, rng, dense)  # roofs of 20..40 px
    assert g.street_from == "light_mask" and len(g.lamps) >= 2  # 28 m apart in 51 m
    for x, y, inten, colour in g.lamps:
        assert g.street[int(y), int(x)] == 255 and inten > 0
    assert g.glow is not None and g.glow.max() > 0
    h = build_aerial_ground(folder, "town1.png", 512, 0.1, np.random.default_rng(0))
    assert h.street_from == "road_like" and h.street.mean() > 0
    assert road_like(np.full((64, 64, 3), (50, 140, 60), np.uint8)).max() == 0  # grass: no road
    for seed in range(10):
        x, y, heading = g.road_point(np.random.default_rng(seed))
        assert g.street[int(round(y)), int(round(x))] == 255
    # the streets of town0 run along the image axes, before the ground's random rotation
    angles = {round(math.degrees(g.street_heading(x, y)) % 90) for x, y, *_ in g.lamps}
    assert len(angles) == 1


def test_emission_adds_light_only_where_something_glows():
    cam = NightCamera(LowLightConfig(glare=0))
    clean = np.full((40, 60, 3), 100, np.uint8)
    glow = np.zeros_like(clean)
    glow[10:15, 20:30] = 255
    plain = cam.render(clean, np.random.default_rng(0))
    lit = cam.render(clean, np.random.default_rng(0), emission=glow, emission_gain=0.5)
    assert np.array_equal(lit[glow[:, :, 0] == 0], plain[glow[:, :, 0] == 0])
    assert lit[10:15, 20:30].mean() > plain[10:15, 20:30].mean() + 50


def aerial_cfg(textures: Path, **kw) -> SimConfig:
    kw.setdefault("ground", GroundConfig(size=512))
    return SimConfig(width=160, height=120, textures=str(textures), **kw)


def test_aerial_scene_is_deterministic_and_reports_its_scale(textures):
    c = aerial_cfg(textures, seed=4, altitude_m=40.0, ground_res_m=0.2)
    a, b = NightScene(c), NightScene(c)
    fa, fb = [a.step() for _ in range(3)], [b.step() for _ in range(3)]
    assert all(np.array_equal(x.image, y.image) and x.box == y.box for x, y in zip(fa, fb))
    info = a.ground_info()
    assert info["kind"] == "aerial" and info["texture"] in tf.TextureFolder.open(textures).names()
    assert info["image_m_per_px"] == pytest.approx(nadir_gsd(40.0, 60.0, 160), rel=1e-3)
    assert a.sources_used["ground"] == (info["texture"],)
    high = NightScene(dataclasses.replace(c, altitude_m=80.0)).ground_info()
    assert high["image_m_per_px"] == pytest.approx(2 * info["image_m_per_px"], rel=1e-3)
    other = NightScene(dataclasses.replace(c, seed=5))
    assert not np.array_equal(other.step().clean, fa[0].clean)


def test_aerial_scene_draws_only_the_given_textures(textures):
    for seed in range(4):
        scene = NightScene(aerial_cfg(textures, seed=seed, texture_names=["town3.png"]))
        assert scene.ground_info()["texture"] == "town3.png"
    with pytest.raises(ValueError, match="not in"):
        NightScene(aerial_cfg(textures, texture_names=["nope.png"]))


def test_oblique_camera_starts_with_the_target_in_view(textures):
    still = dict(target_speed_px=0.0, target_turn_rate=0.0, drone_drift_px=0.0,
                 drone_yaw_rate_deg=0.0, vibration_deg=0.0, altitude_jitter=0.0,
                 target_start_offset_px=0.0, occluders=0)
    for tilt in (0.0, 30.0):
        scene = NightScene(aerial_cfg(textures, seed=1, camera_tilt_deg=tilt, altitude_m=20.0,
                                      **still))
        f = scene.step()
        assert scene.gimbal[1] == pytest.approx(math.radians(tilt))
        assert f.box is not None and f.visible > 0.9
        cx, cy = f.box[0] + f.box[2] / 2, f.box[1] + f.box[3] / 2
        assert abs(cx - 79.5) < 8 and abs(cy - 59.5) < 8
    with pytest.raises(ValueError):
        SimConfig(camera_tilt_deg=60.0)


def test_night_frame_shows_street_lamps_that_the_day_copy_does_not(textures):
    c = aerial_cfg(textures, seed=2, texture_names=["town0.png"], lowlight="dark")
    scene = NightScene(c)
    f = scene.step()
    assert scene.ground_info()["lamps"] > 0
    grey = cv2.cvtColor(f.image, cv2.COLOR_BGR2GRAY)
    assert grey.max() >= 250 and np.median(grey) < 60  # lamps saturate, the rest is dark


def test_target_stops_and_u_turns_when_asked():
    from mlkd_tracker.sim.dynamics import TargetMotion

    rng = np.random.default_rng(0)
    m = TargetMotion(500.0, 500.0, 0.0, 40.0, 0.0, (0.0, 1000.0), stop_prob=0.5, uturn_prob=0.2)
    speeds, headings = [], []
    for _ in range(30 * 20):
        m.step(1 / 30, rng)
        speeds.append(m.current_speed)
        headings.append(m.heading)
    assert m.stops >= 3 and m.uturns >= 1
    assert min(speeds) < 1.0 and max(speeds) > 30.0  # stands, then drives again
    assert max(abs(h) for h in headings) > 3.0  # turned round (heading near +-pi)


def test_target_drives_along_the_streets(textures):
    hits, n = 0, 60
    scene = NightScene(aerial_cfg(textures, seed=0, texture_names=["town0.png"],
                                  follow_roads=True, target_class="car",
                                  ground=GroundConfig(size=1024)))
    assert scene.target_events["on_road"]
    start = scene.target_position
    for _ in range(n):
        scene.step()
        x, y = scene.target_position
        hits += scene.aerial.street[int(y), int(x)] == 255
    assert hits >= 0.9 * n
    assert math.dist(start, scene.target_position) > 30  # it drove, along the street


def test_distractors_drive_near_the_target_without_changing_it(textures):
    base = aerial_cfg(textures, seed=3, target_class="car", target_size_px=(20.0, 20.0))
    plain, busy = NightScene(base), NightScene(dataclasses.replace(base, distractors=2))
    assert busy.target_events["distractors"] == 2 and plain.nearest_distractor() == math.inf
    for _ in range(5):
        a, b = plain.step(), busy.step()
        assert a.box == b.box and a.visible == b.visible  # the target is drawn on top
    assert busy.nearest_distractor() < 8
    assert not np.array_equal(a.clean, b.clean)


def test_target_class_sprites():
    for cls in ("person", "truck"):
        scene = NightScene(SimConfig(width=160, height=120, textures=None, target_class=cls,
                                     ground=GroundConfig(size=512)))
        assert scene.target_kind == cls
    with pytest.raises(ValueError):
        SimConfig(target_class="tank")
