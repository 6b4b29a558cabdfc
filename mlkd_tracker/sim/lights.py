"""The point lights of a night frame: street lamps and the movers' own head and tail lights.

Shared by the simulator (:class:`~mlkd_tracker.sim.scene.NightScene`) and the detection-set
generator, so both light a vehicle the same way. Lights live on the ground (ground px) and are
projected into the image through the frame's ground-to-image homography; a light under an
occluder is dimmed by the occluder's cover, and lights too far outside the frame to matter are
culled (:func:`cull_reach`, :func:`in_view`).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .camera import project
from .lowlight import LED_WHITE, MERCURY, SODIUM, LowLightConfig
from .optics import Light
from .sprites import Sprite

__all__ = ["Lamp", "cull_reach", "in_view", "lamp_lights", "random_lamps", "sprite_lights"]

# a street lamp on the ground: x, y (ground px), peak intensity, BGR colour
Lamp = tuple[float, float, float, tuple[float, float, float]]


def cull_reach(pool_px: float) -> float:
    """How far outside the frame (image px) a light can still light it: 3 pools, >= 150 px."""
    return 3.0 * max(pool_px, 50.0)


def in_view(lights: Sequence[Light], width: int, height: int, reach: float) -> list[Light]:
    """The lights within ``reach`` px of a ``width`` x ``height`` frame, in order."""
    return [lt for lt in lights if -reach < lt.x < width + reach and -reach < lt.y < height + reach]


def random_lamps(rng: np.random.Generator, lowlight: LowLightConfig, centre: tuple[float, float],
                 half: float) -> list[Lamp]:
    """``lowlight.glare`` lamps uniform in the square of half side ``half`` around ``centre``
    (ground px), mostly of the config colour: a photo ground has no streets to put them on."""
    palette = (SODIUM, LED_WHITE, MERCURY)
    cx, cy = centre
    return [(cx + rng.uniform(-half, half), cy + rng.uniform(-half, half),
             lowlight.light_intensity * rng.uniform(0.6, 1.4),
             lowlight.light_colour if rng.random() < 0.6 else palette[int(rng.integers(3))])
            for _ in range(lowlight.glare)]


def lamp_lights(lamps: Sequence[Lamp], h_img: np.ndarray, pool_px: float | None,
                width: int, height: int, reach: float,
                lamp_xy: np.ndarray | None = None) -> list[Light]:
    """The ``lamps`` within ``reach`` of the frame, in image px, casting pools of ``pool_px``
    (image px; None = the low-light config's default). ``lamp_xy``: the lamps' (N, 2) ground
    positions, if the caller keeps them (a scene projects the same lamps every frame)."""
    if not lamps:
        return []
    if lamp_xy is None:
        lamp_xy = np.array([lp[:2] for lp in lamps], np.float64).reshape(-1, 2)
    pts = project(h_img, lamp_xy)
    near = np.flatnonzero((pts[:, 0] > -reach) & (pts[:, 0] < width + reach)
                          & (pts[:, 1] > -reach) & (pts[:, 1] < height + reach))
    return [Light(pts[i, 0], pts[i, 1], lamps[i][2], lamps[i][3], pool_px) for i in near]


def sprite_lights(movers: Sequence[tuple[Sprite, np.ndarray]], h_img: np.ndarray,
                  occ_alpha: np.ndarray, ground_scale: float = 1.0) -> list[Light]:
    """The head and tail lights of the ``movers`` (sprite, its sprite-to-ground affine) in
    image px, dimmed by the occluder cover above each light.

    A sprite states its lights' pools in ground px; ``ground_scale`` (image px per ground px)
    turns them into the image px a :class:`~mlkd_tracker.sim.optics.Light` needs. The
    detection set draws its ground at image scale, so it keeps the default 1.
    """
    out = []
    n = occ_alpha.shape[0]
    for sprite, aff in movers:
        if not sprite.lights:
            continue
        src = np.array([[lt.x, lt.y] for lt in sprite.lights])
        ground = src @ aff[:, :2].T + aff[:, 2]
        pts = project(h_img, ground)
        for (x, y), (gx, gy), lt in zip(pts, ground, sprite.lights):
            gi, gj = min(max(int(gy), 0), n - 1), min(max(int(gx), 0), n - 1)
            cover = occ_alpha[gi, gj] / 255.0
            out.append(Light(x, y, lt.intensity * (1.0 - cover), lt.colour,
                             lt.pool * ground_scale, lt.glare))
    return out
