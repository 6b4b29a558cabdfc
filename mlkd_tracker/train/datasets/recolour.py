"""Recoloured (night, clean) training pairs: a colour augmentation for enhancer training.

Why: 9 of the 12 training photos of the synthetic night set are greyscale, while the test
photos are strongly coloured. Small enhancers trained on those pairs learn to restore grey
scenes and come out desaturated on colourful ones (models/MODELS.md, SLKD). Recolouring the
*clean* patch and rendering its night version again with the project's own camera model gives
pairs with every hue and saturation, and keeps night and clean consistent: shifting the
colours of an already rendered night patch would not be, because the noise, colour cast and
tone curve act after the scene's colours.
"""
from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from mlkd_tracker.sim.lowlight import degrade, sample_lowlight


def recolour(clean_bgr: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random recolouring of a BGR uint8 image: hue rotated by a random offset plus a random
    multiple of brightness (so a grey image becomes multi-hued, not one tint), saturation
    scaled and raised. Brightness (HSV value) is unchanged, so the scene's light levels stay
    those of the photo."""
    bgr = np.ascontiguousarray(clean_bgr)
    hsv = cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV).astype(np.float32)  # OpenCV: H in [0, 180)
    hue_per_value = rng.uniform(-1.0, 1.0) * 180.0 / 255.0
    hsv[..., 0] = np.mod(hsv[..., 0] + rng.uniform(0, 180) + hue_per_value * hsv[..., 2], 180)
    hsv[..., 1] = hsv[..., 1] * rng.uniform(0.8, 1.5) + rng.uniform(20, 150)
    hsv = np.clip(hsv, 0, [179, 255, 255]).astype(np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)


def recoloured_pair(clean_bgr: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray,
                                                                              np.ndarray]:
    """(night, clean) from a clean patch: recoloured, then rendered at a random darkness level
    with the synthetic set's camera model. No extra street lamps: the set's clean frames show
    their lamps too, so a lamp only in the night patch would teach the enhancer to erase it."""
    clean = recolour(clean_bgr, rng)
    cfg = dataclasses.replace(sample_lowlight(rng), glare=0)
    return degrade(clean, cfg, rng), clean
