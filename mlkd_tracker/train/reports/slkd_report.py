"""`mlkd-tracker report slkd`: Teacher A against SLKD students, as images and as a tracker's input.

    mlkd-tracker report slkd --enhancer teacher_a=runs/slkd/teacher_a/best.pt \\
        --enhancer slkd=runs/slkd/slkd/best.pt --enhancer l1_only=runs/slkd/l1_only/best.pt \\
        [--tracker models/student_mobile] [--compare models/mlkd_track] \\
        [--data data/synth_night/test] [--out runs/slkd/report] [--step 10] [--threads 2] \\
        [--versus l1_only]

Each enhancer (an SLKD checkpoint, exported here to ONNX with a parity check, or an ``.onnx``)
is scored on every ``step``-th test frame against its clean version (PSNR, SSIM, at full
640x480), timed at 640x480 with ONNX Runtime, costed (params, MACs), and put in front of the
tracker's crops for a one-pass evaluation on the test split. The table also has the night frame
itself (no enhancer), the tracker alone and ``--compare`` trackers (MLKD-Track, the distilled
alternative). PSNR differences to the first enhancer (and to ``--versus``) come with a paired
bootstrap interval over the test sequences. Writes ``report.md``, ``report.json``, ``ope.png``
and ``samples.png``.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from mlkd_tracker.cli_types import positive_int

__all__ = ["add_arguments", "main", "build_slkd_report", "psnr_differences"]


def _labelled(text: str) -> tuple[str, Path]:
    label, sep, path = text.partition("=")
    if not sep or not label or not path:
        raise argparse.ArgumentTypeError(f"'{text}' must look like LABEL=PATH (.pt or .onnx)")
    return label, Path(path)


def _onnx(label: str, path: Path, out: Path) -> Path:
    """An enhancer as ONNX: exported from an SLKD checkpoint, or the given ``.onnx``."""
    if not path.is_file():
        raise FileNotFoundError(f"enhancer {label}: '{path}' does not exist")
    if path.suffix == ".onnx":
        return path
    from mlkd_tracker.train.enhancer_export import export_enhancer
    return export_enhancer(path, out / "onnx" / f"{label}.onnx")


def _cost(engine) -> dict[str, int]:
    from mlkd_tracker.train.nets.enhancer_unet import UNetEnhancerConfig, enhancer_cost
    return enhancer_cost(UNetEnhancerConfig.from_dict(json.loads(engine.meta["net_config"])))


def _track(specs: dict[str, str], data: Path, out: Path, threads: int,
           max_frames: int | None) -> dict[str, Any]:
    from mlkd_tracker.data.sequences import read_dataset
    from mlkd_tracker.eval.eval_cli import thread_limit
    from mlkd_tracker.eval.ope_runner import run_dataset
    from mlkd_tracker.eval.plots import plot_ope
    from mlkd_tracker.eval.tracker_registry import parse_spec
    parsed = {label: parse_spec(f"{label}={spec}") for label, spec in specs.items()}
    sequences = read_dataset(data)
    with thread_limit(threads):
        scores = {label: run_dataset(spec, sequences, out / "results", progress=True,
                                     max_frames=max_frames) for label, spec in parsed.items()}
    plot_ope(scores, out / "ope.png", title=f"tracking behind each enhancer — {data.name}")
    return scores


def build_slkd_report(enhancers: list[tuple[str, Path]], tracker: str, compare: list[str],
                      data: Path, out: Path, step: int = 10, threads: int = 2,
                      max_frames: int | None = None, progress: bool = True,
                      versus: str | None = None) -> Path:
    from mlkd_tracker.eval.image_quality import evaluate_quality, frame_pairs
    from mlkd_tracker.eval.speed import time_per_frame
    from mlkd_tracker.eval.slkd_plots import plot_samples
    from mlkd_tracker.runtime.enhancer import OnnxEnhancer
    out.mkdir(parents=True, exist_ok=True)
    labels = [label for label, _ in enhancers]
    if len(set(labels)) != len(labels) or not labels:
        raise ValueError(f"enhancer labels must be unique and at least one: {labels}")
    if versus is not None and versus not in labels:
        raise ValueError(f"--versus {versus!r} is not one of the enhancers {labels}")
    onnx = {label: _onnx(label, path, out) for label, path in enhancers}
    engines = {label: OnnxEnhancer(path, threads=threads) for label, path in onnx.items()}
    pairs = frame_pairs(data, step)
    rows = [{"label": "night input (no enhancer)", **evaluate_quality(None, pairs, progress, "input")}]
    for label, engine in engines.items():
        rows.append({"label": label, "onnx": str(onnx[label]),
                     **evaluate_quality(engine.enhance, pairs, progress, label),
                     **_cost(engine), **time_per_frame(engine.enhance)})
    tracker_label = Path(tracker).name
    specs = {tracker_label: f"onnx:{tracker}"}
    specs |= {f"{label}+{tracker_label}": f"enhanced:{path}+{tracker}"
              for label, path in onnx.items()}
    specs |= {Path(c).name: f"onnx:{c}" for c in compare}
    scores = _track(specs, data, out, threads, max_frames)
    tracking = [{"label": k, "success": s.auc, "precision": s.precision_20,
                 "norm_precision": s.norm_precision_20,
                 "fps": s.fps if math.isfinite(s.fps) else None} for k, s in scores.items()]
    plot_samples(engines, pairs, out / "samples.png")
    report = {"data": str(data), "step": step, "threads": threads, "quality": rows,
              "psnr_differences": psnr_differences(rows[1:], [labels[0], versus]),
              "tracking": tracking, "tracker": tracker}
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    md = out / "report.md"
    md.write_text(_markdown(report))
    return md


def psnr_differences(rows: list[dict[str, Any]], baselines: list[str | None]) -> list[dict]:
    """Each enhancer's PSNR minus each baseline's, with a 95 % paired bootstrap interval over
    the test sequences: with a dozen sequences cut from three photos, a few tenths of a dB can
    be the photos, and the interval says when it is."""
    from mlkd_tracker.eval.paired_difference import paired_difference
    by_label = {r["label"]: r["psnr_by_sequence"] for r in rows}
    if any(len(scores) < 2 for scores in by_label.values()):
        return []  # one sequence: nothing to resample
    out = []
    for base in dict.fromkeys(b for b in baselines if b is not None):
        for label, scores in by_label.items():
            if label == base:
                continue
            d = paired_difference(scores, by_label[base])
            out.append({"label": label, "versus": base, "mean": d.mean, "low": d.low,
                        "high": d.high, "n_sequences": d.n_sequences})
    return out


def _f(v: float | None, fmt: str, scale: float = 1.0) -> str:
    return "—" if v is None or not math.isfinite(v) else f"{v * scale:{fmt}}"


def _markdown(r: dict[str, Any]) -> str:
    ref = next((q for q in r["quality"][1:]), None)
    lines = [f"# SLKD report on {r['data']}", "",
             f"Quality on every {r['step']}-th frame ({r['quality'][0]['n_frames']} frames, "
             f"640x480, uint8) against the clean frame. Cost at 640x480: params, GMAC (convs), "
             f"ONNX Runtime median ms/frame with {r['threads']} threads. "
             f"\"vs {ref['label'] if ref else '—'}\" = % of the first enhancer's value.", "",
             "| enhancer | PSNR (dB) | SSIM | params (k) | GMAC | ms/frame | FPS | PSNR vs ref | "
             "GMAC vs ref |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for q in r["quality"]:
        cost = "params" in q
        lines.append(
            f"| {q['label']} | {q['psnr']:.2f} | {q['ssim']:.3f} | "
            f"{_f(q.get('params'), '.1f', 1e-3) if cost else '—'} | "
            f"{_f(q.get('macs'), '.3f', 1e-9) if cost else '—'} | {_f(q.get('ms_median'), '.1f')} | "
            f"{_f(q.get('fps'), '.0f')} | "
            f"{_f(100 * q['psnr'] / ref['psnr'], '.1f') + ' %' if ref else '—'} | "
            f"{_f(100 * q['macs'] / ref['macs'], '.1f') + ' %' if cost and ref else '—'} |")
    diffs = r.get("psnr_differences", [])
    if diffs:
        lines += ["", f"PSNR differences (dB) with a 95 % paired bootstrap interval over the "
                  f"{diffs[0]['n_sequences']} test sequences (an interval without 0 is resolved):",
                  "", "| enhancer | versus | ΔPSNR (dB) | 95 % interval |", "|---|---|---:|---:|"]
        lines += [f"| {d['label']} | {d['versus']} | {d['mean']:+.2f} | "
                  f"[{d['low']:+.2f}, {d['high']:+.2f}] |" for d in diffs]
    lines += ["", f"Tracking on the same split (one-pass evaluation, ×100), the enhancer on the "
              f"crops of `{r['tracker']}`:", "",
              "| tracker | success | precision | norm. precision | FPS |", "|---|---:|---:|---:|---:|"]
    for t in r["tracking"]:
        lines.append(f"| {t['label']} | {_f(t['success'], '.1f', 100)} | "
                     f"{_f(t['precision'], '.1f', 100)} | {_f(t['norm_precision'], '.1f', 100)} | "
                     f"{_f(t['fps'], '.0f')} |")
    lines += ["", "![tracking](ope.png)", "", "![samples](samples.png)", ""]
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--enhancer", type=_labelled, action="append", required=True,
                        metavar="LABEL=PATH", help="an SLKD checkpoint (.pt) or enhancer .onnx; "
                        "repeat; the first is the reference (Teacher A)")
    parser.add_argument("--tracker", default="models/student_mobile",
                        help="exported student the enhancers are put in front of")
    parser.add_argument("--compare", action="append", default=[],
                        help="other exported trackers to list (e.g. models/mlkd_track)")
    parser.add_argument("--data", type=Path, default=Path("data/synth_night/test"))
    parser.add_argument("--out", type=Path, default=Path("runs/slkd/report"))
    parser.add_argument("--step", type=positive_int, default=10, help="score every N-th frame")
    parser.add_argument("--threads", type=positive_int, default=2)
    parser.add_argument("--max-frames", type=positive_int, default=None, metavar="N",
                        help="track only the first N frames of each sequence (quick checks)")
    parser.add_argument("--versus", metavar="LABEL", default=None,
                        help="also give every enhancer's PSNR difference to this one (e.g. the "
                        "plain-L1 student); differences to the first are always given")


def main(args: argparse.Namespace) -> int:
    try:
        md = build_slkd_report(args.enhancer, args.tracker, args.compare, args.data, args.out,
                               args.step, args.threads, args.max_frames, versus=args.versus)
    except (ValueError, FileNotFoundError, OSError) as exc:
        print(f"mlkd-tracker report slkd: error: {exc}", file=sys.stderr)
        return 2
    print(md.read_text())
    print(f"written: {md}, report.json, ope.png, samples.png in {md.parent}")
    return 0
