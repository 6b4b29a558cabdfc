"""Where a detection-set image looks and where its objects stand (see ``synth_detect``).

One image's camera is a :class:`View` (random heading, off-nadir tilt and roll, at the altitude
where one ground px is one image px at nadir); a :class:`Placer` then proposes object positions:
vehicles on and along the roads, people in small groups, anything else uniform in the frame's
ground footprint, never two objects on top of each other. Every draw comes from the image's own
random stream, in a fixed order, so a seed always gives the same image.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import cv2
import numpy as np

from mlkd_tracker.sim.aerial import AerialGround
from mlkd_tracker.sim.camera import CameraPose, homography, intrinsics, project

__all__ = ["Placer", "View", "inside", "make_view", "road_point", "uniform_point"]


@dataclass
class View:
    """The camera of one image and the ground patch it sees (ground px = image px at nadir)."""

    h_img: np.ndarray  # ground -> image homography
    footprint: np.ndarray  # (4, 2) float32 ground polygon of the frame
    side: int  # mosaic side, ground px
    tilt_deg: float


def make_view(rng: np.random.Generator, width: int, height: int, hfov_deg: float,
              max_tilt_deg: float, margin: float) -> View:
    """Random heading, tilt (up to ``max_tilt_deg``) and roll; altitude such that 1 ground px =
    1 image px at nadir; a mosaic ``margin`` px wider than the footprint on each side."""
    k = intrinsics(width, height, hfov_deg)
    tilt = float(rng.uniform(0.0, max_tilt_deg))
    pose = CameraPose(0.0, 0.0, float(k[0, 0]), yaw=float(rng.uniform(-math.pi, math.pi)),
                      roll=math.radians(float(rng.normal(0, 1.0))), tilt=math.radians(tilt))
    corners = np.array([[-0.5, -0.5], [width - 0.5, -0.5], [width - 0.5, height - 0.5],
                        [-0.5, height - 0.5]])
    ground = project(np.linalg.inv(homography(k, pose)), corners)
    lo, hi = ground.min(axis=0), ground.max(axis=0)
    side = int(math.ceil((float((hi - lo).max()) + 2 * margin) / 64.0)) * 64
    shift = side / 2.0 - (lo + hi) / 2.0  # centre the footprint on the mosaic
    pose = dataclasses.replace(pose, x=float(shift[0]), y=float(shift[1]))
    return View(homography(k, pose), (ground + shift).astype(np.float32), side, tilt)


def inside(footprint: np.ndarray, x: float, y: float) -> bool:
    """Whether ground point (x, y) is in the frame's footprint (edge included)."""
    return cv2.pointPolygonTest(footprint, (float(x), float(y)), False) >= 0


def uniform_point(rng: np.random.Generator, footprint: np.ndarray) -> tuple[float, float]:
    """A uniform point of the footprint (rejection sampling; its centre after 100 misses)."""
    lo, hi = footprint.min(axis=0), footprint.max(axis=0)
    for _ in range(100):
        x, y = rng.uniform(lo, hi)
        if inside(footprint, x, y):
            return float(x), float(y)
    c = footprint.mean(axis=0)
    return float(c[0]), float(c[1])


def road_point(rng: np.random.Generator, road: np.ndarray,
               lane: float) -> tuple[float, float, float]:
    """A point near a road centre line (``lane`` px lateral spread) and the road's heading."""
    i = int(rng.integers(len(road) - 1))
    a, b = road[i].astype(np.float64), road[i + 1].astype(np.float64)
    p = a + rng.uniform() * (b - a)
    heading = math.atan2(b[1] - a[1], b[0] - a[0]) + (math.pi if rng.random() < 0.5 else 0.0)
    normal = np.array([-math.sin(heading), math.cos(heading)])
    p = p + normal * rng.uniform(-lane, lane)
    return float(p[0]), float(p[1]), heading + float(rng.normal(0, 0.05))


class Placer:
    """Where the next object goes: on roads, in groups or anywhere in view; never overlapping.

    ``group_frac`` of the people stand in one of 1..3 groups (4 m spread), ``on_road_frac`` of
    the vehicles on a photo ground's roads (``roads``: centre lines, ground px) or an aerial
    ground's streets; ``scale`` is ground px per metre.
    """

    def __init__(self, rng: np.random.Generator, view: View, roads: list[np.ndarray],
                 road_px: float, scale: float, group_frac: float, on_road_frac: float,
                 aerial: AerialGround | None = None) -> None:
        self.rng, self.view, self.aerial = rng, view, aerial
        self.group_frac, self.on_road_frac = group_frac, on_road_frac
        fp = view.footprint
        self.roads = [r for r in roads if any(inside(fp, x, y) for x, y in r)]
        self.lane = 0.3 * road_px
        self.groups = [uniform_point(rng, fp) for _ in range(int(rng.integers(1, 4)))]
        self.group_sigma = 4.0 * scale  # 4 m
        self.discs: list[tuple[float, float, float]] = []

    def propose(self, cls: str) -> tuple[float, float, float]:
        """x, y (ground px) and heading (rad) for an object of class ``cls``."""
        rng, fp = self.rng, self.view.footprint
        if cls == "person":
            if rng.random() < self.group_frac:
                gx, gy = self.groups[int(rng.integers(len(self.groups)))]
                x, y = rng.normal((gx, gy), self.group_sigma)
                return float(x), float(y), float(rng.uniform(-math.pi, math.pi))
        elif self.roads and rng.random() < self.on_road_frac:
            road = self.roads[int(rng.integers(len(self.roads)))]
            return road_point(rng, road, self.lane)
        elif self.aerial is not None and rng.random() < self.on_road_frac:
            point = self.aerial.road_point(rng)
            if point is not None:
                return point
        x, y = uniform_point(rng, fp)
        return x, y, float(rng.uniform(-math.pi, math.pi))

    def free(self, x: float, y: float, r: float) -> bool:
        """Whether a disc of radius ``r`` at (x, y) is in view and clear of the placed ones."""
        return inside(self.view.footprint, x, y) and all(
            math.hypot(x - a, y - b) >= 0.9 * (r + c) for a, b, c in self.discs)
