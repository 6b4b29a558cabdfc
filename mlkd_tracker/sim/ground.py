"""The ground seen from the UAV: a large texture mosaic built from real photos.

Why a mosaic and not one photo: a drone flies over many surfaces, and a tracker must not learn
one background. The ground is a patchwork of irregular (Voronoi) fields, each cut from a randomly
chosen source photo with random scale, rotation, flip and colour jitter (often pulled towards
earth and vegetation tones, sometimes with crop rows), then crossed by asphalt roads with lane
markings and dirt paths, and modulated by low-frequency brightness variation. Every step draws
from the given ``rng``, so a seed fixes the ground.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import cv2
import numpy as np

from . import photos

# BGR tones fields are pulled towards: grass, dry crop, bare soil, forest, concrete, sand
EARTH_TONES: tuple[tuple[float, float, float], ...] = (
    (60, 120, 90), (100, 150, 170), (60, 90, 120), (40, 70, 45), (145, 150, 150), (120, 160, 185),
)


@dataclass
class GroundConfig:
    """How the ground mosaic is built; sizes in ground (mosaic) pixels."""

    size: int = 2048  # mosaic side
    regions: int = 28  # Voronoi fields, each textured from one photo
    texture_scale: tuple[float, float] = (0.5, 1.4)  # ground px per photo px (log-uniform)
    earth_tone_prob: float = 0.6  # chance a field is recoloured towards an earth tone
    row_crop_prob: float = 0.25  # chance a field gets crop-row stripes
    roads: int = 2
    road_width: tuple[float, float] = (45.0, 75.0)
    paths: int = 3
    path_width: tuple[float, float] = (8.0, 18.0)
    albedo_variation: float = 0.15  # amplitude of the low-frequency brightness modulation

    def __post_init__(self) -> None:
        if self.size < 64 or self.regions < 1 or self.roads < 0 or self.paths < 0:
            raise ValueError(f"invalid GroundConfig: {self}")


@dataclass
class Ground:
    """A built ground: the BGR uint8 mosaic, the photos it used and the road centre lines."""

    image: np.ndarray
    sources: tuple[str, ...]
    roads: list[np.ndarray] = field(default_factory=list)  # (N, 2) float32 polylines, ground px


def photo_patch(
    name: str, size: tuple[int, int], scale: float, rng: np.random.Generator
) -> np.ndarray:
    """A (h, w) BGR uint8 view of photo ``name``: random rotation, flip, offset; reflect-tiled.

    ``scale`` is output px per photo px. Reflection at the photo border tiles it without seams.
    """
    src = photos.load_photo(name)
    h, w = size
    ang = rng.uniform(-math.pi, math.pi)
    flip = -1.0 if rng.random() < 0.5 else 1.0
    cx, cy = rng.uniform(0, src.shape[1]), rng.uniform(0, src.shape[0])
    c, s = math.cos(ang) * scale, math.sin(ang) * scale
    a = np.array([[c * flip, -s], [s * flip, c]])
    t = np.array([w / 2.0, h / 2.0]) - a @ np.array([cx, cy])
    m = np.hstack([a, t[:, None]]).astype(np.float64)
    return cv2.warpAffine(src, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)


def _colour_transform(patch: np.ndarray, cfg: GroundConfig, rng: np.random.Generator) -> np.ndarray:
    """A random affine colour map (3x4) for ``patch``: contrast, brightness, channel gains, and
    optionally a pull towards an earth tone. Affine so that cv2.transform applies it in uint8
    (a float pipeline over a 2048^2 mosaic costs ~0.5 s)."""
    m = patch[::4, ::4].reshape(-1, 3).mean(axis=0)
    c, b = rng.uniform(0.7, 1.3), rng.uniform(0.7, 1.2)
    g = np.diag(rng.uniform(0.88, 1.12, 3))
    mat, off = c * g, g @ ((b - c) * m)  # x -> g (c (x - m) + b m)
    if rng.random() < cfg.earth_tone_prob:
        tone = np.asarray(EARTH_TONES[int(rng.integers(len(EARTH_TONES)))], np.float64)
        lum_mean = max(float(np.mean(mat @ m + off)), 1.0)
        proj = np.outer(tone / lum_mean, np.full(3, 1.0 / 3.0))  # tone * mean-channel luminance
        a = rng.uniform(0.5, 0.95)
        mat, off = (1 - a) * mat + a * proj @ mat, (1 - a) * off + a * proj @ off
    return np.hstack([mat, off[:, None]])


def _crop_rows(patch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Multiply by sinusoidal crop-row stripes (uint8 in and out)."""
    h, w = patch.shape[:2]
    phi, period = rng.uniform(0, math.pi), rng.uniform(6.0, 14.0)
    k = np.float32(2 * math.pi / period)
    ph = np.arange(w, dtype=np.float32)[None, :] * np.float32(math.cos(phi)) * k + (
        np.arange(h, dtype=np.float32)[:, None] * np.float32(math.sin(phi)) * k
    )
    gain = (128.0 * (1.0 + rng.uniform(0.12, 0.3) * np.sin(ph))).astype(np.uint8)
    return cv2.multiply(patch, cv2.merge([gain, gain, gain]), scale=1.0 / 128.0)


