"""A folder of aerial images as the simulator's ground texture source.

Why a folder and not a package: the ground of a night drone scene must look like the ground a
drone sees (streets, roofs, fields), and the only good source is real orthophotos, which the
project may use but not ship. So the simulator reads whatever folder it is given: the FlightGear
terrain textures that ``mlkd-tracker textures fetch`` unpacks (with an ``index.json`` written
next to them), a user's own orthophotos, or a real data set's frames (no index: the folder is
scanned). This module only reads; fetching and indexing live in ``mlkd_tracker.data.textures``.

``index.json`` (version 1)::

    {"version": 1, "source": "...", "default_m_per_px": 1.0,
     "textures": [{"name": "town-europe.png", "split": "train", "m_per_px": 1.0,
                   "light_mask": "town-europe-relief-light.png", "sha256": "...",
                   "width": 1024, "height": 1024}, ...]}

``m_per_px`` is the ground sampling distance the texture was made for; ``light_mask`` an image
whose blue channel marks where the streets are lit at night (FlightGear's ``*-relief-light.png``:
normal map in red/green, light map in blue). Splits are disjoint and fixed by a hash of the file
name (:func:`assign_splits`), so they do not change with a data set's seed and a test texture
never shows up in any training set.

Which folder ``textures="auto"`` means (:func:`resolve_textures`): the environment variable
``MLKD_TRACKER_TEXTURES`` if set (a folder, or ``none`` to force the built-in photos), else
:data:`DEFAULT_DIR` (under the working directory, then under the source checkout) if it holds
images. Without a source the simulator falls back to the
scikit-image photos and logs one warning per process.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

__all__ = ["DEFAULT_DIR", "ENV_VAR", "INDEX_NAME", "SPLITS", "TextureEntry", "TextureFolder",
           "assign_splits", "texture_family", "is_colour_texture", "resolve_textures"]

LOG = logging.getLogger(__name__)
DEFAULT_DIR = Path("data/textures/flightgear")
ENV_VAR = "MLKD_TRACKER_TEXTURES"
INDEX_NAME = "index.json"
INDEX_VERSION = 1
SPLITS = ("train", "val", "test")
SPLIT_FRACTIONS = {"test": 0.15, "val": 0.15}  # the rest is train
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")
DEFAULT_M_PER_PX = 0.5  # assumed ground sampling distance of an un-indexed image, m/px
# companions and non-colour maps of terrain texture sets (masks, overlays, normal/relief maps,
# colour lookup tables), never ground textures themselves
_NOT_COLOUR = re.compile(r"mask|overlay|relief|structure|normal|[-_]nm\.|-colors|grain_texture|"
                         r"^void\.|^unknown\.", re.IGNORECASE)
_NONE = {"", "none", "off", "photos", "0", "false"}


def is_colour_texture(name: str) -> bool:
    """Whether file ``name`` is an image that can be ground (not a mask or normal map)."""
    base = Path(name).name
    return base.lower().endswith(IMAGE_SUFFIXES) and not _NOT_COLOUR.search(base)


# variants of one texture (a season's recolouring, a high-resolution or darker copy) share
# their layout, so they must share a split
_VARIANT = re.compile(r"[-_.](autumn|winter|summer|spring|hires|large-matched|darker|dark)",
                      re.IGNORECASE)


def texture_family(name: str) -> str:
    """The name shared by a texture's variants: ``town-europe-autumn.png`` -> ``town-europe``."""
    stem = Path(name).name.rsplit(".", 1)[0].lower()
    return _VARIANT.sub("", stem)


