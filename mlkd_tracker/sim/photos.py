"""Real photos that ship inside the scikit-image wheel, as BGR texture sources.

Why: the synthetic night scenes need real image statistics (edges, textures, colour) and nothing
may be downloaded, so the ground, target and occluder textures are cut from the photos that
``skimage.data`` bundles. Each entry below is one *source photo*; aliases of the same file
(``cat`` = ``chelsea``) and near-duplicates (the right image of the motorcycle stereo pair) are
left out, so that data-set splits built from disjoint name lists share no source photo.

Only photos whose file is present in the installed wheel are offered: ``skimage.data`` functions
that would need ``pooch`` downloads are never called. Synthetic test patterns (checkerboard,
colour wheel, logo, phantom, binary blobs) and tiny images are excluded; they are not photos.
"""

from __future__ import annotations

import functools
import os

import cv2
import numpy as np

# name -> (skimage.data function, file inside skimage's data directory, tuple index or None)
_SOURCES: dict[str, tuple[str, str, int | None]] = {
    "astronaut": ("astronaut", "astronaut.png", None),
    "brick": ("brick", "brick.png", None),
    "camera": ("camera", "camera.png", None),
    "cell": ("cell", "cell.png", None),
    "chelsea": ("chelsea", "chelsea.png", None),
    "clock": ("clock", "clock_motion.png", None),
    "coffee": ("coffee", "coffee.png", None),
    "coins": ("coins", "coins.png", None),
    "grass": ("grass", "grass.png", None),
    "gravel": ("gravel", "gravel.png", None),
    "hubble_deep_field": ("hubble_deep_field", "hubble_deep_field.jpg", None),
    "immunohistochemistry": ("immunohistochemistry", "ihc.png", None),
    "moon": ("moon", "moon.png", None),
    "motorcycle": ("stereo_motorcycle", "motorcycle_left.png", 0),
    "page": ("page", "page.png", None),
    "retina": ("retina", "retina.jpg", None),
    "rocket": ("rocket", "rocket.jpg", None),
    "text": ("text", "text.png", None),
}


def _data_dir() -> str:
    import skimage.data

    return str(skimage.data.data_dir)


@functools.lru_cache(maxsize=1)
def _available() -> tuple[str, ...]:
    data_dir = _data_dir()
    return tuple(
        sorted(n for n, (_, f, _) in _SOURCES.items() if os.path.isfile(os.path.join(data_dir, f)))
    )


def available_photos() -> list[str]:
    """Names of the offline photos usable as texture, sorted (deterministic)."""
    return list(_available())


@functools.lru_cache(maxsize=None)
def load_photo(name: str) -> np.ndarray:
    """Load a source photo as a read-only BGR uint8 array (H, W, 3); cached per name.

    Gray photos are expanded to three equal channels. The array is shared between callers, so it
    is marked read-only: copy before modifying.
    """
    if name not in _SOURCES:
        raise ValueError(f"unknown photo {name!r}; available: {', '.join(available_photos())}")
    if name not in _available():
        raise ValueError(
            f"photo {name!r} is not shipped in this scikit-image installation "
            f"(it would need a download); available: {', '.join(available_photos())}"
        )
    import skimage.data

    func, _, index = _SOURCES[name]
    img = getattr(skimage.data, func)()
    if index is not None:
        img = img[index]
    img = np.asarray(img)
    if img.dtype != np.uint8:  # none today, but keep the contract if skimage changes a loader
        img = (np.clip(img.astype(np.float64), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    if img.ndim == 2:
        bgr = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    elif img.shape[2] == 4:
        bgr = cv2.cvtColor(img, cv2.COLOR_RGBA2BGR)
    else:
        bgr = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
    bgr = np.ascontiguousarray(bgr)
    bgr.setflags(write=False)
    return bgr
