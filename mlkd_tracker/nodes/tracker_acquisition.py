"""Detection-driven track starts for tracker_node: auto-acquisition and re-detection.

tracker_node owns one :class:`Acquisition`. It decides whether a ``detections`` message is wanted
now (:meth:`Acquisition.mode`: IDLE with ``auto_acquire``, or LOST with ``redetect_when_lost``),
turns a wanted one into an :class:`InitRequest` (the same request a ``~/init`` becomes, so it is
matched against the frame history and caught up by runtime/init_scheduler.py), picks the detection
to start on (runtime/target_acquisition.py chooses) and keeps what diagnostics show about it:
acquisitions, re-detections, bad detections and the ``~/stop`` pause.

Locking stays the node's, as when this code lived in the node: it holds its lock around
``choose``, ``started``, ``stop``, ``reset``, ``on_config`` and ``last_box`` updates; ``request``
(detections callback) and ``problem`` (callback and worker) run without it.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

from vision_msgs.msg import Detection2DArray

from mlkd_tracker.nodes.detection_conversion import bbox_to_box
from mlkd_tracker.nodes.image_input import InvalidStampError, RecentError, stamp_ns
from mlkd_tracker.runtime.init_scheduler import Box, InitRequest
from mlkd_tracker.runtime.target_acquisition import (AcquisitionConfig, Detection, Selection,
                                                     parse_classes, select_target)
from mlkd_tracker.runtime.track_supervisor import TrackState

__all__ = ["AcquisitionSettings", "Acquisition", "Choice", "InitRequest"]


class AcquisitionSettings(Protocol):
    """The tracker node's parameters this module reads (its TrackerNodeConfig has them), named
    here so that this module does not import the node."""
    auto_acquire: bool
    acquire_classes: str
    acquire_policy: str
    acquire_min_score: float
    redetect_when_lost: bool
    redetect_max_distance_px: float


@dataclass(frozen=True)
class Choice:
    """The detection a request starts on, and why (``mode``: "acquire" or "redetect")."""
    mode: str
    selection: Selection

    @property
    def box(self) -> Box:
        return self.selection.box


class Acquisition:
    """tracker_node's auto-acquisition and re-detection state, settings and counters."""

    def __init__(self, cfg: AcquisitionSettings, logger, errors: RecentError) -> None:
        self.cfg = cfg  # replaced by on_config
        self._logger, self._errors = logger, errors
        self.paused = False  # set by ~/stop: auto-acquire waits for ~/reset or ~/init
        self.last_box: Box | None = None  # last TRACKING box: where re-detection looks
        self.acquisitions = self.redetections = self.bad_detections = 0
        self.last_acquisition = ""

    def mode(self, state: TrackState) -> str | None:
        """"acquire" (IDLE, auto_acquire on), "redetect" (LOST, redetect_when_lost on) or None."""
        if state is TrackState.IDLE and self.cfg.auto_acquire and not self.paused:
            return "acquire"
        if state is TrackState.LOST and self.cfg.redetect_when_lost:
            return "redetect"
        return None

    def request(self, msg: Detection2DArray, state: TrackState) -> InitRequest | None:
        """The request a detections message makes in ``state``, or None (not wanted now: no
        conversion, no logging; or unusable: logged)."""
        mode = self.mode(state)
        if mode is None:
            return None
        try:
            stamp = stamp_ns(msg.header)
        except InvalidStampError as exc:
            self.problem(f"detections ignored: {exc}")
            return None
        if stamp == 0:
            self.problem("detections ignored: unstamped; a detector must publish with the header "
                         "of the frame it ran on")
            return None
        if not msg.detections:
            what = "re-detect" if mode == "redetect" else "acquire"
            self._logger.info(f"waiting for a detection to {what}: the last detections array "
                              "was empty", throttle_duration_sec=5.0)
            return None
        dets = tuple(Detection(bbox_to_box(d.bbox),
                               tuple((h.hypothesis.class_id, h.hypothesis.score)
                                     for h in d.results))
                     for d in msg.detections)
        return InitRequest(stamp, None, time.monotonic(), dets)

    def choose(self, req: InitRequest, state: TrackState, width: int,
               height: int) -> Choice | None:
        """The detection to start on in a ``width`` x ``height`` frame, or None (logged when
        there was nothing to start on; silent when no longer wanted: a manual init came first,
        or the track recovered)."""
        mode = self.mode(state)
        if mode is None:
            return None
        cfg = self.cfg
        config = AcquisitionConfig(parse_classes(cfg.acquire_classes), cfg.acquire_min_score,
                                   cfg.acquire_policy, cfg.redetect_max_distance_px)
        sel = select_target(req.detections, width, height, config,
                            self.last_box if mode == "redetect" else None)
        if sel.choice is None:
            self._nothing_to_acquire(mode, req, sel)
            return None
        return Choice(mode, sel)

    def started(self, episode: int, box: Box, choice: Choice | None) -> str:
        """Record that ``episode`` started on ``box`` (``choice`` None: a manual ``~/init``);
        returns how it started, for the node's log line."""
        self.last_box = tuple(float(v) for v in box)
        if choice is None:
            self.paused = False  # a manual init ends a ~/stop pause
            return "started"
        found = choice.selection.choice
        if choice.mode == "redetect":
            self.redetections += 1
            how = (f"re-detected (class '{found.class_id}', score {found.score:.2f}, "
                   f"{found.distance_px:.0f} px from the last box)")
        else:
            self.acquisitions += 1
            how = (f"auto-acquired (class '{found.class_id}', score {found.score:.2f}, "
                   f"policy {self.cfg.acquire_policy})")
        self.last_acquisition = f"episode {episode} {how}"
        self._rejected(choice.selection)
        return how

    def _nothing_to_acquire(self, mode: str, req: InitRequest, sel: Selection) -> None:
        self._rejected(sel)
        what = "re-detect" if mode == "redetect" else "acquire"
        reach = (f", {sel.out_of_reach} farther than {self.cfg.redetect_max_distance_px:g} px "
                 "from the last box" if sel.out_of_reach else "")
        self._logger.info(f"nothing to {what} in {len(req.detections)} detection(s): "
                          f"{sel.filtered} of another class or below acquire_min_score"
                          f"{reach}", throttle_duration_sec=5.0)

    def _rejected(self, sel: Selection) -> None:
        if sel.rejected:
            self.problem(f"detections: {len(sel.rejected)} bad detection(s) ignored, "
                         f"e.g. {sel.rejected[0]}", count=len(sel.rejected))

    def problem(self, message: str, count: int = 1) -> None:
        """Bad detections: a throttled warning (a detector may send them at frame rate) and a
        diagnostics WARN for a while."""
        self.bad_detections += count
        self._logger.warning(message, throttle_duration_sec=1.0)
        self._errors.note(message)

    # ---- services, parameters, diagnostics ----------------------------------------------------
    def stop(self) -> None:
        """``~/stop``: forget the last box; auto-acquire waits for ``~/reset`` or ``~/init``."""
        self.last_box, self.paused = None, True

    def reset(self) -> None:
        self.last_box, self.paused = None, False
        self.acquisitions = self.redetections = self.bad_detections = 0
        self.last_acquisition = ""

    def on_config(self, cfg: AcquisitionSettings) -> None:
        if cfg.auto_acquire and not self.cfg.auto_acquire:
            self.paused = False  # switching it on means "acquire now"
        self.cfg = cfg

    def values(self) -> dict[str, object]:
        cfg = self.cfg
        return {"auto_acquire": ("paused" if self.paused else "on") if cfg.auto_acquire else "off",
                "redetect_when_lost": "on" if cfg.redetect_when_lost else "off",
                "acquisitions": self.acquisitions, "redetections": self.redetections,
                "bad_detections": self.bad_detections,
                "last_acquisition": self.last_acquisition}
