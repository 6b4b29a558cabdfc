"""The node benchmark: the closed loop (sim_node → tracker_node → follow_node → sim_node's
gimbal) as separate processes over DDS, at a fixed frame rate and size, measured per node.

Why the simulator as the camera: it stamps each frame at capture, publishes that frame's true box
(so the tracker is initialised and actually tracking while it is measured; an idle tracker costs
nothing) and closes the loop through the follower, so every node of the demo pipeline does its
real work. Its own cost is reported in its row, separately from the tracker's.

What is measured, over a window that starts and ends at the tracker's own ``/diagnostics``
messages (so its drop counter is read exactly at the window's ends), after a warm-up:

- per frame, from message metadata: the frame's header stamp (capture), the DDS source timestamp
  of each node's output for that frame (the moment the node published it) and its arrival here.
  Frame age = source timestamp − stamp (stamp → publish); "delivered" = arrival − stamp;
- processed rate and frames without an output; the tracker's dropped-frame counter, and the
  frames it can have counted (``droppable_frames``: a frame is dropped only when a newer one is
  taken, so the frames counted over the window have no output and are newer than the last frame
  the tracker had answered, by DDS source time, when the window opened);
- CPU % and RSS per process from ``/proc`` (``eval.proc_stats``), sampled on a timer, so soak
  mode can compare the first and the last minute (memory growth, latency drift).

Everything here is measurement; the tables and the verdicts are in ``eval.node_bench_report``.
"""
from __future__ import annotations

import os
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import Vector3Stamped
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rclpy.time import Time
from vision_msgs.msg import Detection2D, Detection2DArray

from mlkd_tracker.eval.bench_report import distribution, growth_percent, split_windows
from mlkd_tracker.eval.proc_stats import MB, ProcessSampler, window_summary
from mlkd_tracker.resources import share_dir
from mlkd_tracker.tools.background_spin import BackgroundSpin
from mlkd_tracker.tools.demo import TRACKER_STATUS, _wait_started as wait_started
from mlkd_tracker.tools.launch_xml import LaunchPlan, load_launch
from mlkd_tracker.tools.process_group import ProcessGroup
from mlkd_tracker.tools.track_monitor import TrackMonitor

__all__ = ["NodeBenchConfig", "BenchMonitor", "run_node_bench", "resolve_params_file"]

SIM_STATUS = "sim_node: simulator"
# Deep enough that a busy moment in this process never costs a sample (the writers are reliable).
_TIMED_QOS = QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE)
_AGE_BUCKET_S = 10.0  # soak plot: frame age percentiles per bucket
_GRACE_S = 2.0        # after the window: time for the outputs of its last frames to arrive


@dataclass
class NodeBenchConfig:
    duration_s: float = 60.0           # measured window (after warm-up)
    rate_hz: float = 30.0
    width: int = 640
    height: int = 480
    tracker_params: str = "config/tracker_student.yaml"
    soak: bool = False
    soak_window_s: float = 60.0        # "first minute" / "last minute"
    warmup_s: float = 5.0              # tracking, but not measured (model warm-up, DDS matching)
    seed: int = 0
    out_dir: Path = Path("runs/bench")
    launch_file: str = "sim_demo.launch.xml"
    start_timeout_s: float = 60.0
    sample_period_s: float = 0.5
    progress: bool = True


def resolve_params_file(path: str) -> Path:
    """A params file as given (from the working directory), else inside the package share."""
    here = Path(path)
    if here.is_file():
        return here.resolve()
    shared = share_dir() / path
    if shared.is_file():
        return shared
    raise FileNotFoundError(f"tracker params file {path!r} not found here or in {share_dir()}")


