"""``mlkd-tracker replay``: replay a recorded flight into the real pipeline and evaluate it.

    mlkd-tracker replay --launch camera_tracking.launch.xml [--mode fast|recorded|rate] \\
        [--rate HZ] [--gt-topic /ground_truth | --gt-file anno/seq.txt | --init-box x,y,w,h] \\
        [--out DIR] runs/flight1 [tracker_params:=my_tracker.yaml ...]

(the bag and the launch arguments come together, after the options, as for ``demo``).

Reads any rosbag2 (a bag folder or a single .mcap/.db3; sensor_msgs/Image or CompressedImage),
starts the launch file's nodes except its camera source, publishes the bag's camera topic into
them, initialises the tracker from the first ground-truth box, and writes into ``--out``: the
output bag (``bag/``: the input plus the pipeline's topics), ``report.md``, ``results.json``,
``frames.csv`` (per-frame latency and boxes), ``tracks.txt``/``groundtruth.txt`` and the plots
``ope.png``, ``timeline.png``, ``latency.png``. Without ``--launch`` it publishes into a pipeline
that is already running. A CompressedImage bag needs a tracker that reads compressed input
(``compressed_input: true`` in its params file) and is published on the bag's topic name unless
``--publish-as`` says otherwise.

Exit codes: 0 replayed; 1 replayed with a problem the report describes (damaged bag: replayed up
to the damage; pipeline failure; Ctrl-C); 2 bad arguments or a bag with nothing readable.

The top-level CLI wires this in with ``add_arguments(subparser)`` and ``main(args)``; it is also
runnable as ``python -m mlkd_tracker.tools.replay_cli``.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from mlkd_tracker.cli_types import positive_float


__all__ = ["add_arguments", "main"]

# bag_writer.STORAGES' keys, spelled out so building the CLI parser does not import rosbags.
STORAGES = ("mcap", "sqlite3")

MODES = ("fast", "recorded", "rate")  # same as bag_replay.MODES, without importing rclpy here
SOURCE_NODES = ("camera_node", "sim_node")


def _box(text: str) -> tuple[float, float, float, float]:
    try:
        values = tuple(float(v) for v in text.replace(" ", "").split(","))
    except ValueError:
        values = ()
    if len(values) != 4 or not (values[2] > 0 and values[3] > 0):
        raise argparse.ArgumentTypeError(f"expected x,y,w,h in pixels with w, h > 0, got {text!r}")
    return values  # type: ignore[return-value]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``replay`` options to ``parser`` (a subparser of the top-level CLI)."""
    parser.add_argument("bag", type=Path, help="rosbag2 folder, or a .mcap / .db3 file")
    parser.add_argument("launch_args", nargs="*", metavar="NAME:=VALUE",
                        help="launch arguments for --launch (right after BAG)")
    parser.add_argument("--launch", dest="launch_file", metavar="FILE",
                        help="pipeline launch file (e.g. camera_tracking.launch.xml); its camera "
                             "source nodes are left out. Default: publish into a running pipeline")
    parser.add_argument("--exclude-node", dest="exclude_nodes", action="append", metavar="NAME",
                        help=f"launch-file nodes not to start (default: {', '.join(SOURCE_NODES)})")
    parser.add_argument("--out", type=Path, default=None,
                        help="output folder (default runs/replay-<time>)")
    parser.add_argument("--mode", choices=MODES, default="fast",
                        help="fast: next frame when the output for the previous one arrived (no "
                             "frame lost); recorded: recorded timing; rate: --rate HZ")
    parser.add_argument("--rate", dest="rate_hz", type=positive_float, metavar="HZ",
                        help="frame rate for --mode rate")
    parser.add_argument("--speed", type=positive_float, default=1.0,
                        help="time scale for --mode recorded (2 = twice as fast)")
    parser.add_argument("--camera-topic", help="image topic of the bag (default: its only one, "
                                               "or /image_raw)")
    parser.add_argument("--publish-as", dest="publish_topic", metavar="TOPIC",
                        help="publish the frames on this topic instead of their recorded name")
    gt = parser.add_mutually_exclusive_group()
    gt.add_argument("--gt-topic", help="Detection2D/Detection2DArray ground truth in the bag "
                                       "(default /ground_truth if present)")
    gt.add_argument("--gt-file", type=Path,
                    help="UAV123-layout annotation file: one x,y,w,h line per camera frame")
    parser.add_argument("--init-box", type=_box, metavar="X,Y,W,H",
                        help="initialise on the first frame with this box (default: the first "
                             "usable ground-truth box)")
    parser.add_argument("--output-topic", default="/tracks", help="the pipeline's output")
    parser.add_argument("--init-topic", default="/tracker_node/init", help="the tracker's init")
    parser.add_argument("--reset-service", default="/tracker_node/reset",
                        help="called before replaying, if the pipeline offers it")
    parser.add_argument("--record-topic", dest="record_topics", action="append", metavar="TOPIC",
                        help="more pipeline topics for the output bag (default /diagnostics)")
    parser.add_argument("--out-storage", choices=sorted(STORAGES), default="mcap",
                        help="storage of the output bag")
    parser.add_argument("--frame-timeout", type=positive_float, default=2.0, metavar="S",
                        help="fast mode: how long to wait for a frame's output")
    parser.add_argument("--start-timeout", type=positive_float, default=30.0, metavar="S",
                        help="how long the pipeline may take to come up")
    parser.add_argument("--no-progress", dest="progress", action="store_false")


