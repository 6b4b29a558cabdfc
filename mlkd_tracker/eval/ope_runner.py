"""Runs trackers over tracking sequences under the one-pass evaluation (OPE) protocol.

Protocol (reference/evaluation.md): initialise on frame 0 with the ground-truth box, then call
``update`` on every later frame, never re-initialising. If frame 0's ground truth is invalid
(w or h <= 0, non-finite, or the target is flagged absent) the tracker starts on the first frame
whose ground truth is usable; the frames before it have no prediction (NaN rows) and, because
their ground truth is invalid or the tracker never saw the target, they are failures. The
initialisation frame's prediction is its ground-truth box, so it scores as perfect, like frame 0
normally does. (The metrics score frame 0 as its ground truth whatever the runner wrote there,
so a frame 0 whose box is known but flagged absent still counts as perfect; one with an invalid
box fails.) A tracker that refuses to initialise (``ValueError``, e.g. a box too small for
it) fails the whole sequence, with a warning, rather than stopping the benchmark.

Outputs, per tracker label: ``<out>/<label>/<seq>.txt`` (one ``x,y,w,h`` line per frame, the
format the public toolkits read) and ``<seq>_time.txt`` (seconds per frame spent in
``init``/``update`` only; image loading is excluded so FPS measures the tracker, not the disk;
NaN where the tracker did not run). With ``resume=True`` complete result files are reused, so
an interrupted evaluation continues where it stopped.

Torch-free: imports numpy, OpenCV and tqdm only; tracker backends load lazily via the registry.
"""
from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np
from tqdm import tqdm

from mlkd_tracker.eval.ope import DatasetScore, score_dataset
from mlkd_tracker.data.results_io import read_boxes, read_times, write_boxes, write_times
from mlkd_tracker.eval.tracker_registry import THREADS_ENV, TrackerSpec, make, spec_identity
from mlkd_tracker.runtime.tracker_base import Tracker

__all__ = ["SequenceLike", "RunScore", "run_sequence", "run_dataset", "sequence_fps", "init_frame_index"]

log = logging.getLogger(__name__)

# Module-level so tests can substitute a scripted clock and check FPS arithmetic exactly.
_clock: Callable[[], float] = time.perf_counter

_META = "run.json"


class SequenceLike(Protocol):
    """What the runner needs from ``mlkd_tracker.data.sequences.Sequence``."""

    name: str
    frames: list[Path]
    boxes: np.ndarray  # (N, 4) x, y, w, h


@dataclass(frozen=True, eq=False)
class RunScore(DatasetScore):
    """A :class:`DatasetScore` (usable wherever one is, e.g. ``plots.plot_ope``) plus speed.

    ``fps`` is the mean over sequences of frames / tracker time (the benchmarks' convention,
    like the accuracy numbers); ``fps_total`` is all frames / all tracker time.
    """

    label: str
    fps: float
    fps_total: float
    fps_per_sequence: dict[str, float]
    n_frames: int
    resumed: tuple[str, ...]  # sequences whose results were reused from disk


