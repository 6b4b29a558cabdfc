"""Track life cycle around any tracker: IDLE -> TRACKING -> LOST, with episode ids.

Kept out of the node so it is unit-tested without ROS. A track is LOST after ``lost_after``
consecutive frames scoring below ``score_threshold``; the tracker keeps running while LOST and
returns to TRACKING (same episode) when its score recovers.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np

from mlkd_tracker.runtime.boxes import InvalidBoxError, validate_init_box
from mlkd_tracker.runtime.tracker_base import BoxXYWH, Tracker


class TrackState(enum.Enum):
    IDLE = "IDLE"
    TRACKING = "TRACKING"
    LOST = "LOST"


@dataclass(frozen=True)
class TrackOutput:
    state: TrackState
    box: BoxXYWH | None  # None unless TRACKING with a usable box: LOST/IDLE publish nothing
    score: float
    episode: int


class TrackSupervisor:
    def __init__(self, tracker: Tracker, score_threshold: float = 0.3, lost_after: int = 5) -> None:
        if lost_after < 1:  # 0 would declare every frame LOST, however well it scores
            raise ValueError(f"lost_after must be >= 1, got {lost_after}")
        self.tracker = tracker
        self.score_threshold = score_threshold
        self.lost_after = lost_after
        self.state = TrackState.IDLE
        self.episode = 0
        self._low_frames = 0

    def start(self, frame: np.ndarray, box: BoxXYWH) -> int:
        """Begin a new episode on ``box``; raises InvalidBoxError for unusable boxes.

        A box refused by validation leaves the supervisor exactly as it was (a running track keeps
        running). If the tracker itself fails to initialise, its previous target is gone, so the
        supervisor goes IDLE and raises InvalidBoxError with the tracker's reason.
        """
        box = validate_init_box(box, frame.shape[1], frame.shape[0])
        try:
            self.tracker.init(frame, box)
        except Exception as exc:
            self.stop()
            raise InvalidBoxError(f"{self.tracker.name} could not start on box "
                                  f"{tuple(round(v, 1) for v in box)}: {exc}") from exc
        self.episode += 1
        self.state = TrackState.TRACKING
        self._low_frames = 0
        return self.episode

    def step(self, frame: np.ndarray) -> TrackOutput:
        if self.state is TrackState.IDLE:
            return TrackOutput(TrackState.IDLE, None, 0.0, self.episode)
        result = self.tracker.update(frame)
        score = float(result.score) if np.isfinite(result.score) else 0.0
        box = _usable_box(result.box)
        if box is None:  # a NaN or empty box is no detection, whatever the score says
            score = 0.0
        self._low_frames = self._low_frames + 1 if score < self.score_threshold else 0
        if self._low_frames >= self.lost_after:
            self.state = TrackState.LOST
        elif self._low_frames == 0:
            self.state = TrackState.TRACKING
        return TrackOutput(self.state, box if self.state is TrackState.TRACKING else None, score,
                           self.episode)

    def stop(self) -> None:
        """End the current episode; the next ``start`` opens a new one."""
        self.state = TrackState.IDLE
        self._low_frames = 0


def _usable_box(box: BoxXYWH) -> BoxXYWH | None:
    try:
        values = tuple(float(v) for v in box)
    except (TypeError, ValueError, OverflowError):
        return None
    if len(values) != 4 or not all(np.isfinite(values)) or values[2] <= 0 or values[3] <= 0:
        return None
    return values
