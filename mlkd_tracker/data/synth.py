"""The synthetic night tracking set: sequences rendered by the simulator, in GOT-10k layout.

::

    <out>/meta.json                       config, seed, photo (and texture) split, counts, one
                                          recipe per sequence with its ``attributes``
                                          (occlusion, out-of-view, re-entries, distractors,
                                          stops, U-turns; see ATTRIBUTES, sequence_attributes)
    <out>/<split>/list.txt                sequence names in order
    <out>/<split>/<seq>/00000001.jpg ...  night frames
    <out>/<split>/<seq>/clean/00000001.jpg ...  the same frames in daylight (enhancer target)
    <out>/<split>/<seq>/groundtruth.txt   x,y,w,h per frame; 0,0,0,0 when out of view
    <out>/<split>/<seq>/absence.label     1 = target out of view or hidden (< min_visible)
    <out>/<split>/<seq>/cover.label       visible fraction in eighths, 0..8 (GOT-10k convention)

Why these choices: the splits share no source photo (and, with aerial textures, no texture
file: ``sim.texture_folder`` splits them by a hash of the file name), so val/test
scores measure generalisation to unseen textures, not memorised ones; every sequence draws its
own darkness preset variant, target size (log-uniform from ~12 px to ~35 % of the frame height,
so both small aerial and large close-up targets are seen), occluders, fast-motion bursts and
drone drift/yaw. With aerial textures (``textures``, by default the fetched FlightGear set if
present; the photo mosaic otherwise, with one logged warning) the ground is one real orthophoto
per sequence and the scale is physical: the target is a car, truck, motorbike or person of its
real size, the altitude is the one at which it has the drawn pixel size (12..250 m), the ground
resolution follows the altitude, and a share of the sequences looks obliquely
(``oblique_frac``). Vehicles drive along the texture's streets (``road_frac``), some stop and
go or U-turn, and some have look-alike distractors driving near them. A camera operator keeps the
target roughly centred with the runtime's gimbal PID in most sequences (as in real UAV footage,
where the background moves) and sometimes looks away and back, which puts out-of-view frames and
re-appearances into the data. Everything derives
from ``cfg.seed``: the same seed gives byte-identical files (on the same OpenCV build).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from mlkd_tracker.data.dataset_output import content_config, prepare_output
from mlkd_tracker.data.results_io import write_boxes
from mlkd_tracker.runtime.follow_controller import FollowController, PidGains
from mlkd_tracker.sim.camera import nadir_gsd
from mlkd_tracker.sim.class_sprites import CLASS_SIZES_M
from mlkd_tracker.sim.ground import GroundConfig
from mlkd_tracker.sim.lowlight import DARKNESS_LEVELS, sample_lowlight
from mlkd_tracker.sim.photos import available_photos
from mlkd_tracker.sim.scene import NightScene, SimConfig
from mlkd_tracker.sim.texture_folder import INDEX_NAME, TextureFolder, resolve_textures

__all__ = ["ATTRIBUTES", "SynthConfig", "generate", "sequence_attributes", "photo_split",
           "texture_source", "texture_split", "SPLITS", "VERSION"]

VERSION = 2  # 2: aerial textures, physical scale, oblique views
SPLITS = ("train", "val", "test")


@dataclass
class SynthConfig:
    """What to generate. The defaults (7040 frames) take ~1.5 min on one core and ~0.9 GB."""

    out: Path = Path("data/synth_night")
    seed: int = 0
    width: int = 640
    height: int = 480
    fps: float = 30.0
    train_sequences: int = 48
    train_frames: int = 100
    val_sequences: int = 8
    val_frames: int = 100
    test_sequences: int = 12
    test_frames: int = 120
    ground_size: int = 2048  # ground mosaic side, ground px (smaller = faster scene set-up)
    jpeg_quality: int = 90  # night frames
    clean_jpeg_quality: int = 85  # day frames: sharp textures cost ~1.5x the bytes of night ones
    target_size_min_px: float = 12.0  # target length range: min in px ...
    target_size_max_frac: float = 0.35  # ... max as a fraction of the frame height
    max_occluders: int = 3  # 0..max per sequence, placed on the target's path
    fast_motion_frac: float = 0.3  # share of sequences with fast-motion bursts
    follow_frac: float = 0.75  # share of sequences whose operator keeps the target centred
    look_away_frac: float = 0.25  # share of sequences with one look-away-and-back
    min_visible: float = 0.1  # frames with less of the target visible are labelled absent
    textures: str | None = "auto"  # aerial texture folder, "auto" or None (photo mosaic ground)
    altitude_m: tuple[float, float] = (12.0, 250.0)  # with textures: altitudes allowed
    target_classes: tuple[tuple[str, float], ...] = (
        ("car", 0.55), ("truck", 0.15), ("motor", 0.15), ("person", 0.15))  # with textures:
    # what the target is (weights); its real size is class_sprites.CLASS_SIZES_M
    road_frac: float = 0.85  # with textures: share of vehicle targets that drive on the streets
    stop_frac: float = 0.3  # with textures: share of sequences whose target stops now and then
    uturn_frac: float = 0.15  # ... that U-turns
    distractor_frac: float = 0.35  # ... with 1..3 look-alikes driving near the target
    lit_texture_weight: float = 3.0  # with textures: towns (textures with street lights) are
    # drawn this much more often than countryside, which is dark at night
    oblique_frac: float = 0.5  # with textures: share of sequences with an oblique camera ...
    oblique_tilt_deg: tuple[float, float] = (10.0, 35.0)  # ... tilted this far from nadir
    overwrite: bool = False  # replace an existing data set in ``out``
    progress: bool = True

    def __post_init__(self) -> None:
        self.out = Path(self.out)
        self.target_classes = tuple((str(c), float(w)) for c, w in self.target_classes)
        sizes = [self.split_size(s) for s in SPLITS]
        ok = (self.width >= 32 and self.height >= 32 and self.fps > 0
              and all(n >= 0 and (f >= 1 or n == 0) for n, f in sizes)
              and 1 <= min(self.jpeg_quality, self.clean_jpeg_quality)
              and max(self.jpeg_quality, self.clean_jpeg_quality) <= 100
              and self.target_size_min_px > 0
              and 0 < self.target_size_max_frac <= 1 and self.max_occluders >= 0
              and 0 <= self.min_visible <= 1 and self.ground_size >= 64
              and all(0 <= f <= 1 for f in (self.fast_motion_frac, self.follow_frac,
                                            self.look_away_frac, self.oblique_frac))
              and 0 < self.altitude_m[0] <= self.altitude_m[1]
              and all(0 <= f <= 1 for f in (self.road_frac, self.stop_frac, self.uturn_frac,
                                            self.distractor_frac))
              and sum(w for _, w in self.target_classes) > 0 and self.lit_texture_weight > 0
              and all(c in CLASS_SIZES_M and w >= 0 for c, w in self.target_classes)
              and 0 <= self.oblique_tilt_deg[0] <= self.oblique_tilt_deg[1] < 40)
        if not ok:
            raise ValueError(f"invalid SynthConfig: {self}")

    def split_size(self, split: str) -> tuple[int, int]:
        """(sequences, frames per sequence) of ``split``."""
        return getattr(self, f"{split}_sequences"), getattr(self, f"{split}_frames")


def photo_split(seed: int, names: list[str] | None = None) -> dict[str, list[str]]:
    """Partition the source photos into disjoint train/val/test lists (~4:1:1, >= 2 each).

    Two photos per split at least, so the target can come from a photo the ground does not use.
    """
    names = sorted(available_photos() if names is None else names)
    if len(names) < 6:
        raise ValueError(f"need >= 6 source photos for three disjoint splits, have {names}")
    perm = np.random.default_rng([seed, 0x9407]).permutation(len(names))
    shuffled = [names[i] for i in perm]
    n_val = n_test = max(2, round(len(names) / 6))
    return {"train": sorted(shuffled[n_val + n_test:]), "val": sorted(shuffled[:n_val]),
            "test": sorted(shuffled[n_val:n_val + n_test])}


def texture_split(folder: TextureFolder) -> dict[str, list[str]]:
    """The folder's disjoint train/val/test texture lists; ValueError if one is empty."""
    splits = folder.split_names()
    empty = [s for s, names in splits.items() if not names]
    if empty:
        raise ValueError(f"{folder.root}: no textures in split(s) {empty}; need >= 3 images "
                         f"for three disjoint splits")
    return splits


