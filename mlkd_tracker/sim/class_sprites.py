"""Top-down sprites of the detection classes: person, motor(bike), car, truck.

Why per-class shapes: a detector must tell the classes apart from appearance, and at a random
altitude size alone says little (a near motorbike is as long as a far car). So each class gets
its own silhouette and layout, seen from above and facing +x like :mod:`.sprites`:

- person: a figure seen obliquely from a drone (legs, torso in a clothing colour, head), so it is
  long and thin and has no lights;
- motor: a narrow dark bike with a rider (shoulders and a helmet) in its middle, one head and
  one tail light;
- car: :func:`.sprites.make_target`'s vehicle (rounded body, paint, windows, lights);
- truck: a short cab with a windscreen, a gap, and a long cargo box with transverse ribs.

Textures still come from real photos (shading detail), mixed with class colours. All randomness
comes from the ``rng`` argument.
"""

from __future__ import annotations

from typing import Callable

import cv2
import numpy as np

from .sprites import HEADLIGHT, PAINTS, TAILLIGHT, Sprite, SpriteLight, _matte, _texture, make_target

__all__ = ["CLASS_MAKERS", "CLASS_SIZES_M", "make_class_sprite", "make_motor", "make_person",
           "make_truck"]

CLOTHES = ((40, 40, 40), (30, 30, 140), (150, 60, 20), (200, 200, 200), (40, 120, 200),
           (60, 90, 60), (120, 40, 120), (20, 160, 230))  # BGR
CARGO = ((225, 225, 225), (160, 160, 160), (140, 60, 30), (40, 40, 160), (40, 110, 50),
         (30, 120, 220))  # BGR container colours
HELMETS = ((20, 20, 20), (230, 230, 230), (30, 30, 200), (200, 120, 30), (30, 200, 230))


def _tinted(tex: np.ndarray, colour, mix: float) -> np.ndarray:
    """Photo texture pulled towards ``colour`` with the texture's relative luminance kept."""
    lum = tex.mean(axis=2, keepdims=True) / max(float(tex.mean()), 1.0)
    return tex * (1 - mix) + np.asarray(colour, np.float32) * lum * mix


def _pick(rng: np.random.Generator, palette) -> tuple:
    return palette[int(rng.integers(len(palette)))]


def make_person(name: str, length: float, width: float, rng: np.random.Generator,
                lights: bool = True) -> Sprite:
    """A person seen obliquely: feet at -x, head at +x; ``length`` x ``width`` ground px."""
    w, h = max(int(round(length)), 3), max(int(round(width)), 2)
    head_r = 0.13 * w

    def body(c: np.ndarray, s: int) -> None:
        cy = (h * s - 1) / 2
        leg = max(int(0.18 * h * s), 1)
        for side in (-1, 1):  # two legs, slightly apart
            y = int(cy + side * 0.22 * h * s)
            cv2.rectangle(c, (0, y - leg), (int(0.48 * w * s), y + leg), 255, -1)
        cv2.ellipse(c, ((0.63 * w * s, cy), (0.36 * w * s, 0.98 * h * s), 0.0), 255, -1,
                    cv2.LINE_AA)
        cv2.circle(c, (int((w - head_r) * s), int(cy)), int(head_r * s), 255, -1, cv2.LINE_AA)

    alpha = _matte(body, h, w)
    tex = _texture(name, h, w, rng)
    xx = (np.arange(w, dtype=np.float32) + 0.5) / w
    cloth = _tinted(tex, _pick(rng, CLOTHES), float(rng.uniform(0.7, 0.9)))
    trousers = _tinted(tex, _pick(rng, CLOTHES[:3]), 0.85)
    skin = _tinted(tex, _pick(rng, ((60, 90, 140), (90, 140, 200), (30, 30, 35))), 0.85)
    img = np.where((xx < 0.45)[None, :, None], trousers, cloth)
    img = np.where((xx > 1 - 2 * head_r / w)[None, :, None], skin, img)
    return Sprite(np.clip(img, 0, 255).astype(np.float32), alpha, name, "person")


def make_motor(name: str, length: float, width: float, rng: np.random.Generator,
               lights: bool = True) -> Sprite:
    """A motorbike with its rider; the rider's shoulders set ``width``, the bike is narrower."""
    w, h = max(int(round(length)), 3), max(int(round(width)), 2)

    def body(c: np.ndarray, s: int) -> None:
        cy = (h * s - 1) / 2
        cv2.ellipse(c, (((w * s - 1) / 2, cy), (w * s * 0.98, 0.45 * h * s), 0.0), 255, -1,
                    cv2.LINE_AA)
        cv2.ellipse(c, ((0.45 * w * s, cy), (0.3 * w * s, 0.98 * h * s), 0.0), 255, -1,
                    cv2.LINE_AA)

    alpha = _matte(body, h, w)
    tex = _texture(name, h, w, rng)
    img = _tinted(tex, _pick(rng, ((25, 25, 25), (30, 30, 170), (150, 150, 150))), 0.8)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r = np.hypot((xx + 0.5) / w - 0.47, ((yy + 0.5) / h - 0.5) * h / w)
    helmet = _tinted(tex, _pick(rng, HELMETS), 0.9) * 1.15
    img = np.where((r < 0.11)[:, :, None], helmet, img)
    sprite = Sprite(np.clip(img, 0, 255).astype(np.float32), alpha, name, "motor")
    if lights:
        k = rng.uniform(0.8, 1.3)
        cy = (h - 1) / 2
        sprite.lights += [SpriteLight(w - 1.0, cy, 1.0 * k, HEADLIGHT),
                          SpriteLight(0.5, cy, 0.5 * k, TAILLIGHT),
                          SpriteLight(w - 1 + 2.0 * length, cy, 0.6 * k, HEADLIGHT,
                                      pool=0.8 * length, glare=False)]
    return sprite


