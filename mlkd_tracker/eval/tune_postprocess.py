"""`mlkd-tracker tune`: choose a Siamese model's post-processing on the VALIDATION split.

A grid over the cosine-window weight, the scale/aspect penalty and the size smoothing; each
point is a full one-pass evaluation, ranked by success AUC. The chosen values are shipped in
the model's metadata (``mlkd-tracker export --postprocess``). Tuning on the test split would
inflate the reported numbers, which is why the command names the split it was given.
"""
from __future__ import annotations

import argparse
import itertools
import json
from dataclasses import replace
from pathlib import Path

from tqdm import tqdm

from mlkd_tracker.eval.ope import score_dataset
from mlkd_tracker.eval.ope_runner import run_sequence
from mlkd_tracker.runtime.siamese_postprocess import PostprocessConfig
from mlkd_tracker.runtime.siamese_tracker import SiameseTracker

# Includes PostprocessConfig's defaults, so the gain from tuning is visible.
DEFAULT_GRID = {"window_influence": [0.25, 0.4, 0.55], "penalty_k": [0.02, 0.06, 0.15],
                "size_lr": [0.2, 0.4, 0.6]}


def tune(engine, sequences, grid: dict[str, list[float]] = DEFAULT_GRID,
         base: PostprocessConfig = PostprocessConfig(), max_frames: int | None = None,
         progress: bool = True) -> list[dict]:
    """Rows ``{**params, auc, precision_20, norm_precision_20}``, best AUC first."""
    keys = list(grid)
    rows = []
    for values in tqdm(list(itertools.product(*(grid[k] for k in keys))), desc="post-processing grid",
                       disable=not progress):
        cfg = replace(base, **dict(zip(keys, values)))
        results = {}
        for seq in sequences:
            pred = run_sequence(SiameseTracker(engine, cfg), seq, max_frames).boxes
            results[seq.name] = (pred, seq.boxes[: len(pred)])
        score = score_dataset(results)
        rows.append({**cfg.to_dict(), "auc": score.auc, "precision_20": score.precision_20,
                     "norm_precision_20": score.norm_precision_20})
    return sorted(rows, key=lambda r: -r["auc"])


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="ONNX export (stem or either file)")
    parser.add_argument("--dataset", required=True, help="the VALIDATION split, e.g. data/synth_night/val")
    parser.add_argument("--out", required=True, help="JSON file for the ranked grid")
    parser.add_argument("--max-frames", type=int, default=None)
    parser.add_argument("--threads", type=int, default=1)


def main(args: argparse.Namespace) -> int:
    from mlkd_tracker.data.sequences import read_dataset
    from mlkd_tracker.runtime.onnx_siamese import OnnxSiameseEngine
    from mlkd_tracker.runtime.tracker_factory import parse_spec
    # The model is found as the tracker node and `mlkd-tracker eval` find onnx:<model>; one
    # engine serves the whole grid (only the post-processing changes between points).
    engine = OnnxSiameseEngine(parse_spec(f"onnx:{args.model}").arg, threads=args.threads)
    rows = tune(engine, read_dataset(Path(args.dataset)), max_frames=args.max_frames)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    best = {k: rows[0][k] for k in PostprocessConfig.__dataclass_fields__}
    out.write_text(json.dumps({"dataset": str(args.dataset), "best": best, "grid": rows}, indent=2))
    default = next(r for r in rows if _is_default(r))
    print(f"best on {args.dataset}: {json.dumps(best)}: AUC {rows[0]['auc']:.3f} "
          f"(defaults: {default['auc']:.3f})")
    return 0


def _is_default(row: dict) -> bool:
    d = PostprocessConfig().to_dict()
    return all(abs(row[k] - d[k]) < 1e-9 for k in DEFAULT_GRID)
