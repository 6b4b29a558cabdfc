"""Scores and reports one bag replay: one-pass tracking metrics, per-frame latency, what was lost,
and what could not be read.

The replay (``mlkd_tracker.tools.bag_replay``) hands over a :class:`ReplayRun`: per camera frame
of the bag, when it was published and when the pipeline's output for it arrived, plus the ground
truth and the tracks keyed by frame stamp. Scoring reuses ``stamped_runs.align`` (a frame without
an output of its own is scored with the last box published before it, as a consumer of
``tracks`` would have seen it) and the OPE metrics, so a replay and a live run are scored the
same way. Ground truth is kept only for stamps the bag has a camera frame for: the score is over
the frames that were replayed (or that the bag holds and could not be replayed).

No rclpy here; matplotlib is imported only when the plots are drawn.
"""
from __future__ import annotations

import csv
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from mlkd_tracker.eval.ope import SequenceScore, iou
from mlkd_tracker.data.results_io import write_boxes
from mlkd_tracker.eval.stamped_runs import AlignedRun, align, score_run

__all__ = ["FrameLog", "ReplayRun", "ReplaySummary", "evaluate", "format_report", "write_report"]

Box = tuple[float, float, float, float]


@dataclass
class FrameLog:
    """One camera message of the bag, in bag order."""

    index: int
    stamp_ns: int                   # header stamp (what outputs are matched by)
    bag_time_ns: int                # when it was recorded
    published_ns: int | None = None  # system time it was published to the pipeline
    output_ns: int | None = None     # system time the first output stamped like it arrived
    problem: str = ""                # why it was not published (e.g. undecodable)


@dataclass
class ReplayRun:
    bag: str
    storage: str
    mode: str
    camera_topic: str
    camera_type: str
    output_topic: str
    gt_source: str                  # "topic /ground_truth", "file anno/x.txt" or "none"
    frames: list[FrameLog] = field(default_factory=list)
    gt: dict[int, Box] = field(default_factory=dict)
    tracks: dict[int, Box | None] = field(default_factory=dict)
    init_stamp: int | None = None
    read_error: str | None = None   # the bag's damage, if reading stopped early
    interrupted: bool = False       # Ctrl-C
    pipeline_error: str | None = None  # the pipeline died or never answered
    tracker_status: dict[str, str] = field(default_factory=dict)  # last /diagnostics values
    output_bag: str = ""
    output_counts: dict[str, int] = field(default_factory=dict)
    launch: str = ""
    rate_hz: float | None = None
    wall_s: float = 0.0


@dataclass
class ReplaySummary:
    frames_in_bag: int              # camera messages read
    frames_published: int
    frames_not_published: int       # unreadable frames, skipped
    frames_answered: int            # published frames the pipeline answered
    frames_lost: int                # published frames without an output
    tracker_dropped: int | None     # the tracker's own count (diagnostics), if reported
    latency_ms: dict[str, float]    # publish -> output arrival: p50, p95, p99, max, mean
    scored_frames: int
    success_auc: float | None
    precision_20: float | None
    norm_precision_20: float | None
    read_error: str | None
    interrupted: bool
    pipeline_error: str | None


def _latencies(run: ReplayRun) -> np.ndarray:
    return np.array([(f.output_ns - f.published_ns) / 1e6 for f in run.frames
                     if f.output_ns is not None and f.published_ns is not None], dtype=float)


def aligned(run: ReplayRun) -> AlignedRun | None:
    """Ground truth and tracks aligned from the init frame on, over the bag's frames."""
    stamps = {f.stamp_ns for f in run.frames}
    gt = {s: b for s, b in run.gt.items() if s in stamps}
    if run.init_stamp is None or not any(s >= run.init_stamp for s in gt):
        return None
    return align(gt, run.tracks, run.init_stamp)


def _int(value: str | None) -> int | None:
    try:
        return int(float(value)) if value is not None else None
    except ValueError:
        return None


