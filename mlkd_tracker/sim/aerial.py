"""Ground from one real aerial texture, and the night lights that belong to it.

Why one texture per scene, mirrored: a drone's view is one continuous place. Pasting several
orthophotos side by side gives seams no real flight shows, so a scene takes a single texture,
rotates, flips and scales it to the scene's ground resolution, and extends it past its border
by reflection (continuous, no seam). The texture's stated ground sampling distance (its
``m_per_px``, times a per-scene factor from ``AerialConfig.texture_scale``) fixes how many
metres one texture pixel covers, so houses and streets keep their size in metres and the image
zooms in and out with the altitude like a real camera.

Where the texture is drawn much larger than its pixels (a 1 m/px tile seen from 60 m, about
10x) the image is smooth; no grain is invented there, because the day copy is the enhancer's
target and random detail in a target cannot be learned.

Night lighting follows the scene:

- street lamps stand along the lit streets of the texture's light map (FlightGear's
  ``*-relief-light.png``) or, without one, along road-like pixels (grey, smooth, not vegetation),
  ``lamp_spacing_m`` apart; each throws a pool of light ``lamp_pool_m`` wide and glares;
- lit windows are small warm emitters on built-up pixels (neither road nor vegetation), drawn
  into an emission map the renderer warps with the ground and adds in linear light;
- everything else is lit by the ambient (moon/sky glow) of the low-light model.

All randomness comes from the ``rng`` argument.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np

from .lowlight import LED_WHITE, MERCURY, SODIUM
from .texture_folder import TextureFolder

__all__ = ["AerialConfig", "AerialGround", "build_aerial_ground", "road_like"]

WINDOW_COLOURS = ((120, 200, 255), (90, 170, 255), (200, 220, 240), (150, 210, 255))  # BGR


@dataclass(frozen=True)
class AerialConfig:
    """How an aerial texture becomes a night ground. Sizes in metres."""

    texture_scale: tuple[float, float] = (0.5, 1.0)  # x the stated m/px, log-uniform: terrain
    # tiles are often stated coarser than their detail (a 15 px house over 30 m), so up to 2x finer
    lamp_spacing_m: float = 28.0  # street lamps, one per grid cell of this side on lit streets
    lamp_prob: float = 0.85  # chance a cell with a street gets its lamp (a few are out)
    lamp_pool_m: float = 7.0  # radius (sigma) of a lamp's pool of light on the ground
    lamp_intensity: tuple[float, float] = (1.5, 3.5)  # peak lamp radiance (1 = sensor white)
    windows_per_ha: float = 60.0  # lit windows per hectare of built-up ground (from above most
    # are hidden by the roofs: what shows is a skylight, a lit yard or the spill by a wall)
    window_m: tuple[float, float] = (0.4, 1.2)  # lit window (or light spill) size
    colour_jitter: float = 0.1  # per-channel gain jitter of the texture

    def __post_init__(self) -> None:
        ok = (0 < self.texture_scale[0] <= self.texture_scale[1] and self.lamp_spacing_m > 0
              and 0 <= self.lamp_prob <= 1 and self.lamp_pool_m > 0
              and 0 <= self.lamp_intensity[0] <= self.lamp_intensity[1]
              and self.windows_per_ha >= 0 and 0 < self.window_m[0] <= self.window_m[1]
              and 0 <= self.colour_jitter < 1)
        if not ok:
            raise ValueError(f"invalid AerialConfig: {self}")


@dataclass
class AerialGround:
    """A built aerial ground (all maps ``size`` x ``size`` ground px)."""

    image: np.ndarray  # BGR uint8 day ground
    source: str  # texture name
    texture_m_per_px: float  # metres per texture px as drawn (stated x scale factor)
    ground_res_m: float  # metres per ground px
    street: np.ndarray  # uint8 mask (255 = street/road) the lamps and vehicles use
    street_from: str  # "light_mask" or "road_like"
    lamps: list[tuple[float, float, float, tuple[float, float, float]]]  # x, y, intensity, BGR
    glow: np.ndarray | None  # BGR uint8 emission map (lit windows), None if nothing glows

    def road_point(self, rng: np.random.Generator):
        """A random street pixel and the street's direction there: (x, y, heading) or None."""
        ys, xs = np.nonzero(self.street[::4, ::4])
        if xs.size == 0:
            return None
        i = int(rng.integers(xs.size))
        x, y = 4.0 * xs[i] + rng.uniform(-0.5, 0.5), 4.0 * ys[i] + rng.uniform(-0.5, 0.5)
        heading = self.street_heading(x, y) + (math.pi if rng.random() < 0.5 else 0.0)
        return float(x), float(y), float(heading + rng.normal(0.0, 0.05))

    def street_heading(self, x: float, y: float, radius: float = 40.0) -> float:
        """Direction of the street at ground (x, y) (0 where there is none)."""
        axis = self.street_axis(x, y, radius)
        return 0.0 if axis is None else axis[0]

    def street_axis(self, x: float, y: float, radius: float = 40.0
                    ) -> tuple[float, float, float] | None:
        """(direction, centre x, centre y) of the street pixels within ``radius`` of (x, y):
        their main axis and centroid; None if there are (almost) none."""
        n = self.street.shape[0]
        r = max(int(radius), 4)
        x0, x1 = max(int(x) - r, 0), min(int(x) + r + 1, n)
        y0, y1 = max(int(y) - r, 0), min(int(y) + r + 1, n)
        ys, xs = np.nonzero(self.street[y0:y1:2, x0:x1:2])
        if xs.size < 6:
            return None
        pts = np.stack([x0 + 2.0 * xs, y0 + 2.0 * ys])
        _, v = np.linalg.eigh(np.cov(pts))
        return float(math.atan2(v[1, 1], v[0, 1])), float(pts[0].mean()), float(pts[1].mean())

    def road_steer(self, radius: float,
                   gain: float = 2.0) -> Callable[[float, float, float], float]:
        """A turn-rate function that keeps a mover on the street it drives on: it turns towards
        the street's direction (the one closer to its heading) and towards the street's centre;
        off the streets it does nothing."""

        def steer(x: float, y: float, heading: float) -> float:
            axis = self.street_axis(x, y, radius)
            if axis is None:
                return 0.0
            d = (axis[0] - heading + math.pi) % (2 * math.pi) - math.pi
            if abs(d) > math.pi / 2:
                d = d - math.copysign(math.pi, d)
            ex, ey = axis[1] - x, axis[2] - y
            lateral = -math.sin(heading) * ex + math.cos(heading) * ey  # > 0: centre on the right
            return gain * d + gain * lateral / radius

        return steer


