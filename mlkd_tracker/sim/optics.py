"""Light that reaches the sensor at night: lamp pools, glare and motion blur, in linear light.

Why a separate module: these are the optical effects of the low-light pipeline (lowlight.py), each
a pure function on a float32 linear-light image, so they can be tested and reused alone. All are
kept cheap for a 30 Hz simulator: light pools are summed on a coarse grid and upsampled, glare is
drawn as separable profiles in a small window around each light, blur uses sparse line kernels.
"""

from __future__ import annotations

import math
from typing import NamedTuple, Sequence

import cv2
import numpy as np

BGR = tuple[float, float, float]


class Light(NamedTuple):
    """A point light in image pixels. Plain ``(x, y, intensity)`` tuples are accepted too.

    ``intensity`` is the peak linear radiance of the source image (1.0 = sensor white; street
    lamps saturate). ``pool_px`` is the radius (Gaussian sigma) of the pool of light the lamp
    casts on the ground: None = the config default, 0 = no pool. ``glare=False`` makes a light
    that only illuminates (e.g. the spot a headlight beam throws ahead of a vehicle).
    """

    x: float
    y: float
    intensity: float
    colour: BGR | None = None
    pool_px: float | None = None
    glare: bool = True


def as_light(item: Sequence, colour: BGR, pool_px: float) -> Light:
    """Normalise a tuple or Light, filling defaults from the config."""
    light = Light(*item)
    return light._replace(
        colour=colour if light.colour is None else tuple(light.colour),
        pool_px=pool_px if light.pool_px is None else float(light.pool_px),
    )


