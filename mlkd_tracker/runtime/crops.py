"""Square, context-padded crops around a target: the one cropping rule shared by training,
export checks and the runtime, so a model sees at run time exactly what it was trained on.

Coordinates are continuous (pixel edges): pixel ``i`` covers ``[i, i + 1)``. A crop of side
``crop`` (image px) centred at ``(cx, cy)`` is resampled to ``out`` px; outside the frame it is
filled with the frame's mean colour (the usual Siamese-tracker padding).
"""
from __future__ import annotations

import math

import cv2
import numpy as np


def context_size(w: float, h: float, context: float = 0.5) -> float:
    """Side of the template region: the target plus ``context * (w + h)`` of surroundings."""
    pad = context * (w + h)
    return math.sqrt(max(w + pad, 1e-6) * max(h + pad, 1e-6))


def crop_square(image: np.ndarray, cx: float, cy: float, crop: float, out: int,
                pad_value: tuple[float, float, float] | None = None) -> np.ndarray:
    """Resample the square ``crop`` x ``crop`` region centred at (cx, cy) to ``out`` x ``out``.

    Large downscales first halve the frame with an image pyramid (cheap, and it avoids the
    aliasing bilinear sampling would give); the warp then only computes ``out``² pixels.
    """
    if crop <= 0 or out <= 0 or not all(map(math.isfinite, (cx, cy, crop))):
        raise ValueError(f"bad crop: centre ({cx}, {cy}), side {crop}, out {out}")
    if pad_value is None:
        pad_value = tuple(float(v) for v in cv2.mean(image)[:3])
    scale = out / crop
    while scale < 0.5 and min(image.shape[:2]) >= 32:
        image = cv2.pyrDown(image)
        cx, cy, crop, scale = cx / 2, cy / 2, crop / 2, scale * 2
    x0, y0 = cx - crop / 2, cy - crop / 2
    # dst index j samples src at (j + 0.5) / scale + x0 - 0.5 (pixel centres)
    m = np.array([[scale, 0.0, scale * (0.5 - x0) - 0.5],
                  [0.0, scale, scale * (0.5 - y0) - 0.5]], dtype=np.float64)
    return cv2.warpAffine(image, m, (out, out), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=pad_value)


def crop_to_image(xy: np.ndarray, cx: float, cy: float, crop: float, out: int) -> np.ndarray:
    """Map points (..., 2) from crop pixels back to image pixels (continuous coordinates)."""
    xy = np.asarray(xy, dtype=np.float64)
    return xy * (crop / out) + np.array([cx - crop / 2, cy - crop / 2])


def image_to_crop(xy: np.ndarray, cx: float, cy: float, crop: float, out: int) -> np.ndarray:
    xy = np.asarray(xy, dtype=np.float64)
    return (xy - np.array([cx - crop / 2, cy - crop / 2])) * (out / crop)
