"""OpenCV's classical trackers behind the runtime interface: the baselines students must beat.

They report only success/failure, so the score is 1.0 or 0.0.
"""
from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from mlkd_tracker.runtime.boxes import clip_box
from mlkd_tracker.runtime.tracker_base import BoxXYWH, TrackResult, Tracker


def _factory(*names: str) -> Callable[[], object] | None:
    """First constructor found among ``cv2.<name>`` / ``cv2.legacy.<name>`` (builds differ)."""
    for name in names:
        owner_name, _, attr = name.rpartition(".")
        owner = cv2 if not owner_name else getattr(cv2, owner_name, None)
        if owner is not None and hasattr(owner, attr):
            return getattr(owner, attr)
    return None


_CONSTRUCTORS: dict[str, tuple[str, ...]] = {
    "csrt": ("TrackerCSRT_create", "legacy.TrackerCSRT_create"),
    "kcf": ("TrackerKCF_create", "legacy.TrackerKCF_create"),
    "mil": ("TrackerMIL_create", "legacy.TrackerMIL_create"),
    "mosse": ("legacy.TrackerMOSSE_create",),
}


#: smallest box side each algorithm can start on. OpenCV's MIL never returns from ``init`` on
#: boxes of a few pixels (its Haar feature sampler loops forever), so those are refused up front.
_MIN_SIDE: dict[str, int] = {"csrt": 2, "kcf": 1, "mil": 6, "mosse": 2}


def available_opencv_trackers() -> list[str]:
    """Algorithms this OpenCV build provides (MIL is in every build; CSRT/KCF/MOSSE need contrib)."""
    return [k for k, names in _CONSTRUCTORS.items() if _factory(*names) is not None]


def check_algorithm(algorithm: str) -> str:
    """``algorithm`` lower-cased if this build has it, else ValueError naming those it has
    (the tracker factory's cheap check of an ``opencv:<name>`` spec)."""
    name = algorithm.strip().lower()
    available = available_opencv_trackers()
    if name not in available:
        raise ValueError(f"OpenCV tracker {name!r} is not available in this build; "
                         f"available: {', '.join(available)}")
    return name


class OpenCVTracker(Tracker):
    """Wraps one ``cv2.Tracker*``; a new OpenCV object per ``init`` so no state leaks."""

    def __init__(self, algorithm: str = "csrt") -> None:
        algorithm = algorithm.lower()
        if algorithm not in _CONSTRUCTORS:
            raise ValueError(f"unknown OpenCV tracker '{algorithm}'; "
                             f"known: {', '.join(_CONSTRUCTORS)}")
        create = _factory(*_CONSTRUCTORS[algorithm])
        if create is None:
            raise ValueError(f"OpenCV {cv2.__version__} has no '{algorithm}' tracker; "
                             f"available: {', '.join(available_opencv_trackers())}")
        self._create = create
        self._legacy = "legacy" in _CONSTRUCTORS[algorithm][0] or not hasattr(
            cv2, _CONSTRUCTORS[algorithm][0])
        self.name = f"opencv-{algorithm}"
        self.min_side = _MIN_SIDE[algorithm]
        self._impl = None
        self._last: BoxXYWH = (0.0, 0.0, 0.0, 0.0)

    def init(self, frame: np.ndarray, box: BoxXYWH) -> None:
        """Start on ``box``; raises ValueError (and forgets the old target) if OpenCV cannot."""
        self._impl = None
        rect = tuple(float(v) for v in box) if self._legacy else tuple(int(round(v)) for v in box)
        if min(rect[2], rect[3]) < self.min_side:
            raise ValueError(f"{self.name} needs a box of at least {self.min_side}x{self.min_side} "
                             f"px, got {rect[2]}x{rect[3]}")
        impl = self._create()
        try:
            ok = impl.init(frame, rect)  # the legacy API reports failure as False
        except cv2.error as exc:
            raise ValueError(f"{self.name} could not start on {rect}: {exc}") from exc
        if ok is False:
            raise ValueError(f"{self.name} could not start on {rect}")
        self._impl = impl
        self._last = tuple(float(v) for v in box)

    def update(self, frame: np.ndarray) -> TrackResult:
        if self._impl is None:
            raise RuntimeError(f"{self.name}: update() before a successful init()")
        ok, rect = self._impl.update(frame)
        if not ok:
            return TrackResult(self._last, 0.0)
        box = clip_box(tuple(float(v) for v in rect), frame.shape[1], frame.shape[0])
        if box[2] <= 0 or box[3] <= 0:
            return TrackResult(self._last, 0.0)
        self._last = box
        return TrackResult(box, 1.0)