def illumination(
    ambient: np.ndarray,
    lights: Sequence[Light],
    strength: float,
    shape: tuple[int, int],
    dst: np.ndarray | None = None,
) -> np.ndarray:
    """Per-pixel illuminant (ambient light plus lamp pools); (3,) when there are no pools.

    Pools are smooth, so they are evaluated on a grid 8x coarser than the image and upsampled:
    about 0.1 ms instead of a full-frame exp per lamp.
    """
    pools = [lt for lt in lights if lt.pool_px and lt.pool_px > 0 and lt.intensity > 0]
    if not pools or strength <= 0:
        return ambient
    h, w = shape
    step = 8
    gh, gw = -(-h // step), -(-w // step)
    ys = (np.arange(gh, dtype=np.float32) + 0.5) * step - 0.5
    xs = (np.arange(gw, dtype=np.float32) + 0.5) * step - 0.5
    grid = np.broadcast_to(ambient.astype(np.float32), (gh, gw, 3)).copy()
    for lt in pools:
        s2 = 2.0 * float(lt.pool_px) ** 2
        gy = np.exp(-((ys - lt.y) ** 2) / s2)
        gx = np.exp(-((xs - lt.x) ** 2) / s2)
        blob = np.outer(gy, gx) * (lt.intensity * strength)
        grid += blob[:, :, None] * np.asarray(lt.colour, np.float32)
    return cv2.resize(grid, (w, h), dst=dst, interpolation=cv2.INTER_LINEAR)


GLARE_EPS = 3e-4  # linear radiance below which glare is not drawn (invisible after the gamma)


def _gauss(d: np.ndarray, sigma: float) -> np.ndarray:
    return np.exp(-(d * d) / np.float32(2.0 * sigma * sigma))


def _add_window(lin: np.ndarray, x: float, y: float, rx: float, ry: float, fn) -> None:
    """lin[window] += fn(dy, dx) over the window of half-size (rx, ry) around (x, y), clipped."""
    h, w = lin.shape[:2]
    x0, x1 = max(int(math.floor(x - rx)), 0), min(int(math.ceil(x + rx)) + 1, w)
    y0, y1 = max(int(math.floor(y - ry)), 0), min(int(math.ceil(y + ry)) + 1, h)
    if x0 < x1 and y0 < y1:
        dx = np.arange(x0, x1, dtype=np.float32) - np.float32(x)
        dy = np.arange(y0, y1, dtype=np.float32) - np.float32(y)
        lin[y0:y1, x0:x1] += fn(dy, dx)


def add_glare(lin: np.ndarray, lights: Sequence[Light], strength: float, radius_px: float) -> None:
    """Add each light's source image, halo and cross-shaped streaks to ``lin`` in place.

    The glare point-spread function is a sum of separable terms (outer products of 1-D
    profiles): a small saturating core, a halo of ``radius_px`` and a wider faint bloom, and
    thin horizontal and vertical streaks (lens diffraction / sensor smear) with exponential
    fall-off. Each term is drawn only where it exceeds GLARE_EPS, so a frame with a few lamps
    costs well under a millisecond.
    """
    rad = max(float(radius_px), 0.5)
    for lt in lights:
        if not lt.glare or lt.intensity <= 0:
            continue
        i0 = float(lt.intensity)
        col = np.asarray(lt.colour, np.float32)
        blobs = [(i0, 1.0 + 0.3 * math.sqrt(i0)), (i0 * strength * 0.15, rad),
                 (i0 * strength * 0.03, 2.5 * rad)]  # (amplitude, sigma): core, halo, bloom
        blobs = [(a, sg) for a, sg in blobs if a > GLARE_EPS]
        if not blobs:
            continue
        reach = max(sg * math.sqrt(2.0 * math.log(a / GLARE_EPS)) for a, sg in blobs)

        def blob(dy: np.ndarray, dx: np.ndarray) -> np.ndarray:
            psf = sum(a * np.outer(_gauss(dy, sg), _gauss(dx, sg)) for a, sg in blobs)
            return psf[:, :, None] * col

        _add_window(lin, lt.x, lt.y, reach, reach, blob)
        streak, tail = i0 * strength * 0.08, 2.5 * rad
        if streak > GLARE_EPS:
            length = tail * math.log(streak / GLARE_EPS)
            decay = np.float32(1.0 / tail)

            def h_streak(dy: np.ndarray, dx: np.ndarray) -> np.ndarray:
                prof = streak * np.outer(_gauss(dy, 0.7), np.exp(-np.abs(dx) * decay))
                return prof[:, :, None] * col

            def v_streak(dy: np.ndarray, dx: np.ndarray) -> np.ndarray:
                prof = streak * np.outer(np.exp(-np.abs(dy) * decay), _gauss(dx, 0.7))
                return prof[:, :, None] * col

            _add_window(lin, lt.x, lt.y, length, 3.0, h_streak)
            _add_window(lin, lt.x, lt.y, 3.0, length, v_streak)


def line_kernel(vec: tuple[float, float]) -> np.ndarray:
    """Normalised anti-aliased line kernel covering the blur vector ``vec`` (dx, dy) in px."""
    dx, dy = vec
    length = math.hypot(dx, dy)
    half = int(math.ceil(max(abs(dx), abs(dy)) / 2.0))
    size = 2 * half + 1
    k = np.zeros((size, size), np.float32)
    n = max(int(math.ceil(length * 3)), 2)
    s = np.linspace(-0.5, 0.5, n)
    px, py = half + s * dx, half + s * dy
    fx, fy = np.floor(px).astype(int), np.floor(py).astype(int)
    ax, ay = px - fx, py - fy
    for ox, oy, wgt in ((0, 0, (1 - ax) * (1 - ay)), (1, 0, ax * (1 - ay)),
                        (0, 1, (1 - ax) * ay), (1, 1, ax * ay)):  # bilinear splat
        np.add.at(k, (np.clip(fy + oy, 0, size - 1), np.clip(fx + ox, 0, size - 1)), wgt)
    return k / k.sum()


def motion_blur(
    lin: np.ndarray, vec: tuple[float, float], dst: np.ndarray | None = None
) -> np.ndarray:
    """Blur along ``vec`` (the image motion during the exposure), px; ``lin`` if no blur.

    Kernels up to 11 px use cv2.filter2D, which only visits non-zero taps; longer ones would
    switch OpenCV to its DFT path (~10 ms), so they are summed from integer-shifted views.
    """
    dx, dy = float(vec[0]), float(vec[1])
    length = math.hypot(dx, dy)
    if length < 0.5:
        return lin
    if max(abs(dx), abs(dy)) <= 10.0:
        k = line_kernel((dx, dy))
        return cv2.filter2D(lin, -1, k, dst=dst, borderType=cv2.BORDER_REFLECT)
    # one tap per pixel along the dominant axis (trapezoid weights), nearest pixel across it
    n = int(math.ceil(max(abs(dx), abs(dy)))) + 1
    pad = int(math.ceil(max(abs(dx), abs(dy)) / 2.0)) + 1
    h, w = lin.shape[:2]
    padded = cv2.copyMakeBorder(lin, pad, pad, pad, pad, cv2.BORDER_REFLECT)
    acc = np.zeros_like(lin) if dst is None else dst
    acc[...] = 0.0
    ts = np.linspace(-0.5, 0.5, n)
    for i, t in enumerate(ts):
        ox, oy = int(math.floor(t * dx + 0.5)), int(math.floor(t * dy + 0.5))
        view = padded[pad + oy : pad + oy + h, pad + ox : pad + ox + w]
        wgt = 0.5 if i in (0, n - 1) else 1.0
        cv2.scaleAdd(view, wgt, acc, dst=acc)
    acc *= np.float32(1.0 / (n - 1))
    return acc
