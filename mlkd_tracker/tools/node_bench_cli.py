"""``mlkd-tracker bench nodes``: the node pipeline at a fixed rate and size, measured per node.

    mlkd-tracker bench nodes [--duration 60] [--rate 30] [--width 640 --height 480] \\
        [--tracker-params config/tracker_student.yaml] [--soak] [--out runs/bench]

Starts sim_node → tracker_node → follow_node (``sim_demo.launch.xml``) as separate processes,
initialises the tracker from the simulator's true box, warms up, then measures for
``--duration`` seconds: processed rate, dropped frames, frame age p50/p95/p99 (stamp → publish),
CPU % and peak RSS per process (see ``tools/node_bench.py``). ``--soak`` also reports RSS growth
and frame-age drift between the first and the last minute (use ``--duration 600`` for the
10-minute soak), with a plot. Writes the ``nodes`` section (``nodes_soak`` with ``--soak``) of
``<out>/benchmarks.json`` and of ``--markdown`` (only when given, e.g. ``BENCHMARKS.md``),
with this command and the machine description.

Run it on an otherwise idle machine: it measures the machine as much as the nodes.
Exit codes: 0 measured; 1 a node died or the loop did not start (the error names the node logs
in ``<out>/logs``); 2 bad arguments.

The top-level CLI wires this in with ``add_arguments(subparser)`` and ``main(args)``; it is also
runnable as ``python -m mlkd_tracker.tools.node_bench_cli``.
"""
from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from mlkd_tracker.cli_types import positive_float

__all__ = ["add_arguments", "main", "command_line"]


def _non_negative(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def _size(text: str) -> int:
    value = int(text)
    if not 32 <= value <= 4096:  # sim_node's range
        raise argparse.ArgumentTypeError(f"must be in 32..4096, got {text}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``bench nodes`` options to ``parser`` (a subparser of the top-level CLI)."""
    parser.add_argument("--duration", type=positive_float, default=60.0, metavar="S",
                        help="measured seconds, after the warm-up (default 60; 600 for a soak)")
    parser.add_argument("--rate", type=positive_float, default=30.0, metavar="HZ",
                        help="camera frame rate (default 30)")
    parser.add_argument("--width", type=_size, default=640, help="frame width (default 640)")
    parser.add_argument("--height", type=_size, default=480, help="frame height (default 480)")
    parser.add_argument("--tracker-params", default="config/tracker_student.yaml", metavar="YAML",
                        help="tracker_node params file (default: the shipped student)")
    parser.add_argument("--soak", action="store_true",
                        help="also report RSS growth and frame-age drift, first vs last minute")
    parser.add_argument("--soak-window", type=positive_float, default=60.0, metavar="S",
                        help="length of the first/last windows compared by --soak (default 60)")
    parser.add_argument("--warmup", type=_non_negative, default=5.0, metavar="S",
                        help="seconds of tracking before measuring (default 5)")
    parser.add_argument("--seed", type=int, default=0, help="simulator seed (default 0)")
    parser.add_argument("--out", type=Path, default=Path("runs/bench"),
                        help="folder for benchmarks.json, soak.png and the node logs")
    parser.add_argument("--markdown", type=Path,
                        help="also rewrite the nodes (or nodes_soak) section of this markdown "
                        "file "
                        "(e.g. BENCHMARKS.md; none by default)")
    parser.add_argument("--note", default=None,
                        help="a remark printed at the top of the section (e.g. the conditions)")
    parser.add_argument("--start-timeout", type=positive_float, default=60.0, metavar="S",
                        help="how long the nodes may take to start tracking")
    parser.add_argument("--no-progress", dest="progress", action="store_false")


def command_line(args: argparse.Namespace) -> str:
    """The command that reproduces the measurement, defaults spelled out (for the report)."""
    words = ["mlkd-tracker", "bench", "nodes", "--duration", f"{args.duration:g}",
             "--rate", f"{args.rate:g}", "--width", str(args.width), "--height", str(args.height),
             "--tracker-params", str(args.tracker_params)]
    if args.soak:
        words += ["--soak", "--soak-window", f"{args.soak_window:g}"]
    words += ["--warmup", f"{args.warmup:g}", "--seed", str(args.seed), "--out", str(args.out)]
    return shlex.join(words)


def main(args: argparse.Namespace) -> int:
    """Benchmark as ``args`` say (see :func:`add_arguments`)."""
    from mlkd_tracker.eval.bench_report import machine_info, update_json, write_section
    from mlkd_tracker.eval.node_bench_report import format_nodes_markdown, plot_soak
    from mlkd_tracker.tools.node_bench import NodeBenchConfig, resolve_params_file, run_node_bench

    try:
        resolve_params_file(args.tracker_params)
    except FileNotFoundError as exc:
        print(f"mlkd-tracker bench nodes: error: {exc}", file=sys.stderr)
        return 2
    cfg = NodeBenchConfig(duration_s=args.duration, rate_hz=args.rate, width=args.width,
                          height=args.height, tracker_params=args.tracker_params, soak=args.soak,
                          soak_window_s=args.soak_window, warmup_s=args.warmup, seed=args.seed,
                          out_dir=Path(args.out), start_timeout_s=args.start_timeout,
                          progress=args.progress)
    machine = machine_info()  # before the nodes start: the load average says what else ran
    try:
        result = run_node_bench(cfg)
    except RuntimeError as exc:
        print(f"mlkd-tracker bench nodes: error: {exc}", file=sys.stderr)
        return 1
    result = {"command": command_line(args), "machine": machine, "note": args.note, **result}
    section = "nodes_soak" if args.soak else "nodes"  # a soak does not replace the plain run
    json_path = Path(args.out) / "benchmarks.json"
    update_json(json_path, section, result)
    plot = plot_soak(result, Path(args.out) / "soak.png")
    markdown = format_nodes_markdown(result)
    if args.markdown:
        write_section(args.markdown, section, markdown)
    print(markdown)
    print(f"written: {json_path}" + (f", {args.markdown}" if args.markdown else "")
          + (f", {plot}" if plot else ""))
    return 0


if __name__ == "__main__":
    _parser = argparse.ArgumentParser(prog="python -m mlkd_tracker.tools.node_bench_cli",
                                      description=__doc__,
                                      formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(_parser)
    sys.exit(main(_parser.parse_args()))
