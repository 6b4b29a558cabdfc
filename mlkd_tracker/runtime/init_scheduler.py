"""When and where a track starts: init requests matched to buffered frames, then catch-up.

An init request (a ``~/init`` box, or detections for auto-acquisition and re-detection) carries
the stamp of the frame it was drawn on. The tracker node keeps a short stamped history of recent
frames (runtime/frame_history.py); this scheduler finds the request's frame there, starts the
track on it and hands over the frames that arrived since, oldest first, so the track catches up
to the newest frame. A request whose frame has not arrived yet waits up to ``wait_s``; one older
than every buffered frame can never match and is refused at once.

Order and precedence (the real-time rules): manual requests are served in arrival order (at most
``max_pending`` wait: a newer one pushes the oldest out, and that one is refused, so its client
hears why); of detections only the newest is kept, and a manual request still waiting for its
frame always wins over them. ``clear()`` (stop, reset) forgets every pending request, including
those a ``serve()`` running at that moment has taken out: the scheduler's generation changes, so
the worker puts none of them back, and the handler's ``start()`` asks :meth:`current` so none of
them starts a track.

ROS-free, so it is unit-tested without DDS: what starting, reading a frame, catching up and
refusing mean is the caller's :class:`InitHandler`.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from mlkd_tracker.runtime.boxes import InvalidBoxError
from mlkd_tracker.runtime.frame_history import Entry, FrameHistory
from mlkd_tracker.runtime.target_acquisition import Detection

__all__ = ["Box", "InitRequest", "InitHandler", "InitScheduler"]

T = TypeVar("T")
F = TypeVar("F")
Box = tuple[float, float, float, float]


@dataclass
class InitRequest:
    """A request to start a track on the frame stamped ``stamp_ns`` (0: the newest frame)."""
    stamp_ns: int
    box: Box | None  # None: choose among ``detections``
    received: float  # monotonic seconds
    detections: tuple[Detection, ...] | None = None  # set: from ``detections``, not ~/init
    request_id: str = ""  # the ~/init's Detection2D.id, echoed in its result ("": none given)
    generation: int = 0  # set by InitScheduler.add(): which clear() it came after


class InitHandler(Protocol[T, F]):
    """What the scheduler asks of its owner (the tracker node)."""

    def read(self, entry: Entry[T]) -> F | None:
        """The entry's frame as the tracker takes it, or None when it cannot be read."""

    def start(self, req: InitRequest, frame: F) -> str | None:
        """Start the track on ``frame``; returns how it started (for the log), or None when
        there is nothing to start on any more (settled silently; also when
        :meth:`InitScheduler.current` says a clear() has forgotten ``req`` since). Raises
        InvalidBoxError when the box cannot be used."""

    def catch_up(self, start: Entry[T], later: list[Entry[T]], how: str) -> None:
        """Track ``later`` (the frames after ``start``, oldest first), publishing the last."""

    def refuse(self, req: InitRequest, reason: str) -> None:
        """Report a request that will never start."""