def _launch_args(words: list[str]) -> dict[str, str]:
    out = {}
    for word in words:
        name, sep, value = word.partition(":=")
        if not sep or not name:
            raise ValueError(f"launch argument {word!r} is not NAME:=VALUE")
        out[name] = value
    return out


def main(args: argparse.Namespace) -> int:
    """Replay as ``args`` say (see :func:`add_arguments`)."""
    from mlkd_tracker.data.bag_reader import BagReadError
    from mlkd_tracker.tools.bag_recorder import stop_on_signals
    from mlkd_tracker.tools.bag_replay import ReplayConfig, replay  # rclpy only when replaying

    out = args.out or Path("runs") / time.strftime("replay-%Y%m%d-%H%M%S")
    try:
        cfg = ReplayConfig(
            bag=args.bag, out_dir=out, launch_file=args.launch_file,
            launch_args=_launch_args(args.launch_args),
            exclude_nodes=tuple(args.exclude_nodes or SOURCE_NODES), mode=args.mode,
            rate_hz=args.rate_hz, speed=args.speed, camera_topic=args.camera_topic,
            publish_topic=args.publish_topic, gt_topic=args.gt_topic, gt_file=args.gt_file,
            init_box=args.init_box, output_topic=args.output_topic, init_topic=args.init_topic,
            reset_service=args.reset_service,
            record_topics=tuple(args.record_topics or ("/diagnostics",)),
            out_storage=args.out_storage, frame_timeout_s=args.frame_timeout,
            start_timeout_s=args.start_timeout, progress=args.progress)
        if args.launch_args and not args.launch_file:
            raise ValueError("launch arguments given without --launch")
        with stop_on_signals() as stop:
            summary, _ = replay(cfg, stop)
    except (BagReadError, ValueError, FileExistsError, FileNotFoundError) as exc:
        print(f"mlkd-tracker replay: error: {exc}", file=sys.stderr)
        return 2
    print((out / "report.md").read_text(encoding="utf-8"))
    for problem in (summary.read_error, summary.pipeline_error):
        if problem:
            print(f"mlkd-tracker replay: error: {problem}", file=sys.stderr)
    if summary.interrupted:
        print("mlkd-tracker replay: interrupted; the report covers the frames replayed",
              file=sys.stderr)
    return 1 if (summary.read_error or summary.pipeline_error or summary.interrupted) else 0


if __name__ == "__main__":
    _parser = argparse.ArgumentParser(prog="python -m mlkd_tracker.tools.replay_cli",
                                      description=__doc__,
                                      formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(_parser)
    sys.exit(main(_parser.parse_args()))
