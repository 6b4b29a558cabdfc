"""Pinhole camera on a pan/tilt gimbal on a drone above a flat ground: ground -> image homography.

Why a homography: the ground is a plane, so a full 3-D camera (drone yaw, attitude jitter,
gimbal angles, altitude) maps it to the image by one 3x3 matrix, and the renderer needs a single
cv2.warpPerspective per frame. Rotating the camera by an angle moves a point at the image centre
by exactly ``fx * tan(angle)`` pixels, and a gimbal angle moves the ground point seen at the
image centre by ``altitude * tan(angle)``, as a physical gimbal does.

Frames (all right-handed):
- ground/world: X = mosaic column (east), Y = mosaic row (south), Z = down into the ground;
  units are ground (mosaic) pixels, the drone is at Z = -altitude.
- camera: x = image right, y = image down, z = optical axis. With zero yaw, attitude and gimbal
  angles the camera looks straight down and the image is the mosaic, scaled and centred on the
  drone (image right = east, image down = south).
- gimbal: ``R = R_body @ Ry(pan) @ Rx(-tilt)``. Positive pan turns the optical axis towards image
  right (a static point then moves LEFT in the image); positive tilt turns it towards image down
  (content moves UP).
- pixels: OpenCV convention, pixel centres at integer coordinates, principal point
  ``((W - 1) / 2, (H - 1) / 2)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


def rot_x(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def rot_y(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def rot_z(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


@dataclass
class CameraPose:
    """Where the camera is and where it looks. Positions/altitude in ground px, angles in rad."""

    x: float
    y: float
    altitude: float
    yaw: float = 0.0  # drone heading about the down axis (image rotates)
    roll: float = 0.0  # drone attitude jitter (vibration), about camera y ...
    pitch: float = 0.0  # ... and camera x
    pan: float = 0.0  # gimbal, see module docstring
    tilt: float = 0.0

    def rotation(self) -> np.ndarray:
        """World-from-camera rotation."""
        body = rot_z(self.yaw) @ rot_y(self.roll) @ rot_x(-self.pitch)
        return body @ rot_y(self.pan) @ rot_x(-self.tilt)


def intrinsics(width: int, height: int, hfov_deg: float) -> np.ndarray:
    """3x3 pinhole matrix with square pixels and the principal point at the image centre."""
    fx = (width / 2.0) / math.tan(math.radians(hfov_deg) / 2.0)
    return np.array([[fx, 0.0, (width - 1) / 2.0], [0.0, fx, (height - 1) / 2.0], [0.0, 0.0, 1.0]])


def homography(k: np.ndarray, pose: CameraPose) -> np.ndarray:
    """Ground (X, Y) px -> image px homography, for cv2.warpPerspective(mosaic, H, ...)."""
    # p_cam = R^T (P - C) with P = (X, Y, 0), C = (x, y, -altitude)
    m = np.array([[1.0, 0.0, -pose.x], [0.0, 1.0, -pose.y], [0.0, 0.0, pose.altitude]])
    h = k @ pose.rotation().T @ m
    return h / h[2, 2]


def project(h: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Apply a homography to (N, 2) points."""
    p = np.asarray(pts, np.float64).reshape(-1, 2)
    q = np.hstack([p, np.ones((len(p), 1))]) @ h.T
    return q[:, :2] / q[:, 2:3]


def translation(dx: float, dy: float) -> np.ndarray:
    return np.array([[1.0, 0.0, dx], [0.0, 1.0, dy], [0.0, 0.0, 1.0]])


def nadir_gsd(altitude_m: float, hfov_deg: float, width: int) -> float:
    """Ground sampling distance (m per image px) straight below a camera at ``altitude_m``."""
    return 2.0 * altitude_m * math.tan(math.radians(hfov_deg) / 2.0) / width
