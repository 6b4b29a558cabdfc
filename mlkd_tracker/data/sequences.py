"""Torch-free readers for single-object tracking data sets.

Two layouts:

- GOT-10k: ``<root>/<seq>/*.jpg`` + ``groundtruth.txt`` (+ optional ``absence.label`` and
  ``cover.label``, one integer per frame; ``<root>/list.txt`` gives the sequence order). The
  synthetic night set uses it and adds ``<seq>/clean/*.jpg``, the day version of every frame.
- UAV123 family (UAVDark135, NAT2021, DarkTrack2021): ``<root>/data_seq/<seq>/*.jpg`` +
  ``<root>/anno/<seq>.txt``.

Why lenient: public annotation files contain NaN rows, zero/negative sizes, short rows and
annotation/frame count mismatches of a frame or two. A reader that raises on those cannot read
the benchmarks; one that silently shifts a sequence corrupts training and scores. So: a bad row
becomes a NaN row (counted, one warning per file), and a count mismatch up to
``max_length_mismatch`` frames is truncated to the shorter of the two (what the public toolkits
do) with a warning; larger mismatches are a ValueError naming the sequence, because they mean a
wrong annotation file rather than a sloppy one. A single-line ``groundtruth.txt`` for a long
sequence (GOT-10k's test split publishes only the first box) is kept as first-frame-only.

Conventions: boxes are ``x, y, w, h`` in pixels. Invalid boxes (non-finite, w <= 0 or h <= 0,
e.g. the ``0,0,0,0`` of an absent frame) are stored as NaN rows and flagged ``absent``: nothing
can be learnt or scored from them. ``absent`` also carries the data set's own absence flags,
which may mark a frame whose box is still known (a fully occluded target).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["Sequence", "read_got10k", "read_uav123", "read_dataset", "natural_key", "list_frames"]

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
_SEP = re.compile(r"\s*,\s*|\s+")  # same separators as eval.results_io: comma or whitespace
_DIGITS = re.compile(r"(\d+)")


@dataclass
class Sequence:
    """One tracking sequence; every per-frame array has one entry per frame."""

    name: str
    frames: list[Path]
    boxes: np.ndarray  # (N, 4) float64 x, y, w, h; NaN rows = invalid / unknown
    absent: np.ndarray  # (N,) bool: target not visible or box unusable
    clean_frames: list[Path] | None = None  # day version of each frame, when the set has one
    cover: np.ndarray | None = None  # (N,) visible fraction 0..1 (GOT-10k cover.label / 8)

    def __post_init__(self) -> None:
        n = len(self.frames)
        self.boxes = np.asarray(self.boxes, dtype=np.float64).reshape(-1, 4)
        self.absent = np.asarray(self.absent, dtype=bool).reshape(-1)
        lengths = {"boxes": len(self.boxes), "absent": len(self.absent)}
        if self.clean_frames is not None:
            lengths["clean_frames"] = len(self.clean_frames)
        if self.cover is not None:
            self.cover = np.asarray(self.cover, dtype=np.float64).reshape(-1)
            lengths["cover"] = len(self.cover)
        bad = {k: v for k, v in lengths.items() if v != n}
        if bad:
            raise ValueError(f"sequence {self.name!r}: {n} frames but {bad}")

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def valid(self) -> np.ndarray:
        """(N,) bool: frames with a finite, positive box whose target is present."""
        b = self.boxes
        ok = np.isfinite(b).all(axis=1) & (b[:, 2] > 0) & (b[:, 3] > 0)
        return ok & ~self.absent


def natural_key(path: Path | str) -> tuple:
    """Sort key that orders embedded numbers numerically (img2 < img10)."""
    parts = _DIGITS.split(Path(path).name)
    return tuple((0, int(p), p) if p.isdigit() else (1, 0, p.lower()) for p in parts)


def list_frames(folder: Path) -> list[Path]:
    """Image files directly in ``folder``, naturally sorted."""
    files = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    return sorted(files, key=natural_key)


def _read_rows(path: Path) -> np.ndarray:
    """Lenient x,y,w,h reader: malformed rows -> NaN (one warning per file), blank lines skipped."""
    rows: list[list[float]] = []
    bad = 0
    with path.open("r", encoding="utf-8-sig") as f:
        for line in f:
            text = line.strip()
            if not text:
                continue
            try:
                values = [float(v) for v in _SEP.split(text)]
            except ValueError:
                values = []
            if len(values) != 4:
                values, bad = [np.nan] * 4, bad + 1
            rows.append(values)
    if bad:
        log.warning("%s: %d malformed row(s) read as NaN", path, bad)
    return np.array(rows, dtype=np.float64).reshape(-1, 4)


def _read_labels(path: Path) -> np.ndarray | None:
    """One integer per line (GOT-10k *.label); None if the file does not exist."""
    if not path.is_file():
        return None
    values = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), 1):
        if line.strip():
            try:
                values.append(int(float(line.strip())))
            except ValueError:
                raise ValueError(f"{path}:{lineno}: not an integer label: {line.strip()!r}") \
                    from None
    return np.array(values, dtype=np.int64)


def _fit(values: np.ndarray, n: int, fill: float, what: str, name: str, limit: int) -> np.ndarray:
    """Truncate or pad per-frame ``values`` to ``n`` frames (see module docstring)."""
    if len(values) == n:
        return values
    if abs(len(values) - n) > limit:
        raise ValueError(f"sequence {name!r}: {what} has {len(values)} entries for {n} frames "
                         f"(more than {limit} apart; wrong annotation file?)")
    log.warning("sequence %r: %s has %d entries for %d frames; using the first %d",
                name, what, len(values), n, min(len(values), n))
    out = np.full((n,) + values.shape[1:], fill, dtype=values.dtype)
    out[: min(len(values), n)] = values[:n]
    return out


def _build(name: str, frames: list[Path], boxes: np.ndarray, absence: np.ndarray | None,
           cover: np.ndarray | None, clean: list[Path] | None, limit: int) -> Sequence:
    if not frames:
        raise ValueError(f"sequence {name!r}: no image files ({', '.join(IMAGE_SUFFIXES)})")
    if len(boxes) == 1 and len(frames) > 1:  # GOT-10k test style: first box only
        log.info("sequence %r: only the first frame is annotated", name)
        boxes = np.vstack([boxes, np.full((len(frames) - 1, 4), np.nan)])
    n = min(len(frames), len(boxes))
    if len(frames) != len(boxes):
        _fit(boxes, len(frames), np.nan, "annotation", name, limit)  # raises if far apart
        frames, boxes = frames[:n], boxes[:n]
    if clean is not None:
        if len(clean) < n:
            raise ValueError(f"sequence {name!r}: {len(clean)} clean frames for {n} frames")
        clean = clean[:n]
    invalid = ~(np.isfinite(boxes).all(axis=1) & (boxes[:, 2] > 0) & (boxes[:, 3] > 0))
    boxes = boxes.copy()
    boxes[invalid] = np.nan
    absent = invalid.copy()
    if absence is not None:
        absent |= _fit(absence, n, 0, "absence.label", name, limit) > 0
    cover_frac = None
    if cover is not None:
        cover_frac = _fit(cover, n, 8, "cover.label", name, limit).astype(np.float64) / 8.0
    return Sequence(name, frames, boxes, absent, clean, cover_frac)


def read_got10k(root: Path, *, max_length_mismatch: int = 10) -> list[Sequence]:
    """Read a GOT-10k-layout split folder (``<root>/<seq>/groundtruth.txt``).

    Sequence order: ``list.txt`` if present (every listed folder must exist), else natural order
    of the folders holding a ``groundtruth.txt``. A folder with images but no annotation is an
    error (a half-copied data set should not silently lose sequences).
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"GOT-10k root {root} is not a folder")
    listing = root / "list.txt"
    if listing.is_file():
        names = [ln.strip() for ln in listing.read_text(encoding="utf-8-sig").splitlines()
                 if ln.strip()]
        missing = [n for n in names if not (root / n / "groundtruth.txt").is_file()]
        if missing:
            raise FileNotFoundError(f"{listing} lists sequences without <seq>/groundtruth.txt "
                                    f"under {root}: {missing[:5]}")
    else:
        dirs = sorted((d for d in root.iterdir() if d.is_dir()), key=natural_key)
        unannotated = [d.name for d in dirs if not (d / "groundtruth.txt").is_file()
                       and list_frames(d)]
        if unannotated:
            raise FileNotFoundError(f"{root}: image folders without groundtruth.txt: "
                                    f"{unannotated[:5]}")
        names = [d.name for d in dirs if (d / "groundtruth.txt").is_file()]
    out = []
    for name in names:
        d = root / name
        clean = list_frames(d / "clean") if (d / "clean").is_dir() else None
        out.append(_build(name, list_frames(d), _read_rows(d / "groundtruth.txt"),
                          _read_labels(d / "absence.label"), _read_labels(d / "cover.label"),
                          clean, max_length_mismatch))
    return out