def _fields(
    names: Sequence[str], cfg: GroundConfig, rng: np.random.Generator, used: set[str]
) -> np.ndarray:
    """Voronoi patchwork: each field a jittered photo patch."""
    n = cfg.size
    seeds_img = np.ones((n, n), np.uint8)
    seeds = rng.uniform(0, n, size=(cfg.regions, 2)).astype(int)
    seeds_img[seeds[:, 1], seeds[:, 0]] = 0
    _, labels = cv2.distanceTransformWithLabels(
        seeds_img, cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL
    )
    out = np.zeros((n, n, 3), np.uint8)
    coarse = labels[::8, ::8]  # field bounding boxes from a coarse grid (+ margin)
    for lab in range(1, int(np.count_nonzero(seeds_img == 0)) + 1):  # one label per seed pixel
        ys, xs = np.nonzero(coarse == lab)
        if ys.size:
            y0, y1 = max(ys.min() * 8 - 8, 0), min(ys.max() * 8 + 9, n)
            x0, x1 = max(xs.min() * 8 - 8, 0), min(xs.max() * 8 + 9, n)
        else:  # a sliver the coarse grid missed
            ys, xs = np.nonzero(labels == lab)
            y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
        name = names[int(rng.integers(len(names)))]
        used.add(name)
        scale = math.exp(rng.uniform(*np.log(cfg.texture_scale)))
        tex = photo_patch(name, (y1 - y0, x1 - x0), scale, rng)
        tex = cv2.transform(tex, _colour_transform(tex, cfg, rng))
        if rng.random() < cfg.row_crop_prob:
            tex = _crop_rows(tex, rng)
        mask = (labels[y0:y1, x0:x1] == lab).view(np.uint8)
        cv2.copyTo(tex, mask, out[y0:y1, x0:x1])
    return out


def _polyline(n: int, rng: np.random.Generator) -> np.ndarray:
    """A gently curving line from one mosaic border to another (Chaikin-smoothed)."""
    side = rng.permutation(4)[:2]

    def border_point(s: int) -> tuple[float, float]:
        u = rng.uniform(0.1, 0.9) * n
        return ((u, -20.0), (n + 20.0, u), (u, n + 20.0), (-20.0, u))[s]

    p0, p1 = np.array(border_point(side[0])), np.array(border_point(side[1]))
    k = 5
    t = np.linspace(0, 1, k)[:, None]
    normal = np.array([-(p1 - p0)[1], (p1 - p0)[0]]) / (np.linalg.norm(p1 - p0) + 1e-9)
    pts = p0 + t * (p1 - p0) + normal * rng.normal(0, 0.08 * n, (k, 1)) * np.sin(np.pi * t)
    for _ in range(4):  # Chaikin corner cutting
        q = 0.75 * pts[:-1] + 0.25 * pts[1:]
        r = 0.25 * pts[:-1] + 0.75 * pts[1:]
        pts = np.vstack([pts[:1], np.stack([q, r], 1).reshape(-1, 2), pts[-1:]])
    return pts.astype(np.float32)


