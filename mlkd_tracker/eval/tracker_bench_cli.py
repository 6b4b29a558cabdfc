"""``mlkd-tracker bench trackers``: offline FPS of every tracker on the same frames.

    mlkd-tracker bench trackers [--dataset data/synth_night/test] [--frames N] \\
        [--models models] [--teacher runs/train/teacher-teacher/best.pt] \\
        [--opencv csrt,kcf,mil] [--tracker LABEL=kind:arg ...] [--threads N] [--out runs/bench]

Times every student export in ``--models``, the teacher checkpoint if ``--teacher`` is given
(needs torch), the OpenCV baselines and any extra ``--tracker`` on the first ``--frames``
frames of the data set (see ``eval/tracker_bench.py``). Writes the ``trackers`` section of
``<out>/benchmarks.json`` and of ``--markdown`` (only when given, e.g. ``BENCHMARKS.md``)
with this command and the machine description; per-tracker result files go to ``<out>/trackers/``.

Exit codes: 0 measured; 2 bad arguments (unknown tracker, missing model or data set).

The top-level CLI wires this in with ``add_arguments(subparser)`` and ``main(args)``; it is also
runnable as ``python -m mlkd_tracker.eval.tracker_bench_cli``.
"""
from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from mlkd_tracker.cli_types import positive_int

__all__ = ["add_arguments", "main", "command_line"]


def _names(text: str) -> list[str]:
    return [n.strip().lower() for n in text.split(",") if n.strip()]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``bench trackers`` options to ``parser`` (a subparser of the top-level CLI); its
    epilog lists every tracker spec form, as ``eval --help`` does."""
    from mlkd_tracker.eval.tracker_registry import spec_help
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = spec_help()
    parser.add_argument("--dataset", type=Path, default=Path("data/synth_night/test"),
                        help="data set root, GOT-10k or UAV123 layout "
                             "(default data/synth_night/test)")
    parser.add_argument("--frames", type=positive_int, default=None, metavar="N",
                        help="time the first N frames of the data set (default: all)")
    parser.add_argument("--models", type=Path, default=Path("models"),
                        help="folder of student exports (<stem>.template.onnx + .search.onnx)")
    parser.add_argument("--teacher", default=None, metavar="CKPT",
                        help="teacher checkpoint to time as well (needs torch)")
    parser.add_argument("--opencv", type=_names, default=None, metavar="A,B",
                        help="OpenCV baselines (default csrt,kcf,mil; '' for none)")
    parser.add_argument("--tracker", dest="trackers", action="append", default=[], metavar="SPEC",
                        help="another tracker, [LABEL=]kind:arg as for `mlkd-tracker eval`")
    parser.add_argument("--threads", type=positive_int, default=None, metavar="N",
                        help="OpenCV / ONNX Runtime / OpenMP threads (default: library defaults)")
    parser.add_argument("--out", type=Path, default=Path("runs/bench"),
                        help="folder for benchmarks.json and the result files")
    parser.add_argument("--markdown", type=Path,
                        help="also rewrite the trackers section of this markdown file "
                        "(e.g. BENCHMARKS.md; none by default)")
    parser.add_argument("--note", default=None, help="a remark printed at the top of the section")
    parser.add_argument("--no-progress", dest="progress", action="store_false")


def command_line(args: argparse.Namespace) -> str:
    """The command that reproduces the measurement, defaults spelled out (for the report)."""
    from mlkd_tracker.eval.tracker_bench import DEFAULT_OPENCV
    opencv = DEFAULT_OPENCV if args.opencv is None else args.opencv
    words = ["mlkd-tracker", "bench", "trackers", "--dataset", str(args.dataset)]
    if args.frames:
        words += ["--frames", str(args.frames)]
    words += ["--models", str(args.models)]
    if args.teacher:
        words += ["--teacher", str(args.teacher)]
    words += ["--opencv", ",".join(opencv)]
    for spec in args.trackers:
        words += ["--tracker", spec]
    if args.threads:
        words += ["--threads", str(args.threads)]
    return shlex.join(words + ["--out", str(args.out)])


def main(args: argparse.Namespace) -> int:
    """Benchmark as ``args`` say (see :func:`add_arguments`)."""
    from mlkd_tracker.eval.bench_report import machine_info, update_json, write_section
    from mlkd_tracker.eval.eval_cli import load_dataset, thread_limit
    from mlkd_tracker.eval.tracker_bench import (DEFAULT_OPENCV, bench_trackers, clip_sequences,
                                                 format_trackers_markdown, tracker_specs)
    from mlkd_tracker.eval.tracker_registry import make

    opencv = DEFAULT_OPENCV if args.opencv is None else args.opencv
    try:
        specs = tracker_specs(args.models, args.teacher, opencv, args.trackers)
        if not specs:
            raise ValueError(f"no trackers: no student exports in {args.models} and no others "
                             "given")
        if not Path(args.dataset).is_dir():
            raise ValueError(f"data set folder {args.dataset} does not exist")
        clips = clip_sequences(load_dataset(Path(args.dataset)), args.frames)
        if not clips:
            raise ValueError(f"no sequences found in {args.dataset}")
    except (ValueError, OSError) as exc:
        print(f"mlkd-tracker bench trackers: error: {exc}", file=sys.stderr)
        return 2
    machine = machine_info()
    out = Path(args.out)
    with thread_limit(args.threads):
        for spec in specs:  # fail now, not after the trackers before it have run
            try:
                make(spec)
            except ValueError as exc:
                print(f"mlkd-tracker bench trackers: error: {spec.label}: {exc}", file=sys.stderr)
                return 2
        rows = bench_trackers(specs, clips, out / "trackers", progress=args.progress)
    result = {"command": command_line(args), "machine": machine, "note": args.note,
              "dataset": str(args.dataset), "sequences": len(clips),
              "frames": sum(len(c.frames) for c in clips), "threads": args.threads,
              "trackers": rows}
    update_json(out / "benchmarks.json", "trackers", result)
    markdown = format_trackers_markdown(result)
    if args.markdown:
        write_section(args.markdown, "trackers", markdown)
    print(markdown)
    print(f"written: {out / 'benchmarks.json'}" + (f", {args.markdown}" if args.markdown else ""))
    return 0


if __name__ == "__main__":
    _parser = argparse.ArgumentParser(prog="python -m mlkd_tracker.eval.tracker_bench_cli",
                                      description=__doc__,
                                      formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(_parser)
    sys.exit(main(_parser.parse_args()))
