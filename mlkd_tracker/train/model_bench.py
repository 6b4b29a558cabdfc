"""`mlkd-tracker bench models`: params, MACs per frame and ONNX Runtime speed of every network
preset (or given exports), 1 and 2 threads, as a markdown table and JSON.

Speed does not depend on the weights, so presets without a trained export are exported with
their initial weights into a temporary folder.
"""
from __future__ import annotations

import argparse
import json
import platform
import tempfile
from pathlib import Path

import torch

from mlkd_tracker.eval.speed import search_branch_ms
from mlkd_tracker.train.nets.presets import PRESETS
from mlkd_tracker.train.nets.siamese import build_tracker
from mlkd_tracker.train.nets.summary import model_summary


def _export_preset(name: str, folder: Path) -> Path:
    from mlkd_tracker.train.export import export_tracker
    net = PRESETS[name]
    model = build_tracker(net).eval()
    ckpt = folder / f"{name}.pt"
    torch.save({"model": model.state_dict(), "net_config": net.to_dict(), "kind": "untrained"}, ckpt)
    export_tracker(ckpt, folder / name, training_data="none (untrained; speed only)", check=False)
    return folder / name


def bench(models: list[str], exports: dict[str, Path], runs: int) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in models:
            summary = model_summary(PRESETS[name])
            path = exports.get(name) or _export_preset(name, Path(tmp))
            row = {"model": name, "params_M": summary["params"] / 1e6,
                   "search_GMAC": summary["search_macs"] / 1e9,
                   "template_GMAC": summary["template_macs"] / 1e9}
            for threads in (1, 2):
                speed = search_branch_ms(path, threads, runs=runs)
                row[f"ms_{threads}t"], row[f"fps_{threads}t"] = speed["median_ms"], speed["fps"]
            rows.append(row)
    return rows


def format_table(rows: list[dict]) -> str:
    lines = ["| model | params (M) | GMAC / frame | search ms (1 thread) | FPS (1 thread) | "
             "search ms (2 threads) | FPS (2 threads) |", "|---|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['model']} | {r['params_M']:.3f} | {r['search_GMAC']:.3f} | {r['ms_1t']:.2f} | "
              f"{r['fps_1t']:.0f} | {r['ms_2t']:.2f} | {r['fps_2t']:.0f} |" for r in rows]
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("models", nargs="*", help=f"presets (default: all of {sorted(PRESETS)})")
    parser.add_argument("--export", action="append", default=[], metavar="PRESET=STEM",
                        help="time this trained export instead of an untrained one")
    parser.add_argument("--runs", type=int, default=300, help="timed runs per setting (median)")
    parser.add_argument("--out", help="JSON output file")


def main(args: argparse.Namespace) -> int:
    models = args.models or sorted(PRESETS)
    exports = dict((k, Path(v)) for k, _, v in (e.partition("=") for e in args.export))
    rows = bench(models, exports, args.runs)
    table = format_table(rows)
    machine = f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} cores visible"
    print(f"mlkd-tracker bench models ({args.runs} runs per setting, median; {machine})\n{table}")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({"machine": machine, "rows": rows}, indent=2))
    return 0
