"""Runs trackers over tracking sequences under the one-pass evaluation (OPE) protocol.

Protocol: initialise on frame 0 with the ground-truth box, then call
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
format the public toolkits read), ``<seq>_time.txt`` (seconds per frame spent in
``init``/``update`` only; image loading is excluded so FPS measures the tracker, not the disk;
NaN where the tracker did not run) and ``<seq>_score.txt`` (the score the tracker gave each
frame, 1 on the initialisation frame, NaN where it did not run). With ``resume=True`` complete
result files are reused, so an interrupted evaluation continues where it stopped.

Same start for every tracker: each sequence begins with every random generator a tracker may
draw from reset to one seed (:func:`reset_random_state`), so a result file never depends on
which trackers or sequences ran before it in the same process.

Speed: a run's FPS is all frames the tracker processed / all the time it spent on them; the
FPS of each sequence is kept too. Frames with a box: how many frames ``tracker_node`` with the
shipped ``score_threshold`` and ``lost_after_frames`` would publish a box on
(:func:`frames_with_box`; a LOST track publishes none), so a fast tracker that has lost its
target shows as such.

Torch-free: imports numpy, OpenCV and tqdm only; tracker backends load lazily via the factory.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import json
import logging
import os
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import NamedTuple, Protocol

import cv2
import numpy as np
from tqdm import tqdm

from mlkd_tracker.eval.ope import DatasetScore, score_dataset
from mlkd_tracker.data.results_io import read_boxes, read_times, write_boxes, write_times
from mlkd_tracker.eval.tracker_registry import THREADS_ENV, TrackerSpec, make, spec_identity
from mlkd_tracker.runtime.tracker_base import Tracker

__all__ = ["SequenceLike", "RunScore", "SequenceRun", "run_sequence", "run_dataset", "sequence_fps",
           "init_frame_index", "frames_with_box", "reset_random_state"]

log = logging.getLogger(__name__)

# Module-level so tests can substitute a scripted clock and check FPS arithmetic exactly.
_clock: Callable[[], float] = time.perf_counter

_META = "run.json"

#: the shipped tracker_node settings (config/tracker*.yaml) under which a frame "has a box"
PUBLISH_SCORE_THRESHOLD = 0.3
PUBLISH_LOST_AFTER = 15

#: seed of the random generators at the start of every sequence
SEED = 0


class SequenceLike(Protocol):
    """What the runner needs from ``mlkd_tracker.data.sequences.Sequence``."""

    name: str
    frames: list[Path]
    boxes: np.ndarray  # (N, 4) x, y, w, h


@dataclass(frozen=True, eq=False)
class RunScore(DatasetScore):
    """A :class:`DatasetScore` (usable wherever one is, e.g. ``plots.plot_ope``) plus speed and
    how often the tracker had a box.

    ``fps`` is all frames / all tracker time over the data set (a mean of per-sequence FPS would
    let short, easy sequences dominate); ``fps_per_sequence`` keeps each sequence's.
    ``frames_with_box`` counts the frames on which the node would publish a box
    (:func:`frames_with_box`), over all sequences and per sequence.
    """

    label: str
    fps: float
    fps_per_sequence: dict[str, float]
    n_frames: int
    frames_with_box: int
    frames_with_box_per_sequence: dict[str, int]
    resumed: tuple[str, ...]  # sequences whose results were reused from disk


class SequenceRun(NamedTuple):
    """One OPE pass: per-frame boxes (N, 4), tracker seconds (N,) and scores (N,); NaN rows
    where the tracker did not run."""

    boxes: np.ndarray
    times: np.ndarray
    scores: np.ndarray


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


def _c_srand() -> Callable[[int], None] | None:
    """The C library's ``srand`` (None where it cannot be found, e.g. a static build)."""
    try:
        return ctypes.CDLL(None).srand
    except (OSError, AttributeError):
        name = ctypes.util.find_library("c")
        try:
            return ctypes.CDLL(name).srand if name else None
        except (OSError, AttributeError):
            return None


_srand = _c_srand()


def reset_random_state(seed: int = SEED) -> None:
    """Seed every random generator a tracker may draw from: the C library's ``rand()`` (which
    OpenCV's MIL uses to draw its Haar features), OpenCV's ``cv::theRNG``, numpy's legacy global
    generator and Python's. Called before every sequence, so a tracker's result does not depend
    on which trackers or sequences ran before it in the same process."""
    if _srand is not None:
        _srand(seed)
    cv2.setRNGSeed(seed)
    np.random.seed(seed)
    random.seed(seed)


