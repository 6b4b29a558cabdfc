"""The `mlkd-tracker` command. Each subcommand imports its module lazily, so runtime commands
work on a drone where torch (or even matplotlib) is not installed."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mlkd_tracker.cli_types import positive_int


def _kv(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition(":=")
        if not sep:
            raise _UserError(f"launch argument '{item}' must look like name:=value")
        out[key] = value
    return out


class _UserError(Exception):
    """A mistake on the command line: reported as one line, exit code 2."""


def _demo(args: argparse.Namespace) -> int:
    from mlkd_tracker.tools.demo import DemoConfig, format_summary, run_demo
    cfg = DemoConfig(duration_s=args.duration, launch_args=_kv(args.launch_args),
                     out_dir=Path(args.out) if args.out else None, video=not args.no_video)
    summary, _, _ = run_demo(cfg)
    print(format_summary(summary))
    return 0


def _launch(args: argparse.Namespace) -> int:
    """``ros2 launch`` for the venv: starts the plan's nodes, lists them with their PIDs, stops
    them all on SIGINT or SIGTERM, and names the node that exits on its own (exit 2 when that
    node refused its parameters, as the nodes do; 1 otherwise)."""
    import signal
    import time
    from mlkd_tracker.tools.launch_xml import LaunchError, load_launch
    from mlkd_tracker.tools.process_group import ProcessGroup
    try:
        plan = load_launch(args.file, _kv(args.launch_args))
    except LaunchError as exc:
        raise _UserError(str(exc)) from None

    def on_term(_signum, _frame):
        raise KeyboardInterrupt
    # Both, explicitly: a shell starts background jobs with SIGINT ignored, and Python keeps an
    # ignored SIGINT ignored, so Ctrl-C / kill -INT would otherwise do nothing (ros2 launch
    # installs its own handlers too).
    previous = signal.signal(signal.SIGTERM, on_term)
    previous_int = signal.signal(signal.SIGINT, on_term)
    group = ProcessGroup(plan, echo=True)
    try:
        group.start()
        for run in group.running:
            print(f"[launch] started {run.label} (pid {run.proc.pid})", flush=True)
        while not (ended := group.poll()):
            time.sleep(0.2)
        run = ended[0]
        code = run.proc.returncode
        print(f"[launch] {run.label} (pid {run.proc.pid}) exited with code {code}: "
              f"{run.last_error_line()}", file=sys.stderr, flush=True)
        return 2 if code == 2 else 1
    except KeyboardInterrupt:
        return 0
    finally:
        # A second Ctrl-C or SIGTERM must not cut the shutdown short: the nodes run in their own
        # sessions and would outlive the runner.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        group.stop()
        signal.signal(signal.SIGINT, previous_int)
        signal.signal(signal.SIGTERM, previous)


def _run_folder_errors(train, cfg):
    """A run folder that may not be used (resume without a run, a changed config) is a user
    error: one line, exit 2."""
    from mlkd_tracker.train.run_folder import RunFolderError
    try:
        return train(cfg)
    except RunFolderError as exc:
        raise _UserError(str(exc)) from None


def _train(args: argparse.Namespace) -> int:
    if args.kind == "rdrkd":
        from mlkd_tracker.train.detector import load_rdrkd_config, train_rdrkd
        rcfg = load_rdrkd_config(args.config, args.overrides)
        print(f"RDR-KD: '{rcfg.model}' from {rcfg.teacher} on {rcfg.data} -> {rcfg.run_dir}")
        print(train_rdrkd(rcfg))
        return 0
    if args.kind == "detector":
        from mlkd_tracker.train.detector import load_detector_config, train_detector
        dcfg = load_detector_config(args.config, args.overrides)
        print(f"detector '{dcfg.model}' on {dcfg.data} -> {dcfg.run_dir}")
        print(train_detector(dcfg))
        return 0
    if args.kind == "slkd":
        from mlkd_tracker.train.slkd import train_slkd
        from mlkd_tracker.train.slkd_config import load_slkd_config
        scfg = load_slkd_config(args.config, args.overrides)
        print(f"SLKD: stages {scfg.stages} -> {scfg.out}")
        for stage, run_dir in _run_folder_errors(train_slkd, scfg).items():
            print(f"{stage}: {run_dir}")
        return 0
    if args.kind == "mlkd":
        from mlkd_tracker.train.mlkd import train_mlkd
        from mlkd_tracker.train.mlkd_config import load_mlkd_config
        mcfg = load_mlkd_config(args.config, args.overrides)
        print(f"MLKD: {len(mcfg.students)} students -> {mcfg.run_dir}")
        print(_run_folder_errors(train_mlkd, mcfg))
        return 0
    from mlkd_tracker.train.config import load_config
    from mlkd_tracker.train.tracker_training import train_tracker
    cfg = load_config(args.config, [f"kind={args.kind}", *args.overrides])
    print(f"training {cfg.kind} '{cfg.model if isinstance(cfg.model, str) else 'custom'}' "
          f"-> {cfg.run_dir}")
    print(_run_folder_errors(train_tracker, cfg))
    return 0


def _export(args: argparse.Namespace) -> int:
    import json
    from mlkd_tracker.train.checkpoints import checkpoint_kind
    kind = checkpoint_kind(args.checkpoint)
    out = args.out if args.out.endswith(".onnx") else f"{args.out}.onnx"  # one-file exports
    if kind == "detector":
        from mlkd_tracker.train.detector_export import export_detector
        print(export_detector(args.checkpoint, out, args.imgsz, args.training_data))
        return 0
    if kind == "enhancer":
        from mlkd_tracker.train.enhancer_export import export_enhancer
        print(export_enhancer(args.checkpoint, out, args.training_data))
        return 0
    from mlkd_tracker.runtime.siamese_postprocess import PostprocessConfig
    from mlkd_tracker.train.export import export_tracker
    post = None
    if args.postprocess:  # JSON text, or a `mlkd-tracker tune` result file (its "best" entry)
        text = Path(args.postprocess).read_text() if Path(args.postprocess).is_file() else args.postprocess
        values = json.loads(text)
        post = PostprocessConfig.from_dict(values.get("best", values))
    for path in export_tracker(args.checkpoint, args.out, post, args.training_data):
        print(path)
    return 0


def _summary(args: argparse.Namespace) -> int:
    from mlkd_tracker.train.nets.presets import PRESETS
    from mlkd_tracker.train.nets.summary import format_summary_table, summarize_presets
    names = args.models or sorted(PRESETS)
    unknown = sorted(set(names) - set(PRESETS))
    if unknown:
        raise SystemExit(f"unknown models {unknown}; presets: {sorted(PRESETS)}")
    print(format_summary_table(summarize_presets(names)))
    return 0


def _delegate(module: str):
    """Subcommands whose arguments live with their module (imported only when run)."""
    def run(args: argparse.Namespace) -> int:
        import importlib
        return importlib.import_module(module).main(args)
    return run


class _Lazy:
    """Registers delegated subcommands with their help line only; a subcommand's module (and
    whatever it imports: torch for the training commands) is imported only when the command
    line selects it. This keeps `--help`, `launch` and `demo` free of torch (~2 s of start-up)
    and lets a drone without torch run every runtime command."""

    def __init__(self, argv: list[str] | None):
        self.words = [w for w in (argv or []) if not w.startswith("-")]

    def add(self, sub, path: tuple[str, ...], module: str, help_text: str) -> None:
        import importlib
        parser = sub.add_parser(path[-1], help=help_text)
        if tuple(self.words[:len(path)]) != path:
            parser.set_defaults(func=_delegate(module))  # not selected: arguments never read
            return
        try:
            importlib.import_module(module).add_arguments(parser)
        except ImportError as exc:  # e.g. torch missing on a drone: say so when the command is used
            parser.set_defaults(func=lambda _a, e=exc: sys.exit(f"{path[-1]} is unavailable here: {e}"))
            return
        parser.set_defaults(func=_delegate(module))


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The whole command tree; only the delegated subcommand that ``argv`` selects imports its
    module to add its arguments."""
    lazy = _Lazy(argv)
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

    train = sub.add_parser("train", help="train a Siamese tracker (student, teacher), MLKD students, "
                           "SLKD enhancers, a YOLO detector or an RDR-KD student")
    train.add_argument("kind", choices=("student", "teacher", "mlkd", "slkd", "detector", "rdrkd"))
    train.add_argument("--config", help="YAML run config (see config/train/)")
    train.add_argument("overrides", nargs="*", help="key=value overrides, e.g. epochs=2 optim.lr=1e-3")
    train.set_defaults(func=_train)

    export = sub.add_parser("export", help="export a tracker (template + search), an SLKD "
                            "enhancer or a detector (Ultralytics best.pt) checkpoint to ONNX")
    export.add_argument("checkpoint")
    export.add_argument("--out", required=True, help="output stem, e.g. models/mlkd_student "
                        "(enhancers, detectors: models/slkd_enhancer.onnx)")
    export.add_argument("--imgsz", type=positive_int, help="detectors: default input side "
                        "(default: the training size; the export takes any multiple of 32)")
    export.add_argument("--postprocess", help="post-processing to ship: JSON, or a `tune` result file")
    export.add_argument("--training-data", help="description of the training data for the card")
    export.set_defaults(func=_export)

    summary = sub.add_parser("summary", help="params and MACs per frame of the network presets")
    summary.add_argument("models", nargs="*")
    summary.set_defaults(func=_summary)

    lazy.add(sub, ("synth",), "mlkd_tracker.data.synth_cli", "render the synthetic night set")
    lazy.add(sub, ("synth-detect",), "mlkd_tracker.data.synth_detect_cli",
                   "render the synthetic night detection set (YOLO layout)")
    lazy.add(sub, ("dataset-stats",), "mlkd_tracker.data.dataset_stats",
                   "what a tracking data set holds per split: frames, sizes, attributes, disk")
    lazy.add(sub, ("textures",), "mlkd_tracker.data.textures",
                   "aerial ground textures: fetch (FlightGear, via apt), index, list, sheet")
    lazy.add(sub, ("convert-visdrone",), "mlkd_tracker.data.visdrone",
                   "convert VisDrone2019-DET to YOLO layout")
    lazy.add(sub, ("eval",), "mlkd_tracker.eval.eval_cli", "one-pass evaluation of trackers")
    bench = sub.add_parser("bench", help="benchmarks: models, nodes (live pipeline), trackers "
                           "(offline FPS), enhancers, detectors")
    bench_sub = bench.add_subparsers(dest="bench", required=True)
    lazy.add(bench_sub, ("bench", "models"), "mlkd_tracker.train.model_bench",
                   "params, MACs and search-branch speed of the network presets")
    lazy.add(bench_sub, ("bench", "nodes"), "mlkd_tracker.tools.node_bench_cli",
                   "the node pipeline at a fixed rate: rate, drops, frame age, CPU, RSS (--soak)")
    lazy.add(bench_sub, ("bench", "trackers"), "mlkd_tracker.eval.tracker_bench_cli",
                   "offline FPS of every tracker (students, teacher, OpenCV) on the same frames")
    lazy.add(bench_sub, ("bench", "enhancers"), "mlkd_tracker.eval.enhancer_bench",
                   "ms per 640x480 frame of enhancer exports (ONNX Runtime)")
    lazy.add(bench_sub, ("bench", "detectors"), "mlkd_tracker.eval.detector_bench",
                   "ms per 640x480 frame of detector exports at several input sizes")
    lazy.add(sub, ("tune",), "mlkd_tracker.eval.tune_postprocess",
                   "tune a Siamese model's post-processing on a validation split")
    lazy.add(sub, ("quantize",), "mlkd_tracker.tools.quantize",
                   "static INT8 (QDQ) quantisation of a tracker's search branch, a detector or an "
                   "enhancer, calibrated on val data")
    lazy.add(sub, ("record",), "mlkd_tracker.tools.record_cli",
                   "record ROS topics into a rosbag2 (MCAP or sqlite3)")
    lazy.add(sub, ("replay",), "mlkd_tracker.tools.replay_cli",
                   "replay a rosbag2 flight into the pipeline and evaluate it")
    lazy.add(sub, ("init",), "mlkd_tracker.tools.init_cli",
                   "give the tracker its target: a box, the centre box or the best detection")
    lazy.add(sub, ("topics",), "mlkd_tracker.tools.topics_cli",
                   "list, echo and measure the rate of topics (ros2 topic without ros2)")
    lazy.add(sub, ("params",), "mlkd_tracker.tools.params_cli",
                   "list, get, set and describe a node's parameters (ros2 param without ros2)")
    lazy.add(sub, ("select",), "mlkd_tracker.train.mlkd_select",
                   "pick MLKD-Track among an MLKD run's students on val, tune and export it")
    report = sub.add_parser("report", help="reports on the test split: mlkd (tracker ablation), "
                            "slkd (enhancers), detector (RDR-KD ablation)")
    report_sub = report.add_subparsers(dest="report", required=True)
    lazy.add(report_sub, ("report", "mlkd"), "mlkd_tracker.train.reports.ablation_report",
                   "MLKD ablation: teacher, no KD, teacher KD, MLKD, MLKD-Track")
    lazy.add(report_sub, ("report", "slkd"), "mlkd_tracker.train.reports.slkd_report",
                   "SLKD: Teacher A vs student enhancers (PSNR, SSIM, cost, speed, tracking)")
    lazy.add(report_sub, ("report", "detector"), "mlkd_tracker.train.reports.detector_report",
                   "RDR-KD ablation: baseline, each term, pairs, all, teacher (COCO AP)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser(argv if argv is not None else sys.argv[1:])
    # argparse cannot take positionals after options (`train student --config x epochs=2`):
    # key=value words left over are the run's overrides.
    args, extra = parser.parse_known_args(argv)
    if extra and not (hasattr(args, "overrides") and all("=" in e for e in extra)):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if extra:
        args.overrides = [*args.overrides, *extra]
    try:
        return args.func(args)
    except _UserError as exc:
        print(f"mlkd-tracker {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