def read_uav123(root: Path, *, max_length_mismatch: int = 10) -> list[Sequence]:
    """Read a UAV123-family folder: ``data_seq/<seq>/*.jpg`` with ``anno/<seq>.txt``."""
    root = Path(root)
    data, anno = root / "data_seq", root / "anno"
    if not data.is_dir() or not anno.is_dir():
        raise FileNotFoundError(f"{root} is not a UAV123-family folder "
                                f"(needs data_seq/ and anno/)")
    out = []
    for d in sorted((d for d in data.iterdir() if d.is_dir()), key=natural_key):
        ann = anno / f"{d.name}.txt"
        if not ann.is_file():
            raise FileNotFoundError(f"sequence {d.name!r}: annotation {ann} is missing")
        out.append(_build(d.name, list_frames(d), _read_rows(ann), None, None, None,
                          max_length_mismatch))
    if not out:
        raise ValueError(f"{data} holds no sequence folders")
    return out


def read_dataset(root: Path, **kw) -> list[Sequence]:
    """Read ``root`` in whichever supported layout it has (see module docstring)."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"data set root {root} is not a folder")
    if (root / "data_seq").is_dir() and (root / "anno").is_dir():
        return read_uav123(root, **kw)
    subdirs = [d for d in root.iterdir() if d.is_dir()]
    if (root / "list.txt").is_file() or any((d / "groundtruth.txt").is_file() for d in subdirs):
        return read_got10k(root, **kw)
    splits = sorted(d.name for d in subdirs if (d / "list.txt").is_file()
                    or any((s / "groundtruth.txt").is_file() for s in d.iterdir() if s.is_dir()))
    hint = f"; it holds split folders {splits}: pass one of them" if splits else ""
    raise ValueError(f"{root} is neither a GOT-10k folder (<seq>/groundtruth.txt) nor a "
                     f"UAV123-family folder (data_seq/ + anno/){hint}")