def run_sequence(
    tracker: Tracker, seq: SequenceLike, max_frames: int | None = None, progress: bool = False
) -> SequenceRun:
    """One OPE pass; see the module docstring for the rules. Random generators are reset
    first (:func:`reset_random_state`)."""
    reset_random_state()
    n = _length(seq, max_frames)
    gt = np.asarray(seq.boxes, dtype=np.float64)[:n]
    pred = np.full((n, 4), np.nan)
    times = np.full(n, np.nan)
    scores = np.full(n, np.nan)
    start = init_frame_index(seq, n)
    if start is None:
        log.warning("sequence %r: no frame with a usable ground-truth box; every frame fails", seq.name)
        return SequenceRun(pred, times, scores)
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
                return SequenceRun(np.full((n, 4), np.nan), np.full(n, np.nan), np.full(n, np.nan))
            times[i] = _clock() - t0
            pred[i] = gt[i]
            scores[i] = 1.0
        else:
            t0 = _clock()
            result = tracker.update(frame)
            times[i] = _clock() - t0
            pred[i] = np.asarray(result.box, dtype=np.float64)
            scores[i] = float(result.score) if np.isfinite(result.score) else 0.0  # NaN: not run
    return SequenceRun(pred, times, scores)


def frames_with_box(boxes: np.ndarray, scores: np.ndarray,
                    score_threshold: float = PUBLISH_SCORE_THRESHOLD,
                    lost_after: int = PUBLISH_LOST_AFTER) -> int:
    """Frames on which ``tracker_node`` would publish a box for this run: the initialisation
    frame and every later frame while the track is TRACKING, by the rule of
    ``runtime/track_supervisor.py`` (LOST after ``lost_after`` consecutive frames scoring below
    ``score_threshold``, TRACKING again on the first frame at or above it; a NaN or empty box
    scores 0 and is not published)."""
    ran = np.flatnonzero(np.isfinite(scores))
    if ran.size == 0:
        return 0
    count, low, tracking = 1, 0, True  # the first frame that ran is the initialisation frame
    for i in ran[1:]:
        box = boxes[i]
        usable = bool(np.isfinite(box).all() and box[2] > 0 and box[3] > 0)
        score = float(scores[i]) if usable else 0.0
        low = low + 1 if score < score_threshold else 0
        if low >= lost_after:
            tracking = False
        elif low == 0:
            tracking = True
        count += tracking and usable  # TRACKING with no usable box publishes none
    return count


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


def _result_paths(run_dir: Path, name: str) -> tuple[Path, Path, Path]:
    """Box, time and score files of one sequence."""
    return run_dir / f"{name}.txt", run_dir / f"{name}_time.txt", run_dir / f"{name}_score.txt"


def _read_run(paths: tuple[Path, Path, Path]) -> SequenceRun:
    box_path, time_path, score_path = paths
    return SequenceRun(read_boxes(box_path), read_times(time_path), read_times(score_path))


def _load_existing(paths: tuple[Path, Path, Path], n: int) -> SequenceRun | None:
    """The stored run if all its files are complete for ``n`` frames, else None (re-run)."""
    if not all(p.is_file() for p in paths):
        return None
    try:
        run = _read_run(paths)
    except ValueError as exc:
        log.warning("ignoring unreadable stored result (%s); running the sequence again", exc)
        return None
    if any(len(part) != n for part in run):
        log.info("%s has %d rows, expected %d; running the sequence again", paths[0], len(run.boxes), n)
        return None
    return run


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
    with_box: dict[str, int] = {}
    timed_frames, timed_seconds, n_frames = 0, 0.0, 0
    resumed: list[str] = []
    bar = tqdm(seqs, desc=spec.label, unit="seq", disable=not progress)
    for seq in bar:
        n = _length(seq, max_frames)
        paths = _result_paths(run_dir, seq.name)
        run = _load_existing(paths, n) if resume else None
        if run is not None:
            resumed.append(seq.name)
        else:
            run = run_sequence(tracker_factory(spec), seq, max_frames=max_frames, progress=progress)
            box_path, time_path, score_path = paths
            _write_atomic(score_path, write_times, run.scores)
            _write_atomic(time_path, write_times, run.times)
            _write_atomic(box_path, write_boxes, run.boxes)  # written last: its presence marks "done"
            # Score what is on disk (4-decimal boxes, µs times), so a resumed evaluation and a
            # fresh one report identical numbers.
            run = _read_run(paths)
        results[seq.name] = (run.boxes, np.asarray(seq.boxes, dtype=np.float64)[:n])
        fps[seq.name] = sequence_fps(run.times)
        with_box[seq.name] = frames_with_box(run.boxes, run.scores)
        finite = run.times[np.isfinite(run.times)]
        timed_frames += len(finite)
        timed_seconds += float(finite.sum())
        n_frames += n
        if progress:
            bar.set_postfix(fps=f"{fps[seq.name]:.1f}")

    score = score_dataset(results)
    return RunScore(
        **{f.name: getattr(score, f.name) for f in fields(DatasetScore)},
        label=spec.label,
        fps=timed_frames / timed_seconds if timed_seconds > 0 else float("nan"),
        fps_per_sequence=fps,
        n_frames=n_frames,
        frames_with_box=sum(with_box.values()),
        frames_with_box_per_sequence=with_box,
        resumed=tuple(resumed),
    )
