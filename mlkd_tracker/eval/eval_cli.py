"""``mlkd-tracker eval``: one-pass evaluation of one or more trackers on a tracking data set.

    mlkd-tracker eval --dataset ROOT --tracker opencv:csrt --tracker onnx:models/student.onnx \\
        --out runs/eval-nat [--sequences a,b] [--max-frames N] [--threads N]

Writes into ``--out``: per-tracker result folders (see ``ope_runner``; reused on a re-run so an
interrupted evaluation resumes), ``results.json`` (every number, curves and per-sequence scores),
``summary.md`` (the table below, sorted by success AUC, then success by attribute: light level,
low resolution, fast motion, ...; see ``eval/attributes.py``), ``ope.png`` (success and precision
plots) and ``attributes.png``. ``results.json`` covers the trackers of this invocation; to
compare with an earlier tracker, list it again: its stored results are reused, not recomputed.

Trackers are built by the runtime tracker factory, the one the tracker node uses: ``--help``
lists every spec form it knows. Every tracker starts every sequence from the same random state
(see ``ope_runner``), so the order of ``--tracker`` options changes no result file. FPS is all
frames / all tracker time; ``results.json`` keeps each sequence's FPS too. "With box" counts the
frames on which ``tracker_node`` (shipped ``score_threshold`` and ``lost_after_frames``) would
publish a box.

``--threads N`` fixes the thread count under which FPS is measured: ``cv2.setNumThreads(N)``,
``OMP_NUM_THREADS=N`` and ``MLKD_TRACKER_THREADS=N``, which ``eval/tracker_registry`` hands to each
tracker it builds (ONNX: ``SiameseTracker(threads=N)``, ONNX Runtime's intra-op threads; torch:
``torch.set_num_threads(N)``). OpenCV and environment settings are restored when :func:`main`
returns; torch's process-wide setting is not.

The top-level CLI wires this in with ``add_arguments(subparser)`` and ``main(args)``; it is also
runnable as ``python -m mlkd_tracker.eval.eval_cli``.
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

import cv2

from mlkd_tracker.cli_types import positive_int
from mlkd_tracker.eval.attributes import attribute_markdown, attribute_rows, dataset_attributes
from mlkd_tracker.eval.ope_runner import (PUBLISH_LOST_AFTER, PUBLISH_SCORE_THRESHOLD, RunScore,
                                          SequenceLike, run_dataset)
from mlkd_tracker.eval.tracker_registry import THREADS_ENV, TrackerSpec, make, parse_spec, spec_help

__all__ = ["add_arguments", "main", "load_dataset", "select_sequences", "thread_limit",
           "results_dict", "format_summary"]

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``eval`` options to ``parser`` (a subparser of the top-level CLI); its epilog lists
    every tracker spec form the factory knows."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = spec_help()
    parser.add_argument("--dataset", required=True, type=Path,
                        help="data set root: GOT-10k layout (<seq>/*.jpg + groundtruth.txt) or "
                             "UAV123 layout (data_seq/ + anno/), detected automatically")
    parser.add_argument("--tracker", required=True, action="append", dest="trackers", metavar="SPEC",
                        help="[LABEL=]kind:arg, the forms listed below; repeat for several")
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument("--sequences", default=None,
                        help="comma-separated sequence names to evaluate (default: all)")
    parser.add_argument("--max-frames", type=positive_int, default=None, metavar="N",
                        help="evaluate only the first N frames of each sequence (quick checks)")
    parser.add_argument("--threads", type=positive_int, default=None, metavar="N",
                        help="OpenCV / ONNX Runtime intra-op / OpenMP threads, so FPS is measured "
                             "under a stated thread count (default: library defaults)")
    parser.add_argument("--versus", metavar="LABEL", default=None,
                        help="also give every other tracker's success minus this one's, with a "
                        "95 %% paired bootstrap interval over the sequences")
    parser.add_argument("--no-resume", dest="resume", action="store_false",
                        help="re-run every sequence even if complete result files exist")
    parser.add_argument("--no-progress", dest="progress", action="store_false",
                        help="no progress bars")


def load_dataset(root: Path) -> list[SequenceLike]:
    """Read the data set (import deferred: only the eval command needs the data layer)."""
    from mlkd_tracker.data.sequences import read_dataset

    return read_dataset(root)


def select_sequences(sequences: Sequence[SequenceLike], names: str | None) -> list[SequenceLike]:
    """Keep the comma-separated ``names`` in the given order; unknown names are an error (a
    typo must not silently shrink the benchmark)."""
    if not names:
        return list(sequences)
    by_name = {s.name: s for s in sequences}
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    missing = [n for n in wanted if n not in by_name]
    if missing:
        raise ValueError(f"unknown sequence(s) {', '.join(missing)}; the data set has "
                         f"{len(by_name)}: {', '.join(sorted(by_name)[:20])}{' …' if len(by_name) > 20 else ''}")
    return [by_name[n] for n in dict.fromkeys(wanted)]


@contextmanager
def thread_limit(threads: int | None) -> Iterator[None]:
    """Set OpenCV, OpenMP and tracker (``THREADS_ENV``) thread counts; restore them on exit.

    OMP_NUM_THREADS only affects OpenMP runtimes initialised afterwards; ONNX Runtime's own pool
    is sized from ``THREADS_ENV`` by the ONNX tracker when it creates its session.
    """
    if threads is None:
        yield
        return
    saved_cv = cv2.getNumThreads()
    saved_env = {k: os.environ.get(k) for k in (THREADS_ENV, "OMP_NUM_THREADS")}
    cv2.setNumThreads(threads)
    for key in saved_env:
        os.environ[key] = str(threads)
    try:
        yield
    finally:
        cv2.setNumThreads(saved_cv)
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _num(v: float) -> float | None:
    """JSON has no NaN/inf: write null instead."""
    return float(v) if math.isfinite(v) else None


def _ranked(runs: Mapping[str, RunScore]) -> list[str]:
    return sorted(runs, key=lambda name: (-runs[name].auc, name))  # same order as the plot legend


def results_dict(runs: Mapping[str, RunScore], specs: Mapping[str, TrackerSpec], info: dict) -> dict:
    """Everything needed to rebuild the table and plots without re-running any tracker."""
    trackers = {}
    for label, r in runs.items():
        trackers[label] = {
            "spec": str(specs[label]),
            "success_auc": r.auc,
            "precision_20": r.precision_20,
            "norm_precision_20": r.norm_precision_20,
            "fps": _num(r.fps),
            "n_frames": r.n_frames,
            "frames_with_box": r.frames_with_box,
            "resumed_sequences": list(r.resumed),
            "success_curve": [float(v) for v in r.success_curve],
            "precision_curve": [float(v) for v in r.precision_curve],
            "norm_precision_curve": [float(v) for v in r.norm_precision_curve],
            "per_sequence": {
                name: {"success_auc": s.auc, "precision_20": s.precision_20,
                       "norm_precision_20": s.norm_precision_20, "fps": _num(r.fps_per_sequence[name]),
                       "n_frames": s.n_frames,
                       "frames_with_box": r.frames_with_box_per_sequence[name]}
                for name, s in r.per_sequence.items()
            },
        }
    return {**info, "ranking": _ranked(runs), "trackers": trackers}


def format_summary(runs: Mapping[str, RunScore], info: dict) -> str:
    """Markdown: a one-paragraph statement of the conditions, then the table sorted by AUC."""
    threads = info["threads"] if info["threads"] is not None else f"library default (OpenCV {info['opencv_threads']})"
    lines = [
        f"# One-pass evaluation on {info['dataset_name']}",
        "",
        f"{info['n_sequences']} sequences, {info['n_frames']} frames"
        + (f" (first {info['max_frames']} per sequence)" if info["max_frames"] else "")
        + f"; threads: {threads}; {info['machine']}.",
        "Success = area under the success curve (IoU 0…1), precision at 20 px, normalised precision at 0.2; "
        "×100, means over sequences. FPS = all frames / all tracker time (init + update, image "
        "loading excluded). With box = frames on which tracker_node (score_threshold "
        f"{PUBLISH_SCORE_THRESHOLD:g}, lost_after_frames {PUBLISH_LOST_AFTER}) would publish a box.",
        "",
        "| tracker | success | precision | norm. precision | FPS | with box |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for label in _ranked(runs):
        r = runs[label]
        fps = f"{r.fps:.1f}" if math.isfinite(r.fps) else "–"
        lines.append(f"| {label} | {100 * r.auc:.1f} | {100 * r.precision_20:.1f} | "
                     f"{100 * r.norm_precision_20:.1f} | {fps} | {r.frames_with_box} of {r.n_frames} |")
    return "\n".join(lines) + "\n"


def versus_rows(runs: dict[str, RunScore], baseline: str) -> list[dict]:
    """Each other tracker's success minus ``baseline``'s (×100), paired over the sequences."""
    from mlkd_tracker.eval.paired_difference import paired_difference
    base = {q: s.auc for q, s in runs[baseline].per_sequence.items()}
    rows = []
    for label, run in runs.items():
        if label != baseline:
            d = paired_difference({q: s.auc for q, s in run.per_sequence.items()}, base)
            rows.append({"tracker": label, "mean": 100 * d.mean, "low": 100 * d.low,
                         "high": 100 * d.high, "n_sequences": d.n_sequences,
                         "resolved": d.excludes_zero})
    return rows


def versus_markdown(rows: list[dict], baseline: str) -> str:
    lines = [f"## Success minus {baseline}'s (×100), 95 % paired bootstrap interval over sequences",
             "", "| tracker | difference | interval | sequences |", "|---|---:|---:|---:|"]
    lines += [f"| {r['tracker']} | {r['mean']:+.1f} | [{r['low']:+.1f}, {r['high']:+.1f}]"
              f"{'' if r['resolved'] else ' (includes 0)'} | {r['n_sequences']} |" for r in rows]
    return "\n".join(lines) + "\n"


def main(args: argparse.Namespace) -> int:
    """Run the evaluation described by ``args`` (see :func:`add_arguments`); 0 on success,
    2 on bad input (unknown tracker, missing model, unknown sequence, unreadable data set)."""
    try:
        specs = [parse_spec(text) for text in args.trackers]
        labels = [s.label for s in specs]
        dupes = sorted({x for x in labels if labels.count(x) > 1})
        if dupes:
            raise ValueError(f"two trackers share the label(s) {', '.join(dupes)}; "
                             "name them with LABEL=kind:arg")
        if not Path(args.dataset).is_dir():
            raise ValueError(f"data set folder {args.dataset} does not exist")
        if args.versus is not None and args.versus not in labels:
            raise ValueError(f"--versus {args.versus}: not one of the trackers ({', '.join(labels)})")
        sequences = select_sequences(load_dataset(Path(args.dataset)), args.sequences)
        if not sequences:
            raise ValueError(f"no sequences found in {args.dataset}")
    except (ValueError, OSError) as exc:
        print(f"mlkd-tracker eval: error: {exc}", file=sys.stderr)
        return 2

    out = Path(args.out)
    runs: dict[str, RunScore] = {}
    with thread_limit(args.threads):
        opencv_threads = cv2.getNumThreads()
        for spec in specs:
            try:
                # Build each tracker once up front: a model that does not load must fail now,
                # not after the trackers before it have run for an hour.
                make(spec)
            except ValueError as exc:
                print(f"mlkd-tracker eval: error: {spec.label}: {exc}", file=sys.stderr)
                return 2
        out.mkdir(parents=True, exist_ok=True)
        for spec in specs:
            try:
                runs[spec.label] = run_dataset(spec, sequences, out, progress=args.progress,
                                               resume=args.resume, max_frames=args.max_frames)
            except ValueError as exc:
                print(f"mlkd-tracker eval: error: {spec.label}: {exc}", file=sys.stderr)
                return 2

    info = {
        "dataset": str(Path(args.dataset).resolve()),
        "dataset_name": Path(args.dataset).resolve().name,
        "n_sequences": len(sequences),
        "sequences": [s.name for s in sequences],
        "n_frames": next(iter(runs.values())).n_frames,
        "max_frames": args.max_frames,
        "threads": args.threads,
        "opencv_threads": opencv_threads,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.system()}",
        "opencv_version": cv2.__version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    by_attribute = attribute_rows({label: {q: s.auc for q, s in r.per_sequence.items()}
                                   for label, r in runs.items()},
                                  dataset_attributes(sequences, args.dataset, args.max_frames))
    results = results_dict(runs, {s.label: s for s in specs}, info)
    results["attributes"] = [asdict(r) for r in by_attribute]
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    summary = format_summary(runs, info)
    if args.versus is not None:
        versus = versus_rows(runs, args.versus)
        results["versus"] = {"baseline": args.versus, "rows": versus}
        (out / "results.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        summary += "\n" + versus_markdown(versus, args.versus)
    summary += "\n## Success by attribute\n\n" + attribute_markdown(by_attribute, _ranked(runs))
    (out / "summary.md").write_text(summary, encoding="utf-8")
    from mlkd_tracker.eval.plots import plot_attributes, plot_ope  # matplotlib only here, not on import

    plot_ope(runs, out / "ope.png", title=info["dataset_name"])
    plot_attributes(by_attribute, out / "attributes.png", title=info["dataset_name"])
    print(summary)
    print(f"results: {out / 'results.json'}, {out / 'summary.md'}, {out / 'ope.png'}, "
          f"{out / 'attributes.png'}")
    return 0


if __name__ == "__main__":
    _parser = argparse.ArgumentParser(prog="python -m mlkd_tracker.eval.eval_cli", description=__doc__,
                                      formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(_parser)
    sys.exit(main(_parser.parse_args()))