def _unit_hash(name: str) -> float:
    digest = hashlib.sha256(texture_family(name).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def assign_splits(names: list[str]) -> dict[str, str]:
    """Disjoint train/val/test by a hash of each file name (15 % val, 15 % test).

    The hash is of :func:`texture_family`, so a texture's variants land in the same split. A
    name's split never depends on the other names, so adding images to a folder moves no
    texture between splits. Folders too small to fill every split by hash (fewer than ~20
    images) are split by hash rank instead, with at least one image each once there are three.
    """
    names = sorted(set(names))
    u = {n: _unit_hash(n) for n in names}
    t, v = SPLIT_FRACTIONS["test"], SPLIT_FRACTIONS["test"] + SPLIT_FRACTIONS["val"]
    out = {n: "test" if u[n] < t else "val" if u[n] < v else "train" for n in names}
    if len(names) >= 3 and len(set(out.values())) < 3:
        ranked = sorted(names, key=lambda n: (u[n], n))
        k = max(1, round(t * len(names)))
        out = {n: "test" if i < k else "val" if i < 2 * k else "train"
               for i, n in enumerate(ranked)}
    return out


@dataclass(frozen=True)
class TextureEntry:
    """One ground texture of a folder."""

    name: str  # path relative to the folder
    split: str
    m_per_px: float
    light_mask: str | None = None  # companion whose blue channel is the street-light map


@dataclass(frozen=True)
class TextureFolder:
    """The ground textures of one folder (from its ``index.json``, or scanned)."""

    root: Path
    entries: tuple[TextureEntry, ...]
    indexed: bool

    @classmethod
    def open(cls, root: str | Path, default_m_per_px: float = DEFAULT_M_PER_PX) -> "TextureFolder":
        """Read ``root/index.json`` if present, else every colour image under ``root``."""
        root = Path(root)
        if not root.is_dir():
            raise FileNotFoundError(f"texture folder {root} does not exist")
        index = root / INDEX_NAME
        if index.is_file():
            data = json.loads(index.read_text())
            if data.get("version") != INDEX_VERSION:
                raise ValueError(f"{index}: unsupported index version {data.get('version')!r}")
            entries = tuple(TextureEntry(t["name"], t["split"], float(t["m_per_px"]),
                                         t.get("light_mask")) for t in data["textures"])
            return cls(root, entries, True)
        names = sorted(p.relative_to(root).as_posix() for p in root.rglob("*")
                       if p.is_file() and is_colour_texture(p.name)
                       and cv2.haveImageReader(str(p)))  # a readable header; not a decode
        splits = assign_splits(names)
        lights = {p.relative_to(root).as_posix() for p in root.rglob("*-relief-light.*")}
        entries = []
        for n in names:
            stem, suffix = n.rsplit(".", 1)
            light = f"{stem}-relief-light.{suffix}"
            entries.append(TextureEntry(n, splits[n], float(default_m_per_px),
                                        light if light in lights else None))
        return cls(root, tuple(entries), False)

    def __len__(self) -> int:
        return len(self.entries)

    def names(self, split: str | None = None) -> list[str]:
        """Sorted texture names, of one split or all."""
        return sorted(e.name for e in self.entries if split is None or e.split == split)

    def split_names(self) -> dict[str, list[str]]:
        return {s: self.names(s) for s in SPLITS}

    def entry(self, name: str) -> TextureEntry:
        for e in self.entries:
            if e.name == name:
                return e
        raise KeyError(f"{name!r} is not a texture of {self.root}")

    def load(self, name: str) -> np.ndarray:
        """The texture as a read-only BGR uint8 array (cached: a few per process)."""
        return _load_bgr(str(self.root / name))

    def light_map(self, name: str) -> np.ndarray | None:
        """The street-light map (float32 0..1, the texture's size) or None."""
        e = self.entry(name)
        if e.light_mask is None:
            return None
        shape = self.load(name).shape[:2]
        return _load_light(str(self.root / e.light_mask), shape)


@functools.lru_cache(maxsize=16)
def _load_bgr(path: str) -> np.ndarray:
    img = cv2.imread(path, cv2.IMREAD_COLOR)  # drops alpha, expands grey
    if img is None:
        raise OSError(f"could not decode texture {path}")
    img.setflags(write=False)
    return img


@functools.lru_cache(maxsize=8)
def _load_light(path: str, shape: tuple[int, int]) -> np.ndarray | None:
    img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if img is None or img.ndim != 3:
        return None
    blue = cv2.resize(img[:, :, 0], (shape[1], shape[0]), interpolation=cv2.INTER_AREA)
    out = blue.astype(np.float32) / max(float(blue.max()), 1.0)  # brightest street = 1
    out.setflags(write=False)
    return out


@functools.lru_cache(maxsize=None)
def _warn_once(message: str) -> None:
    LOG.warning(message)


def resolve_textures(spec: str | Path | None) -> TextureFolder | None:
    """The texture folder ``spec`` names: a path, ``"auto"`` (see the module docstring), or
    None / ``"none"`` for the built-in photos. An explicit path that holds no image raises; an
    absent ``"auto"`` source falls back to the photos with one logged warning per process."""
    if spec is None or str(spec).strip().lower() in _NONE:
        return None
    auto = str(spec) == "auto"
    if auto:
        env = os.environ.get(ENV_VAR)
        if env is not None:
            if env.strip().lower() in _NONE:
                return None
            spec, auto = env, False
        else:
            spec = next((d for d in _default_dirs() if d.is_dir()), DEFAULT_DIR)
    path = Path(spec)
    folder = _open_cached(str(path.resolve())) if path.is_dir() else None
    if folder is not None and len(folder):
        return folder
    if auto:
        _warn_once(f"no aerial textures in {path} (fetch them with `mlkd-tracker textures fetch` "
                   f"or set {ENV_VAR}): the simulator falls back to the built-in photos")
        return None
    raise FileNotFoundError(f"no ground textures in {path}")


def _default_dirs() -> list[Path]:
    """:data:`DEFAULT_DIR` under the working directory, then under the source checkout this
    package runs from (so a node started from another folder finds the fetched set too)."""
    dirs = [DEFAULT_DIR]
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "setup.py").is_file():
        dirs.append(checkout / DEFAULT_DIR)
    return dirs


@functools.lru_cache(maxsize=8)
def _open_cached(root: str) -> TextureFolder:
    return TextureFolder.open(root)
