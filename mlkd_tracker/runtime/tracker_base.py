"""The one interface every single-object tracker implements (OpenCV baselines, ONNX students).

Boxes are ``(x, y, w, h)`` in source-image pixels, top-left origin (the UAV123 annotation
convention). Frames are BGR uint8 ``(H, W, 3)`` arrays, whatever the camera's encoding.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass

import numpy as np

BoxXYWH = tuple[float, float, float, float]


@dataclass(frozen=True)
class TrackResult:
    """What a tracker says about one frame; ``score`` is in [0, 1], 0 means "target not found"."""

    box: BoxXYWH
    score: float


class Tracker(abc.ABC):
    """Single-object tracker: initialise once on a box, then follow it frame by frame."""

    #: short name for logs, diagnostics and result folders
    name: str = "tracker"

    @abc.abstractmethod
    def init(self, frame: np.ndarray, box: BoxXYWH) -> None:
        """Start following ``box`` in ``frame``; forgets any previous target."""

    @abc.abstractmethod
    def update(self, frame: np.ndarray) -> TrackResult:
        """Locate the target in the next frame."""
