"""Builds a tracker from node/CLI parameters, so nodes never import a backend directly."""
from __future__ import annotations

from mlkd_tracker.runtime.opencv_trackers import OpenCVTracker
from mlkd_tracker.runtime.tracker_base import Tracker

BACKENDS = ("opencv",)


def create_tracker(backend: str = "opencv", opencv_algorithm: str = "csrt",
                   model_path: str = "") -> Tracker:
    """Raise ``ValueError`` with the reason if the backend or its model cannot be used."""
    if backend == "opencv":
        return OpenCVTracker(opencv_algorithm)
    raise ValueError(f"unknown tracker backend '{backend}'; known: {', '.join(BACKENDS)}")
