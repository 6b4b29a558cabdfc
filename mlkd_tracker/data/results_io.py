"""Tracking results files in the one-line-per-frame text format every public toolkit reads.

Boxes: one ``x,y,w,h`` line per frame (pixels, top-left origin). Times: one float (seconds)
per frame, used for FPS. Readers are lenient about separators because the annotation files we
also read with them differ (UAV123-family ``anno/*.txt`` use commas, some GOT-10k-style and
converted files use tabs or spaces), but strict about content: a malformed line is an error
naming the file and line, never a silently shifted sequence.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

__all__ = ["write_boxes", "read_boxes", "write_times", "read_times"]

# One comma (optionally padded, e.g. "1, 2, 3, 4") or a run of tabs/spaces. An empty field
# ("1,,2,3") is kept as "" so it is reported as malformed instead of being skipped.
_SEP = re.compile(r"\s*,\s*|\s+")


def _prepare(path: str | os.PathLike[str]) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    return p


def _data_lines(path: Path):
    """Yield (1-based line number, stripped text) for non-blank lines."""
    with path.open("r", encoding="utf-8-sig") as f:  # -sig: tolerate a BOM from Windows tools
        for lineno, line in enumerate(f, start=1):
            text = line.strip()
            if text:
                yield lineno, text


def _parse_floats(fields: list[str], path: Path, lineno: int, line: str) -> list[float]:
    try:
        return [float(v) for v in fields]  # float() accepts "nan", "NaN", "inf"
    except ValueError:
        raise ValueError(f"{path}:{lineno}: not a number in line {line!r}") from None


def write_boxes(path: str | os.PathLike[str], boxes: np.ndarray) -> None:
    """Write (N, 4) boxes as ``x,y,w,h`` lines with 4 decimals; NaN rows as ``nan,nan,nan,nan``
    (the toolkits' way of saying "no prediction for this frame")."""
    b = np.asarray(boxes, dtype=np.float64)
    if b.ndim != 2 or b.shape[1] != 4:
        raise ValueError(f"boxes must have shape (N, 4); got {b.shape}")
    lines = [",".join(f"{v:.4f}" for v in row) for row in b]  # f"{nan:.4f}" == "nan"
    _prepare(path).write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def read_boxes(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a boxes file into an (N, 4) float array (blank lines skipped).

    Raises ValueError naming the file and 1-based line number if a line does not hold exactly
    four numbers.
    """
    p = Path(path)
    rows: list[list[float]] = []
    for lineno, text in _data_lines(p):
        fields = _SEP.split(text)
        if len(fields) != 4:
            raise ValueError(f"{p}:{lineno}: expected 4 values x,y,w,h, got {len(fields)} in line {text!r}")
        rows.append(_parse_floats(fields, p, lineno, text))
    return np.array(rows, dtype=np.float64).reshape(-1, 4)


def write_times(path: str | os.PathLike[str], seconds: np.ndarray) -> None:
    """Write per-frame processing times in seconds, one per line (microsecond resolution)."""
    t = np.asarray(seconds, dtype=np.float64)
    if t.ndim != 1:
        raise ValueError(f"seconds must be 1-D (one value per frame); got shape {t.shape}")
    _prepare(path).write_text("".join(f"{v:.6f}\n" for v in t), encoding="utf-8")


def read_times(path: str | os.PathLike[str]) -> np.ndarray:
    """Read per-frame times (seconds) into a 1-D float array; blank lines skipped."""
    p = Path(path)
    values: list[float] = []
    for lineno, text in _data_lines(p):
        fields = _SEP.split(text)
        if len(fields) != 1:
            raise ValueError(f"{p}:{lineno}: expected one time value, got {len(fields)} in line {text!r}")
        values.extend(_parse_floats(fields, p, lineno, text))
    return np.array(values, dtype=np.float64)