class InitScheduler(Generic[T]):
    """Pending init requests and their matching against a frame history (thread-safe)."""

    def __init__(self, history: FrameHistory[T], tolerance_ms: float, wait_ms: float,
                 max_pending: int = 4, clock: Callable[[], float] = time.monotonic) -> None:
        if max_pending < 1:
            raise ValueError(f"max_pending must be at least 1, got {max_pending}")
        self.history = history
        self.tolerance_ms = tolerance_ms  # max stamp difference of a match; may change at run time
        self.wait_ms = wait_ms  # how long a request waits for its frame; may change at run time
        self.max_pending = max_pending
        self._clock = clock
        self._lock = threading.Lock()
        self._pending: deque[InitRequest] = deque()  # manual requests, oldest first
        self._dropped: list[InitRequest] = []  # pushed out of ``_pending``, to refuse
        self._detections: InitRequest | None = None  # the newest only
        self._generation = 0  # bumped by clear(): what serve() took out before is forgotten

    # ---- callbacks ----------------------------------------------------------------------------
    def add(self, req: InitRequest) -> None:
        """Queue a request: manual ones in order, detections replacing older detections. A
        manual request beyond ``max_pending`` pushes the oldest out; the next ``serve()``
        refuses that one."""
        with self._lock:
            req.generation = self._generation
            if req.detections is None:
                self._pending.append(req)
                self._drop_overflow()
            else:
                self._detections = req

    def clear(self) -> None:
        """Forget every pending request (``~/stop``, ``~/reset``), also those a running
        ``serve()`` holds."""
        with self._lock:
            self._pending.clear()
            self._detections = None
            self._generation += 1

    def current(self, req: InitRequest) -> bool:
        """False once a clear() has forgotten ``req``: the handler checks it in start(), under
        the same lock its stop and reset hold while they clear, so a stopped request that a
        running serve() has already taken out does not start a track."""
        return req.generation == self._generation

    def _drop_overflow(self) -> None:  # under the lock
        while len(self._pending) > self.max_pending:
            self._dropped.append(self._pending.popleft())

    # ---- worker -------------------------------------------------------------------------------
    def serve(self, handler: InitHandler[T, object]) -> None:
        """Settle what can be settled now: start, refuse, or keep waiting for the frame."""
        with self._lock:
            generation = self._generation
            requests = list(self._pending)
            self._pending.clear()
            dropped, self._dropped = self._dropped, []
            detections, self._detections = self._detections, None
        for req in dropped:
            handler.refuse(req, f"pushed out by newer init requests (at most {self.max_pending} "
                           "wait for their frames)")
        waiting: list[InitRequest] = []
        for req in requests:
            if self._generation != generation:  # cleared meanwhile: forget the rest
                return
            if self._try(req, handler):
                continue
            if self._waiting(req):
                waiting.append(req)
            else:
                self._refuse_unmatched(req, handler)
        with self._lock:
            if self._generation != generation:
                return
            # back in front of those added meanwhile, in their original order
            self._pending.extendleft(reversed(waiting))
            self._drop_overflow()
            if detections is None or self._pending:  # a waiting manual request always wins
                return
        if self._try(detections, handler):
            return
        if self._waiting(detections):
            with self._lock:
                # unless a newer message replaced it, or a clear() forgot it
                if self._detections is None and self._generation == generation:
                    self._detections = detections
        else:
            self._refuse_unmatched(detections, handler)

    def _waiting(self, req: InitRequest) -> bool:
        return (self._clock() - req.received) * 1e3 < self.wait_ms

    def match(self, req: InitRequest) -> Entry[T] | None:
        """The buffered frame ``req`` was drawn on (the newest for an unstamped request)."""
        if req.stamp_ns == 0:  # unstamped: drawn on "now"
            entries = self.history.after(0)
            return entries[-1] if entries else None
        return self.history.find(req.stamp_ns, int(self.tolerance_ms * 1e6))

    def _try(self, req: InitRequest, handler: InitHandler[T, object]) -> bool:
        """True when the request is settled (started or refused), False to retry later."""
        entry = self.match(req)
        if entry is None:
            span = self.history.span_ns()
            if span is not None and req.stamp_ns and req.stamp_ns < span[0]:
                self._refuse_unmatched(req, handler)  # older than anything held: never matches
                return True
            return False  # its frame may still arrive
        frame = handler.read(entry)
        if frame is None:
            handler.refuse(req, f"its frame (stamp {entry.stamp_ns} ns) could not be read")
            return True
        try:
            how = handler.start(req, frame)
        except InvalidBoxError as exc:
            handler.refuse(req, str(exc))
            return True
        if how is not None:
            handler.catch_up(entry, self.history.after(entry.seq), how)
        return True

    def _refuse_unmatched(self, req: InitRequest, handler: InitHandler[T, object]) -> None:
        span = self.history.span_ns()
        held = "no frames yet" if span is None else f"frames stamped {span[0]}..{span[1]} ns"
        hint = ("stamp the init with the header of the frame the box was drawn on"
                if req.detections is None else
                "a detector must publish with the header of the frame it ran on")
        handler.refuse(req, f"no buffered frame stamped {req.stamp_ns} ns ({held}); {hint}")
