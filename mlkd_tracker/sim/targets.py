"""The scene's movers: the target (its sprite, start, stops, U-turns, road following), its
look-alike distractors and the drone's start.

:class:`~mlkd_tracker.sim.scene.NightScene` calls these in a fixed order on its own random
streams (see ``NightScene.reset``), so a seed always gives the same target. Positions and sizes
are in ground (mosaic) px; ``ground_scale`` is image px per ground px at nadir.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from .aerial import AerialGround
from .camera import rot_x, rot_z
from .class_sprites import CLASS_SIZES_M, make_class_sprite
from .dynamics import DroneMotion, TargetMotion
from .sprites import Sprite, make_target

if TYPE_CHECKING:
    from .scene import SimConfig

__all__ = ["Distractor", "SceneTarget", "follow_roads", "make_scene_target", "nearest_distractor",
           "place_distractors", "place_movers", "premultiplied", "target_events"]


class SceneTarget(NamedTuple):
    sprite: Sprite
    rgba: np.ndarray  # premultiplied BGRA float32 (see premultiplied)
    length: float  # ground px
    lights_on: bool  # whether its head/tail lights are on (distractors copy it)


class Distractor(NamedTuple):
    sprite: Sprite
    rgba: np.ndarray
    motion: TargetMotion


def premultiplied(sprite: Sprite) -> np.ndarray:
    """The sprite as premultiplied BGRA float32, the form compose.composite_target takes."""
    return np.dstack([sprite.bgr * sprite.alpha[:, :, None], sprite.alpha]).astype(np.float32)


def make_scene_target(cfg: SimConfig, photo: str, rng: np.random.Generator,
                      ground_scale: float) -> SceneTarget:
    """The target sprite: of ``cfg.target_class`` (its real proportions), or a vehicle or an
    ellipse cut from ``photo``, ``cfg.target_size_px`` long in the image at nadir."""
    length = rng.uniform(*cfg.target_size_px) / ground_scale  # ground px
    width = length * rng.uniform(*cfg.target_aspect)
    lights_on = rng.random() < cfg.target_lights_prob
    if cfg.target_class is None:
        t = make_target(photo, length, width, rng, lights_on, cfg.vehicle_prob)
    else:
        (l_lo, l_hi), (w_lo, w_hi) = CLASS_SIZES_M[cfg.target_class]
        width = length * rng.uniform(w_lo, w_hi) / ((l_lo + l_hi) / 2)
        t = make_class_sprite(cfg.target_class, photo, length, width, rng,
                              lights_on and cfg.target_class != "person")
    return SceneTarget(t, premultiplied(t), length, lights_on)


def place_movers(cfg: SimConfig, rng: np.random.Generator, length: float, ground_scale: float,
                 alt_px: float) -> tuple[TargetMotion, DroneMotion]:
    """Drone over the central part of the mosaic, target near the image centre (or, with an
    oblique camera, where the camera looks)."""
    n = cfg.ground.size
    cx, cy = rng.uniform(0.35 * n, 0.65 * n, 2)
    r = cfg.target_start_offset_px / ground_scale * math.sqrt(rng.random())
    a = rng.uniform(-math.pi, math.pi)
    margin = 0.75 * length + 4  # whole rotated sprite and shadow stay on the mosaic
    motion = TargetMotion(
        cx + r * math.cos(a), cy + r * math.sin(a), rng.uniform(-math.pi, math.pi),
        cfg.target_speed_px * rng.uniform(0.5, 1.5), cfg.target_turn_rate,
        (margin, n - 1 - margin), cfg.fast_motion_prob, cfg.fast_motion_gain)
    drone = DroneMotion(
        cx, cy, alt_px, cfg.drone_drift_px, math.radians(cfg.drone_yaw_rate_deg),
        math.radians(cfg.vibration_deg), cfg.altitude_jitter, (0.2 * n, 0.8 * n),
        cfg.fast_motion_prob, 150.0 + 5.0 * cfg.drone_drift_px,
        yaw=rng.uniform(-math.pi, math.pi))
    if cfg.camera_tilt_deg:  # start the target where the oblique camera looks
        tilt = math.radians(cfg.camera_tilt_deg)
        axis = rot_z(drone.yaw) @ rot_x(-tilt) @ np.array([0.0, 0.0, 1.0])
        reach = alt_px / axis[2]
        lo, hi = motion.bounds
        motion.x = min(max(motion.x + reach * axis[0], lo), hi)
        motion.y = min(max(motion.y + reach * axis[1], lo), hi)
    return motion, drone


def follow_roads(cfg: SimConfig, m: TargetMotion, aerial: AerialGround | None,
                 rng: np.random.Generator, length: float, ground_scale: float) -> bool:
    """Stops, U-turns and road following of the target; True if it starts on a street.

    With ``cfg.follow_roads`` on an aerial ground the target moves to the nearest street pixel
    within the view and is steered along the streets from then on."""
    m.stop_prob, m.uturn_prob = cfg.stop_prob, cfg.uturn_prob
    if not (cfg.follow_roads and aerial is not None):
        return False
    r = int(0.3 * min(cfg.width, cfg.height) / ground_scale)  # within the view
    n = aerial.street.shape[0]
    x0, y0 = max(int(m.x) - r, 0), max(int(m.y) - r, 0)
    ys, xs = np.nonzero(aerial.street[y0:min(int(m.y) + r, n), x0:min(int(m.x) + r, n)])
    if xs.size == 0:
        return False
    i = int(np.argmin(np.hypot(x0 + xs - m.x, y0 + ys - m.y)))
    lo, hi = m.bounds
    m.x, m.y = min(max(float(x0 + xs[i]), lo), hi), min(max(float(y0 + ys[i]), lo), hi)
    m.heading = aerial.street_heading(m.x, m.y, max(2.0 * length, 16.0)) + (
        math.pi if rng.random() < 0.5 else 0.0)
    m.turn_std *= 0.3  # the road does the turning
    m.steer = aerial.road_steer(max(1.5 * length, 12.0))
    return True


def place_distractors(cfg: SimConfig, rng: np.random.Generator, m: TargetMotion,
                      target: SceneTarget, photo: str) -> list[Distractor]:
    """``cfg.distractors`` look-alikes 2..6 lengths ahead of or behind the target, in its
    lane or the oncoming one, at a similar speed."""
    out = []
    for _ in range(cfg.distractors):
        length = target.length * rng.uniform(0.85, 1.15)
        width = target.sprite.alpha.shape[0] * rng.uniform(0.9, 1.1)
        if cfg.target_class is None:
            sprite = make_target(photo, length, width, rng, target.lights_on, 1.0)
        else:
            sprite = make_class_sprite(cfg.target_class, photo, length, width, rng,
                                       target.lights_on and cfg.target_class != "person")
        along = rng.uniform(2.0, 6.0) * target.length * (1 if rng.random() < 0.5 else -1)
        oncoming = rng.random() < 0.4
        side = (1.2 if oncoming else 0.0) * width + rng.normal(0.0, 0.1 * width)
        c, s_ = math.cos(m.heading), math.sin(m.heading)
        lo, hi = m.bounds
        x = min(max(m.x + along * c - side * s_, lo), hi)
        y = min(max(m.y + along * s_ + side * c, lo), hi)
        motion = TargetMotion(x, y, m.heading + (math.pi if oncoming else 0.0),
                              m.speed * rng.uniform(0.7, 1.3), m.turn_std, m.bounds,
                              stop_prob=cfg.stop_prob, steer=m.steer)
        out.append(Distractor(sprite, premultiplied(sprite), motion))
    return out


def target_events(m: TargetMotion, on_road: bool, distractors: list[Distractor]) -> dict:
    """What the target has done so far: stops, U-turns; whether it drives on roads."""
    return {"stops": m.stops, "uturns": m.uturns, "on_road": on_road,
            "distractors": len(distractors)}


def nearest_distractor(m: TargetMotion, distractors: list[Distractor], length: float) -> float:
    """Ground distance from the target to the nearest distractor, in target lengths."""
    d = [math.hypot(dm.motion.x - m.x, dm.motion.y - m.y) for dm in distractors]
    return min(d) / length if d else math.inf
