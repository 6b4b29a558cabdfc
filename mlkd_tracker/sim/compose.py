"""Layering the ground, the moving target and the occluders, and measuring the target exactly.

Why layers: occluders are static, so they are baked once into the mosaic the camera sees; per
frame only a small region of interest (ROI) around the target is re-composited (ground, target
shadow, target, occluders on top), written into the mosaic for the one camera warp, and
restored. The ground-truth box and visibility come from warping the same target matte with the
same homography, so they match the rendered pixels to sub-pixel accuracy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from .camera import project, translation
from .sprites import Sprite

SHADOW_DARKNESS = 0.45  # fraction of daylight a cast shadow removes


@dataclass
class Layers:
    """Mosaic layers, all (N, N) ground px: ``scene = ground * (1 - occ_alpha) + premult``."""

    ground: np.ndarray  # uint8 BGR ground, including occluder shadows
    premult: np.ndarray  # uint8 BGR occluder colour premultiplied by alpha
    occ_alpha: np.ndarray  # uint8 occluder coverage (255 = opaque)
    scene: np.ndarray  # uint8 BGR: what the camera sees without the target

    @classmethod
    def from_ground(cls, ground: np.ndarray) -> "Layers":
        n = ground.shape[:2]
        return cls(ground.copy(), np.zeros_like(ground), np.zeros(n, np.uint8), ground.copy())


def sprite_affine(sprite: Sprite, x: float, y: float, heading: float) -> np.ndarray:
    """2x3 affine: sprite px -> ground px, sprite centre at (x, y), +x along ``heading``."""
    c, s = math.cos(heading), math.sin(heading)
    cx, cy = sprite.centre
    return np.array([[c, -s, x - (c * cx - s * cy)], [s, c, y - (s * cx + c * cy)]])


def _corners(w: int, h: int) -> np.ndarray:
    """Outer corners of a w x h pixel grid (pixel centres at integers)."""
    return np.array([[-0.5, -0.5], [w - 0.5, -0.5], [-0.5, h - 0.5], [w - 0.5, h - 0.5]])


def _shifted(m: np.ndarray, d: tuple[float, float]) -> np.ndarray:
    return m + np.array([[0.0, 0.0, d[0]], [0.0, 0.0, d[1]]])


def _roi(m: np.ndarray, sprite: Sprite, pad: float, n: int) -> tuple[int, int, int, int]:
    """Ground bounding box (x0, y0, x1, y1) of the sprite under ``m``, padded, on the mosaic."""
    h, w = sprite.alpha.shape
    pts = _corners(w, h) @ m[:, :2].T + m[:, 2]
    x0 = max(int(math.floor(pts[:, 0].min() - pad)), 0)
    y0 = max(int(math.floor(pts[:, 1].min() - pad)), 0)
    x1 = min(int(math.ceil(pts[:, 0].max() + pad)) + 1, n)
    y1 = min(int(math.ceil(pts[:, 1].max() + pad)) + 1, n)
    return x0, y0, max(x1, x0 + 1), max(y1, y0 + 1)


def _warp_into(m: np.ndarray, src: np.ndarray, roi: tuple[int, int, int, int]) -> np.ndarray:
    x0, y0, x1, y1 = roi
    mr = m.copy()
    mr[:, 2] -= (x0, y0)
    return cv2.warpAffine(src, mr, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def bake_occluder(
    layers: Layers, sprite: Sprite, x: float, y: float, sun: tuple[float, float]
) -> None:
    """Add a static occluder (and its soft shadow on the ground) centred at ground (x, y)."""
    n = layers.ground.shape[0]
    m = sprite_affine(sprite, x, y, 0.0)
    roi = _roi(m, sprite, abs(sun[0]) + abs(sun[1]) + 4, n)
    x0, y0, x1, y1 = roi
    a = _warp_into(m, sprite.alpha, roi)
    shadow = cv2.GaussianBlur(_warp_into(_shifted(m, sun), sprite.alpha, roi), (0, 0), 2.0)
    col = _warp_into(m, sprite.bgr * sprite.alpha[:, :, None], roi)
    g = layers.ground[y0:y1, x0:x1].astype(np.float32) * (1 - SHADOW_DARKNESS * shadow)[:, :, None]
    layers.ground[y0:y1, x0:x1] = np.clip(g + 0.5, 0, 255).astype(np.uint8)
    old_a = layers.occ_alpha[y0:y1, x0:x1].astype(np.float32) / 255
    new_a = 1 - (1 - old_a) * (1 - a)
    p = layers.premult[y0:y1, x0:x1].astype(np.float32) * (1 - a)[:, :, None] + col
    layers.occ_alpha[y0:y1, x0:x1] = np.clip(new_a * 255 + 0.5, 0, 255).astype(np.uint8)
    layers.premult[y0:y1, x0:x1] = np.clip(p + 0.5, 0, 255).astype(np.uint8)
    s = layers.ground[y0:y1, x0:x1].astype(np.float32) * (1 - new_a)[:, :, None] + p
    layers.scene[y0:y1, x0:x1] = np.clip(s + 0.5, 0, 255).astype(np.uint8)


@dataclass
class TargetPatch:
    """The target composited in a ground ROI ``(x0, y0, x1, y1)``."""

    roi: tuple[int, int, int, int]
    pixels: np.ndarray  # uint8 BGR, what the camera sees in the ROI
    alpha: np.ndarray  # float32 target coverage
    visible: np.ndarray  # float32 target coverage not hidden by occluders


def composite_target(
    layers: Layers,
    sprite: Sprite,
    premult_rgba: np.ndarray,
    m: np.ndarray,
    sun: tuple[float, float],
) -> TargetPatch:
    """Composite the target (sprite->ground affine ``m``) and its shadow under the occluders.

    ``premult_rgba`` is the sprite's float32 (h, w, 4) premultiplied colour + alpha.
    """
    n = layers.ground.shape[0]
    roi = _roi(m, sprite, abs(sun[0]) + abs(sun[1]) + 3, n)
    x0, y0, x1, y1 = roi
    rgba = _warp_into(m, premult_rgba, roi)
    a = rgba[:, :, 3]
    shadow = _warp_into(_shifted(m, sun), sprite.alpha, roi)
    occ = layers.occ_alpha[y0:y1, x0:x1].astype(np.float32) * np.float32(1 / 255)
    comp = layers.ground[y0:y1, x0:x1].astype(np.float32)
    comp *= (1 - SHADOW_DARKNESS * shadow * (1 - a))[:, :, None]
    comp = comp * (1 - a)[:, :, None] + rgba[:, :, :3]
    comp = comp * (1 - occ)[:, :, None] + layers.premult[y0:y1, x0:x1]
    pixels = np.clip(comp + 0.5, 0, 255).astype(np.uint8)
    return TargetPatch(roi, pixels, a, a * (1 - occ))


def _span(p: np.ndarray) -> tuple[float, float] | None:
    """Sub-pixel extent [lo, hi) (pixel-edge coordinates) where a coverage profile is >= 0.5."""
    idx = np.flatnonzero(p >= 0.5)
    if idx.size == 0:
        return None
    i0, i1 = int(idx[0]), int(idx[-1])
    lo = float(i0)
    if i0 > 0:  # interpolate the 0.5 crossing between pixel centres i0-1 and i0
        lo = i0 - 1 + (0.5 - p[i0 - 1]) / max(p[i0] - p[i0 - 1], 1e-6) + 0.5
    hi = float(i1 + 1)
    if i1 + 1 < p.size:
        hi = i1 + (p[i1] - 0.5) / max(p[i1] - p[i1 + 1], 1e-6) + 0.5
    return lo, hi


def measure(
    h_img: np.ndarray, patch: TargetPatch, width: int, height: int
) -> tuple[tuple[float, float, float, float] | None, float]:
    """Box (x, y, w, h; pixel-edge coordinates, clipped to the frame) and visible fraction."""
    x0, y0, x1, y1 = patch.roi
    h_roi = h_img @ translation(x0, y0)
    rw, rh = x1 - x0, y1 - y0
    corners = project(h_roi, _corners(rw, rh))
    lo = np.floor(corners.min(axis=0)) - 1
    hi = np.ceil(corners.max(axis=0)) + 2
    # far outside or absurdly large (extreme obliquity): limit to the frame and a border around it
    lo = np.maximum(lo, (-width, -height))
    hi = np.minimum(hi, (2 * width, 2 * height))
    if np.any(hi <= lo) or hi[0] <= 0 or hi[1] <= 0 or lo[0] >= width or lo[1] >= height:
        return None, 0.0
    rx, ry = int(lo[0]), int(lo[1])
    cw, ch = int(hi[0]) - rx, int(hi[1]) - ry
    layers = cv2.merge([patch.alpha, patch.visible])
    warped = cv2.warpPerspective(layers, translation(-rx, -ry) @ h_roi, (cw, ch),
                                 flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    total = float(warped[:, :, 0].sum())
    fx0, fy0 = max(-rx, 0), max(-ry, 0)
    fx1, fy1 = min(width - rx, cw), min(height - ry, ch)
    inside = warped[fy0:fy1, fx0:fx1]
    if total <= 1e-6 or inside.size == 0:
        return None, 0.0
    visible = min(float(inside[:, :, 1].sum()) / total, 1.0)
    sx, sy = _span(inside[:, :, 0].max(axis=0)), _span(inside[:, :, 0].max(axis=1))
    if sx is None or sy is None:
        return None, visible
    bx0, bx1 = sx[0] + rx + fx0, sx[1] + rx + fx0
    by0, by1 = sy[0] + ry + fy0, sy[1] + ry + fy0
    return (float(bx0), float(by0), float(bx1 - bx0), float(by1 - by0)), visible
