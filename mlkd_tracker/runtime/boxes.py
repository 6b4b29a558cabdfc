"""Box checks shared by every tracker path: reject what no tracker can use, clip what it can."""
from __future__ import annotations

import math

from mlkd_tracker.runtime.tracker_base import BoxXYWH


class InvalidBoxError(ValueError):
    """A box that cannot start or continue a track (NaN, empty, outside the frame)."""


def clip_box(box: BoxXYWH, width: int, height: int) -> BoxXYWH:
    """Intersect ``box`` with the frame; the result may be empty (w or h == 0), never negative.

    A side that needs no clipping keeps its exact size (no ``(x + w) - x`` rounding).
    """
    x, y, w, h = (float(v) for v in box)
    x0, w0 = _clip_span(x, w, float(width))
    y0, h0 = _clip_span(y, h, float(height))
    return (x0, y0, w0, h0)


def _clip_span(start: float, size: float, limit: float) -> tuple[float, float]:
    lo = min(max(start, 0.0), limit)
    end = start + size
    hi = min(max(end, 0.0), limit)
    if size >= 0.0 and lo == start and hi == end:
        return start, size
    return lo, max(hi - lo, 0.0)


def validate_init_box(box: BoxXYWH, width: int, height: int, min_size: float = 2.0) -> BoxXYWH:
    """Return the in-frame part of an initialisation box, or raise with the reason.

    A box partly outside the frame is clipped (a user may draw it past the border); one that is
    non-finite, smaller than ``min_size`` pixels, or entirely outside is refused.
    """
    try:
        values = tuple(float(v) for v in box)
    except (TypeError, ValueError, OverflowError) as exc:
        raise InvalidBoxError(f"box {box!r} is not four numbers") from exc
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise InvalidBoxError(f"box {values} is not four finite numbers")
    box = values
    if box[2] <= 0 or box[3] <= 0:
        raise InvalidBoxError(f"box {tuple(box)} has non-positive size")
    if box[2] < min_size or box[3] < min_size:
        raise InvalidBoxError(f"box {tuple(box)} is smaller than {min_size} px")
    clipped = clip_box(box, width, height)
    if clipped[2] < min_size or clipped[3] < min_size:
        raise InvalidBoxError(
            f"box {tuple(round(v, 1) for v in box)} lies outside the {width}x{height} frame "
            f"(in-frame part {clipped[2]:.1f}x{clipped[3]:.1f} px < {min_size} px)")
    return clipped