def make_truck(name: str, length: float, width: float, rng: np.random.Generator,
               lights: bool = True) -> Sprite:
    """A truck: cab at +x (windscreen band), a gap, a long ribbed cargo box behind it."""
    w, h = max(int(round(length)), 5), max(int(round(width)), 3)
    cab = float(rng.uniform(0.17, 0.24))  # cab length / truck length
    gap = max(0.03, 1.0 / w)

    def body(c: np.ndarray, s: int) -> None:
        x_cab = int((1 - cab) * w * s)
        rr = max(int(0.15 * h * s), 1)
        cv2.rectangle(c, (0, 0), (int((1 - cab - gap) * w * s), h * s - 1), 255, -1)
        cv2.rectangle(c, (x_cab, rr), (w * s - 1, h * s - 1 - rr), 255, -1)
        cv2.rectangle(c, (x_cab, 0), (w * s - 1 - rr, h * s - 1), 255, -1)
        for cy in (rr, h * s - 1 - rr):
            cv2.circle(c, (w * s - 1 - rr, cy), rr, 255, -1, cv2.LINE_AA)

    alpha = _matte(body, h, w)
    tex = _texture(name, h, w, rng)
    xx = (np.arange(w, dtype=np.float32) + 0.5) / w
    yy = (np.arange(h, dtype=np.float32) + 0.5) / h
    cargo = _tinted(tex, _pick(rng, CARGO), float(rng.uniform(0.6, 0.85)))
    ribs = 1.0 - 0.18 * (np.sin(xx * w * np.pi / max(2.0, 0.06 * w)) > 0.6)
    cargo = cargo * ribs[None, :, None] * (0.92 + 0.12 * (1 - (2 * yy - 1) ** 2))[:, None, None]
    cabin = _tinted(tex, _pick(rng, PAINTS), float(rng.uniform(0.5, 0.8)))
    screen = (xx > 1 - 0.35 * cab) & (xx < 1 - 0.12 * cab)
    cabin = cabin * np.where(screen, 0.3, 1.0)[None, :, None]
    img = np.where((xx > 1 - cab)[None, :, None], cabin, cargo)
    sprite = Sprite(np.clip(img, 0, 255).astype(np.float32), alpha, name, "truck")
    if lights:
        k = rng.uniform(0.8, 1.3)
        for side in (-1, 1):
            y = (h - 1) / 2 + side * 0.32 * h
            sprite.lights.append(SpriteLight(w - 1.5, y, 1.3 * k, HEADLIGHT))
            sprite.lights.append(SpriteLight(0.5, y, 0.6 * k, TAILLIGHT))
        sprite.lights.append(SpriteLight(w - 1 + 0.5 * length, (h - 1) / 2, 1.0 * k, HEADLIGHT,
                                         pool=0.4 * length, glare=False))
    return sprite


def make_car(name: str, length: float, width: float, rng: np.random.Generator,
             lights: bool = True) -> Sprite:
    """:func:`.sprites.make_target`'s vehicle (always a vehicle, never an ellipse)."""
    sprite = make_target(name, length, width, rng, lights, vehicle_prob=1.0)
    sprite.kind = "car"
    return sprite


# real sizes in metres, (length lo, hi), (width lo, hi); a person is a figure seen obliquely
CLASS_SIZES_M: dict[str, tuple[tuple[float, float], tuple[float, float]]] = {
    "person": ((1.1, 1.5), (0.45, 0.6)), "motor": ((1.8, 2.2), (0.6, 0.8)),
    "car": ((3.9, 5.0), (1.7, 2.0)), "truck": ((7.0, 12.0), (2.4, 2.6))}

CLASS_MAKERS: dict[str, Callable[..., Sprite]] = {
    "person": make_person, "motor": make_motor, "car": make_car, "truck": make_truck}


def make_class_sprite(cls: str, name: str, length: float, width: float,
                      rng: np.random.Generator, lights: bool = True) -> Sprite:
    """The sprite of class ``cls`` (a :data:`CLASS_MAKERS` key) from photo ``name``."""
    if cls not in CLASS_MAKERS:
        raise ValueError(f"unknown class {cls!r}; choose from {list(CLASS_MAKERS)}")
    return CLASS_MAKERS[cls](name, length, width, rng, lights)