def _plan(cfg: NodeBenchConfig) -> LaunchPlan:
    params = resolve_params_file(cfg.tracker_params)
    plan = load_launch(cfg.launch_file, {"tracker_params": str(params), "seed": str(cfg.seed),
                                         "occluders": "0"})
    # Keep the target's apparent size in proportion to the image (24..48 px at 640 px wide).
    scale = cfg.width / 640.0
    for spec in plan.nodes:
        if spec.name == "sim_node":
            spec.params.update({"width": str(cfg.width), "height": str(cfg.height),
                                "fps": repr(float(cfg.rate_hz)),
                                "target_min_px": repr(max(8.0, 24.0 * scale)),
                                "target_max_px": repr(max(12.0, 48.0 * scale))})
    return plan


Timing = tuple[int, int, int, bool]  # (header stamp, DDS source time, arrival, carries a box)


class BenchMonitor(TrackMonitor):
    """The demo's monitor (initialises the tracker from ground truth) plus, per output message,
    the stamp, the publisher's DDS source timestamp and the arrival time, and every tracker
    diagnostics message (for the drop counter at the window's ends)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(keep_frames=0, **kwargs)
        self._timing_lock = threading.Lock()
        self.timing: dict[str, list[Timing]] = {"ground_truth": [], "tracks": [], "cmd_gimbal": []}
        self.tracker_diag: list[tuple[int, float, dict[str, str]]] = []  # stamp, monotonic, values
        self._diag_cond = threading.Condition()
        self.create_subscription(Detection2D, "ground_truth", self._gt_timed, _TIMED_QOS)
        self.create_subscription(Detection2DArray, "tracks", self._tracks_timed, _TIMED_QOS)
        self.create_subscription(Vector3Stamped, "cmd_gimbal", self._cmd_timed, _TIMED_QOS)

    def _record(self, topic: str, header, info, has_box: bool) -> None:
        stamp = Time.from_msg(header.stamp).nanoseconds
        received = int(info.get("received_timestamp") or 0) or time.time_ns()
        source = int(info.get("source_timestamp") or 0) or received
        with self._timing_lock:
            self.timing[topic].append((stamp, source, received, has_box))

    def _gt_timed(self, msg: Detection2D, info) -> None:
        self._record("ground_truth", msg.header, info, True)

    def _tracks_timed(self, msg: Detection2DArray, info) -> None:
        self._record("tracks", msg.header, info, bool(msg.detections))

    def _cmd_timed(self, msg: Vector3Stamped, info) -> None:
        self._record("cmd_gimbal", msg.header, info, True)

    def _on_diag(self, msg: DiagnosticArray) -> None:
        super()._on_diag(msg)
        stamp = Time.from_msg(msg.header.stamp).nanoseconds
        with self._diag_cond:
            for status in msg.status:
                if status.name == TRACKER_STATUS:
                    values = {kv.key: kv.value for kv in status.values}
                    self.tracker_diag.append((stamp, time.monotonic(), values))
            self._diag_cond.notify_all()

    def next_tracker_diag(self, timeout: float) -> tuple[int, float, dict[str, str]] | None:
        """The first tracker diagnostics message that arrives from now on."""
        with self._diag_cond:
            n = len(self.tracker_diag)
            if not self._diag_cond.wait_for(lambda: len(self.tracker_diag) > n, timeout):
                return None
            return self.tracker_diag[n]

    def timings(self) -> dict[str, list[Timing]]:
        with self._timing_lock:
            return {k: list(v) for k, v in self.timing.items()}


def _check_alive(group: ProcessGroup) -> None:
    if group.exited():
        dead = ", ".join(f"{r.label} (exit {r.proc.returncode}, log {r.log_path})"
                         for r in group.exited())
        raise RuntimeError(f"node process ended during the benchmark: {dead}")


def _wait(seconds: float, group: ProcessGroup, progress: bool, desc: str) -> None:
    from tqdm import tqdm
    end = time.monotonic() + seconds
    with tqdm(total=round(seconds), unit="s", desc=desc, disable=not progress,
              bar_format="{desc}: {bar} {n_fmt}/{total_fmt} s") as bar:
        while (now := time.monotonic()) < end:
            _check_alive(group)
            time.sleep(min(0.5, end - now))
            bar.n = min(round(seconds - (end - time.monotonic())), bar.total)
            bar.refresh()


def _window_diag(monitor: BenchMonitor, group: ProcessGroup, what: str):
    diag = monitor.next_tracker_diag(timeout=10.0)
    _check_alive(group)
    if diag is None:
        raise RuntimeError(f"no tracker diagnostics at the {what} of the window within 10 s")
    return diag


def run_node_bench(cfg: NodeBenchConfig) -> dict:
    """Run the pipeline, measure it, stop it; returns the measurements (see module docstring).
    Raises RuntimeError when a node dies or the loop does not start, naming the node logs."""
    out_dir = Path(cfg.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    plan = _plan(cfg)
    os.environ.update(plan.env)  # this process talks DDS too (same transport profile)
    context = rclpy.Context()
    rclpy.init(context=context)
    monitor = BenchMonitor(context=context)
    spin = BackgroundSpin(monitor, context, name="bench_spin")
    group = ProcessGroup(plan, log_dir=out_dir / "logs")
    sampler = None
    try:
        group.start()
        sampler = ProcessSampler({r.label: r.proc.pid for r in group.running},
                                 cfg.sample_period_s).start()
        wait_started(monitor, group, cfg.start_timeout_s)
        _wait(cfg.warmup_s, group, cfg.progress, "warm-up")
        first = _window_diag(monitor, group, "start")
        _wait(cfg.duration_s, group, cfg.progress, "measuring")
        last = _window_diag(monitor, group, "end")
        # outputs for the window's last frames may still be on their way
        _wait(_GRACE_S, group, False, "")
        timings, statuses = monitor.timings(), monitor.snapshot().diagnostics
    finally:
        if sampler is not None:
            sampler.stop()
        exit_codes = group.stop()
        spin.close()
    result = summarise(cfg, first, last, timings, statuses, sampler.snapshot())
    result["exit_codes"] = exit_codes
    return result


# ---- turning the raw measurements into per-node numbers ---------------------------------------
def _first_by_stamp(entries: list[Timing]) -> dict[int, Timing]:
    out: dict[int, Timing] = {}
    for entry in entries:
        out.setdefault(entry[0], entry)
    return out


def _float(values: dict[str, str], key: str) -> float | None:
    try:
        return float(values[key])
    except (KeyError, ValueError):
        return None


def summarise(cfg: NodeBenchConfig, first, last, timings: dict[str, list[Timing]],
              statuses: dict[str, dict[str, str]], samples: dict) -> dict:
    """Per-node numbers over the window between the ``first`` and ``last`` tracker diagnostics."""
    t0_ns, t0_mono, v0 = first
    t1_ns, t1_mono, v1 = last
    window_s = (t1_ns - t0_ns) / 1e9
    frames = sorted(s for s in _first_by_stamp(timings["ground_truth"]) if t0_ns <= s < t1_ns)
    frame_set = set(frames)
    tracks = {s: e for s, e in _first_by_stamp(timings["tracks"]).items() if s in frame_set}
    boxed = {s for s, e in tracks.items() if e[3]}
    cmds = {s: e for s, e in _first_by_stamp(timings["cmd_gimbal"]).items() if s in boxed}

    def ages(entries: dict[int, Timing], index: int) -> list[float]:
        return [(e[index] - s) / 1e6 for s, e in sorted(entries.items())]

    def proc(label: str) -> dict:
        return window_summary(samples.get(label, []), t0_mono, t1_mono)

    def rate(n: int) -> float | None:
        return n / window_s if window_s > 0 else None

    all_tracks = _first_by_stamp(timings["tracks"])
    answered_before = max((s for s, e in all_tracks.items() if e[1] < t0_ns), default=-1)
    droppable = sum(1 for s in _first_by_stamp(timings["ground_truth"])
                    if answered_before < s < t1_ns and s not in all_tracks)
    dropped = None
    if _float(v0, "dropped_frames") is not None and _float(v1, "dropped_frames") is not None:
        dropped = int(_float(v1, "dropped_frames") - _float(v0, "dropped_frames"))
    sim_values = statuses.get(SIM_STATUS, {})
    nodes = {
        "sim_node": {"role": "camera (simulator)", "input_hz": None,
                     "processed_frames": len(frames), "processed_hz": rate(len(frames)),
                     "dropped_frames": None, "frame_age_ms": None,
                     "render_p50_ms": _float(sim_values, "render_p50_ms"), **proc("sim_node")},
        "tracker_node": {"role": f"tracker ({v1.get('backend', '?')})",
                         "input_frames": len(frames), "input_hz": rate(len(frames)),
                         "processed_frames": len(tracks), "processed_hz": rate(len(tracks)),
                         "frames_with_box": len(boxed),
                         "unanswered_frames": len(frames) - len(tracks),
                         "dropped_frames": dropped, "droppable_frames": droppable,
                         "frame_age_ms": distribution(ages(tracks, 1)),
                         "delivered_age_ms": distribution(ages(tracks, 2)),
                         "inference_p50_ms": _float(v1, "inference_p50_ms"),
                         "state": v1.get("state"), "episode": v1.get("episode"),
                         **proc("tracker_node")},
        "follow_node": {"role": "gimbal follower", "input_hz": rate(len(boxed)),
                        "processed_frames": len(cmds), "processed_hz": rate(len(cmds)),
                        "dropped_frames": None,
                        "unanswered_frames": len(boxed) - len(cmds),
                        "frame_age_ms": distribution(ages(cmds, 1)), **proc("follow_node")},
    }
    result = {"config": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(cfg).items()},
              "window": {"start_stamp_ns": t0_ns, "end_stamp_ns": t1_ns, "seconds": window_s},
              "nodes": nodes, "soak": None}
    if cfg.soak:
        result["soak"] = _soak(cfg, tracks, samples, (t0_ns, t1_ns), (t0_mono, t1_mono))
    return result


def _soak(cfg: NodeBenchConfig, tracks: dict[int, Timing], samples: dict,
          stamps: tuple[int, int], monos: tuple[float, float]) -> dict:
    """RSS growth and frame-age drift, first vs last ``soak_window_s`` of the window."""
    (t0_ns, t1_ns), (t0, t1) = stamps, monos
    rss = {}
    for label, series in samples.items():
        inside = [s for s in series if t0 <= s.t <= t1]
        first_mask, last_mask = split_windows([s.t for s in inside], t0, t1, cfg.soak_window_s)
        values = [s.rss_bytes / MB for s in inside]
        first = [v for v, m in zip(values, first_mask) if m]
        last = [v for v, m in zip(values, last_mask) if m]
        f = sum(first) / len(first) if first else None
        la = sum(last) / len(last) if last else None
        rss[label] = {"first_mb": f, "last_mb": la, "growth_percent": growth_percent(f, la),
                      "timeline": [[round(s.t - t0, 2), round(v, 2)]
                                   for s, v in zip(inside, values)]}
    stamps_s = [(s - t0_ns) / 1e9 for s in sorted(tracks)]
    ages = [(tracks[s][1] - s) / 1e6 for s in sorted(tracks)]
    span = (t1_ns - t0_ns) / 1e9
    first_mask, last_mask = split_windows(stamps_s, 0.0, span, cfg.soak_window_s)
    p50_first = distribution(a for a, m in zip(ages, first_mask) if m)["p50"]
    p50_last = distribution(a for a, m in zip(ages, last_mask) if m)["p50"]
    buckets = []
    start = 0.0
    while start < span:
        inside = [a for t, a in zip(stamps_s, ages) if start <= t < start + _AGE_BUCKET_S]
        d = distribution(inside)
        middle = start + min(_AGE_BUCKET_S, span - start) / 2
        buckets.append([round(middle, 1), d["p50"], d["p99"]])
        start += _AGE_BUCKET_S
    return {"window_s": min(cfg.soak_window_s, span / 2), "rss": rss,
            "frame_age_p50_ms": {"first": p50_first, "last": p50_last,
                                 "drift_ms": None if p50_first is None or p50_last is None
                                 else p50_last - p50_first},
            "frame_age_timeline": buckets}
