"""The synthetic aerial night detection set, in Ultralytics/YOLO layout.

::

    <out>/data.yaml                      path, train, val, test, nc, names (Ultralytics reads it)
    <out>/images/<split>/<stem>.jpg      night images (split = train, val, test)
    <out>/labels/<split>/<stem>.txt      one ``class cx cy w h`` line per object, normalised to [0, 1]
    <out>/clean/<split>/<stem>.jpg       the same view in daylight, no sensor noise (enhancer target)
    <out>/meta.json                      config, seed, photo split, counts (per class, per size
                                         bucket), one recipe per image; written last

What an image is: a drone camera (random altitude, heading and off-nadir tilt, so objects shrink
towards the far side) looks at a photo-textured ground mosaic with roads (``sim.ground``), tree
crowns and roofs (``sim.sprites``) and 5..40 objects of four classes (``sim.class_sprites``):
vehicles mostly on the roads and along them, people in small groups. The clean view then goes
through the project's low-light camera (``sim.lowlight``) at a darkness preset that cycles per
split, with the vehicles' head and tail lights and random street lamps.

Why these choices:

- classes ``person, motor, car, truck`` are a subset of VisDrone's (pedestrian, motor, car,
  truck), so a model trained here can be evaluated on a VisDrone conversion (``visdrone.py``)
  through :data:`VISDRONE_NAMES`; each class has its own silhouette, so classes are learnable at
  any altitude (size alone is ambiguous).
- objects are small on purpose: the scale is drawn per image (``px_per_m``, image px per metre at
  the image centre), which puts people and motorbikes mostly below 16 px (COCO-style "tiny"), cars
  around 16..40 px and trucks larger, like VisDrone and the RDR-KD paper's setting.
- 640x480 by default: the project's camera and simulator frame size, so the detector node sees
  objects at the pixel sizes it was trained on (Ultralytics letterboxes it to its square imgsz).
- an object is drawn only if at least ``min_visible`` of it is inside the frame and not under an
  occluder, and its box is at least ``min_box_px`` on each side: every drawn object is labelled,
  with its full (amodal) box clipped to the frame, and nothing unlabelled stays in view.
  Objects never overlap each other; occluders (trees, roofs) may cover part of them.
- with aerial textures (``textures``: by default the fetched FlightGear set if present, else
  the photo mosaic with one logged warning) the ground is one real orthophoto per image, drawn
  at the image's scale, vehicles stand on its streets (the light map or road-like pixels) along
  the street direction, and street lamps and lit windows follow the texture (``sim.aerial``).
- the splits share no source photo (``synth.photo_split``) and no texture file
  (``sim.texture_folder``'s hash split), so val/test measure generalisation to unseen textures.
  Every image has its own random stream ``[seed, split, index]``: the same seed gives
  byte-identical files (on the same OpenCV build), whatever the split sizes.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import yaml
from tqdm import tqdm

from mlkd_tracker.data.dataset_output import content_config, prepare_output
from mlkd_tracker.data.synth import photo_split, texture_source, texture_split
from mlkd_tracker.data.synth_placement import Placer, View, make_view, uniform_point
from mlkd_tracker.sim.aerial import AerialConfig, build_aerial_ground
from mlkd_tracker.sim.class_sprites import make_class_sprite
from mlkd_tracker.sim.compose import Layers, bake_occluder, composite_target, measure, sprite_affine
from mlkd_tracker.sim.ground import GroundConfig, build_ground
from mlkd_tracker.sim.lights import cull_reach, in_view, lamp_lights, sprite_lights
from mlkd_tracker.sim.lowlight import DARKNESS_LEVELS, NightCamera, sample_lowlight
from mlkd_tracker.sim.sprites import make_occluder
from mlkd_tracker.sim.targets import premultiplied
from mlkd_tracker.sim.texture_folder import TextureFolder, resolve_textures

__all__ = ["CLASSES", "SIZE_BUCKETS", "SPLITS", "SynthDetectConfig", "VERSION", "VISDRONE_NAMES",
           "generate", "size_bucket"]

VERSION = 2  # 2: aerial textures
SPLITS = ("train", "val", "test")
CLASSES = ("person", "motor", "car", "truck")
VISDRONE_NAMES = {"person": "pedestrian", "motor": "motor", "car": "car", "truck": "truck"}
# COCO-style buckets on the box area in image px: upper bound of sqrt(area), exclusive
SIZE_BUCKETS = (("tiny", 16.0), ("small", 32.0), ("medium", 96.0), ("large", math.inf))
# physical size ranges in metres: (length lo, hi), (width lo, hi). A person is a figure seen
# obliquely (head to feet), not the shoulders a nadir camera would see.
_DIMENSIONS = {"person": ((1.1, 1.5), (0.45, 0.6)), "motor": ((1.8, 2.2), (0.6, 0.8)),
               "car": ((3.9, 5.0), (1.7, 2.0)), "truck": ((7.0, 12.0), (2.4, 2.6))}
SIM_PX_PER_M = 9.2  # image px per metre of the simulator's default view (60 m, 60 deg, 0.1 m/px)


@dataclass
class SynthDetectConfig:
    """What to generate. Defaults: 560 images of 640x480 in ~1.5 min on one core, ~70 MB."""

    out: Path = Path("data/synth_detect")
    seed: int = 0
    width: int = 640
    height: int = 480
    train_images: int = 400
    val_images: int = 80
    test_images: int = 80
    min_objects: int = 5  # objects attempted per image, uniform in [min, max]; a few are
    max_objects: int = 40  # dropped when hidden, off-frame or too small
    class_weights: tuple[float, ...] = (0.35, 0.15, 0.35, 0.15)  # person, motor, car, truck
    px_per_m: tuple[float, float] = (3.0, 12.0)  # image px per metre at the centre, log-uniform
    hfov_deg: float = 60.0
    max_tilt_deg: float = 20.0  # camera off-nadir angle, uniform in [0, max]
    on_road_frac: float = 0.7  # share of vehicles placed on (and along) a road, if any in view
    group_frac: float = 0.7  # share of people placed in groups
    max_occluders: int = 6  # tree crowns / roofs per image, uniform in [0, max]
    lights_prob: float = 0.8  # chance a vehicle has its lights on
    min_visible: float = 0.4  # drawn objects have at least this much in frame and unoccluded
    min_box_px: float = 3.0  # ... and a box at least this wide and high
    jpeg_quality: int = 90  # night images
    clean_jpeg_quality: int = 85
    textures: str | None = "auto"  # aerial texture folder, "auto" or None (photo mosaic ground)
    window_radiance: float = 0.5  # with textures: linear radiance of a fully lit window
    overwrite: bool = False  # replace an existing data set in ``out``
    progress: bool = True

    def __post_init__(self) -> None:
        self.out = Path(self.out)
        self.class_weights = tuple(float(w) for w in self.class_weights)
        self.px_per_m = (float(self.px_per_m[0]), float(self.px_per_m[1]))
        ok = (self.width >= 32 and self.height >= 32
              and min(self.train_images, self.val_images, self.test_images) >= 0
              and 0 <= self.min_objects <= self.max_objects
              and len(self.class_weights) == len(CLASSES) and min(self.class_weights) >= 0
              and sum(self.class_weights) > 0
              and 0 < self.px_per_m[0] <= self.px_per_m[1] and 1 < self.hfov_deg < 170
              and 0 <= self.max_tilt_deg < 60 and self.max_occluders >= 0
              and all(0 <= f <= 1 for f in (self.on_road_frac, self.group_frac, self.lights_prob,
                                            self.min_visible))
              and self.min_box_px >= 1
              and 1 <= min(self.jpeg_quality, self.clean_jpeg_quality)
              and max(self.jpeg_quality, self.clean_jpeg_quality) <= 100)
        if not ok:
            raise ValueError(f"invalid SynthDetectConfig: {self}")

    @classmethod
    def tiny(cls, **overrides) -> "SynthDetectConfig":
        """A set for tests: 160x128, 8/4/4 images, small scale so most objects are tiny (~1 s)."""
        values = dict(width=160, height=128, train_images=8, val_images=4, test_images=4,
                      min_objects=8, max_objects=20, px_per_m=(2.5, 6.0), progress=False)
        return cls(**{**values, **overrides})

    def split_size(self, split: str) -> int:
        return getattr(self, f"{split}_images")


def size_bucket(w: float, h: float) -> str:
    """COCO-style size name of a ``w`` x ``h`` px box (tiny < 16², small < 32², medium < 96²)."""
    side = math.sqrt(max(w, 0.0) * max(h, 0.0))
    return next(name for name, hi in SIZE_BUCKETS if side < hi)


# ----------------------------------------------------------------------------- one image
def _add_occluders(cfg: SynthDetectConfig, rng: np.random.Generator, layers: Layers,
                   view: View, photos: list[str], scale: float, sun: tuple[float, float]) -> int:
    n = int(rng.integers(0, cfg.max_occluders + 1))
    for _ in range(n):
        size = float(rng.uniform(4.0, 12.0)) * scale  # 4..12 m across
        x, y = uniform_point(rng, view.footprint)
        sprite = make_occluder(photos[int(rng.integers(len(photos)))], size, rng)
        height = (0.35 if sprite.kind == "canopy" else 0.25) * size
        bake_occluder(layers, sprite, x, y, (sun[0] * height, sun[1] * height))
    return n


def _render(cfg: SynthDetectConfig, rng: np.random.Generator, level: str, photos: list[str],
            folder: TextureFolder | None = None, textures: list[str] | None = None):
    """One image: (clean BGR, night BGR, labels [(cls, x, y, w, h, visible)], recipe)."""
    scale = math.exp(rng.uniform(*np.log(cfg.px_per_m)))  # ground (= image at nadir) px per m
    view = make_view(rng, cfg.width, cfg.height, cfg.hfov_deg, cfg.max_tilt_deg,
                     margin=14.0 * scale)
    road_m = float(rng.uniform(6.0, 9.0))
    aerial = None
    if folder is None:
        ground_cfg = GroundConfig(
            size=view.side,
            regions=max(3, int(round(rng.uniform(6, 16) * (view.side / 1024) ** 2))),
            roads=int(rng.integers(0, 4)), road_width=(road_m * scale, road_m * scale),
            paths=int(rng.integers(0, 4)), path_width=(1.5 * scale, 3.0 * scale))
        ground = build_ground(photos, ground_cfg, rng)
        image, roads, n_roads = ground.image, ground.roads, ground_cfg.roads
    else:
        texture = textures[int(rng.integers(len(textures)))]
        aerial = build_aerial_ground(folder, texture, view.side, 1.0 / scale, rng)
        image, roads, n_roads = aerial.image, [], len(aerial.lamps)
    layers = Layers.from_ground(image)
    bare = Layers(layers.ground, np.zeros_like(layers.premult), np.zeros_like(layers.occ_alpha),
                  layers.ground)  # same ground, no occluders: what objects leave on the ground
    a = rng.uniform(-math.pi, math.pi)
    sun = (math.cos(a), math.sin(a))
    n_occ = _add_occluders(cfg, rng, layers, view, photos, scale, sun)

    placer = Placer(rng, view, roads, road_m * scale, scale, cfg.group_frac, cfg.on_road_frac,
                    aerial)
    weights = np.asarray(cfg.class_weights) / sum(cfg.class_weights)
    labels, lights = [], []
    n_try = int(rng.integers(cfg.min_objects, cfg.max_objects + 1))
    for _ in range(n_try):
        ci = int(rng.choice(len(CLASSES), p=weights))
        cls = CLASSES[ci]
        (l_lo, l_hi), (w_lo, w_hi) = _DIMENSIONS[cls]
        length, width = rng.uniform(l_lo, l_hi) * scale, rng.uniform(w_lo, w_hi) * scale
        for _ in range(30):
            x, y, heading = placer.propose(cls)
            if placer.free(x, y, 0.5 * length):
                break
        else:
            continue
        lit = cls != "person" and rng.random() < cfg.lights_prob
        sprite = make_class_sprite(cls, photos[int(rng.integers(len(photos)))], length, width,
                                   rng, lit)
        rgba = premultiplied(sprite)
        aff = sprite_affine(sprite, x, y, heading)
        shadow = 0.3 * sprite.alpha.shape[0]
        shadow_vec = (sun[0] * shadow, sun[1] * shadow)
        seen = composite_target(layers, sprite, rgba, aff, shadow_vec)
        box, visible = measure(view.h_img, seen, cfg.width, cfg.height)
        if box is None or visible < cfg.min_visible or min(box[2], box[3]) < cfg.min_box_px:
            continue
        on_ground = composite_target(bare, sprite, rgba, aff, shadow_vec)
        x0, y0, x1, y1 = seen.roi
        layers.scene[y0:y1, x0:x1] = seen.pixels
        layers.ground[y0:y1, x0:x1] = on_ground.pixels
        placer.discs.append((x, y, 0.5 * length))
        labels.append((ci, *box, visible))
        # ground px = image px at nadir here, so the lights' pools need no ground_scale
        lights += sprite_lights([(sprite, aff)], view.h_img, layers.occ_alpha)

    clean = cv2.warpPerspective(layers.scene, view.h_img, (cfg.width, cfg.height),
                                flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    lowlight = sample_lowlight(rng, level)
    # street-lamp pools are sized on the ground (the presets were tuned on the simulator's view,
    # SIM_PX_PER_M), lens glare with the image resolution (tuned at 640 px wide)
    lowlight = dataclasses.replace(
        lowlight, pool_px=lowlight.pool_px * scale / SIM_PX_PER_M,
        glare_radius_px=lowlight.glare_radius_px * cfg.width / 640.0)
    glow = None
    if aerial is not None:  # the streets' lamps replace the random ones
        lowlight = dataclasses.replace(lowlight, glare=0)
        lights += lamp_lights(aerial.lamps, view.h_img, AerialConfig().lamp_pool_m * scale,
                              cfg.width, cfg.height, cull_reach(lowlight.pool_px))
        if aerial.glow is not None:
            glow = cv2.warpPerspective(aerial.glow, view.h_img, (cfg.width, cfg.height),
                                       flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    speed, ang = math.exp(rng.uniform(math.log(0.2), math.log(4.0))), rng.uniform(-math.pi, math.pi)
    motion = (speed * math.cos(ang), speed * math.sin(ang))  # drone motion during the exposure
    lights = in_view(lights, cfg.width, cfg.height, cull_reach(lowlight.pool_px))
    night = NightCamera(lowlight).render(clean, rng, motion, lights, glow, cfg.window_radiance)
    recipe = dict(level=level, px_per_m=round(scale, 3), tilt_deg=round(view.tilt_deg, 2),
                  ground_size=view.side, roads=n_roads, occluders=n_occ,
                  attempted=n_try, objects=len(labels),
                  exposure=round(lowlight.exposure, 5))
    if aerial is not None:  # "roads" counts the street lamps then
        recipe.update(texture=aerial.source, texture_m_per_px=round(aerial.texture_m_per_px, 4),
                      street_from=aerial.street_from)
    return clean, night, labels, recipe


def _label_lines(labels, width: int, height: int) -> str:
    lines = []
    for ci, x, y, w, h, _ in labels:
        cx, cy = (x + w / 2) / width, (y + h / 2) / height
        vals = [min(max(v, 0.0), 1.0) for v in (cx, cy, w / width, h / height)]
        lines.append(f"{ci} " + " ".join(f"{v:.6f}" for v in vals) + "\n")
    return "".join(lines)


# ----------------------------------------------------------------------------- the data set
def _write_data_yaml(cfg: SynthDetectConfig) -> None:
    """``path`` is absolute (Ultralytics resolves a relative one against its own datasets
    folder); after moving the set, edit it or delete the line (then the yaml's folder is used)."""
    data = {"path": str(cfg.out.resolve()), "train": "images/train", "val": "images/val",
            "test": "images/test", "nc": len(CLASSES), "names": dict(enumerate(CLASSES))}
    header = (f"# mlkd-tracker synth-detect: synthetic aerial night detection set (seed "
              f"{cfg.seed}); see meta.json\n")
    (cfg.out / "data.yaml").write_text(header + yaml.safe_dump(data, sort_keys=False))


def _split_counts(labels_per_image: list, recipes: list[dict]) -> dict:
    per_class, per_size, per_class_size = Counter(), Counter(), Counter()
    for labels in labels_per_image:
        for ci, _, _, w, h, _ in labels:
            per_class[CLASSES[ci]] += 1
            per_size[size_bucket(w, h)] += 1
            per_class_size[CLASSES[ci], size_bucket(w, h)] += 1
    n_obj = [len(lab) for lab in labels_per_image]
    return {"images": len(labels_per_image), "objects": sum(n_obj),
            "objects_per_image": {"min": min(n_obj, default=0), "max": max(n_obj, default=0),
                                  "mean": round(sum(n_obj) / max(len(n_obj), 1), 2)},
            "per_class": {c: per_class[c] for c in CLASSES},
            "per_size": {name: per_size[name] for name, _ in SIZE_BUCKETS},
            "per_class_size": {c: {name: per_class_size[c, name] for name, _ in SIZE_BUCKETS}
                               for c in CLASSES},
            # under an occluder or cut by the frame edge (visible fraction < 0.95)
            "partly_hidden": sum(v < 0.95 for lab in labels_per_image for *_, v in lab),
            "levels": dict(sorted(Counter(r["level"] for r in recipes).items()))}


def generate(cfg: SynthDetectConfig) -> Path:
    """Render the data set described by ``cfg`` into ``cfg.out``; returns ``cfg.out``.

    ``meta.json`` is written last, so its presence marks a complete data set.
    """
    prepare_output(cfg.out, [cfg.out / n for n in ("meta.json", "data.yaml", "images", "labels",
                                                  "clean")], cfg.overwrite)
    photos = photo_split(cfg.seed)
    folder = resolve_textures(cfg.textures)
    textures = texture_split(folder) if folder is not None else None
    levels = list(DARKNESS_LEVELS)
    jpeg = [cv2.IMWRITE_JPEG_QUALITY, cfg.jpeg_quality]
    clean_jpeg = [cv2.IMWRITE_JPEG_QUALITY, cfg.clean_jpeg_quality]
    config = content_config(cfg)
    meta: dict = {"version": VERSION, "seed": cfg.seed, "classes": list(CLASSES),
                  "visdrone_names": VISDRONE_NAMES, "photos": photos,
                  "size_buckets": {n: hi for n, hi in SIZE_BUCKETS if math.isfinite(hi)},
                  "config": config, "counts": {}, "images": {},
                  "ground": "photo_mosaic" if folder is None else "aerial"}
    if folder is not None:
        meta["textures"] = {**texture_source(folder), **textures}
    bar = tqdm(total=sum(cfg.split_size(s) for s in SPLITS), desc="synth-detect", unit="img",
               disable=not cfg.progress)
    for si, split in enumerate(SPLITS):
        dirs = [cfg.out / kind / split for kind in ("images", "labels", "clean")]
        for d in dirs:
            d.mkdir(parents=True)
        offset = int(np.random.default_rng([cfg.seed, si]).integers(len(levels)))
        all_labels, recipes = [], {}
        for i in range(cfg.split_size(split)):
            rng = np.random.default_rng([cfg.seed, si, i])
            stem = f"{split}_{i + 1:05d}"
            clean, night, labels, recipe = _render(cfg, rng, levels[(i + offset) % len(levels)],
                                                   photos[split], folder,
                                                   textures[split] if textures else None)
            if not (cv2.imwrite(str(dirs[0] / f"{stem}.jpg"), night, jpeg)
                    and cv2.imwrite(str(dirs[2] / f"{stem}.jpg"), clean, clean_jpeg)):
                raise OSError(f"could not write {dirs[0] / stem}.jpg")
            (dirs[1] / f"{stem}.txt").write_text(_label_lines(labels, cfg.width, cfg.height))
            all_labels.append(labels)
            recipes[stem] = recipe
            bar.update()
        meta["counts"][split] = _split_counts(all_labels, list(recipes.values()))
        meta["images"][split] = recipes
    bar.close()
    _write_data_yaml(cfg)
    (cfg.out / "meta.json").write_text(json.dumps(meta, indent=1, sort_keys=True, default=str))
    return cfg.out
