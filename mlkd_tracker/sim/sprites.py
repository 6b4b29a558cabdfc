"""Appearance patches cut from photos: the tracked target and the occluders that hide it.

Why shaped, shaded sprites instead of square pastes: the tracker-budget lessons say flat pasted
rectangles teach a tracker the wrong thing. A vehicle gets a rounded body, a roof highlight, dark
windows, and head/tail lights that glow at night; other targets are elliptical (boats, animals).
Occluders are tree crowns (irregular blobs, dark green, domed shading) or roofs (rectangles with a
ridge). Masks are drawn 4x supersampled for anti-aliased edges. Sprites face +x (heading 0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from .ground import photo_patch

SS = 4  # supersampling factor for masks
HEADLIGHT = (0.85, 0.95, 1.0)  # warm white, BGR
TAILLIGHT = (0.15, 0.2, 1.0)  # red, BGR
PAINTS = ((40, 40, 200), (200, 200, 205), (30, 30, 30), (170, 90, 30), (40, 160, 220),
          (60, 110, 60), (150, 150, 150), (230, 230, 235), (40, 40, 120))  # BGR car paints


@dataclass
class SpriteLight:
    """A light on a sprite, in sprite pixels. ``pool`` is the ground-pool radius in sprite px
    (0 = none); ``glare=False`` for illumination-only spots such as a headlight beam."""

    x: float
    y: float
    intensity: float
    colour: tuple[float, float, float]
    pool: float = 0.0
    glare: bool = True


@dataclass
class Sprite:
    """A BGR float32 (0..255) appearance with a float32 alpha matte of the same size."""

    bgr: np.ndarray
    alpha: np.ndarray
    source: str
    kind: str
    lights: list[SpriteLight] = field(default_factory=list)

    @property
    def centre(self) -> tuple[float, float]:
        h, w = self.alpha.shape
        return (w - 1) / 2.0, (h - 1) / 2.0


def _matte(draw, h: int, w: int) -> np.ndarray:
    """Anti-aliased alpha: ``draw(canvas, scale)`` paints 255 on a SSx canvas."""
    big = np.zeros((h * SS, w * SS), np.uint8)
    draw(big, SS)
    return cv2.resize(big, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0


def _texture(name: str, h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """Photo texture at a random scale so the sprite shows real detail, float32."""
    scale = math.exp(rng.uniform(math.log(0.4), math.log(1.5)))
    return photo_patch(name, (h, w), scale, rng).astype(np.float32)


def make_target(
    name: str, length: float, width: float, rng: np.random.Generator, lights: bool = True,
    vehicle_prob: float = 0.75,
) -> Sprite:
    """A target ``length`` x ``width`` ground px from photo ``name``; +x is its front."""
    w, h = max(int(round(length)), 3), max(int(round(width)), 3)
    vehicle = rng.random() < vehicle_prob
    tex = _texture(name, h, w, rng)
    yy = (np.arange(h, dtype=np.float32) + 0.5) / h  # 0..1 across the body
    xx = (np.arange(w, dtype=np.float32) + 0.5) / w  # 0..1 rear to front
    if vehicle:
        r = 0.3 * min(w, h)

        def body(c: np.ndarray, s: int) -> None:
            rr = int(r * s)
            cv2.rectangle(c, (rr, 0), (w * s - 1 - rr, h * s - 1), 255, -1)
            cv2.rectangle(c, (0, rr), (w * s - 1, h * s - 1 - rr), 255, -1)
            for cx in (rr, w * s - 1 - rr):
                for cy in (rr, h * s - 1 - rr):
                    cv2.circle(c, (cx, cy), rr, 255, -1, cv2.LINE_AA)

        alpha = _matte(body, h, w)
        paint = np.asarray(PAINTS[int(rng.integers(len(PAINTS)))], np.float32)
        mix = np.float32(rng.uniform(0.35, 0.75))
        lum = tex.mean(axis=2, keepdims=True) / max(float(tex.mean()), 1.0)
        img = tex * (1 - mix) + paint * lum * mix
        shade = 0.7 + 0.45 * (1.0 - (2 * yy - 1) ** 2)  # domed roof: lit centre line
        img *= shade[:, None, None]
        win = np.ones(w, np.float32)  # windscreen and rear window bands
        f0 = rng.uniform(0.6, 0.7)
        win[(xx > f0) & (xx < f0 + 0.12)] = 0.3
        win[(xx > 0.12) & (xx < 0.2)] = 0.45
        img *= win[None, :, None]
    else:
        def oval(c: np.ndarray, s: int) -> None:
            box = (((w * s - 1) / 2, (h * s - 1) / 2), (w * s * 0.98, h * s * 0.98), 0.0)
            cv2.ellipse(c, box, 255, -1, cv2.LINE_AA)

        alpha = _matte(oval, h, w)
        dome = 0.75 + 0.4 * (1 - (2 * yy[:, None] - 1) ** 2 - (2 * xx[None, :] - 1) ** 2 / 2)
        img = tex * dome[:, :, None]
    sprite = Sprite(np.clip(img, 0, 255), alpha, name, "vehicle" if vehicle else "ellipse")
    if lights and vehicle:
        k = rng.uniform(0.8, 1.3)
        for side in (-1, 1):
            y = (h - 1) / 2 + side * 0.3 * h
            sprite.lights.append(SpriteLight(w - 1.5, y, 1.2 * k, HEADLIGHT))
            sprite.lights.append(SpriteLight(0.5, y, 0.6 * k, TAILLIGHT))
        beam = SpriteLight(w - 1 + 0.9 * length, (h - 1) / 2, 1.0 * k, HEADLIGHT, pool=0.7 * length,
                           glare=False)
        sprite.lights.append(beam)
    return sprite


def make_occluder(
    name: str, size: float, rng: np.random.Generator, kind: str | None = None
) -> Sprite:
    """A tree crown (``"canopy"``) or roof (``"roof"``) about ``size`` ground px across."""
    kind = kind or ("canopy" if rng.random() < 0.65 else "roof")
    if kind == "canopy":
        n = max(int(round(size)), 4)
        h = w = n
        ang = np.linspace(0, 2 * np.pi, 64, endpoint=False)
        rad = np.ones_like(ang)
        for f in (2, 3, 5, 7):  # lobed outline of a crown
            rad += rng.uniform(0, 0.25 / f * 2) * np.cos(f * ang + rng.uniform(0, 2 * np.pi))
        rad *= 0.48 * n / rad.max()

        def crown(c: np.ndarray, s: int) -> None:
            pts = np.stack([(n / 2 + rad * np.cos(ang)) * s, (n / 2 + rad * np.sin(ang)) * s], 1)
            cv2.fillPoly(c, [np.round(pts).astype(np.int32)], 255, cv2.LINE_AA)

        alpha = _matte(crown, h, w)
        tex = _texture(name, h, w, rng)
        green = np.asarray((40, 95, 55), np.float32) * np.float32(rng.uniform(0.6, 1.2))
        lum = tex.mean(axis=2, keepdims=True) / max(float(tex.mean()), 1.0)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        dome = 1.15 - 0.6 * (((xx - n / 2) ** 2 + (yy - n / 2) ** 2) / (n / 2) ** 2)
        img = green * (0.5 + 0.5 * lum) * np.clip(dome, 0.4, 1.2)[:, :, None]
    elif kind == "roof":
        w = max(int(round(size)), 4)
        h = max(int(round(size * rng.uniform(0.5, 0.9))), 3)
        alpha = _matte(lambda c, s: cv2.rectangle(c, (0, 0), (w * s - 1, h * s - 1), 255, -1), h, w)
        tex = _texture(name, h, w, rng)
        roof = np.asarray(((60, 60, 150), (90, 90, 95), (70, 90, 110), (150, 150, 150))[
            int(rng.integers(4))], np.float32)
        lum = tex.mean(axis=2, keepdims=True) / max(float(tex.mean()), 1.0)
        ridge = np.where(np.arange(h) < h / 2, 1.1, 0.75).astype(np.float32)  # lit / shaded side
        img = roof * (0.6 + 0.4 * lum) * ridge[:, None, None]
    else:
        raise ValueError(f"unknown occluder kind {kind!r} (canopy or roof)")
    return Sprite(np.clip(img, 0, 255).astype(np.float32), alpha, name, kind)
