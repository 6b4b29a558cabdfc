"""Calibration inputs for static INT8 quantisation, captured from the runtime itself.

Static quantisation fixes every activation's range from sample inputs, so the samples must be
what the graph sees in service. Rather than re-implementing each runtime's pre-processing (and
drifting from it), the float model is loaded in its runtime class and that class's ONNX Runtime
session is wrapped by :class:`RecordingSession`, which keeps a copy of every feed it is given:

- tracker search branch: the float tracker (:class:`SiameseTracker`) runs one-pass over each
  sequence of a val split from its first box; every search call's inputs (the search crop, cut
  by the runtime's own cropping, and the float template branch's features) are recorded on
  frames spread evenly over the sequence;
- detector: :meth:`OnnxDetector.detect` on val images (letterbox, RGB, /255 as detector_node);
- enhancer: :meth:`OnnxEnhancer.enhance` on val frames (edge padding to the size multiple, as
  enhancer_node and the enhanced tracker feed it).
"""
from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from mlkd_tracker.data.sequences import IMAGE_SUFFIXES, Sequence, natural_key, read_dataset

Feed = dict[str, np.ndarray]

__all__ = ["CalibrationError", "Feed", "FeedReader", "RecordingSession", "detector_feeds",
           "enhancer_feeds", "image_files", "tracker_feeds"]


class CalibrationError(ValueError):
    """A calibration folder that is missing or holds nothing to calibrate on."""


class RecordingSession:
    """An ONNX Runtime session stand-in that forwards every call and, while ``recording``,
    keeps a copy of the feeds of each ``run``."""

    def __init__(self, session) -> None:
        self._session = session
        self.recording = True
        self.feeds: list[Feed] = []

    def run(self, output_names, feeds: Feed, *args, **kwargs):
        if self.recording:
            self.feeds.append({k: np.array(v, copy=True) for k, v in feeds.items()})
        return self._session.run(output_names, feeds, *args, **kwargs)

    def __getattr__(self, name: str):
        return getattr(self._session, name)


class FeedReader:
    """ONNX Runtime's CalibrationDataReader over a list of recorded feeds (each read once)."""

    def __init__(self, feeds: list[Feed]) -> None:
        self.feeds = feeds
        self._it: Iterator[Feed] = iter(feeds)

    def get_next(self) -> Feed | None:
        return next(self._it, None)

    def rewind(self) -> None:
        self._it = iter(self.feeds)


def _progress(iterable, total: int, desc: str, show: bool):
    from tqdm import tqdm
    return tqdm(iterable, total=total, desc=desc, unit="sample", disable=not show, leave=False)


def _spread(n_items: int, k: int) -> list[int]:
    """``k`` indices spread evenly over ``range(n_items)`` (all of them if ``k >= n_items``)."""
    if k >= n_items:
        return list(range(n_items))
    return sorted({int(round(v)) for v in np.linspace(0, n_items - 1, k)})


def _check_folder(folder: Path) -> Path:
    folder = Path(folder)
    if not folder.is_dir():
        raise CalibrationError(f"calibration folder '{folder}' does not exist")
    return folder


def _sequences(folder: Path) -> list[Sequence]:
    try:
        seqs = read_dataset(_check_folder(folder))
    except (ValueError, FileNotFoundError) as exc:
        raise CalibrationError(f"calibration folder '{folder}': {exc}") from exc
    seqs = [s for s in seqs if s.valid.any()]
    if not seqs:
        raise CalibrationError(f"calibration folder '{folder}' has no sequence with a target box")
    return seqs


def image_files(folder: Path) -> list[Path]:
    """Images to calibrate a detector or enhancer on: a tracking split's night frames (not its
    ``clean/`` day versions), a YOLO data set's ``images/val`` when given its root, else every
    image under ``folder``."""
    folder = _check_folder(folder)
    if (folder / "images" / "val").is_dir():
        folder = folder / "images" / "val"
    files = [p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES
             and "clean" not in p.relative_to(folder).parts[:-1]]
    if not files:
        raise CalibrationError(f"calibration folder '{folder}' holds no images "
                               f"({', '.join(IMAGE_SUFFIXES)})")
    return sorted(files, key=natural_key)


def _read_image(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise CalibrationError(f"cannot read image {path}")
    return image


def tracker_feeds(engine, folder: Path, samples: int, progress: bool = True) -> list[Feed]:
    """Search-branch feeds of the float ``engine`` (an OnnxSiameseEngine) tracking the
    sequences of ``folder`` from their first visible box, ``samples`` in all."""
    from mlkd_tracker.runtime.siamese_tracker import SiameseTracker
    seqs = _sequences(folder)
    recorder = RecordingSession(engine._s)
    engine._s = recorder
    per_seq = max(1, math.ceil(samples / len(seqs)))
    feeds: list[Feed] = []
    bar = _progress(None, samples, "calibration: search crops", progress)
    try:
        for seq in seqs:
            first = int(np.flatnonzero(seq.valid)[0])
            later = len(seq) - first - 1
            if later < 1:
                continue
            wanted = {first + 1 + i for i in _spread(later, min(per_seq, samples - len(feeds)))}
            tracker = SiameseTracker(engine)
            tracker.init(_read_image(seq.frames[first]), seq.boxes[first])
            for i in range(first + 1, max(wanted) + 1):
                recorder.recording = i in wanted
                tracker.update(_read_image(seq.frames[i]))
                if recorder.recording:
                    bar.update(1)
            feeds += recorder.feeds
            recorder.feeds = []
            if len(feeds) >= samples:
                break
    finally:
        engine._s = recorder._session
        bar.close()
    if not feeds:
        raise CalibrationError(f"calibration folder '{folder}': no sequence has a frame after "
                               "its first box")
    return feeds


def _image_feeds(session_owner, call, folder: Path, samples: int, what: str,
                 progress: bool) -> list[Feed]:
    files = image_files(folder)
    picked = [files[i] for i in _spread(len(files), samples)]
    recorder = RecordingSession(session_owner._session)
    session_owner._session = recorder
    try:
        for path in _progress(picked, len(picked), f"calibration: {what}", progress):
            call(_read_image(path))
    finally:
        session_owner._session = recorder._session
    return recorder.feeds


def detector_feeds(detector, folder: Path, samples: int, progress: bool = True) -> list[Feed]:
    """Network inputs of the float ``detector`` (an OnnxDetector) on ``samples`` images."""
    return _image_feeds(detector, detector.detect, folder, samples, "letterboxed images",
                        progress)


def enhancer_feeds(enhancer, folder: Path, samples: int, progress: bool = True) -> list[Feed]:
    """Network inputs of the float ``enhancer`` (an OnnxEnhancer) on ``samples`` frames."""
    return _image_feeds(enhancer, enhancer.enhance, folder, samples, "frames", progress)
