"""A contact sheet of simulator frames on aerial textures: what the models learn from.

Why: a reader (and whoever tunes the simulator) should see the training world at a glance, the
daylight copy (the enhancer's target) beside the night frame the camera records, over several
textures, altitudes, camera tilts and darkness levels. Each tile is labelled with its texture,
altitude, ground sampling distance, tilt and darkness; the target's box is drawn on the night
frame. Deterministic for a seed.

Usage: ``mlkd-tracker textures sheet [--textures DIR] [--out FILE] [--scenes N]``.
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from mlkd_tracker.sim.camera import nadir_gsd
from mlkd_tracker.sim.ground import GroundConfig
from mlkd_tracker.sim.scene import NightScene, SimConfig
from mlkd_tracker.sim.texture_folder import DEFAULT_DIR, resolve_textures

__all__ = ["SheetConfig", "add_arguments", "contact_sheet", "main"]

DEFAULT_OUT = Path("docs/images/aerial_contact_sheet.jpg")
# (altitude m, camera tilt deg, darkness preset) of the scenes, cycled
# (even scenes are towns, odd ones countryside: the darker presets go to the lit towns)
VIEWS = ((80.0, 0.0, "dusk"), (120.0, 30.0, "night"), (150.0, 0.0, "dark"),
         (70.0, 35.0, "night"), (200.0, 15.0, "very_dark"), (100.0, 0.0, "night"))
CAR_LENGTH_M = 4.5


@dataclass
class SheetConfig:
    textures: str | Path = DEFAULT_DIR
    out: Path = DEFAULT_OUT
    scenes: int = 6
    columns: int = 2  # scenes per row (each scene is a day and a night tile)
    tile_width: int = 320
    seed: int = 0
    frames: int = 10  # frames rendered before the one shown (lights and motion settle)
    ground_size: int = 2048  # ground side, ground px (= image px at nadir)
    max_kb: float = 290.0  # the JPEG quality is lowered until the file is this small
    split: str | None = None  # textures of one split only


def _label(img: np.ndarray, lines: list[str]) -> None:
    """White text on a half-dark band at the top of ``img`` (in place)."""
    band = img[:14 * len(lines) + 4]
    band[:] = (band * 0.45).astype(np.uint8)
    for i, text in enumerate(lines):
        cv2.putText(img, text, (5, 13 + 14 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.38,
                    (255, 255, 255), 1, cv2.LINE_AA)


def _scene_tiles(cfg: SheetConfig, k: int, texture: str, folder) -> np.ndarray:
    alt, tilt, level = VIEWS[k % len(VIEWS)]
    width, height = 640, 480
    gsd = nadir_gsd(alt, 60.0, width)
    car = CAR_LENGTH_M / gsd
    sim = SimConfig(width=width, height=height, seed=cfg.seed * 1000 + k, altitude_m=alt,
                    ground_res_m=gsd, textures=str(folder.root), texture_names=[texture],
                    camera_tilt_deg=tilt, target_size_px=(car, 1.1 * car), target_class="car",
                    follow_roads=True, distractors=int(k % 2 == 0),
                    ground=GroundConfig(size=cfg.ground_size), lowlight=level)
    scene = NightScene(sim)
    for _ in range(max(cfg.frames, 1)):
        frame = scene.step()
    night = frame.image.copy()
    if frame.box is not None:
        x, y, w, h = frame.box
        cv2.rectangle(night, (int(x) - 2, int(y) - 2), (int(x + w) + 2, int(y + h) + 2),
                      (80, 255, 80), 1)
    info = scene.ground_info()
    tw = cfg.tile_width
    th = round(tw * height / width)
    day, night = (cv2.resize(im, (tw, th), interpolation=cv2.INTER_AREA) for im in (frame.clean,
                                                                                     night))
    _label(day, [f"{Path(texture).stem}  day copy",
                 f"{alt:.0f} m, {info['image_m_per_px']:.2f} m/px, tilt {tilt:.0f} deg"])
    _label(night, [f"night: {level}", f"{info['lamps']} lamps, texture "
                   f"{info['texture_m_per_px']:.2f} m/px"])
    return np.hstack([day, night])


def contact_sheet(cfg: SheetConfig) -> Path:
    """Render the sheet into ``cfg.out``; returns the path."""
    folder = resolve_textures(cfg.textures)
    if folder is None:
        raise FileNotFoundError(f"no aerial textures in {cfg.textures}")
    names = folder.names(cfg.split)
    if not names:
        raise FileNotFoundError(f"no textures of split {cfg.split!r} in {folder.root}")
    rng = np.random.default_rng(cfg.seed)
    # alternate towns (textures with street lights) and countryside, so both are shown
    lit = [str(n) for n in rng.permutation([n for n in names if folder.entry(n).light_mask])]
    unlit = [str(n) for n in rng.permutation([n for n in names if n not in set(lit)])]
    picks, used = [], [0, 0]
    for k in range(cfg.scenes):
        which = 0 if (k % 2 == 0 and lit) or not unlit else 1
        pool = (lit, unlit)[which]
        picks.append(pool[used[which] % len(pool)])
        used[which] += 1
    tiles = [_scene_tiles(cfg, k, name, folder) for k, name in enumerate(picks)]
    blank = np.zeros_like(tiles[0])
    rows = []
    for i in range(0, len(tiles), cfg.columns):
        row = tiles[i:i + cfg.columns]
        rows.append(np.hstack(row + [blank] * (cfg.columns - len(row))))
    sheet = np.vstack(rows)
    cfg.out.parent.mkdir(parents=True, exist_ok=True)
    for quality in range(88, 30, -4):
        ok, buf = cv2.imencode(".jpg", sheet, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if ok and len(buf) <= cfg.max_kb * 1024:
            break
    cfg.out.write_bytes(buf.tobytes())
    return cfg.out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = SheetConfig()
    parser.add_argument("--textures", default=str(d.textures),
                        help=f"folder of aerial images (default {d.textures})")
    parser.add_argument("--out", type=Path, default=d.out, help=f"(default {d.out})")
    parser.add_argument("--scenes", type=int, default=d.scenes)
    parser.add_argument("--columns", type=int, default=d.columns)
    parser.add_argument("--tile-width", type=int, default=d.tile_width)
    parser.add_argument("--seed", type=int, default=d.seed)
    parser.add_argument("--frames", type=int, default=d.frames,
                        help="frames rendered per scene, the last one is shown")
    parser.add_argument("--ground-size", type=int, default=d.ground_size)
    parser.add_argument("--split", choices=("train", "val", "test"))


def main(args: argparse.Namespace) -> int:
    fields = {f.name for f in dataclasses.fields(SheetConfig)}
    cfg = SheetConfig(**{k: v for k, v in vars(args).items() if k in fields and v is not None})
    out = contact_sheet(cfg)
    print(f"wrote {out} ({out.stat().st_size / 1024:.0f} KB)")
    return 0
