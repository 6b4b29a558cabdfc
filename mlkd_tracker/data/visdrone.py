"""VisDrone2019-DET -> Ultralytics/YOLO layout, for users who have the real data set.

Input: ``ROOT`` holding any of the official split folders (``VisDrone2019-DET-train``,
``-val``, ``-test-dev``), each with ``images/*.jpg`` and ``annotations/*.txt``. An annotation
line is ``bbox_left,bbox_top,bbox_width,bbox_height,score,object_category,truncation,occlusion``
(pixels; a trailing comma is common). Output::

    <out>/images/{train,val,test}/<name>.jpg   copies (or links, ``mode``) of the images
    <out>/labels/{train,val,test}/<name>.txt   ``class cx cy w h``, normalised to [0, 1]
    <out>/data.yaml                            path, the splits present, nc, names
    <out>/meta.json                            source, counts, and why rows were dropped

The rules, in the order they are applied to a row (each drop is counted in ``meta.json``):

1. category 0 ("ignored regions") and 11 ("others") are dropped: they are not objects of the ten
   evaluated classes, and the official evaluation ignores detections there;
2. score 0 rows are dropped: in the DET ground truth the score flags whether a box is
   considered in evaluation (1) or ignored (0);
3. the box is clipped to the image (a few official boxes run past the border);
4. boxes narrower or lower than ``min_size_px`` after clipping are dropped (degenerate).

The ten classes pedestrian, people, bicycle, car, van, truck, tricycle, awning-tricycle, bus,
motor (categories 1..10) become classes 0..9. Anything else in a row (other categories, fewer
than 8 fields, non-numbers) is an error naming the file and line, not a silent skip. An image
without an annotation file gets an empty label file (a background image) and is counted.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import yaml
from tqdm import tqdm

from mlkd_tracker.data.dataset_output import prepare_output, write_timed

__all__ = ["CLASSES", "SPLIT_DIRS", "VisDroneConfig", "convert", "parse_annotation"]

CLASSES = ("pedestrian", "people", "bicycle", "car", "van", "truck", "tricycle",
           "awning-tricycle", "bus", "motor")
SPLIT_DIRS = {"train": "VisDrone2019-DET-train", "val": "VisDrone2019-DET-val",
              "test": "VisDrone2019-DET-test-dev"}
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
MODES = ("copy", "symlink", "hardlink")
_IGNORED, _OTHERS = 0, 11


@dataclass
class VisDroneConfig:
    """What to convert and how."""

    root: Path
    out: Path = Path("data/visdrone_yolo")
    mode: str = "copy"  # copy | symlink | hardlink (links save ~2 GB; copies survive moving ROOT)
    min_size_px: float = 1.0  # clipped boxes narrower or lower than this are dropped
    overwrite: bool = False
    progress: bool = True

    def __post_init__(self) -> None:
        self.root, self.out = Path(self.root), Path(self.out)
        if self.mode not in MODES or self.min_size_px <= 0:
            raise ValueError(f"invalid VisDroneConfig (mode one of {MODES}, min_size_px > 0): "
                             f"{self}")


def parse_annotation(text: str, width: int, height: int, min_size_px: float = 1.0,
                     source: str = "annotation") -> tuple[list[str], Counter]:
    """YOLO label lines of one VisDrone annotation text, and row counts by what happened.

    The counter holds the drop reasons (``ignored_region``, ``others``, ``score_0``,
    ``degenerate``) and ``clipped`` (kept boxes that were cut to the image). ``width`` x
    ``height`` is the image size in pixels. Raises ValueError (naming ``source`` and the line) on
    a malformed row.
    """
    lines, tally = [], Counter()
    for lineno, raw in enumerate(text.splitlines(), 1):
        row = raw.strip().rstrip(",")
        if not row:
            continue
        parts = [p.strip() for p in row.split(",")]
        try:
            if len(parts) != 8:
                raise ValueError(f"expected 8 comma-separated values, got {len(parts)}")
            left, top, w, h = (float(p) for p in parts[:4])
            score, category = int(parts[4]), int(parts[5])
            if not _IGNORED <= category <= _OTHERS:
                raise ValueError(f"unknown object_category {category} (0..11)")
        except ValueError as exc:
            raise ValueError(f"{source}:{lineno}: {exc}: {raw!r}") from None
        if category == _IGNORED:
            tally["ignored_region"] += 1
            continue
        if category == _OTHERS:
            tally["others"] += 1
            continue
        if score == 0:
            tally["score_0"] += 1
            continue
        x0, y0 = max(left, 0.0), max(top, 0.0)
        x1, y1 = min(left + w, float(width)), min(top + h, float(height))
        if x1 - x0 < min_size_px or y1 - y0 < min_size_px:
            tally["degenerate"] += 1
            continue
        if (x0, y0, x1, y1) != (left, top, left + w, top + h):
            tally["clipped"] += 1
        vals = ((x0 + x1) / 2 / width, (y0 + y1) / 2 / height, (x1 - x0) / width,
                (y1 - y0) / height)
        lines.append(f"{category - 1} " + " ".join(f"{v:.6f}" for v in vals) + "\n")
    return lines, tally


def _image_size(path: Path) -> tuple[int, int]:
    from PIL import Image  # reads the header only

    with Image.open(path) as im:
        return im.size


def _place(src: Path, dst: Path, mode: str) -> None:
    if mode == "copy":
        shutil.copyfile(src, dst)
    elif mode == "symlink":
        dst.symlink_to(src.resolve())
    else:
        os.link(src, dst)


def _prepare(cfg: VisDroneConfig) -> dict[str, Path]:
    present = {s: cfg.root / d for s, d in SPLIT_DIRS.items() if (cfg.root / d).is_dir()}
    if not present:
        raise FileNotFoundError(f"{cfg.root} holds none of {', '.join(SPLIT_DIRS.values())}")
    for split, d in present.items():
        if not (d / "images").is_dir():
            raise FileNotFoundError(f"{d} has no images/ folder")
    prepare_output(cfg.out, [cfg.out / n for n in ("meta.json", "data.yaml", "images", "labels")],
                   cfg.overwrite)
    return present


def _convert_split(cfg: VisDroneConfig, split: str, src: Path) -> dict:
    img_out, lab_out = cfg.out / "images" / split, cfg.out / "labels" / split
    img_out.mkdir(parents=True)
    lab_out.mkdir(parents=True)
    images = sorted(p for p in (src / "images").iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    ann_dir = src / "annotations"
    stems = {p.stem for p in images}
    orphans = sorted(p.name for p in ann_dir.glob("*.txt") if p.stem not in stems) \
        if ann_dir.is_dir() else []
    per_class, tally = Counter(), Counter()
    no_annotation = 0
    for img in tqdm(images, desc=f"visdrone {split}", unit="img", disable=not cfg.progress):
        ann = ann_dir / f"{img.stem}.txt"
        lines: list[str] = []
        if ann.is_file():
            width, height = _image_size(img)
            lines, rows = parse_annotation(ann.read_text(), width, height, cfg.min_size_px,
                                           str(ann))
            tally.update(rows)
        else:
            no_annotation += 1
        _place(img, img_out / img.name, cfg.mode)
        (lab_out / f"{img.stem}.txt").write_text("".join(lines))
        per_class.update(CLASSES[int(line.split()[0])] for line in lines)
    clipped = tally.pop("clipped", 0)
    return {"images": len(images), "objects": sum(per_class.values()),
            "per_class": {c: per_class[c] for c in CLASSES}, "clipped": clipped,
            "dropped": dict(sorted(tally.items())), "images_without_annotation": no_annotation,
            "annotations_without_image": orphans}


def convert(cfg: VisDroneConfig) -> Path:
    """Convert every split present under ``cfg.root`` into ``cfg.out``; returns ``cfg.out``.

    ``meta.json`` is written last, so its presence marks a complete conversion.
    """
    present = _prepare(cfg)
    counts = {split: _convert_split(cfg, split, src) for split, src in present.items()}
    data = {"path": str(cfg.out.resolve()),
            **{split: f"images/{split}" for split in present},
            "nc": len(CLASSES), "names": dict(enumerate(CLASSES))}
    (cfg.out / "data.yaml").write_text(
        "# VisDrone2019-DET in YOLO layout (mlkd-tracker convert-visdrone); see meta.json\n"
        + yaml.safe_dump(data, sort_keys=False))
    config = {k: str(v) if isinstance(v, Path) else v for k, v in dataclasses.asdict(cfg).items()
              if k not in ("overwrite", "progress")}
    meta = {"source": str(cfg.root.resolve()), "config": config, "classes": list(CLASSES),
            "counts": counts}
    (cfg.out / "meta.json").write_text(json.dumps(meta, indent=1, sort_keys=True))
    return cfg.out


# ----------------------------------------------------------------------------- CLI
def add_arguments(parser) -> None:
    """``mlkd-tracker convert-visdrone ROOT --out DIR [--mode ...]``."""
    d = VisDroneConfig(root=Path("."))
    parser.add_argument("root", type=Path,
                        help=f"folder holding {', '.join(SPLIT_DIRS.values())} (any of them)")
    parser.add_argument("--out", type=Path, default=d.out, help=f"(default {d.out})")
    parser.add_argument("--mode", choices=MODES, default=d.mode,
                        help="how images get into the output (default copy)")
    parser.add_argument("--min-size-px", type=float, default=d.min_size_px,
                        help="drop clipped boxes narrower or lower than this (default 1)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output")
    parser.add_argument("--no-progress", action="store_true")


def main(args) -> int:
    """Convert and print the counts per split."""
    cfg = VisDroneConfig(root=args.root, out=args.out, mode=args.mode,
                         min_size_px=args.min_size_px, overwrite=args.overwrite,
                         progress=not args.no_progress)
    written = write_timed(convert, cfg)  # no size: linked images would count their sources
    print(f"wrote {written.out}; train with data={written.out / 'data.yaml'}")
    for split, c in written.counts.items():
        drops = ", ".join(f"{v} {k}" for k, v in c["dropped"].items()) or "none"
        print(f"  {split}: {c['images']} images, {c['objects']} objects; rows: {drops}")
    return 0