def road_like(bgr: np.ndarray) -> np.ndarray:
    """uint8 mask of pixels that look like asphalt: grey, mid-dark, smooth, not vegetation.

    For textures without a light map (and any user orthophoto). Roofs of the same grey are
    sometimes included, which puts a lamp on a car park or a flat roof: harmless at night.
    """
    small = cv2.resize(bgr, (max(bgr.shape[1] // 4, 1), max(bgr.shape[0] // 4, 1)),
                       interpolation=cv2.INTER_AREA)
    hsv = cv2.cvtColor(small, cv2.COLOR_BGR2HSV)
    s, v = hsv[:, :, 1].astype(np.float32), hsv[:, :, 2].astype(np.float32)
    grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY).astype(np.float32)
    mean = cv2.blur(grey, (5, 5))
    std = np.sqrt(np.maximum(cv2.blur(grey * grey, (5, 5)) - mean * mean, 0.0))
    b, g, r = (small[:, :, i].astype(np.float32) for i in range(3))
    veg = (2 * g - r - b) > 12
    mask = ((s < 50) & (v > 45) & (v < 175) & (std < 22) & ~veg).astype(np.uint8) * 255
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    return cv2.resize(mask, (bgr.shape[1], bgr.shape[0]), interpolation=cv2.INTER_NEAREST)


def _built_up(bgr: np.ndarray, street: np.ndarray) -> np.ndarray:
    """uint8 mask of pixels that may be buildings: textured, not vegetation, not street."""
    small = cv2.resize(bgr, (max(bgr.shape[1] // 4, 1), max(bgr.shape[0] // 4, 1)),
                       interpolation=cv2.INTER_AREA)
    grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
    edges = cv2.dilate(cv2.Canny(grey, 40, 120), np.ones((3, 3), np.uint8))
    b, g, r = (small[:, :, i].astype(np.float32) for i in range(3))
    veg = (2 * g - r - b) > 8
    st = cv2.resize(street, (small.shape[1], small.shape[0]), interpolation=cv2.INTER_NEAREST)
    built = (edges > 0) & ~veg & (st == 0) & (grey > 40)
    # buildings come in blocks: keep pixels with many built neighbours
    dens = cv2.blur(built.astype(np.float32), (9, 9))
    mask = (built & (dens > 0.3)).astype(np.uint8) * 255
    return cv2.resize(mask, (bgr.shape[1], bgr.shape[0]), interpolation=cv2.INTER_NEAREST)


def _lamps(street: np.ndarray, cell: float, cfg: AerialConfig, rng: np.random.Generator):
    """One lamp on a street pixel of each grid cell that holds enough street."""
    n = street.shape[0]
    c = max(int(round(cell)), 4)
    out = []
    palette = (SODIUM, SODIUM, LED_WHITE, MERCURY)
    scene_colour = palette[int(rng.integers(len(palette)))]  # one lamp type per town, mostly
    for y0 in range(0, n, c):
        for x0 in range(0, n, c):
            block = street[y0:y0 + c:2, x0:x0 + c:2]
            if block.mean() < 255 * 0.04 or rng.random() > cfg.lamp_prob:
                continue
            ys, xs = np.nonzero(block)
            i = int(rng.integers(xs.size))
            colour = scene_colour if rng.random() < 0.85 else palette[int(rng.integers(4))]
            out.append((x0 + 2.0 * xs[i], y0 + 2.0 * ys[i],
                        float(rng.uniform(*cfg.lamp_intensity)), colour))
    return out


def _windows(built: np.ndarray, res_m: float, cfg: AerialConfig, rng: np.random.Generator):
    """Emission map with lit windows scattered over the built-up pixels (None if none)."""
    area_ha = float(np.count_nonzero(built[::4, ::4])) * 16 * res_m * res_m / 1e4
    count = int(rng.poisson(cfg.windows_per_ha * area_ha))
    if count == 0:
        return None
    ys, xs = np.nonzero(built[::4, ::4])
    glow = np.zeros(built.shape + (3,), np.uint8)
    pick = rng.integers(xs.size, size=count)
    px = 4 * xs[pick] + rng.integers(0, 4, count)
    py = 4 * ys[pick] + rng.integers(0, 4, count)
    for x, y in zip(px, py):
        w = max(rng.uniform(*cfg.window_m) / res_m, 1.0)
        h = max(rng.uniform(*cfg.window_m) / res_m, 1.0)
        col = np.asarray(WINDOW_COLOURS[int(rng.integers(len(WINDOW_COLOURS)))], np.float64)
        col = tuple(float(v) for v in col * rng.uniform(0.3, 1.0))
        box = ((float(x), float(y)), (float(w), float(h)), float(rng.uniform(0, 180)))
        cv2.fillPoly(glow, [np.round(cv2.boxPoints(box)).astype(np.int32)], col, cv2.LINE_AA)
    return glow


def build_aerial_ground(folder: TextureFolder, name: str, size: int, ground_res_m: float,
                        rng: np.random.Generator, cfg: AerialConfig = AerialConfig()
                        ) -> AerialGround:
    """The ``size`` x ``size`` ground (``ground_res_m`` m per px) cut from texture ``name``."""
    entry = folder.entry(name)
    tex = folder.load(name)
    light = folder.light_map(name)
    tex_m = entry.m_per_px * math.exp(rng.uniform(*np.log(cfg.texture_scale)))
    scale = tex_m / ground_res_m  # ground px per texture px
    ang = rng.uniform(-math.pi, math.pi)
    flip = -1.0 if rng.random() < 0.5 else 1.0
    cx, cy = rng.uniform(0, tex.shape[1]), rng.uniform(0, tex.shape[0])
    c, s = math.cos(ang) * scale, math.sin(ang) * scale
    a = np.array([[c * flip, -s], [s * flip, c]])
    t = np.array([size / 2.0, size / 2.0]) - a @ np.array([cx, cy])
    m = np.hstack([a, t[:, None]])
    interp = cv2.INTER_LINEAR if scale >= 1 else cv2.INTER_AREA
    if scale < 1:  # shrinking: pre-filter so the warp does not alias
        tex = cv2.resize(tex, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        if light is not None:
            light = cv2.resize(light, (tex.shape[1], tex.shape[0]), interpolation=cv2.INTER_AREA)
        m[:, :2] /= scale
        interp = cv2.INTER_LINEAR
    image = cv2.warpAffine(tex, m, (size, size), flags=interp, borderMode=cv2.BORDER_REFLECT_101)
    gains = rng.uniform(1 - cfg.colour_jitter, 1 + cfg.colour_jitter, 3)
    image = cv2.transform(image, np.hstack([np.diag(gains), np.zeros((3, 1))]))
    if light is not None:
        lit = cv2.warpAffine(light, m, (size, size), flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_REFLECT_101)
        street, street_from = ((lit > 0.5).astype(np.uint8) * 255), "light_mask"
    else:
        street, street_from = road_like(image), "road_like"
    lamps = _lamps(street, cfg.lamp_spacing_m / ground_res_m, cfg, rng)
    glow = _windows(_built_up(image, street), ground_res_m, cfg, rng)
    return AerialGround(image, name, tex_m, ground_res_m, street, street_from, lamps, glow)