def _dashes(pts: np.ndarray, dash: float, gap: float) -> list[np.ndarray]:
    seg = np.linalg.norm(np.diff(pts, axis=0), axis=1)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    out = []
    for a in np.arange(0.0, s[-1], dash + gap):
        ts = np.linspace(a, min(a + dash, s[-1]), 4)
        out.append(np.stack([np.interp(ts, s, pts[:, 0]), np.interp(ts, s, pts[:, 1])], 1))
    return out


def _paint(img: np.ndarray, mask: np.ndarray, layer: np.ndarray) -> np.ndarray:
    """Copy ``layer`` where ``mask`` >= 128 (a hard edge: alpha blending the whole mosaic costs
    ~50 ms per layer, and the camera warp's interpolation softens the edge anyway)."""
    cv2.copyTo(layer, (mask >= 128).view(np.uint8), img)
    return img


def _road_network(
    img: np.ndarray, names: Sequence[str], cfg: GroundConfig, rng: np.random.Generator,
    used: set[str],
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Asphalt roads with dashed centre lines and dirt paths, textured by a photo's grain."""
    n = cfg.size
    lines = []
    kinds = (("road", cfg.roads, cfg.road_width), ("path", cfg.paths, cfg.path_width))
    for kind, count, width in kinds:
        if count == 0:
            continue
        mask = np.zeros((n, n), np.uint8)
        marks = np.zeros((n, n), np.uint8)
        for _ in range(count):
            pts = _polyline(n, rng)
            wd = int(round(rng.uniform(*width)))
            cv2.polylines(mask, [np.round(pts).astype(np.int32)], False, 255, wd, cv2.LINE_8)
            if kind == "road":
                lines.append(pts)
                dashes = [np.round(d).astype(np.int32) for d in _dashes(pts, 30.0, 30.0)]
                cv2.polylines(marks, dashes, False, 255, 3, cv2.LINE_8)
        name = names[int(rng.integers(len(names)))]
        used.add(name)
        grain = photo_patch(name, (n // 2, n // 2), 1.0, rng)
        gm, gs = float(grain.mean()), float(grain.std()) + 1e-6
        base = (85, 88, 90) if kind == "road" else (85, 115, 140)
        tone = np.asarray(base, np.float64) * rng.uniform(0.8, 1.2)
        # layer = tone * (1 + 0.15 * standardised grain luminance), as one affine colour map
        mat = np.outer(tone * 0.15 / gs, np.full(3, 1.0 / 3.0))
        off = tone * (1.0 - 0.15 * gm / gs)
        layer = cv2.transform(grain, np.hstack([mat, off[:, None]]))
        layer = cv2.resize(layer, (n, n), interpolation=cv2.INTER_LINEAR)
        img = _paint(img, mask, layer)
        if kind == "road":
            img = _paint(img, marks, np.full_like(img, 225))
    return img, lines


def build_ground(names: Sequence[str], cfg: GroundConfig, rng: np.random.Generator) -> Ground:
    """Build the ground mosaic from the photos ``names`` (at least one)."""
    names = list(names)
    if not names:
        raise ValueError("build_ground needs at least one photo name")
    used: set[str] = set()
    img = _fields(names, cfg, rng, used)
    img, roads = _road_network(img, names, cfg, rng, used)
    if cfg.albedo_variation > 0:
        lo = rng.uniform(-1, 1, (6, 6)).astype(np.float32)
        mod = cv2.resize(lo, (cfg.size, cfg.size), interpolation=cv2.INTER_CUBIC)
        mod = np.clip(128.0 * (1.0 + cfg.albedo_variation * mod), 0, 255).astype(np.uint8)
        img = cv2.multiply(img, cv2.merge([mod, mod, mod]), scale=1.0 / 128.0)
    return Ground(image=img, sources=tuple(sorted(used)), roads=roads)
