"""``mlkd-tracker bench enhancers``: ms per frame of enhancer exports at a camera resolution.

    mlkd-tracker bench enhancers [--model models/slkd_enhancer.onnx ...] [--size 640x480]
        [--threads 2] [--runs 50] [--out runs/bench] [--markdown BENCHMARKS.md]

Every model is timed side by side on the same noisy dark frame with ONNX Runtime (median and
p90 of ``--runs`` calls after warm-up, padding and conversion included: what enhancer_node pays
per frame). Writes the ``enhancers`` section of ``<out>/benchmarks.json`` and ``--markdown``.
"""
from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from mlkd_tracker.cli_types import positive_int

__all__ = ["add_arguments", "main"]


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size '{text}' must look like 640x480") from None
    if w < 1 or h < 1:
        raise argparse.ArgumentTypeError(f"size '{text}' must be positive")
    return w, h


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", dest="models", action="append", type=Path, default=None,
                        help="enhancer .onnx to time (repeat; default models/slkd_enhancer.onnx)")
    parser.add_argument("--size", type=_size, default=(640, 480), help="frame WxH (640x480)")
    parser.add_argument("--threads", type=positive_int, default=2)
    parser.add_argument("--runs", type=positive_int, default=50)
    parser.add_argument("--out", type=Path, default=Path("runs/bench"))
    parser.add_argument("--markdown", type=Path,
                        help="also rewrite the benchmark's section of this markdown file "
                        "(e.g. BENCHMARKS.md; none by default)")


def main(args: argparse.Namespace) -> int:
    from mlkd_tracker.eval.bench_report import machine_info, update_json, write_section
    from mlkd_tracker.eval.speed import time_side_by_side
    from mlkd_tracker.runtime.enhancer import ModelError, OnnxEnhancer
    models = args.models or [Path("models/slkd_enhancer.onnx")]
    w, h = args.size
    try:
        engines = {str(m): OnnxEnhancer(m, threads=args.threads) for m in models}
    except ModelError as exc:
        print(f"mlkd-tracker bench enhancers: error: {exc}", file=sys.stderr)
        return 2
    speeds = time_side_by_side([e.enhance for e in engines.values()], height=h, width=w,
                               runs=args.runs)
    rows = [{"model": path, "name": e.name, **speed}
            for (path, e), speed in zip(engines.items(), speeds)]
    words = ["mlkd-tracker", "bench", "enhancers", *(f"--model={m}" for m in models),
             "--size", f"{w}x{h}", "--threads", str(args.threads), "--runs", str(args.runs)]
    result = {"command": shlex.join(words), "machine": machine_info(), "size": [w, h],
              "threads": args.threads, "enhancers": rows}
    update_json(args.out / "benchmarks.json", "enhancers", result)
    lines = [f"## Enhancers: per {w}x{h} frame", "", f"`{result['command']}`", "",
             f"{w}x{h} frames, ONNX Runtime, {args.threads} thread(s), median of {args.runs} runs, "
             "the models interleaved.",
             "", "| model | ms/frame (median) | ms/frame (p90) | FPS |", "|---|---:|---:|---:|"]
    lines += [f"| {r['name']} (`{r['model']}`) | {r['ms_median']:.1f} | {r['ms_p90']:.1f} | "
              f"{r['fps']:.0f} |" for r in rows]
    markdown = "\n".join(lines)
    if args.markdown:
        write_section(args.markdown, "enhancers", markdown)
    print(markdown)
    return 0
