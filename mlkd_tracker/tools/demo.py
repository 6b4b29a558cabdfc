"""`mlkd-tracker demo`: the simulator, tracker and follower as separate processes in a closed
loop; the tracker is initialised from the first ground-truth box; scores, plots and a video.

The same run, shorter, is the integration test of the foundation (test/tools/test_closed_loop.py).
That test runs it in lockstep (``pace_topic="tracks"``: the simulator publishes the next frame
only after the tracker answered the last one) for a fixed number of frames, so a loaded machine
sees the same flight, only slower.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import rclpy

from mlkd_tracker.eval.ope import SequenceScore, center_error, iou
from mlkd_tracker.eval.stamped_runs import AlignedRun, align, score_run
from mlkd_tracker.tools.background_spin import BackgroundSpin
from mlkd_tracker.tools.launch_xml import load_launch
from mlkd_tracker.tools.process_group import ProcessGroup
from mlkd_tracker.tools.track_monitor import Recording, TrackMonitor, wait_for

TRACKER_STATUS = "tracker_node: tracking"
SIM_STATUS = "sim_node: simulator"


@dataclass
class DemoConfig:
    duration_s: float = 20.0        # seconds of tracking; with ``frames``, the time limit
    frames: int | None = None       # stop after this many ground-truth frames from init on
    pace_topic: str = ""            # sim_node's lockstep (tools/sim_node.py); "" runs at 30 Hz
    launch_file: str = "sim_demo.launch.xml"
    launch_args: dict[str, str] = field(default_factory=dict)
    out_dir: Path | None = None     # default runs/demo-<time>
    start_timeout_s: float = 30.0   # nodes up, first frame, tracker initialised
    video: bool = True
    progress: bool = True


@dataclass
class DemoSummary:
    success_auc: float
    precision_20: float
    norm_precision_20: float
    frames: int                 # ground-truth frames since init
    processed: int              # of those, frames the tracker published a result for
    tracker_dropped: int        # frames the tracker skipped (its diagnostics)
    frame_age_p50_ms: float     # header stamp -> publish, at the tracker
    frame_age_p95_ms: float
    inference_p50_ms: float
    delivered_age_p50_ms: float  # header stamp -> tracks arrival at a subscriber, whole run
    delivered_age_p95_ms: float
    target_offset_median_px: float  # ground-truth centre to image centre: how well the loop follows
    out_dir: str


def run_demo(cfg: DemoConfig) -> tuple[DemoSummary, AlignedRun, Recording]:
    out_dir = cfg.out_dir or Path("runs") / time.strftime("demo-%Y%m%d-%H%M%S")
    out_dir.mkdir(parents=True, exist_ok=True)
    plan = load_launch(cfg.launch_file, cfg.launch_args)
    if cfg.pace_topic:
        for spec in plan.nodes:
            if spec.exec == "sim_node":
                spec.params["pace_topic"] = cfg.pace_topic
    os.environ.update(plan.env)  # this process talks DDS too (same transport profile)
    group = ProcessGroup(plan, log_dir=out_dir / "logs").start()
    context = rclpy.Context()
    rclpy.init(context=context)
    monitor = TrackMonitor(context=context)
    spin = BackgroundSpin(monitor, context, name="demo_spin")
    try:
        _wait_started(monitor, group, cfg.start_timeout_s)
        _run_for(cfg, monitor, group)
        _wait_for_sim_counters(monitor, timeout=3.0)
        rec = monitor.snapshot()
    finally:
        group.stop()
        spin.close()
    run = align(rec.gt, rec.tracks, rec.init_stamp)
    summary = _summarise(run, score_run(run), rec, out_dir)
    _write_outputs(summary, run, rec, out_dir, cfg.video)
    return summary, run, rec


def _wait_started(monitor: TrackMonitor, group: ProcessGroup, timeout: float) -> None:
    def started() -> bool:
        if group.exited():
            dead = ", ".join(f"{r.label} (exit {r.proc.returncode}, log {r.log_path})"
                             for r in group.exited())
            raise RuntimeError(f"node process ended during start-up: {dead}")
        rec = monitor.snapshot()
        return rec.init_stamp is not None and any(
            b is not None for s, b in rec.tracks.items() if s >= rec.init_stamp)
    if not wait_for(started, timeout):
        logs = ", ".join(str(r.log_path) for r in group.running)
        raise RuntimeError(f"the loop did not start within {timeout:.0f} s (no ground truth, init or "
                           f"tracks); see the node logs: {logs}")


def _run_for(cfg: DemoConfig, monitor: TrackMonitor, group: ProcessGroup) -> None:
    """``duration_s`` of tracking, or (with ``frames``) until that many ground-truth frames from
    the init frame on were recorded, ``duration_s`` at most; fails when a node process ends."""
    from tqdm import tqdm

    end = time.monotonic() + cfg.duration_s
    total, unit = (cfg.frames, "frames") if cfg.frames else (round(cfg.duration_s), "s")
    with tqdm(total=total, unit=unit, desc="closed loop", disable=not cfg.progress,
              bar_format="{desc}: {bar} {n_fmt}/{total_fmt} " + unit + " {postfix}") as bar:
        while (now := time.monotonic()) < end:
            if group.exited():
                raise RuntimeError(f"node process ended: {[r.label for r in group.exited()]}")
            if cfg.frames:
                done = monitor.frames_since_init()
                if done >= cfg.frames:
                    return
                bar.n = done
                wait_for(lambda: monitor.frames_since_init() >= cfg.frames, min(0.5, end - now))
            else:
                time.sleep(min(0.5, end - now))
                bar.n = min(round(cfg.duration_s - (end - time.monotonic())), bar.total)
            bar.set_postfix_str(f"frames {len(monitor.rec.gt)}, tracks {len(monitor.rec.tracks)}")


def _wait_for_sim_counters(monitor: TrackMonitor, timeout: float) -> None:
    """In lockstep, wait for a simulator status published after the tracker's last one, so that
    its counters (frames, pace timeouts) cover everything the tracker's counters count."""
    def fresh() -> bool:
        statuses = monitor.snapshot().diagnostics
        sim, tracker = statuses.get(SIM_STATUS, {}), statuses.get(TRACKER_STATUS, {})
        return ("paced_by" not in sim or not tracker
                or int(sim["_stamp_ns"]) > int(tracker["_stamp_ns"]))
    wait_for(fresh, timeout)


