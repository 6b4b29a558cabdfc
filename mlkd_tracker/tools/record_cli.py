"""``mlkd-tracker record``: record ROS topics into a rosbag2 that ``ros2 bag`` and Foxglove open.

    mlkd-tracker record --topics /image_raw /ground_truth --out runs/flight1 \\
        [--storage mcap|sqlite3] [--duration S]

MCAP by default: if the recorder is killed, a partial MCAP is still readable up to the last
complete chunk (``mlkd-tracker replay`` reads it), while a damaged sqlite3 file is not.
Ctrl-C (SIGINT), SIGTERM or the end of ``--duration`` closes the bag properly. Exit codes: 0 recorded, 1 a topic
was never published or has a type that cannot be recorded here (the bag is still written with
the others), 2 bad arguments.

The top-level CLI wires this in with ``add_arguments(subparser)`` and ``main(args)``; it is also
runnable as ``python -m mlkd_tracker.tools.record_cli``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mlkd_tracker.cli_types import positive_float


__all__ = ["add_arguments", "main"]

# bag_writer.STORAGES' keys, spelled out so building the CLI parser does not import rosbags.
STORAGES = ("mcap", "sqlite3")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``record`` options to ``parser`` (a subparser of the top-level CLI)."""
    parser.add_argument("--topics", nargs="+", required=True, metavar="TOPIC",
                        help="topics to record (relative names are taken from the root namespace)")
    parser.add_argument("--out", required=True, type=Path,
                        help="bag folder to create (must not exist)")
    parser.add_argument("--storage", choices=sorted(STORAGES), default="mcap",
                        help="rosbag2 storage (default mcap)")
    parser.add_argument("--duration", type=positive_float, default=None, metavar="S",
                        help="stop after S seconds (default: until Ctrl-C)")
    parser.add_argument("--no-progress", dest="progress", action="store_false",
                        help="no progress bar")


def main(args: argparse.Namespace) -> int:
    """Record as ``args`` say (see :func:`add_arguments`)."""
    from mlkd_tracker.tools.bag_recorder import RecordConfig, record, stop_on_signals  # rclpy here

    try:
        with stop_on_signals() as stop:
            summary = record(RecordConfig(topics=list(args.topics), out=Path(args.out),
                                          storage=args.storage, duration_s=args.duration,
                                          progress=args.progress), stop)
    except (FileExistsError, ValueError) as exc:
        print(f"mlkd-tracker record: error: {exc}", file=sys.stderr)
        return 2
    counts = ", ".join(f"{t}: {n}" for t, n in summary.counts.items()) or "no messages"
    print(f"wrote {summary.out} ({summary.storage}, {summary.duration_s:.1f} s): {counts}")
    for topic, why in summary.failed.items():
        print(f"mlkd-tracker record: error: {topic} not recorded: {why}", file=sys.stderr)
    if summary.missing:
        print(f"mlkd-tracker record: warning: never published: {', '.join(summary.missing)}",
              file=sys.stderr)
    return 1 if summary.missing or summary.failed else 0


if __name__ == "__main__":
    _parser = argparse.ArgumentParser(prog="python -m mlkd_tracker.tools.record_cli",
                                      description=__doc__,
                                      formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(_parser)
    sys.exit(main(_parser.parse_args()))
