"""The `mlkd-tracker` command. Each subcommand imports its module lazily, so runtime commands
work on a drone where torch (or even matplotlib) is not installed."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _kv(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition(":=")
        if not sep:
            raise SystemExit(f"launch argument '{item}' must look like name:=value")
        out[key] = value
    return out


def _demo(args: argparse.Namespace) -> int:
    from mlkd_tracker.ros.demo import DemoConfig, format_summary, run_demo
    cfg = DemoConfig(duration_s=args.duration, launch_args=_kv(args.launch_args),
                     out_dir=Path(args.out) if args.out else None, video=not args.no_video)
    summary, _, _ = run_demo(cfg)
    print(format_summary(summary))
    return 0


def _launch(args: argparse.Namespace) -> int:
    import time
    from mlkd_tracker.ros.launch_xml import load_launch
    from mlkd_tracker.ros.process_group import ProcessGroup
    group = ProcessGroup(load_launch(args.file, _kv(args.launch_args)), echo=True).start()
    try:
        while not group.exited():
            time.sleep(0.2)
        return 1  # a node ended on its own
    except KeyboardInterrupt:
        return 0
    finally:
        group.stop()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mlkd-tracker", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="closed-loop simulator demo with scores, plot and video")
    demo.add_argument("--duration", type=float, default=20.0, help="seconds of tracking")
    demo.add_argument("--out", help="output folder (default runs/demo-<time>)")
    demo.add_argument("--no-video", action="store_true")
    demo.add_argument("launch_args", nargs="*", help="launch arguments name:=value")
    demo.set_defaults(func=_demo)
    launch = sub.add_parser("launch", help="run a launch file of this package without ros2 launch")
    launch.add_argument("file", help="e.g. sim_demo.launch.xml (looked up in the package's launch/)")
    launch.add_argument("launch_args", nargs="*", help="launch arguments name:=value")
    launch.set_defaults(func=_launch)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
