"""``mlkd-tracker bench detectors``: ms per camera frame of detector exports at several input sizes.

    mlkd-tracker bench detectors [--model models/detector.onnx ...] [--imgsz 320 --imgsz 640]
        [--image FRAME.jpg] [--threads 2] [--runs 50] [--out runs/bench] [--markdown BENCHMARKS.md]

Every model x input size is timed side by side on the same 640x480 frame (``--image``, e.g. a
synthetic test frame, else a noisy dark frame) with ONNX Runtime, through ``OnnxDetector.detect``
at detector_node's defaults: letterbox, network, decode and NMS, i.e. what the node pays per frame.
A fixed-size export is only timed at its own size. Params are counted from the ONNX initialisers
(no torch needed). Writes the ``detectors`` section of ``<out>/benchmarks.json`` and ``--markdown``.
"""
from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from mlkd_tracker.cli_types import positive_int

__all__ = ["add_arguments", "main", "onnx_params"]


def onnx_params(path: Path) -> int:
    """Number of weights stored in the graph (initialisers), i.e. the model's parameters."""
    import numpy as np
    import onnx
    graph = onnx.load(str(path), load_external_data=False).graph
    return int(sum(np.prod(t.dims, dtype=np.int64) for t in graph.initializer))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", dest="models", action="append", type=Path, default=None,
                        help="detector .onnx to time (repeat; default models/detector.onnx)")
    parser.add_argument("--imgsz", dest="sizes", action="append", type=positive_int, default=None,
                        help="network input side (repeat; default 320 and 640)")
    parser.add_argument("--image", type=Path, help="frame to detect on (default: noisy dark 640x480)")
    parser.add_argument("--threads", type=positive_int, default=2)
    parser.add_argument("--runs", type=positive_int, default=50)
    parser.add_argument("--out", type=Path, default=Path("runs/bench"))
    parser.add_argument("--markdown", type=Path,
                        help="also rewrite the benchmark's section of this markdown file "
                        "(e.g. BENCHMARKS.md; none by default)")


def _detectors(models: list[Path], sizes: list[int], threads: int) -> list[tuple]:
    """(model, size, detector) for every pair that can run, each loaded once; a bad file raises
    ModelError before anything is timed."""
    from mlkd_tracker.runtime.detector import ModelError, OnnxDetector
    out = []
    for model in models:
        for size in sizes:
            try:
                out.append((model, size, OnnxDetector(model, threads=threads, input_size=size)))
            except ModelError:
                raise
            except ValueError as exc:  # a fixed-size export at another size, or off-stride
                print(f"skipped {model} at {size}: {exc}", file=sys.stderr)
    return out


def _rows(detectors: list[tuple], frame, runs: int) -> list[dict]:
    from mlkd_tracker.eval.speed import time_side_by_side
    params = {model: onnx_params(model) for model, _, _ in detectors}
    speeds = time_side_by_side([det.detect for _, _, det in detectors], frame, runs=runs)
    return [{"model": str(model), "name": det.name, "imgsz": size, "params": params[model],
             "input": list(det.preprocess(frame)[0].shape[2:]), **speed}
            for (model, size, det), speed in zip(detectors, speeds)]


def main(args: argparse.Namespace) -> int:
    import cv2
    import numpy as np
    from mlkd_tracker.eval.bench_report import machine_info, update_json, write_section
    from mlkd_tracker.runtime.detector import ModelError
    models = args.models or [Path("models/detector.onnx")]
    sizes = args.sizes or [320, 640]
    if args.image is not None:
        frame = cv2.imread(str(args.image), cv2.IMREAD_COLOR)
        if frame is None:
            print(f"mlkd-tracker bench detectors: error: {args.image} is not a readable image",
                  file=sys.stderr)
            return 2
    else:
        frame = np.random.default_rng(0).integers(0, 60, (480, 640, 3), dtype=np.uint8)
    try:
        detectors = _detectors(models, sizes, args.threads)
    except ModelError as exc:
        print(f"mlkd-tracker bench detectors: error: {exc}", file=sys.stderr)
        return 2
    rows = _rows(detectors, frame, args.runs)
    words = ["mlkd-tracker", "bench", "detectors", *(f"--model={m}" for m in models),
             *(f"--imgsz={s}" for s in sizes), *(["--image", str(args.image)] if args.image else []),
             "--threads", str(args.threads), "--runs", str(args.runs)]
    h, w = frame.shape[:2]
    result = {"command": shlex.join(words), "machine": machine_info(), "frame": [w, h],
              "threads": args.threads, "detectors": rows}
    update_json(args.out / "benchmarks.json", "detectors", result)
    lines = ["## Detectors: per camera frame at each input size", "", f"`{result['command']}`", "",
             f"{w}x{h} frames, ONNX Runtime, {args.threads} thread(s), median of {args.runs} "
             "`detect` calls (letterbox, network, decode, NMS).", "",
             "| model | params (M) | imgsz | network input (HxW) | ms/frame (median) | "
             "ms/frame (p90) | FPS |", "|---|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['name']} (`{r['model']}`) | {r['params'] / 1e6:.2f} | {r['imgsz']} | "
              f"{r['input'][0]}x{r['input'][1]} | {r['ms_median']:.1f} | {r['ms_p90']:.1f} | "
              f"{r['fps']:.0f} |" for r in rows]
    markdown = "\n".join(lines)
    if args.markdown:
        write_section(args.markdown, "detectors", markdown)
    print(markdown)
    return 0