def texture_source(folder: TextureFolder) -> dict:
    """Which texture folder a data set was drawn from, for its meta.json: ``root`` relative to
    the working directory when below it (else just the folder's name: no machine path is
    recorded), whether it has an ``index.json`` and that index's sha256 (None without one),
    which pins the exact texture set."""
    root = Path(folder.root).resolve()
    try:
        shown = root.relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        shown = root.name
    index = root / INDEX_NAME
    digest = hashlib.sha256(index.read_bytes()).hexdigest() if index.is_file() else None
    return {"root": shown, "indexed": folder.indexed, "index_sha256": digest}


class _Operator:
    """Gimbal commands of a camera operator: PID centring (or none), one optional look-away."""

    def __init__(self, rng: np.random.Generator, cfg: SynthConfig, n_frames: int,
                 follow: bool, look_away: bool) -> None:
        self.follow = follow
        kp = float(rng.uniform(0.8, 3.0))
        gains = PidGains(kp=kp, ki=0.1 * kp, kd=0.02, max_rate=1.0, deadband=0.02)
        self.pid = FollowController(gains, gains)
        self.away: tuple[int, int, float, float] | None = None  # start, frames each way, rates
        if look_away and n_frames >= 20:
            start = int(rng.uniform(0.2, 0.6) * n_frames)
            span = max(min(int(rng.uniform(0.3, 1.0) * cfg.fps), (n_frames - 5 - start) // 2), 2)
            rate, ang = float(rng.uniform(0.6, 1.0)), float(rng.uniform(-math.pi, math.pi))
            self.away = (start, span, rate * math.cos(ang), rate * math.sin(ang))
        self.dt = 1.0 / cfg.fps

    def command(self, k: int, box, intrinsics: tuple[float, float, float, float]):
        """(pan, tilt) rates for the step after frame ``k`` (0-based), given its box."""
        if self.away is not None:
            start, span, rp, rt = self.away
            if start <= k < start + span:
                return rp, rt
            if start + span <= k < start + 2 * span:
                return -rp, -rt
            if k == start + 2 * span:
                self.pid.reset()
        if not self.follow or box is None:
            return 0.0, 0.0
        fx, fy, cx, cy = intrinsics
        u, v = box[0] + box[2] / 2 - 0.5, box[1] + box[3] / 2 - 0.5  # pixel-centre coordinates
        return self.pid.update(u, v, fx, fy, cx, cy, self.dt)


def _aerial_view(cfg: SynthConfig, rng: np.random.Generator, length: float,
                 oblique: bool, cls: str) -> tuple[float, dict]:
    """Altitude, ground resolution and tilt at which a real ``cls`` is ``length`` px long."""
    car_m = float(rng.uniform(*CLASS_SIZES_M[cls][0]))
    per_m = nadir_gsd(1.0, 60.0, cfg.width)  # image m/px per metre of altitude
    altitude = min(max(car_m / length / per_m, cfg.altitude_m[0]), cfg.altitude_m[1])
    gsd = altitude * per_m
    tilt = float(rng.uniform(*cfg.oblique_tilt_deg)) if oblique else 0.0
    view = dict(altitude_m=round(altitude, 2), ground_res_m=round(gsd, 5),
                camera_tilt_deg=round(tilt, 2), target_length_m=round(car_m, 2),
                target_class=cls)
    return car_m / gsd, view


def _sim_config(cfg: SynthConfig, rng: np.random.Generator, level: str, fast_motion: bool,
                photos: list[str], textures: list[str] | None = None,
                folder: TextureFolder | None = None, oblique: bool = False,
                behaviour: dict | None = None) -> tuple[SimConfig, dict]:
    """One sequence's scene recipe (and a JSON-able summary of it)."""
    hi = max(cfg.target_size_max_frac * cfg.height, 1.0)
    lo = min(cfg.target_size_min_px, hi)
    length = float(math.exp(rng.uniform(math.log(lo), math.log(hi))))
    aerial: dict = {}
    scene_kw: dict = {"textures": None}
    if folder is not None:
        b = behaviour or {}
        names, weights = zip(*cfg.target_classes)
        cls = names[int(rng.choice(len(names), p=np.asarray(weights) / sum(weights)))]
        length, aerial = _aerial_view(cfg, rng, length, oblique, cls)
        aerial.update(
            follow_roads=bool(b.get("road")) and cls != "person",
            stop_prob=round(float(rng.uniform(0.2, 0.5)), 3) if b.get("stops") else 0.0,
            uturn_prob=round(float(rng.uniform(0.15, 0.4)), 3) if b.get("uturns") else 0.0,
            distractors=int(rng.integers(1, 4)) if b.get("distractors") else 0)
        scene_kw = {k: aerial[k] for k in ("altitude_m", "ground_res_m", "camera_tilt_deg",
                                           "target_class", "follow_roads", "stop_prob",
                                           "uturn_prob", "distractors")}
        weights = np.array([cfg.lit_texture_weight if folder.entry(t).light_mask else 1.0
                            for t in textures])
        texture = textures[int(rng.choice(len(textures), p=weights / weights.sum()))]
        aerial["texture"] = texture
        scene_kw.update(textures=str(folder.root), texture_names=[texture], vehicle_prob=1.0)
    fast = float(rng.uniform(0.2, 0.8)) if fast_motion else 0.0
    recipe = dict(
        level=level, target_size_px=round(length, 2),
        occluders=int(rng.integers(0, cfg.max_occluders + 1)),
        fast_motion_prob=round(fast, 3), target_speed_px=round(float(rng.uniform(20, 60)), 2),
        drone_drift_px=round(float(rng.uniform(2, 30)), 2),
        drone_yaw_rate_deg=round(float(rng.uniform(0.5, 5.0)), 2),
        vibration_deg=round(float(rng.uniform(0.05, 0.3)), 3))
    sim = SimConfig(
        width=cfg.width, height=cfg.height, fps=cfg.fps, ground=GroundConfig(size=cfg.ground_size),
        photos=list(photos), target_size_px=(length, length), occluders=recipe["occluders"],
        fast_motion_prob=fast, target_speed_px=recipe["target_speed_px"],
        drone_drift_px=recipe["drone_drift_px"], drone_yaw_rate_deg=recipe["drone_yaw_rate_deg"],
        vibration_deg=recipe["vibration_deg"], lowlight=sample_lowlight(rng, level),
        **scene_kw)
    recipe.update(aerial)
    return sim, recipe


def _render(cfg: SynthConfig, rng: np.random.Generator, sim: SimConfig, n: int, folder: Path,
            follow: bool, look_away: bool) -> dict:
    """Render ``n`` frames into ``folder``; retries a scene whose first frame hides the target."""
    params = [cv2.IMWRITE_JPEG_QUALITY, cfg.jpeg_quality]
    clean_params = [cv2.IMWRITE_JPEG_QUALITY, cfg.clean_jpeg_quality]
    for _ in range(20):
        scene = NightScene(dataclasses.replace(sim, seed=int(rng.integers(2**31))))
        operator = _Operator(rng, cfg, n, follow, look_away)
        first = scene.step()
        if first.box is not None and first.visible >= 0.5:
            break
    else:
        raise RuntimeError(f"{folder.name}: no scene with the target visible in frame 1")
    (folder / "clean").mkdir(parents=True)
    boxes, absence, cover = np.zeros((n, 4)), np.zeros(n, np.int64), np.zeros(n, np.int64)
    visible, near = np.zeros(n), np.zeros(n, bool)
    frame, intr = first, scene.intrinsics()
    for k in range(n):
        if k:
            frame = scene.step(*rates)
        name = f"{k + 1:08d}.jpg"
        if not (cv2.imwrite(str(folder / name), frame.image, params)
                and cv2.imwrite(str(folder / "clean" / name), frame.clean, clean_params)):
            raise OSError(f"could not write {folder / name}")
        if frame.box is not None:
            boxes[k] = frame.box
        absence[k] = frame.box is None or frame.visible < cfg.min_visible
        cover[k] = 0 if frame.box is None else int(round(8 * frame.visible))
        visible[k] = frame.visible if frame.box is not None else 0.0
        near[k] = frame.box is not None and scene.nearest_distractor() < 3.0
        rates = operator.command(k, frame.box, intr)
    write_boxes(folder / "groundtruth.txt", boxes)
    (folder / "absence.label").write_text("".join(f"{v}\n" for v in absence))
    (folder / "cover.label").write_text("".join(f"{v}\n" for v in cover))
    used = scene.sources_used
    present = absence == 0
    events = scene.target_events
    attributes = dict(
        partly_hidden_frames=int((present & (visible < 0.95)).sum()),  # occluder or frame edge
        hidden_frames=int(((boxes[:, 2] > 0) & (absence == 1)).sum()),  # in view, < min_visible
        out_of_view_frames=int((boxes[:, 2] <= 0).sum()),
        reentries=int((present[1:] & ~present[:-1]).sum()),  # absent -> seen again
        distractor_frames=int(near.sum()),  # a look-alike within 3 target lengths
        stops=events["stops"], uturns=events["uturns"], on_road=events["on_road"],
        distractors=events["distractors"])
    extra = {}
    if scene.aerial is not None:
        extra = {"ground": scene.ground_info()}
        used = {"ground": (), "target": used["target"], "occluders": used["occluders"]}
    return dict(**extra, attributes=attributes, sim_seed=scene.seed, follow=operator.follow,
                look_away=operator.away is not None,
                absent_frames=int(absence.sum()), out_of_view_frames=int((boxes[:, 2] <= 0).sum()),
                sources=sorted(set(used["ground"]) | set(used["target"]) | set(used["occluders"])))


ATTRIBUTES = ("partial_occlusion", "full_occlusion", "out_of_view", "reentry", "distractor",
              "stop", "uturn", "on_road", "fast_motion", "oblique", "look_away")


def sequence_attributes(recipe: dict) -> list[str]:
    """The :data:`ATTRIBUTES` a sequence has (for per-attribute evaluation)."""
    a = recipe["attributes"]
    have = {"partial_occlusion": a["partly_hidden_frames"] > 0,
            "full_occlusion": a["hidden_frames"] > 0, "out_of_view": a["out_of_view_frames"] > 0,
            "reentry": a["reentries"] > 0, "distractor": a["distractor_frames"] > 0,
            "stop": a["stops"] > 0, "uturn": a["uturns"] > 0, "on_road": bool(a["on_road"]),
            "fast_motion": recipe["fast_motion_prob"] > 0,
            "oblique": recipe.get("camera_tilt_deg", 0.0) > 0, "look_away": recipe["look_away"]}
    return [name for name in ATTRIBUTES if have[name]]


def _attribute_counts(recipes: list[dict]) -> dict:
    """Sequences per attribute (and per target class) of one split."""
    counts = {name: 0 for name in ATTRIBUTES}
    classes: dict[str, int] = {}
    for r in recipes:
        for name in sequence_attributes(r):
            counts[name] += 1
        cls = r.get("target_class", "vehicle_or_ellipse")
        classes[cls] = classes.get(cls, 0) + 1
    return {**counts, "target_class": dict(sorted(classes.items()))}


def _pick(rng: np.random.Generator, n: int, frac: float) -> set[int]:
    """round(frac * n) of the indices 0..n-1, at random."""
    return {int(i) for i in rng.permutation(n)[: int(round(frac * n))]}


def generate(cfg: SynthConfig) -> Path:
    """Render the data set described by ``cfg`` into ``cfg.out``; returns ``cfg.out``.

    ``meta.json`` is written last, so its presence marks a complete data set.
    """
    prepare_output(cfg.out, [cfg.out / "meta.json"] + [cfg.out / s for s in SPLITS],
                   cfg.overwrite)
    photos = photo_split(cfg.seed)
    folder = resolve_textures(cfg.textures)
    textures = texture_split(folder) if folder is not None else None
    levels = list(DARKNESS_LEVELS)
    config = content_config(cfg)
    meta: dict = {"version": VERSION, "seed": cfg.seed, "photos": photos, "counts": {},
                  "sequences": {}, "config": config,
                  "ground": "photo_mosaic" if folder is None else "aerial"}
    if folder is not None:
        meta["textures"] = {**texture_source(folder), **textures}
    total = sum(cfg.split_size(s)[0] for s in SPLITS)
    bar = tqdm(total=total, desc="synth sequences", unit="seq", disable=not cfg.progress)
    for si, split in enumerate(SPLITS):
        n_seq, n_frames = cfg.split_size(split)
        split_dir = cfg.out / split
        split_dir.mkdir(parents=True)
        # stratified per split: every preset in every split of >= 4 sequences, and exactly
        # round(frac * n) sequences with each optional event, so small splits stay representative
        split_rng = np.random.default_rng([cfg.seed, si])
        offset = int(split_rng.integers(len(levels)))
        fast, follow, away = (_pick(split_rng, n_seq, f) for f in (
            cfg.fast_motion_frac, cfg.follow_frac, cfg.look_away_frac))
        oblique, behaviours = set(), [{} for _ in range(n_seq)]
        if folder is not None:
            oblique = _pick(split_rng, n_seq, cfg.oblique_frac)
            for key, frac in (("road", cfg.road_frac), ("stops", cfg.stop_frac),
                              ("uturns", cfg.uturn_frac), ("distractors", cfg.distractor_frac)):
                for i in _pick(split_rng, n_seq, frac):
                    behaviours[i][key] = True
        names, recipes = [], {}
        for i in range(n_seq):
            rng = np.random.default_rng([cfg.seed, si, i])
            name = f"night_{split}_{i + 1:04d}"
            level = levels[(i + offset) % len(levels)]
            sim, recipe = _sim_config(cfg, rng, level, i in fast, photos[split],
                                      textures[split] if textures else None, folder,
                                      i in oblique, behaviours[i])
            recipe.update(_render(cfg, rng, sim, n_frames, split_dir / name, i in follow,
                                  i in away))
            names.append(name)
            recipes[name] = recipe
            bar.update()
        (split_dir / "list.txt").write_text("".join(n + "\n" for n in names))
        meta["sequences"][split] = recipes
        meta["counts"][split] = {
            "sequences": n_seq, "frames": n_seq * n_frames,
            "absent_frames": sum(r["absent_frames"] for r in recipes.values()),
            "out_of_view_frames": sum(r["out_of_view_frames"] for r in recipes.values()),
            "attributes": _attribute_counts(list(recipes.values()))}
    bar.close()
    (cfg.out / "meta.json").write_text(json.dumps(meta, indent=1, sort_keys=True, default=str))
    return cfg.out
