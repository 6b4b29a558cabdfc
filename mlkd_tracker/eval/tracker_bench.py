"""Offline speed of every tracker on the same frames: the shipped students (every export in
``models/``), the teacher checkpoint when one is given, and the OpenCV baselines.

Why through the OPE runner: it already times exactly the tracker (``init``/``update``; image
loading excluded), builds trackers through the one tracker factory the node uses (so thread
counts are applied the same way as in ``mlkd-tracker eval``), starts every tracker from the same
random state, counts the frames on which the node would publish a box and writes result files a person can check. Every tracker runs
on the same frames: the first ``frames`` of the data set, sequence after sequence in list order.
The success score on those frames is reported too, only as a sanity check that a fast tracker
is actually tracking; ``mlkd-tracker eval`` gives the real accuracy numbers.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mlkd_tracker.eval.bench_report import distribution, fmt, format_machine
from mlkd_tracker.eval.ope_runner import (PUBLISH_LOST_AFTER, PUBLISH_SCORE_THRESHOLD, SequenceLike,
                                          init_frame_index, run_dataset)
from mlkd_tracker.data.results_io import read_times
from mlkd_tracker.eval.tracker_registry import TrackerSpec, parse_spec

__all__ = ["find_students", "tracker_specs", "clip_sequences", "bench_trackers",
           "format_trackers_markdown", "DEFAULT_OPENCV"]

DEFAULT_OPENCV = ("csrt", "kcf", "mil")


def find_students(models_dir: Path) -> list[Path]:
    """Export stems in ``models_dir`` that have both ONNX branches, sorted by name."""
    stems = []
    for search in sorted(Path(models_dir).glob("*.search.onnx")):
        stem = search.with_name(search.name[: -len(".search.onnx")])
        if stem.with_name(stem.name + ".template.onnx").is_file():
            stems.append(stem)
    return stems


def tracker_specs(models_dir: Path | None, teacher: str | None, opencv: Sequence[str],
                  extra: Sequence[str] = ()) -> list[TrackerSpec]:
    """Students first, then the teacher, the OpenCV baselines and any extra ``kind:arg``.
    Raises ValueError (from the registry) for a spec that cannot run here."""
    students = find_students(models_dir) if models_dir else []
    specs = [parse_spec(f"onnx:{stem}") for stem in students]
    if teacher:
        specs.append(parse_spec(f"teacher=torch:{teacher}"))
    specs += [parse_spec(f"opencv:{name}") for name in opencv]
    specs += [parse_spec(text) for text in extra]
    labels = [s.label for s in specs]
    dupes = sorted({x for x in labels if labels.count(x) > 1})
    if dupes:
        raise ValueError(f"two trackers share the label(s) {', '.join(dupes)}; "
                         "name them with LABEL=kind:arg")
    return specs


@dataclass
class _Clip:
    """The first frames of a sequence (what the OPE runner needs: name, frames, boxes, absent)."""

    name: str
    frames: list[Path]
    boxes: np.ndarray
    absent: np.ndarray | None


def clip_sequences(sequences: Sequence[SequenceLike], frames: int | None) -> list[_Clip]:
    """The first ``frames`` frames of the data set (all if None), sequence after sequence."""
    clips, left = [], frames
    for seq in sequences:
        n = len(seq.frames) if left is None else min(left, len(seq.frames))
        if n <= 0:
            break
        absent = getattr(seq, "absent", None)
        clips.append(_Clip(seq.name, list(seq.frames[:n]), np.asarray(seq.boxes)[:n],
                           None if absent is None else np.asarray(absent)[:n]))
        if left is not None:
            left -= n
    return clips


def _update_ms(run_dir: Path, clips: Sequence[_Clip]) -> tuple[list[float], list[float]]:
    """Per-frame times from the result files: (update ms of every tracked frame, init ms)."""
    updates, inits = [], []
    for clip in clips:
        times = read_times(run_dir / f"{clip.name}_time.txt") * 1e3
        start = init_frame_index(clip, len(times))
        if start is None or not np.isfinite(times[start]):
            continue
        inits.append(float(times[start]))
        updates += [float(t) for t in times[start + 1:] if np.isfinite(t)]
    return updates, inits


def bench_trackers(specs: Sequence[TrackerSpec], clips: Sequence[_Clip], out_dir: Path,
                   progress: bool = True) -> list[dict]:
    """Run every tracker on ``clips`` (fresh results, never resumed: stored times could come
    from another machine or load) and return one row per tracker."""
    rows = []
    for spec in specs:
        score = run_dataset(spec, clips, out_dir, progress=progress, resume=False)
        updates, inits = _update_ms(Path(out_dir) / spec.label, clips)
        rows.append({"tracker": spec.label, "spec": str(spec), "frames": score.n_frames,
                     "frames_with_box": score.frames_with_box, "fps": score.fps,
                     "update_ms": distribution(updates),
                     "init_ms_median": float(np.median(inits)) if inits else None,
                     "success_auc": score.auc})
    return rows


def format_trackers_markdown(result: dict) -> str:
    """The ``trackers`` section of BENCHMARKS.md."""
    threads = result["threads"] if result["threads"] is not None else "library defaults"
    lines = ["## Trackers: offline speed on the same frames", ""]
    if result.get("note"):
        lines += [f"> **{result['note']}**", ""]
    lines += [
        f"Command: `{result.get('command', '')}`", "",
        f"Machine: {format_machine(result['machine'])}", "",
        f"{result['frames']} frames of `{result['dataset']}` ({result['sequences']} "
        f"sequence{'s' if result['sequences'] != 1 else ''}, "
        f"the first frames in list order), one process, threads: {threads}. FPS = frames / time "
        "spent in the tracker's init and update (image loading excluded), over all frames; "
        "update = per-frame time after init. With box = frames on which tracker_node (score_threshold "
        f"{PUBLISH_SCORE_THRESHOLD:g}, lost_after_frames {PUBLISH_LOST_AFTER}) would publish a box: "
        "a fast tracker that has lost its target publishes none. Success (AUC ×100) on these "
        "frames is a sanity check only; `mlkd-tracker eval` gives the accuracy numbers.", "",
        "| tracker | spec | FPS | with box | update p50 / p95 (ms) | init (ms) | success |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in sorted(result["trackers"], key=lambda r: -(r["fps"] or 0.0)):
        u = r["update_ms"]
        upd = "–" if u["p50"] is None else f"{u['p50']:.2f} / {u['p95']:.2f}"
        auc = None if r["success_auc"] is None else 100 * r["success_auc"]
        boxed = f"{r['frames_with_box']} of {r['frames']}" if "frames_with_box" in r else "–"
        lines.append(f"| {r['tracker']} | `{r['spec']}` | {fmt(r['fps'])} | {boxed} | {upd} | "
                     f"{fmt(r['init_ms_median'])} | {fmt(auc)} |")
    return "\n".join(lines) + "\n"