def _valid_gt(boxes: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return np.isfinite(boxes).all(axis=1) & (boxes[:, 2] > 0) & (boxes[:, 3] > 0)


def _length(seq: SequenceLike, max_frames: int | None) -> int:
    n = len(seq.frames)
    if len(seq.boxes) != n:
        raise ValueError(f"sequence {seq.name!r}: {n} frames but {len(seq.boxes)} ground-truth boxes")
    if max_frames is not None:
        n = min(n, max_frames)
    if n <= 0:
        raise ValueError(f"sequence {seq.name!r} has no frames")
    return n


def init_frame_index(seq: SequenceLike, n: int | None = None) -> int | None:
    """First frame (among the first ``n``) whose ground truth can start a tracker, or None."""
    gt = np.asarray(seq.boxes, dtype=np.float64)[:n]
    usable = _valid_gt(gt)
    absent = getattr(seq, "absent", None)
    if absent is not None:
        usable &= ~np.asarray(absent, dtype=bool)[: len(gt)]
    hits = np.flatnonzero(usable)
    return int(hits[0]) if hits.size else None


def _read_frame(path: Path | str) -> np.ndarray:
    frame = cv2.imread(str(path), cv2.IMREAD_COLOR)  # BGR, like camera frames in the runtime
    if frame is None:
        raise ValueError(f"cannot read frame {path}")
    return frame


def run_sequence(
    tracker: Tracker, seq: SequenceLike, max_frames: int | None = None, progress: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """One OPE pass: ``(pred (N, 4), times (N,))``; see the module docstring for the rules."""
    n = _length(seq, max_frames)
    gt = np.asarray(seq.boxes, dtype=np.float64)[:n]
    pred = np.full((n, 4), np.nan)
    times = np.full(n, np.nan)
    start = init_frame_index(seq, n)
    if start is None:
        log.warning("sequence %r: no frame with a usable ground-truth box; every frame fails", seq.name)
        return pred, times
    if start > 0:
        log.info("sequence %r: frame 0 has no usable ground truth; initialising on frame %d", seq.name, start)
    frames = tqdm(range(start, n), desc=seq.name, unit="frame", leave=False, disable=not progress)
    for i in frames:
        frame = _read_frame(seq.frames[i])
        if i == start:
            box = tuple(float(v) for v in gt[i])
            t0 = _clock()
            try:
                tracker.init(frame, box)
            except ValueError as exc:
                log.warning("sequence %r: tracker refused to start on %s (%s); every frame fails",
                            seq.name, box, exc)
                return np.full((n, 4), np.nan), np.full(n, np.nan)
            times[i] = _clock() - t0
            pred[i] = gt[i]
        else:
            t0 = _clock()
            result = tracker.update(frame)
            times[i] = _clock() - t0
            pred[i] = np.asarray(result.box, dtype=np.float64)
    return pred, times


def sequence_fps(times: np.ndarray) -> float:
    """Frames the tracker processed / time it spent on them; NaN if it processed none."""
    t = np.asarray(times, dtype=np.float64)
    t = t[np.isfinite(t)]
    total = float(t.sum())
    return len(t) / total if total > 0 else float("nan")


def _check_meta(run_dir: Path, spec: TrackerSpec, resume: bool) -> None:
    """Refuse to mix results of two different trackers under one label; note thread changes."""
    meta_path = run_dir / _META
    threads = _threads_setting()
    if resume and meta_path.is_file():
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("tracker") != spec_identity(spec):
            raise ValueError(f"{run_dir} holds results of {meta.get('tracker')!r}, not {spec_identity(spec)!r}; "
                             "choose another label (LABEL=kind:arg), another --out, or disable resume")
        if meta.get("threads") != threads:
            log.warning("%s: reused sequences were timed with threads=%s, new ones with threads=%s",
                        run_dir, meta.get("threads"), threads)
        return
    run_dir.mkdir(parents=True, exist_ok=True)
    meta_path.write_text(json.dumps({"tracker": spec_identity(spec), "threads": threads}, indent=2) + "\n",
                         encoding="utf-8")


def _threads_setting() -> str | None:
    return os.environ.get(THREADS_ENV)


def _load_existing(box_path: Path, time_path: Path, n: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Stored (pred, times) if both files are complete for ``n`` frames, else None (re-run)."""
    if not (box_path.is_file() and time_path.is_file()):
        return None
    try:
        pred, times = read_boxes(box_path), read_times(time_path)
    except ValueError as exc:
        log.warning("ignoring unreadable stored result (%s); running the sequence again", exc)
        return None
    if len(pred) != n or len(times) != n:
        log.info("%s has %d rows, expected %d; running the sequence again", box_path, len(pred), n)
        return None
    return pred, times


def _write_atomic(path: Path, writer: Callable[[Path, np.ndarray], None], data: np.ndarray) -> None:
    """Write via a temporary file so an interrupted run never leaves a half file to resume from."""
    tmp = path.with_name(path.name + ".tmp")
    writer(tmp, data)
    tmp.replace(path)


def run_dataset(
    spec: TrackerSpec,
    sequences: Iterable[SequenceLike],
    out_dir: str | Path,
    progress: bool = True,
    *,
    resume: bool = True,
    max_frames: int | None = None,
    tracker_factory: Callable[[TrackerSpec], Tracker] = make,
) -> RunScore:
    """Run ``spec`` on every sequence (a fresh tracker each), write result files, score them.

    ``max_frames`` evaluates only the first N frames of each sequence (quick checks).
    ``tracker_factory`` builds the tracker for a spec (default: the registry's :func:`make`).
    """
    seqs = list(sequences)
    names = [s.name for s in seqs]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate sequence names: {sorted({n for n in names if names.count(n) > 1})}")
    if not seqs:
        raise ValueError("no sequences to evaluate")
    run_dir = Path(out_dir) / spec.label
    _check_meta(run_dir, spec, resume)

    results: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    fps: dict[str, float] = {}
    timed_frames, timed_seconds, n_frames = 0, 0.0, 0
    resumed: list[str] = []
    bar = tqdm(seqs, desc=spec.label, unit="seq", disable=not progress)
    for seq in bar:
        n = _length(seq, max_frames)
        box_path, time_path = run_dir / f"{seq.name}.txt", run_dir / f"{seq.name}_time.txt"
        stored = _load_existing(box_path, time_path, n) if resume else None
        if stored is not None:
            pred, times = stored
            resumed.append(seq.name)
        else:
            pred, times = run_sequence(tracker_factory(spec), seq, max_frames=max_frames, progress=progress)
            _write_atomic(time_path, write_times, times)
            _write_atomic(box_path, write_boxes, pred)  # written last: its presence marks "done"
            # Score what is on disk (4-decimal boxes, µs times), so a resumed evaluation and a
            # fresh one report identical numbers.
            pred, times = read_boxes(box_path), read_times(time_path)
        results[seq.name] = (pred, np.asarray(seq.boxes, dtype=np.float64)[:n])
        fps[seq.name] = sequence_fps(times)
        finite = times[np.isfinite(times)]
        timed_frames += len(finite)
        timed_seconds += float(finite.sum())
        n_frames += n
        if progress:
            bar.set_postfix(fps=f"{fps[seq.name]:.1f}")

    score = score_dataset(results)
    finite_fps = [v for v in fps.values() if np.isfinite(v)]
    return RunScore(
        **{f.name: getattr(score, f.name) for f in fields(DatasetScore)},
        label=spec.label,
        fps=float(np.mean(finite_fps)) if finite_fps else float("nan"),
        fps_total=timed_frames / timed_seconds if timed_seconds > 0 else float("nan"),
        fps_per_sequence=fps,
        n_frames=n_frames,
        resumed=tuple(resumed),
    )