def evaluate(run: ReplayRun) -> tuple[ReplaySummary, AlignedRun | None, SequenceScore | None]:
    published = [f for f in run.frames if f.published_ns is not None]
    answered = [f for f in published if f.output_ns is not None]
    lat = _latencies(run)
    latency = ({"p50": float(np.percentile(lat, 50)), "p95": float(np.percentile(lat, 95)),
                "p99": float(np.percentile(lat, 99)), "max": float(lat.max()),
                "mean": float(lat.mean())} if lat.size else {})
    ar = aligned(run)
    score = score_run(ar) if ar is not None else None
    summary = ReplaySummary(
        frames_in_bag=len(run.frames), frames_published=len(published),
        frames_not_published=len(run.frames) - len(published), frames_answered=len(answered),
        frames_lost=len(published) - len(answered),
        tracker_dropped=_int(run.tracker_status.get("dropped_frames")), latency_ms=latency,
        scored_frames=len(ar.stamps) if ar is not None else 0,
        success_auc=score.auc if score else None,
        precision_20=score.precision_20 if score else None,
        norm_precision_20=score.norm_precision_20 if score else None,
        read_error=run.read_error, interrupted=run.interrupted, pipeline_error=run.pipeline_error)
    return summary, ar, score


def _pct(v: float | None) -> str:
    return "–" if v is None or not math.isfinite(v) else f"{100 * v:.1f}"


def format_report(run: ReplayRun, s: ReplaySummary) -> str:
    """The markdown report: what was replayed how, the scores, latency, losses, problems."""
    rate = f" at {run.rate_hz:g} Hz" if run.rate_hz else ""
    lines = [f"# Replay of {Path(run.bag).name}", "",
             f"Bag `{run.bag}` ({run.storage}); camera `{run.camera_topic}` ({run.camera_type}); "
             f"mode **{run.mode}**{rate}; pipeline `{run.launch or 'already running'}`; outputs "
             f"`{run.output_topic}`; ground truth from {run.gt_source}; {run.wall_s:.1f} s.", ""]
    if s.read_error:
        lines += [f"**The bag is damaged; the replay used what could be read.** {s.read_error}", ""]
    if s.pipeline_error:
        lines += [f"**The pipeline failed; the replay stopped.** {s.pipeline_error}", ""]
    if s.interrupted:
        lines += ["**Interrupted (Ctrl-C)**: the numbers cover the frames replayed until then.", ""]
    lines += ["## One-pass tracking metrics", ""]
    if s.success_auc is None:
        lines += ["No score: no ground truth, or the tracker was never initialised.", ""]
    else:
        lines += ["| frames scored | success AUC | precision@20px | norm. precision@0.2 |",
                  "|---:|---:|---:|---:|",
                  f"| {s.scored_frames} | {_pct(s.success_auc)} | {_pct(s.precision_20)} | "
                  f"{_pct(s.norm_precision_20)} |", "",
                  "×100. Frames from the initialisation frame on; a frame without an output of "
                  "its own is scored with the last box published before it.", ""]
    lat = s.latency_ms
    lines += ["## Frames and latency", "",
              "| frames in bag | published | not published (unreadable) | answered | lost | "
              "tracker dropped |", "|---:|---:|---:|---:|---:|---:|",
              f"| {s.frames_in_bag} | {s.frames_published} | {s.frames_not_published} | "
              f"{s.frames_answered} | {s.frames_lost} | "
              f"{'–' if s.tracker_dropped is None else s.tracker_dropped} |", ""]
    if lat:
        lines += ["Latency, publish → output arrival (ms): "
                  f"p50 {lat['p50']:.1f}, p95 {lat['p95']:.1f}, p99 {lat['p99']:.1f}, "
                  f"max {lat['max']:.1f}, mean {lat['mean']:.1f}.", ""]
    problems = [f for f in run.frames if f.problem]
    if problems:
        lines += ["## Frames not published", ""]
        lines += [f"- frame {f.index} (stamp {f.stamp_ns} ns): {f.problem}" for f in problems[:20]]
        lines += ([f"- … and {len(problems) - 20} more"] if len(problems) > 20 else []) + [""]
    counts = ", ".join(f"`{t}` {n}" for t, n in run.output_counts.items())
    lines += ["## Files", "", f"- output bag `{run.output_bag}`: {counts}",
              "- `results.json` (every number), `frames.csv` (per frame), `tracks.txt` and "
              "`groundtruth.txt` (x,y,w,h per scored frame)",
              "- `ope.png`, `timeline.png`, `latency.png`", ""]
    return "\n".join(lines)


