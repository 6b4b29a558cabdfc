"""``mlkd-tracker dataset-stats ROOT``: what a tracking data set holds, per split.

    mlkd-tracker dataset-stats data/synth_aerial          # markdown table on stdout
    mlkd-tracker dataset-stats data/synth_aerial --json stats.json

For each split: sequences, frames, frames with the target absent, ground textures or photos used
(from the generator's ``meta.json``), target size (square root of the box area, px) as
percentiles, and how many sequences have each recorded attribute (occlusion, out of view,
re-entry, look-alikes, stops, U-turns, ...; the simulator writes them) and each target class.
Works on any GOT-10k-layout folder; the columns that need ``meta.json`` are empty without it.
Disk size is measured too, so the numbers a model card quotes come from one command.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from mlkd_tracker.data.sequences import read_dataset

SPLITS = ("train", "val", "test")


def _disk_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def split_stats(folder: Path, meta: dict, split: str) -> dict:
    sequences = read_dataset(folder)
    boxes = np.concatenate([s.boxes[~s.absent] for s in sequences]) if sequences else np.empty((0, 4))
    sizes = np.sqrt(np.clip(boxes[:, 2] * boxes[:, 3], 0, None)) if len(boxes) else np.empty(0)
    counts = meta.get("counts", {}).get(split, {})
    used = meta.get("textures", {}).get(split) if meta.get("ground") == "aerial" else \
        meta.get("photos", {}).get(split)
    return {
        "sequences": len(sequences),
        "frames": int(sum(len(s.frames) for s in sequences)),
        "absent_frames": int(sum(int(s.absent.sum()) for s in sequences)),
        "ground_files": len(used) if used is not None else None,
        "target_size_px": {f"p{q}": round(float(np.percentile(sizes, q)), 1)
                           for q in (5, 50, 95)} if len(sizes) else {},
        "attributes": {k: v for k, v in counts.get("attributes", {}).items() if k != "target_class"},
        "target_class": counts.get("attributes", {}).get("target_class", {}),
        "disk_mb": round(_disk_bytes(folder) / 1e6, 1),
    }


def dataset_stats(root: Path) -> dict:
    root = Path(root)
    meta_path = root / "meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    splits = [s for s in SPLITS if (root / s).is_dir()]
    if not splits:
        raise FileNotFoundError(f"{root} has no train/val/test split folders")
    return {"root": str(root), "ground": meta.get("ground", "unknown"),
            "splits": {s: split_stats(root / s, meta, s) for s in splits}}


def format_markdown(stats: dict) -> str:
    splits = stats["splits"]
    names = list(splits)
    rows = [("sequences", lambda s: s["sequences"]), ("frames", lambda s: s["frames"]),
            ("frames with the target absent", lambda s: s["absent_frames"]),
            (f"ground files ({stats['ground']})", lambda s: "" if s["ground_files"] is None else s["ground_files"]),
            ("target size p5 / p50 / p95 (px)",
             lambda s: " / ".join(f"{v:g}" for v in s["target_size_px"].values())),
            ("disk (MB)", lambda s: s["disk_mb"])]
    attrs = sorted({a for s in splits.values() for a in s["attributes"]})
    classes = sorted({c for s in splits.values() for c in s["target_class"]})
    rows += [(f"sequences with {a.replace('_', ' ')}", lambda s, a=a: s["attributes"].get(a, 0)) for a in attrs]
    rows += [(f"target class {c}", lambda s, c=c: s["target_class"].get(c, 0)) for c in classes]
    lines = [f"| {stats['root']} | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    lines += [f"| {label} | " + " | ".join(str(get(splits[n])) for n in names) + " |" for label, get in rows]
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("root", type=Path, help="data set folder with train/ val/ test/")
    parser.add_argument("--json", type=Path, help="also write the numbers as JSON")


def main(args: argparse.Namespace) -> int:
    try:
        stats = dataset_stats(args.root)
    except (FileNotFoundError, ValueError) as exc:
        print(f"mlkd-tracker dataset-stats: {exc}", file=sys.stderr)
        return 2
    print(format_markdown(stats))
    if args.json:
        args.json.write_text(json.dumps(stats, indent=2))
    return 0
