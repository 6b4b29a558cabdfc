"""NightScene: determinism, exact ground-truth boxes, occlusion, gimbal convention, splits."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from mlkd_tracker.sim import photos
from mlkd_tracker.sim.ground import GroundConfig
from mlkd_tracker.sim.lowlight import DARKNESS_LEVELS
from mlkd_tracker.sim.scene import NightScene, SimConfig, render_sequence

SMALL_GROUND = GroundConfig(size=1024)
# a camera and target that stand still unless commanded
STILL = dict(target_speed_px=0.0, target_turn_rate=0.0, drone_drift_px=0.0,
             drone_yaw_rate_deg=0.0, vibration_deg=0.0, altitude_jitter=0.0,
             target_start_offset_px=0.0, occluders=0)


def cfg(**kw) -> SimConfig:
    kw.setdefault("ground", SMALL_GROUND)
    return SimConfig(**kw)


def centre(box):
    return box[0] + box[2] / 2, box[1] + box[3] / 2


def run(scene: NightScene, n: int):
    rates = [(0.2 * math.sin(i), -0.1 * math.cos(i)) for i in range(n)]
    return [scene.step(*r) for r in rates]


def test_same_seed_gives_identical_frames_and_other_seed_differs():
    c = cfg(width=320, height=240, seed=4, fast_motion_prob=0.5)
    a, b = run(NightScene(c), 8), run(NightScene(c), 8)
    for fa, fb in zip(a, b):
        assert np.array_equal(fa.image, fb.image) and np.array_equal(fa.clean, fb.clean)
        assert fa.box == fb.box and fa.visible == fb.visible and fa.t == fb.t
    other = run(NightScene(dataclasses.replace(c, seed=5)), 8)
    assert not np.array_equal(a[-1].clean, other[-1].clean)


def test_reset_replays_and_reseeds():
    scene = NightScene(cfg(width=320, height=240, seed=2))
    first = run(scene, 3)
    scene.reset()
    again = run(scene, 3)
    assert all(np.array_equal(x.image, y.image) for x, y in zip(first, again))
    assert again[0].t == pytest.approx(1 / 30)
    scene.reset(seed=3)
    assert not np.array_equal(scene.step().clean, first[0].clean)


def test_frames_have_the_configured_geometry():
    scene = NightScene(cfg(width=320, height=240))
    f = scene.step()
    assert f.image.shape == f.clean.shape == (240, 320, 3)
    assert f.image.dtype == f.clean.dtype == np.uint8
    fx, fy, cx, cy = scene.intrinsics()
    assert fx == fy == pytest.approx(160 / math.tan(math.radians(30)))
    assert (cx, cy) == (159.5, 119.5)
    assert f.image.mean() < 0.6 * f.clean.mean()  # night is darker than day


@pytest.mark.parametrize("seed", range(6))
def test_box_is_in_frame_sized_and_marks_a_distinct_object(seed):
    c = cfg(seed=seed, occluders=0)
    f = NightScene(c).step()
    assert f.box is not None and f.visible == pytest.approx(1.0, abs=1e-3)
    x, y, w, h = f.box
    assert 0 <= x and 0 <= y and x + w <= c.width and y + h <= c.height
    lo, hi = c.target_size_px  # target length; the box of a rotated target is up to ~1.2x that
    assert 0.85 * lo <= max(w, h) <= 1.3 * hi
    assert abs(centre(f.box)[0] - c.width / 2) < c.target_start_offset_px + hi
    x0, y0, x1, y1 = int(x), int(y), int(math.ceil(x + w)), int(math.ceil(y + h))
    img = f.clean.astype(np.float64)
    inner = img[y0 + 2 : y1 - 2, x0 + 2 : x1 - 2].reshape(-1, 3)
    m = int(max(w, h) / 2)
    around = np.zeros(img.shape[:2], bool)
    around[max(y0 - m, 0) : y1 + m, max(x0 - m, 0) : x1 + m] = True
    around[y0:y1, x0:x1] = False
    ring = img[around]
    distinct = max(np.abs(inner.mean(0) - ring.mean(0)).max(), abs(inner.std() - ring.std()))
    assert distinct > 8


def test_box_is_exactly_where_the_pixels_change():
    # static camera, moving target, no occluders: only the target and its shadow change
    c = cfg(seed=7, **{**STILL, "target_speed_px": 60.0})
    scene = NightScene(c)
    a, b = scene.step(), scene.step()
    changed = np.abs(a.clean.astype(int) - b.clean.astype(int)).max(axis=2) > 0
    ys, xs = np.nonzero(changed)
    union = (min(a.box[0], b.box[0]), min(a.box[1], b.box[1]),
             max(a.box[0] + a.box[2], b.box[0] + b.box[2]),
             max(a.box[1] + a.box[3], b.box[1] + b.box[3]))
    seen = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    shadow = 0.3 * max(a.box[2], a.box[3]) + 2  # the cast shadow may reach past the box
    assert seen[0] <= union[0] + 1 and seen[1] <= union[1] + 1
    assert seen[2] >= union[2] - 1 and seen[3] >= union[3] - 1
    assert seen[0] >= union[0] - shadow and seen[1] >= union[1] - shadow
    assert seen[2] <= union[2] + shadow and seen[3] <= union[3] + shadow


def test_scripted_occluder_hides_the_target():
    scene = NightScene(cfg(seed=1, **STILL))
    first = scene.step()
    assert first.visible == pytest.approx(1.0, abs=1e-3)
    tx, ty = scene.target_position
    short_side = min(first.box[2:]) / scene.ground_scale  # ~ target width, ground px
    scene.add_occluder(tx, ty, 0.7 * short_side, kind="canopy")  # a small crown over the middle
    partial = scene.step()
    assert 0.05 < partial.visible < 0.95 and partial.box == pytest.approx(first.box)
    scene.add_occluder(tx, ty, 4.0 * short_side, kind="roof")
    hidden = scene.step()
    assert hidden.visible < 0.02 and hidden.box == pytest.approx(first.box)  # still in frame


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_occluders_on_the_path_get_crossed(seed):
    # occluders sit 1.5..10 s ahead on the initial heading; a slow straight target reaches one
    c = cfg(seed=seed, width=160, height=120, target_size_px=(6.0, 12.0), fps=10.0,
            **{**STILL, "target_speed_px": 15.0, "occluders": 2})
    vis = [f.visible for f in render_sequence(c, 100)]
    assert vis[0] > 0.95 and min(vis) < 0.5


def test_pan_and_tilt_follow_the_documented_convention():
    scene = NightScene(cfg(seed=3, **STILL))
    fx = scene.intrinsics()[0]
    x0, y0 = centre(scene.step().box)
    for _ in range(10):  # +0.3 rad/s for 1/3 s: 0.1 rad to the right
        f = scene.step(pan_rate=0.3)
    assert scene.gimbal == pytest.approx((0.1, 0.0))
    x1, y1 = centre(f.box)
    assert x1 - x0 == pytest.approx(-fx * math.tan(0.1), abs=1.0)  # target moves LEFT
    assert y1 == pytest.approx(y0, abs=1.0)
    for _ in range(10):  # pan back, tilt down 0.1 rad
        f = scene.step(pan_rate=-0.3, tilt_rate=0.3)
    x2, y2 = centre(f.box)
    assert y2 - y0 == pytest.approx(-fx * math.tan(0.1), abs=1.0)  # target moves UP
    assert x2 == pytest.approx(x0, abs=1.0)


def test_box_is_clipped_at_the_frame_edge_and_visibility_counts_the_inside():
    scene = NightScene(cfg(seed=3, **STILL))
    fx = scene.intrinsics()[0]
    first = scene.step()
    x0 = centre(first.box)[0]
    dpan = math.atan((x0 - 0.0) / fx)  # pan until the target centre sits on the left edge
    f = scene.step(pan_rate=dpan * scene.cfg.fps)
    x, y, w, h = f.box
    stretch = 1.0 / math.cos(dpan) ** 2  # perspective: off-axis objects look wider
    assert x == 0.0 and w == pytest.approx(stretch * first.box[2] / 2, abs=1.0)
    assert f.visible == pytest.approx(0.5, abs=0.08)
    for _ in range(3):  # further left: gone
        f = scene.step(pan_rate=dpan * scene.cfg.fps)
    assert f.box is None and f.visible == 0.0


def test_gimbal_clamps_at_its_limits():
    c = cfg(width=160, height=120, gimbal_limits_deg=(30.0, 20.0), **STILL)
    scene = NightScene(c)
    for _ in range(20):
        scene.step(pan_rate=5.0, tilt_rate=-5.0)
    assert scene.gimbal == pytest.approx((math.radians(30), -math.radians(20)))
    for _ in range(40):
        scene.step(pan_rate=-5.0, tilt_rate=5.0)
    assert scene.gimbal == pytest.approx((-math.radians(30), math.radians(20)))
    with pytest.raises(ValueError, match="finite"):
        scene.step(pan_rate=float("nan"))


def test_uncontrolled_drift_loses_the_target_eventually_but_not_at_first():
    c = cfg(width=160, height=120, target_size_px=(6.0, 12.0), fps=10.0, seed=11, occluders=0)
    frames = list(render_sequence(c, 400))  # 40 s (same ground footprint as 640x480)
    assert all(f.box is not None for f in frames[:20])  # the first 2 s
    assert any(f.box is None for f in frames)


def test_photo_subset_is_the_only_source(monkeypatch):
    subset = ["brick", "coffee", "grass", "rocket"]
    loaded: set[str] = set()
    original = photos.load_photo

    def recording(name: str):
        loaded.add(name)
        return original(name)

    monkeypatch.setattr(photos, "load_photo", recording)
    scene = NightScene(cfg(width=160, height=120, photos=subset, occluders=3))
    scene.step()
    used = scene.sources_used
    assert loaded and loaded <= set(subset)
    assert set(used["ground"]) | set(used["target"]) | set(used["occluders"]) <= set(subset)
    assert set(used["target"]).isdisjoint(used["ground"])  # target photo kept off the ground


def test_config_validation():
    with pytest.raises(ValueError, match="unknown or no photos"):
        SimConfig(photos=["brick", "not_a_photo"])
    with pytest.raises(ValueError, match="unknown lowlight preset"):
        SimConfig(lowlight="noon")
    assert SimConfig(lowlight="very_dark").lowlight == DARKNESS_LEVELS["very_dark"]


def test_render_sequence_counts_frames_and_time():
    frames = list(render_sequence(cfg(width=160, height=120, fps=10.0), 4))
    assert [f.t for f in frames] == pytest.approx([0.1, 0.2, 0.3, 0.4])
