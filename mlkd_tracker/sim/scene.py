"""A night UAV tracking scene: a gimballed camera on a drifting drone watches a small moving target.

Used by the ROS sim node (one :meth:`NightScene.step` per 30 Hz frame) and by the synthetic
data-set generator (:func:`render_sequence`). Every frame is rendered as one perspective warp of
a photo-textured ground mosaic (with the target composited in a small ROI), then degraded by the
low-light camera model. Deterministic for a seed: independent random streams feed the layout,
the target, the drone and the sensor noise, so e.g. gimbal commands never change the noise.

Gimbal convention (a follow controller relies on it; see camera.py for the frames):
- ``step(pan_rate, tilt_rate)`` takes rates in rad/s, integrated over ``1 / fps`` and clamped
  to ``±gimbal_limits_deg``; :attr:`NightScene.gimbal` is ``(pan, tilt)`` in rad.
- positive pan turns the view RIGHT: a static target moves LEFT in the image, by
  ``fx * tan(dpan)`` px at the image centre. A target right of centre needs positive pan.
- positive tilt turns the view DOWN: image content moves UP. A target below centre needs
  positive tilt.
- at zero angles the camera looks straight down; an angle ``theta`` shifts the ground point at
  the image centre by ``altitude * tan(theta)``.

Boxes are ``(x, y, w, h)`` in pixel-edge coordinates (the box covers [x, x + w)), clipped to the
frame; intrinsics follow OpenCV (pixel centres at integer coordinates, cx = (W - 1) / 2).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Iterator

import cv2
import numpy as np

from . import photos
from .aerial import AerialConfig, AerialGround, build_aerial_ground
from .camera import CameraPose, homography, intrinsics, project, rot_x, rot_z
from .compose import Layers, bake_occluder, composite_target, measure, sprite_affine
from .dynamics import DroneMotion, TargetMotion
from .ground import GroundConfig, build_ground
from .lowlight import (
    DARKNESS_LEVELS, LED_WHITE, MERCURY, SODIUM, Light, LowLightConfig, NightCamera,
)
from .class_sprites import CLASS_MAKERS, CLASS_SIZES_M, make_class_sprite
from .sprites import Sprite, make_occluder, make_target
from .texture_folder import TextureFolder, resolve_textures


@dataclass
class SimConfig:
    """Scene parameters. Image sizes in image px, ground sizes in ground (mosaic) px."""

    width: int = 640
    height: int = 480
    fps: float = 30.0
    seed: int = 0
    hfov_deg: float = 60.0  # horizontal field of view -> fx
    altitude_m: float = 60.0  # flight altitude
    ground_res_m: float = 0.1  # metres per ground px (60 m, 60 deg: ~0.9 image px per ground px)
    ground: GroundConfig = field(default_factory=GroundConfig)
    photos: list[str] | None = None  # photo sources (target, occluders; ground without
    # textures); None = all
    textures: str | None = "auto"  # aerial ground textures: a folder, "auto" (the fetched
    # FlightGear set if present, see sim.texture_folder) or None (photo mosaic ground)
    texture_names: list[str] | None = None  # textures a scene may draw from (a split); None = all
    aerial: AerialConfig = field(default_factory=AerialConfig)
    window_radiance: float = 0.5  # linear radiance of a fully lit window (1 = sensor white)
    camera_tilt_deg: float = 0.0  # initial gimbal tilt: 0 = nadir, > 0 = oblique, looking ahead
    # target behaviour (the defaults keep the plain target of earlier versions)
    target_class: str | None = None  # person, motor, car, truck (class_sprites); None = a
    # vehicle or an ellipse (vehicle_prob) of target_aspect
    follow_roads: bool = False  # aerial ground: start on a street and drive along the streets
    stop_prob: float = 0.0  # stops per second (brake, stand 1..4 s, accelerate)
    uturn_prob: float = 0.0  # U-turns per second
    distractors: int = 0  # look-alikes (same class and photo, other paint) driving near the target
    target_size_px: tuple[float, float] = (24.0, 48.0)  # target length range, image px at nadir
    target_aspect: tuple[float, float] = (0.4, 0.6)  # width / length range
    target_speed_px: float = 40.0  # mean ground speed, ground px/s (4 m/s at 0.1 m/px)
    target_turn_rate: float = 0.35  # std of the random turn rate, rad/s
    target_start_offset_px: float = 40.0  # max start offset from the image centre, image px
    target_lights_prob: float = 0.8  # chance a vehicle target has head/tail lights on
    vehicle_prob: float = 0.75  # chance the target is a vehicle (else an ellipse)
    fast_motion_prob: float = 0.0  # fast-motion bursts per second (target sprint + wind gust)
    fast_motion_gain: float = 4.0  # target speed multiplier during a burst
    drone_drift_px: float = 10.0  # std of the drone's drift speed, ground px/s
    drone_yaw_rate_deg: float = 1.5  # std of the drone's yaw rate, deg/s
    vibration_deg: float = 0.1  # std of fast attitude jitter, deg
    altitude_jitter: float = 0.02  # relative std of altitude changes
    gimbal_limits_deg: tuple[float, float] = (45.0, 40.0)  # |pan|, |tilt| limits
    occluders: int = 2  # tree crowns / roofs placed along the target's initial path
    lowlight: LowLightConfig | str = field(default_factory=LowLightConfig)  # or preset name

    def __post_init__(self) -> None:
        if isinstance(self.lowlight, str):
            if self.lowlight not in DARKNESS_LEVELS:
                raise ValueError(f"unknown lowlight preset {self.lowlight!r}; "
                                 f"choose from {list(DARKNESS_LEVELS)}")
            self.lowlight = DARKNESS_LEVELS[self.lowlight]
        ok = (self.width > 0 and self.height > 0 and self.fps > 0 and 1 < self.hfov_deg < 170
              and self.altitude_m > 0 and self.ground_res_m > 0 and self.occluders >= 0
              and 0 < self.target_size_px[0] <= self.target_size_px[1]
              and min(self.gimbal_limits_deg) >= 0 and max(self.gimbal_limits_deg) < 80
              and self.window_radiance >= 0 and self.distractors >= 0
              and self.stop_prob >= 0 and self.uturn_prob >= 0
              and (self.target_class is None or self.target_class in CLASS_MAKERS)
              and abs(self.camera_tilt_deg) <= self.gimbal_limits_deg[1])
        if not ok:
            raise ValueError(f"invalid SimConfig: {self}")
        if self.texture_names is not None:
            self.texture_names = list(self.texture_names)
            if not self.texture_names:
                raise ValueError("texture_names is empty (None = every texture of the folder)")
        if self.photos is not None:
            self.photos = list(self.photos)
            unknown = sorted(set(self.photos) - set(photos.available_photos()))
            if unknown or not self.photos:
                raise ValueError(f"unknown or no photos {unknown}; "
                                 f"available: {photos.available_photos()}")


@dataclass
class SimFrame:
    image: np.ndarray  # night BGR uint8 (H, W, 3)
    clean: np.ndarray  # the same view in daylight, no noise or blur (enhancer target)
    box: tuple[float, float, float, float] | None  # x, y, w, h; None if out of frame
    visible: float  # fraction of the target inside the frame and not occluded (0..1)
    t: float  # sim time, s


class NightScene:
    """See the module docstring for conventions."""

    def __init__(self, cfg: SimConfig) -> None:
        self.cfg = cfg
        self._k = intrinsics(cfg.width, cfg.height, cfg.hfov_deg)
        self._alt_px = cfg.altitude_m / cfg.ground_res_m
        self._camera = NightCamera(dataclasses.replace(cfg.lowlight, glare=0))
        self.textures: TextureFolder | None = resolve_textures(cfg.textures)
        if self.textures is not None and cfg.texture_names is not None:
            unknown = sorted(set(cfg.texture_names) - set(self.textures.names()))
            if unknown:
                raise ValueError(f"textures {unknown} are not in {self.textures.root}")
        self.seed = cfg.seed
        self.reset(cfg.seed)

    # ----------------------------------------------------------------- public API
    def intrinsics(self) -> tuple[float, float, float, float]:
        """fx, fy, cx, cy in pixels (pinhole, no distortion)."""
        k = self._k
        return float(k[0, 0]), float(k[1, 1]), float(k[0, 2]), float(k[1, 2])

    @property
    def gimbal(self) -> tuple[float, float]:
        """(pan, tilt) in rad."""
        return self._pan, self._tilt

    @property
    def sources_used(self) -> dict[str, tuple[str, ...]]:
        """Photos each part of the scene was cut from (for checking split hygiene)."""
        return {"ground": self._ground_sources, "target": (self._target.source,),
                "occluders": tuple(sorted(self._occluder_sources))}

    @property
    def aerial(self) -> AerialGround | None:
        """The aerial ground of this scene (None: photo mosaic ground)."""
        return self._aerial

    def ground_info(self) -> dict:
        """What the ground is and its scale, JSON-able (for a data set's meta.json)."""
        gsd = self.cfg.ground_res_m / self.ground_scale
        info = {"kind": "photo_mosaic", "image_m_per_px": round(gsd, 4),
                "ground_m_per_px": self.cfg.ground_res_m, "altitude_m": self.cfg.altitude_m,
                "camera_tilt_deg": self.cfg.camera_tilt_deg}
        a = self._aerial
        if a is not None:
            info.update(kind="aerial", texture=a.source,
                        texture_m_per_px=round(a.texture_m_per_px, 4),
                        upscale=round(a.texture_m_per_px / gsd, 2), street_from=a.street_from,
                        lamps=len(a.lamps), lit_windows=a.glow is not None)
        return info

    @property
    def target_position(self) -> tuple[float, float]:
        """Target centre on the ground, ground px."""
        return self._motion.x, self._motion.y

    @property
    def ground_scale(self) -> float:
        """Image px per ground px at nadir and nominal altitude."""
        return self._k[0, 0] / self._alt_px

    def reset(self, seed: int | None = None) -> None:
        """Build a new scene for ``seed`` (None: the last seed again, i.e. replay)."""
        cfg = self.cfg
        self.seed = self.seed if seed is None else int(seed)
        ss = np.random.SeedSequence(self.seed).spawn(5)
        layout, looks, self._rng_target, self._rng_drone, self._rng_noise = (
            np.random.default_rng(s) for s in ss)
        names = list(cfg.photos) if cfg.photos is not None else photos.available_photos()
        names = [names[i] for i in layout.permutation(len(names))]
        target_photo, ground_photos = names[0], names[1:] or names  # target: a photo of its own
        self._aerial = None
        if self.textures is None:
            ground = build_ground(ground_photos, cfg.ground, layout)
            self._ground_sources = self._photo_sources = ground.sources
            image = ground.image
        else:
            choices = cfg.texture_names or self.textures.names()
            texture = choices[int(layout.integers(len(choices)))]
            self._aerial = build_aerial_ground(self.textures, texture, cfg.ground.size,
                                               cfg.ground_res_m, layout, cfg.aerial)
            self._ground_sources = (texture,)
            self._photo_sources = tuple(sorted(ground_photos))
            image = self._aerial.image
        self._layers = Layers.from_ground(image)
        sun = layout.uniform(-math.pi, math.pi)
        self._sun = (math.cos(sun), math.sin(sun))
        extra = np.random.default_rng([self.seed, 13])  # new behaviour: its own stream
        self._rng_distractors = np.random.default_rng([self.seed, 14])
        self._make_target(target_photo, looks)
        self._place_movers(layout)
        self._on_road = self._behaviour(extra)
        self._place_distractors(extra, target_photo)
        self._occluder_sources: set[str] = set()
        self._n_occluders = 0
        self._place_occluders(layout, ground_photos)
        self._place_street_lights(layout)
        self._pan, self._tilt = 0.0, math.radians(cfg.camera_tilt_deg)
        self.t = 0.0
        self._prev_centre = project(np.linalg.inv(self._homography()),
                                    np.array([self._k[:2, 2]]))[0]

    def _make_target(self, photo: str, rng: np.random.Generator) -> None:
        cfg = self.cfg
        self._length = rng.uniform(*cfg.target_size_px) / self.ground_scale  # ground px
        width = self._length * rng.uniform(*cfg.target_aspect)
        lights_on = rng.random() < cfg.target_lights_prob
        if cfg.target_class is None:
            t = make_target(photo, self._length, width, rng, lights_on, cfg.vehicle_prob)
        else:
            (l_lo, l_hi), (w_lo, w_hi) = CLASS_SIZES_M[cfg.target_class]
            width = self._length * rng.uniform(w_lo, w_hi) / ((l_lo + l_hi) / 2)
            t = make_class_sprite(cfg.target_class, photo, self._length, width, rng,
                                  lights_on and cfg.target_class != "person")
        self._lights_on = lights_on
        self._target = t
        self._target_rgba = _premultiplied(t)

    def _behaviour(self, rng: np.random.Generator) -> bool:
        """Stops, U-turns and road following of the target; True if it starts on a street."""
        cfg, m = self.cfg, self._motion
        m.stop_prob, m.uturn_prob = cfg.stop_prob, cfg.uturn_prob
        if not (cfg.follow_roads and self._aerial is not None):
            return False
        a = self._aerial
        r = int(0.3 * min(cfg.width, cfg.height) / self.ground_scale)  # within the view
        n = a.street.shape[0]
        x0, y0 = max(int(m.x) - r, 0), max(int(m.y) - r, 0)
        ys, xs = np.nonzero(a.street[y0:min(int(m.y) + r, n), x0:min(int(m.x) + r, n)])
        if xs.size == 0:
            return False
        i = int(np.argmin(np.hypot(x0 + xs - m.x, y0 + ys - m.y)))
        lo, hi = m.bounds
        m.x, m.y = min(max(float(x0 + xs[i]), lo), hi), min(max(float(y0 + ys[i]), lo), hi)
        m.heading = a.street_heading(m.x, m.y, max(2.0 * self._length, 16.0)) + (
            math.pi if rng.random() < 0.5 else 0.0)
        m.turn_std *= 0.3  # the road does the turning
        m.steer = a.road_steer(max(1.5 * self._length, 12.0))
        return True

    def _place_distractors(self, rng: np.random.Generator, photo: str) -> None:
        """``cfg.distractors`` look-alikes 2..6 lengths ahead of or behind the target, in its
        lane or the oncoming one, at a similar speed."""
        cfg, m, t = self.cfg, self._motion, self._target
        self._distractors: list[tuple[Sprite, np.ndarray, TargetMotion]] = []
        for _ in range(cfg.distractors):
            length = self._length * rng.uniform(0.85, 1.15)
            width = t.alpha.shape[0] * rng.uniform(0.9, 1.1)
            if cfg.target_class is None:
                sprite = make_target(photo, length, width, rng, self._lights_on, 1.0)
            else:
                sprite = make_class_sprite(cfg.target_class, photo, length, width, rng,
                                           self._lights_on and cfg.target_class != "person")
            along = rng.uniform(2.0, 6.0) * self._length * (1 if rng.random() < 0.5 else -1)
            oncoming = rng.random() < 0.4
            side = (1.2 if oncoming else 0.0) * width + rng.normal(0.0, 0.1 * width)
            c, s_ = math.cos(m.heading), math.sin(m.heading)
            lo, hi = m.bounds
            x = min(max(m.x + along * c - side * s_, lo), hi)
            y = min(max(m.y + along * s_ + side * c, lo), hi)
            motion = TargetMotion(x, y, m.heading + (math.pi if oncoming else 0.0),
                                  m.speed * rng.uniform(0.7, 1.3), m.turn_std, m.bounds,
                                  stop_prob=cfg.stop_prob, steer=m.steer)
            self._distractors.append((sprite, _premultiplied(sprite), motion))
        if self._distractors:  # the ground without occluders, for layering movers
            lay = self._layers
            self._bare = Layers(lay.ground, np.zeros_like(lay.premult),
                                np.zeros_like(lay.occ_alpha), lay.ground)

    @property
    def target_kind(self) -> str:
        """The target sprite's kind: vehicle, ellipse, or its class (person, motor, ...)."""
        return self._target.kind

    @property
    def target_events(self) -> dict:
        """What the target has done so far: stops, U-turns; whether it drives on roads."""
        return {"stops": self._motion.stops, "uturns": self._motion.uturns,
                "on_road": self._on_road, "distractors": len(self._distractors)}

    def nearest_distractor(self) -> float:
        """Ground distance from the target to the nearest distractor, in target lengths."""
        m = self._motion
        d = [math.hypot(dm.x - m.x, dm.y - m.y) for _, _, dm in self._distractors]
        return min(d) / self._length if d else math.inf

    def _place_movers(self, rng: np.random.Generator) -> None:
        """Drone over the central part of the mosaic, target near the image centre."""
        cfg, n = self.cfg, self.cfg.ground.size
        cx, cy = rng.uniform(0.35 * n, 0.65 * n, 2)
        r = cfg.target_start_offset_px / self.ground_scale * math.sqrt(rng.random())
        a = rng.uniform(-math.pi, math.pi)
        margin = 0.75 * self._length + 4  # whole rotated sprite and shadow stay on the mosaic
        self._motion = TargetMotion(
            cx + r * math.cos(a), cy + r * math.sin(a), rng.uniform(-math.pi, math.pi),
            cfg.target_speed_px * rng.uniform(0.5, 1.5), cfg.target_turn_rate,
            (margin, n - 1 - margin), cfg.fast_motion_prob, cfg.fast_motion_gain)
        self._drone = DroneMotion(
            cx, cy, self._alt_px, cfg.drone_drift_px, math.radians(cfg.drone_yaw_rate_deg),
            math.radians(cfg.vibration_deg), cfg.altitude_jitter, (0.2 * n, 0.8 * n),
            cfg.fast_motion_prob, 150.0 + 5.0 * cfg.drone_drift_px,
            yaw=rng.uniform(-math.pi, math.pi))
        if cfg.camera_tilt_deg:  # start the target where the oblique camera looks
            tilt = math.radians(cfg.camera_tilt_deg)
            axis = rot_z(self._drone.yaw) @ rot_x(-tilt) @ np.array([0.0, 0.0, 1.0])
            reach = self._alt_px / axis[2]
            lo, hi = self._motion.bounds
            self._motion.x = min(max(self._motion.x + reach * axis[0], lo), hi)
            self._motion.y = min(max(self._motion.y + reach * axis[1], lo), hi)

    def _place_occluders(self, rng: np.random.Generator, sources: list[str]) -> None:
        """``cfg.occluders`` crowns/roofs on the initial path, reached after 1.5..10 s."""
        m, length = self._motion, self._length
        for _ in range(self.cfg.occluders):
            size = length * rng.uniform(1.3, 2.5)
            dist = max(m.speed * rng.uniform(1.5, 10.0), 0.5 * (length + size) + 4)
            lateral = rng.normal(0.0, 0.3 * length)
            ox = m.x + dist * math.cos(m.heading) - lateral * math.sin(m.heading)
            oy = m.y + dist * math.sin(m.heading) + lateral * math.cos(m.heading)
            photo = sources[int(rng.integers(len(sources)))]
            # over a real street only a tree crown can hang: roofs would block the road
            kind = "canopy" if self._aerial is not None else None
            self.add_occluder(ox, oy, size, kind, rng=rng, photo=photo)

    def _place_street_lights(self, rng: np.random.Generator) -> None:
        """The aerial ground's street lamps; on a photo ground ``lowlight.glare`` lamps around
        the start, mostly the config colour."""
        ll, d = self.cfg.lowlight, self._drone
        if self._aerial is not None:
            pool = self.cfg.aerial.lamp_pool_m / self.cfg.ground_res_m * self.ground_scale
            lamps = self._aerial.lamps
            self._lamp_xy = np.array([lp[:2] for lp in lamps], np.float64).reshape(-1, 2)
            self._street_lights = [(x, y, inten, col, pool) for x, y, inten, col in lamps]
            return
        half = 0.6 * max(self.cfg.width, self.cfg.height) / self.ground_scale
        palette = (SODIUM, LED_WHITE, MERCURY)
        self._street_lights = [
            (d.x + rng.uniform(-half, half), d.y + rng.uniform(-half, half),
             ll.light_intensity * rng.uniform(0.6, 1.4),
             ll.light_colour if rng.random() < 0.6 else palette[int(rng.integers(3))])
            for _ in range(ll.glare)]
        self._lamp_xy = np.array([s[:2] for s in self._street_lights], np.float64).reshape(-1, 2)

    def add_occluder(self, x: float, y: float, size: float, kind: str | None = None,
                     rng: np.random.Generator | None = None, photo: str | None = None) -> None:
        """Place a static occluder centred at ground (x, y), ``size`` ground px across.

        Scenes place ``cfg.occluders`` on the target's path; tests and data generators can script
        more. Without ``rng``/``photo`` it draws from a stream derived from the scene seed.
        """
        rng = rng or np.random.default_rng([self.seed, 7, self._n_occluders])
        photo = photo or self._photo_sources[int(rng.integers(len(self._photo_sources)))]
        sprite = make_occluder(photo, size, rng, kind)
        height = 0.35 * size if sprite.kind == "canopy" else 0.25 * size  # shadow length
        bake_occluder(self._layers, sprite, x, y, (self._sun[0] * height, self._sun[1] * height))
        self._occluder_sources.add(photo)
        self._n_occluders += 1

    def step(self, pan_rate: float = 0.0, tilt_rate: float = 0.0) -> SimFrame:
        """Advance 1 / fps (gimbal rates in rad/s, see module docstring) and render a frame."""
        if not (math.isfinite(pan_rate) and math.isfinite(tilt_rate)):
            raise ValueError(f"gimbal rates must be finite, got {pan_rate!r}, {tilt_rate!r}")
        dt = 1.0 / self.cfg.fps
        lp, lt = (math.radians(v) for v in self.cfg.gimbal_limits_deg)
        self._pan = min(max(self._pan + pan_rate * dt, -lp), lp)
        self._tilt = min(max(self._tilt + tilt_rate * dt, -lt), lt)
        self._motion.step(dt, self._rng_target)
        for _, _, motion in self._distractors:
            motion.step(dt, self._rng_distractors)
        self._drone.step(dt, self._rng_drone)
        self.t += dt
        return self._render()

    # ----------------------------------------------------------------- rendering
    def _homography(self) -> np.ndarray:
        d = self._drone
        pose = CameraPose(d.x, d.y, d.altitude, d.yaw, d.roll, d.pitch, self._pan, self._tilt)
        return homography(self._k, pose)

    def _render(self) -> SimFrame:
        cfg, lay, m = self.cfg, self._layers, self._motion
        h_img = self._homography()
        shadow_len = 0.3 * self._target.alpha.shape[0]
        sun = (self._sun[0] * shadow_len, self._sun[1] * shadow_len)
        movers, saved = [], []
        try:
            for sprite, rgba, dm in self._distractors:  # below the target, over each other
                d_aff = sprite_affine(sprite, dm.x, dm.y, dm.heading)
                seen = composite_target(lay, sprite, rgba, d_aff, sun)
                bare = composite_target(self._bare, sprite, rgba, d_aff, sun)
                x0, y0, x1, y1 = seen.roi
                saved.append((seen.roi, lay.scene[y0:y1, x0:x1].copy(),
                              lay.ground[y0:y1, x0:x1].copy()))
                lay.scene[y0:y1, x0:x1] = seen.pixels
                lay.ground[y0:y1, x0:x1] = bare.pixels
                movers.append((sprite, d_aff))
            aff = sprite_affine(self._target, m.x, m.y, m.heading)
            patch = composite_target(lay, self._target, self._target_rgba, aff, sun)
            x0, y0, x1, y1 = patch.roi
            saved.append((patch.roi, lay.scene[y0:y1, x0:x1].copy(), None))
            lay.scene[y0:y1, x0:x1] = patch.pixels
            movers.append((self._target, aff))
            clean = cv2.warpPerspective(lay.scene, h_img, (cfg.width, cfg.height),
                                        flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
        finally:
            for (x0, y0, x1, y1), scene_px, ground_px in reversed(saved):
                lay.scene[y0:y1, x0:x1] = scene_px
                if ground_px is not None:
                    lay.ground[y0:y1, x0:x1] = ground_px
        box, visible = measure(h_img, patch, cfg.width, cfg.height)

        centre = self._k[:2, 2]
        motion = project(h_img, self._prev_centre[None])[0] - centre
        self._prev_centre = project(np.linalg.inv(h_img), centre[None])[0]
        glow = None
        if self._aerial is not None and self._aerial.glow is not None:
            glow = cv2.warpPerspective(self._aerial.glow, h_img, (cfg.width, cfg.height),
                                       flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
        night = self._camera.render(clean, self._rng_noise, (motion[0], motion[1]),
                                    self._lights(h_img, movers), glow, cfg.window_radiance)
        return SimFrame(night, clean, box, visible, self.t)

    def _lights(self, h_img: np.ndarray, movers: list[tuple[Sprite, np.ndarray]]) -> list[Light]:
        """Street lamps and the movers' own lights in image px (occluded lights dimmed)."""
        cfg, lay = self.cfg, self._layers
        out = []
        reach = 3.0 * max(cfg.lowlight.pool_px, 50.0)  # cull lights too far away to matter
        if self._street_lights:
            pts = project(h_img, self._lamp_xy)
            near = np.flatnonzero((pts[:, 0] > -reach) & (pts[:, 0] < cfg.width + reach)
                                  & (pts[:, 1] > -reach) & (pts[:, 1] < cfg.height + reach))
            for i in near:
                out.append(Light(pts[i, 0], pts[i, 1], *self._street_lights[i][2:]))
        for sprite, aff in movers:
            if not sprite.lights:
                continue
            src = np.array([[lt.x, lt.y] for lt in sprite.lights])
            ground = src @ aff[:, :2].T + aff[:, 2]
            pts = project(h_img, ground)
            n = lay.occ_alpha.shape[0]
            for (x, y), (gx, gy), lt in zip(pts, ground, sprite.lights):
                gi, gj = min(max(int(gy), 0), n - 1), min(max(int(gx), 0), n - 1)
                cover = lay.occ_alpha[gi, gj] / 255.0
                out.append(Light(x, y, lt.intensity * (1.0 - cover), lt.colour,
                                 lt.pool * self.ground_scale, lt.glare))
        return [lt for lt in out if -reach < lt.x < cfg.width + reach
                and -reach < lt.y < cfg.height + reach]


def _premultiplied(sprite: Sprite) -> np.ndarray:
    return np.dstack([sprite.bgr * sprite.alpha[:, :, None], sprite.alpha]).astype(np.float32)


def render_sequence(cfg: SimConfig, n_frames: int) -> Iterator[SimFrame]:
    """``n_frames`` frames of a scene without gimbal control (for data-set generation)."""
    scene = NightScene(cfg)
    for _ in range(n_frames):
        yield scene.step()