def write_report(run: ReplayRun, out_dir: str | Path) -> ReplaySummary:
    """Write results.json, frames.csv, tracks/groundtruth files, report.md and the plots."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary, ar, score = evaluate(run)
    _write_frames_csv(run, ar, out / "frames.csv")
    if ar is not None and score is not None:
        from mlkd_tracker.eval.ope import score_dataset
        from mlkd_tracker.eval.plots import plot_ope, plot_track_timeline
        write_boxes(out / "tracks.txt", ar.pred)
        write_boxes(out / "groundtruth.txt", ar.gt)
        name = Path(run.bag).name
        plot_ope({name: score_dataset({name: (ar.pred, ar.gt)})}, out / "ope.png",
                 title=f"replay ({run.mode})")
        plot_track_timeline(ar.gt, ar.pred, None, out / "timeline.png", title=name)
    _plot_latency(run, out / "latency.png")
    info = {k: v for k, v in asdict(run).items() if k not in ("frames", "gt", "tracks")}
    (out / "results.json").write_text(json.dumps({"summary": asdict(summary), "run": info},
                                                 indent=2) + "\n", encoding="utf-8")
    (out / "report.md").write_text(format_report(run, summary), encoding="utf-8")
    return summary


def _write_frames_csv(run: ReplayRun, ar: AlignedRun | None, path: Path) -> None:
    scored = {int(s): i for i, s in enumerate(ar.stamps)} if ar is not None else {}
    overlaps = iou(ar.pred, ar.gt) if ar is not None else None
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["index", "stamp_ns", "bag_time_ns", "published_ns", "output_ns", "latency_ms",
                    "gt_x", "gt_y", "gt_w", "gt_h", "pred_x", "pred_y", "pred_w", "pred_h", "iou",
                    "problem"])
        for fr in run.frames:
            lat = ((fr.output_ns - fr.published_ns) / 1e6
                   if fr.output_ns is not None and fr.published_ns is not None else "")
            i = scored.get(fr.stamp_ns)
            boxes = (list(ar.gt[i]) + list(ar.pred[i]) + [overlaps[i]] if i is not None
                     else [""] * 9)
            w.writerow([fr.index, fr.stamp_ns, fr.bag_time_ns, fr.published_ns or "",
                        fr.output_ns or "", lat, *boxes, fr.problem])


def _plot_latency(run: ReplayRun, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    idx = [f.index for f in run.frames if f.output_ns is not None and f.published_ns is not None]
    lat = _latencies(run)
    fig, (ax_t, ax_h) = plt.subplots(1, 2, figsize=(11, 3.8), gridspec_kw={"width_ratios": [3, 1]})
    try:
        ax_t.plot(idx, lat, ".", ms=3, color="tab:blue")
        lost = [f.index for f in run.frames if f.published_ns is not None and f.output_ns is None]
        if lost:
            ax_t.plot(lost, np.zeros(len(lost)), "x", color="tab:red", label="no output")
            ax_t.legend(loc="upper right", fontsize=8)
        ax_t.set(xlabel="Frame", ylabel="Latency (ms)", title=f"Publish → output ({run.mode})")
        ax_h.hist(lat, bins=30, color="tab:blue", orientation="horizontal")
        ax_h.set(xlabel="Frames", title="Distribution")
        for ax in (ax_t, ax_h):
            ax.grid(True, alpha=0.3)
        fig.tight_layout()
        fig.savefig(path, dpi=100)
    finally:
        plt.close(fig)