def _diag_float(rec: Recording, key: str) -> float:
    try:
        return float(rec.diagnostics.get(TRACKER_STATUS, {}).get(key, "nan"))
    except ValueError:
        return float("nan")


def _diag_int(rec: Recording, key: str) -> int:
    value = _diag_float(rec, key)
    return int(value) if np.isfinite(value) else -1


def _summarise(run: AlignedRun, score: SequenceScore, rec: Recording, out_dir: Path) -> DemoSummary:
    width, height = rec.image_size or (640, 480)
    centres = run.gt[:, :2] + run.gt[:, 2:] / 2
    valid = (run.gt[:, 2] > 0) & (run.gt[:, 3] > 0)
    offset = np.hypot(centres[valid, 0] - width / 2, centres[valid, 1] - height / 2)
    ages = np.array([rec.track_received[s] - s for s in run.stamps if s in rec.track_received]) / 1e6
    age50, age95 = np.percentile(ages, [50, 95]) if ages.size else (np.nan, np.nan)
    return DemoSummary(
        success_auc=score.auc, precision_20=score.precision_20,
        norm_precision_20=score.norm_precision_20, frames=len(run.stamps),
        processed=int(run.processed.sum()),
        tracker_dropped=_diag_int(rec, "dropped_frames"),
        frame_age_p50_ms=_diag_float(rec, "latency_p50_ms"),
        frame_age_p95_ms=_diag_float(rec, "latency_p95_ms"),
        inference_p50_ms=_diag_float(rec, "inference_p50_ms"),
        delivered_age_p50_ms=float(age50), delivered_age_p95_ms=float(age95),
        target_offset_median_px=float(np.median(offset)) if offset.size else float("nan"),
        out_dir=str(out_dir))


def _write_outputs(summary: DemoSummary, run: AlignedRun, rec: Recording, out_dir: Path,
                   video: bool) -> None:
    from mlkd_tracker.eval.plots import plot_track_timeline
    from mlkd_tracker.data.results_io import write_boxes
    (out_dir / "summary.json").write_text(json.dumps(asdict(summary), indent=2))
    write_boxes(out_dir / "tracks.txt", run.pred)
    write_boxes(out_dir / "groundtruth.txt", run.gt)
    plot_track_timeline(run.gt, run.pred, None, out_dir / "timeline.png", title="sim demo")
    if video and rec.frames:
        _write_video(run, rec, out_dir / "demo.mp4")


def _write_video(run: AlignedRun, rec: Recording, path: Path, fps: float = 15.0) -> None:
    """Frames the monitor kept, with ground truth (green) and the track (red) drawn on."""
    import cv2
    index = {int(s): i for i, s in enumerate(run.stamps)}
    stamps = [s for s in sorted(rec.frames) if s in index]
    if not stamps:
        return
    h, w = rec.frames[stamps[0]].shape[:2]
    scale = w / (rec.image_size or (w, h))[0]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    try:
        for s in stamps:
            img = rec.frames[s].copy()
            i = index[s]
            for box, colour in ((run.gt[i], (0, 220, 0)), (run.pred[i], (0, 0, 255))):
                if np.all(np.isfinite(box)) and box[2] > 0:
                    x, y, bw, bh = (box * scale).round().astype(int)
                    cv2.rectangle(img, (x, y), (x + bw, y + bh), colour, 1)
            overlap = iou(run.pred[i:i + 1], run.gt[i:i + 1])[0]
            err = center_error(run.pred[i:i + 1], run.gt[i:i + 1])[0]
            cv2.putText(img, f"IoU {max(overlap, 0):.2f}  err {err:.0f}px", (6, 16),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
            writer.write(img)
    finally:
        writer.release()


def format_summary(s: DemoSummary) -> str:
    return "\n".join([
        f"success AUC        {s.success_auc:.3f}",
        f"precision@20px     {s.precision_20:.3f}",
        f"norm. precision    {s.norm_precision_20:.3f}",
        f"frames             {s.processed}/{s.frames} processed, tracker dropped {s.tracker_dropped}",
        f"frame age (tracker) p50 {s.frame_age_p50_ms:.1f} ms, p95 {s.frame_age_p95_ms:.1f} ms "
        f"(tracking p50 {s.inference_p50_ms:.1f} ms; tracker's last 10 s)",
        f"frame age (tracks delivered) p50 {s.delivered_age_p50_ms:.1f} ms, "
        f"p95 {s.delivered_age_p95_ms:.1f} ms (whole run)",
        f"target offset from image centre (median) {s.target_offset_median_px:.1f} px",
        f"outputs            {s.out_dir}",
    ])
