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
from .camera import CameraPose, homography, intrinsics, project
from .class_sprites import CLASS_MAKERS
from .compose import Layers, bake_occluder, composite_target, measure, sprite_affine
from .ground import GroundConfig, build_ground
from .lights import cull_reach, in_view, lamp_lights, random_lamps, sprite_lights
from .lowlight import DARKNESS_LEVELS, Light, LowLightConfig, NightCamera
from .sprites import Sprite, make_occluder
from .targets import (
    follow_roads, make_scene_target, nearest_distractor, place_distractors, place_movers,
    target_events,
)
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
        return {"ground": self._ground_sources, "target": (self._target.sprite.source,),
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

    @property
    def target_kind(self) -> str:
        """The target sprite's kind: vehicle, ellipse, or its class (person, motor, ...)."""
        return self._target.sprite.kind

    @property
    def target_events(self) -> dict:
        """What the target has done so far: stops, U-turns; whether it drives on roads."""
        return target_events(self._motion, self._on_road, self._distractors)

    def nearest_distractor(self) -> float:
        """Ground distance from the target to the nearest distractor, in target lengths."""
        return nearest_distractor(self._motion, self._distractors, self._length)

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
        self._target = make_scene_target(cfg, target_photo, looks, self.ground_scale)
        self._length = self._target.length  # ground px
        self._motion, self._drone = place_movers(cfg, layout, self._length, self.ground_scale,
                                                 self._alt_px)
        self._on_road = follow_roads(cfg, self._motion, self._aerial, extra, self._length,
                                     self.ground_scale)
        self._distractors = place_distractors(cfg, extra, self._motion, self._target,
                                              target_photo)
        if self._distractors:  # the ground without occluders, for layering movers
            lay = self._layers
            self._bare = Layers(lay.ground, np.zeros_like(lay.premult),
                                np.zeros_like(lay.occ_alpha), lay.ground)
        self._occluder_sources: set[str] = set()
        self._n_occluders = 0
        self._place_occluders(layout, ground_photos)
        self._place_street_lights(layout)
        self._pan, self._tilt = 0.0, math.radians(cfg.camera_tilt_deg)
        self.t = 0.0
        self._prev_centre = project(np.linalg.inv(self._homography()),
                                    np.array([self._k[:2, 2]]))[0]

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
        the start, mostly the config colour (their pools: the config's)."""
        if self._aerial is not None:
            self._lamps = self._aerial.lamps
            self._lamp_pool = (self.cfg.aerial.lamp_pool_m / self.cfg.ground_res_m
                               * self.ground_scale)
        else:
            half = 0.6 * max(self.cfg.width, self.cfg.height) / self.ground_scale
            self._lamps = random_lamps(rng, self.cfg.lowlight, (self._drone.x, self._drone.y),
                                       half)
            self._lamp_pool = None
        self._lamp_xy = np.array([lp[:2] for lp in self._lamps], np.float64).reshape(-1, 2)

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
        for d in self._distractors:
            d.motion.step(dt, self._rng_distractors)
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
        target = self._target
        shadow_len = 0.3 * target.sprite.alpha.shape[0]
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
            aff = sprite_affine(target.sprite, m.x, m.y, m.heading)
            patch = composite_target(lay, target.sprite, target.rgba, aff, sun)
            x0, y0, x1, y1 = patch.roi
            saved.append((patch.roi, lay.scene[y0:y1, x0:x1].copy(), None))
            lay.scene[y0:y1, x0:x1] = patch.pixels
            movers.append((target.sprite, aff))
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
        cfg = self.cfg
        reach = cull_reach(cfg.lowlight.pool_px)  # cull lights too far away to matter
        out = lamp_lights(self._lamps, h_img, self._lamp_pool, cfg.width, cfg.height, reach,
                          self._lamp_xy)
        out += sprite_lights(movers, h_img, self._layers.occ_alpha, self.ground_scale)
        return in_view(out, cfg.width, cfg.height, reach)


def render_sequence(cfg: SimConfig, n_frames: int) -> Iterator[SimFrame]:
    """``n_frames`` frames of a scene without gimbal control (for data-set generation)."""
    scene = NightScene(cfg)
    for _ in range(n_frames):
        yield scene.step()
