"""The camera side shared by the image-processing nodes (tracker, enhancer, detector).

Why this exists: each of those nodes had its own copy of the same front end — subscribe to
``image_raw`` or ``image_raw/compressed`` with the image QoS, store only the newest frame in the
callback, run one worker thread that takes the newest frame (counting the ones it never saw as
dropped), convert it to bgr8, refuse a frame rclpy cannot stamp or OpenCV cannot read, time the
model and skip a frame whose inference fails, and show input and processed rates, frame age,
stalls and the last problem in diagnostics — with the same parameters (``image_qos``,
``compressed_input``, ``depth_scaling``, ``stall_timeout_s``). A node now owns an
:class:`ImageInput` and a :class:`RecentError` and keeps only what it does with a frame.

A node with a frame *history* (``history_size``: the tracker, which matches ``~/init`` stamps
against recent frames) needs each frame's stamp on arrival, so a bad stamp is refused in the
callback; a newest-only node refuses it when the worker converts the frame.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
from rclpy.node import Node
from rclpy.time import Time
from sensor_msgs.msg import CompressedImage, Image

from mlkd_tracker.nodes.image_conversion import (ImageConversionError, compressed_to_bgr8,
                                               image_to_bgr8)
from mlkd_tracker.nodes.params import param
from mlkd_tracker.nodes.qos import IMAGE_QOS_CHOICES, image_qos
from mlkd_tracker.runtime.frame_history import Entry, FrameHistory
from mlkd_tracker.runtime.stats import RateMeter, RollingWindow

ERROR_SHOWN_S = 5.0  # how long diagnostics keep warning about the last problem
T = TypeVar("T")


# ---- the parameters an ImageInput runs with (fields for a node's config dataclass) -------------
def image_qos_param(description: str = "QoS of the image subscription.") -> Any:
    return param("sensor_data", description, choices=IMAGE_QOS_CHOICES, read_only=True)


def compressed_input_param() -> Any:
    return param(False, "Subscribe to image_raw/compressed (sensor_msgs/CompressedImage) "
                 "instead of image_raw.", read_only=True)


def depth_scaling_param() -> Any:
    return param("minmax", "How 16-bit/float images map to 8 bit.", choices=("minmax", "fixed"))


def stall_timeout_param() -> Any:
    return param(1.0, "Diagnostics warn when no frame arrived for this long.",
                 range=(0.05, 3600.0))


class InvalidStampError(ValueError):
    """A header stamp rclpy cannot represent (a negative ``sec``)."""


def stamp_ns(header) -> int:
    """The header's stamp in ns; :class:`InvalidStampError` (which says which stamp and why)
    for one rclpy cannot represent, which would otherwise raise inside a callback and end the
    node."""
    try:
        return Time.from_msg(header.stamp).nanoseconds
    except (ValueError, OverflowError) as exc:
        raise InvalidStampError(f"header stamp {header.stamp.sec} s {header.stamp.nanosec} ns "
                                f"is not a valid time ({exc})") from exc


class RecentError:
    """The last problem a node hit: logged, and shown by diagnostics as WARN for a while."""

    def __init__(self, logger) -> None:
        self._logger = logger
        self.message, self.when = "", 0.0  # when: monotonic seconds

    def report(self, message: str) -> None:
        """Log a problem (an error) and remember it for diagnostics."""
        now = time.monotonic()
        # A new kind of problem is always logged; a repeat of the last one at most once a second.
        if message != self.message or now - self.when > 1.0:
            self._logger.error(message)
        self.message, self.when = message, now

    def note(self, message: str) -> None:
        """Remember a problem the caller has logged its own way."""
        self.message, self.when = message, time.monotonic()

    def shown(self, now: float) -> str:
        """The problem diagnostics should still warn about at ``now``, or ""."""
        return self.message if self.message and now - self.when < ERROR_SHOWN_S else ""

    def clear(self) -> None:
        self.message, self.when = "", 0.0


class ImageInput:
    """Frames in (``image_raw`` or ``image_raw/compressed``), newest first, to one worker thread.

    The subscription callback only stores the message; the worker (:meth:`start`) calls the
    node's ``work_once`` in a loop, which takes frames with :meth:`next_frame`, converts them with
    :meth:`to_bgr`, may run its model with :meth:`run_model` and reports each output with
    :meth:`published`. :meth:`flow_values`, :meth:`latency_values`, :attr:`inference_ms` and
    :meth:`warning` are the diagnostics every such node shows.
    """

    def __init__(self, node: Node, errors: RecentError, qos: str, compressed: bool,
                 history_size: int | None = None) -> None:
        """``history_size``: None keeps the newest frame only; n keeps the last n by stamp."""
        self._node, self.errors = node, errors
        self._stamped = history_size is not None
        self.frames: FrameHistory[Image | CompressedImage] = FrameHistory(history_size or 1)
        self._input_rate, self._processed_rate = RateMeter(), RateMeter()
        self._latency_ms = RollingWindow()
        self.inference_ms = RollingWindow()  # filled by run_model, or by the node itself
        self.dropped = self.bad_frames = 0
        self.last_input = time.monotonic()
        self._last_seq = 0
        self._running = False
        self._worker: threading.Thread | None = None
        self._qos, self._compressed = qos, compressed
        self._subscription = None

    # ---- callback: store only -----------------------------------------------------------------
    def _on_image(self, msg: Image | CompressedImage) -> None:
        now = time.monotonic()
        self._input_rate.tick(now)
        self.last_input = now
        stamp = 0  # newest-only: the stamp is checked when the frame is converted
        if self._stamped:
            stamp = self.stamp_or_none(msg.header, "bad frame skipped")
            if stamp is None:
                self.bad_frames += 1
                return
        self.frames.push(stamp, msg)

    def stamp_or_none(self, header, problem: str) -> int | None:
        """The header's stamp in ns, or None (reported as ``problem: ...``) for a bad one."""
        try:
            return stamp_ns(header)
        except InvalidStampError as exc:
            self.errors.report(f"{problem}: {exc}")
            return None

    # ---- worker -------------------------------------------------------------------------------
    def start(self, work_once: Callable[[], None], name: str) -> None:
        """Subscribe and run ``work_once`` in a loop on a worker thread until :meth:`close` or
        shutdown (a managed node's activate)."""
        if self._subscription is None:
            node, qos = self._node, image_qos(self._qos)
            self._subscription = (
                node.create_subscription(CompressedImage, "image_raw/compressed",
                                         self._on_image, qos) if self._compressed
                else node.create_subscription(Image, "image_raw", self._on_image, qos))
        self.last_input = time.monotonic()  # the stall clock starts now, not at construction
        self._running = True
        self._worker = threading.Thread(target=self._work, args=(work_once,), name=name,
                                        daemon=True)
        self._worker.start()

    def _work(self, work_once: Callable[[], None]) -> None:
        context = self._node.context
        while self._running and context.ok():
            try:
                work_once()
            except Exception as exc:  # the worker must outlive any single frame's failure
                if not context.ok():
                    break  # shutting down: publishers are gone
                self.errors.report(f"unexpected error, frame skipped: {exc!r}")

    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`close`: a node publishes only then, so a frame
        still being processed when the node is deactivated produces no output."""
        return self._running

    def close(self) -> None:
        """Stop the worker, unsubscribe and drop the held frames (a managed node's deactivate);
        a later :meth:`start` begins with fresh frames. Safe to call when not started."""
        self._running = False
        if self._worker is not None:
            self._worker.join(timeout=5.0)
            self._worker = None
        if self._subscription is not None:
            self._node.destroy_subscription(self._subscription)
            self._subscription = None
        self.frames.clear()

    def next_frame(self, timeout: float = 0.05) -> Entry | None:
        """The newest frame not yet taken (waiting up to ``timeout`` s); the frames that arrived
        in between count as dropped."""
        entry = self.frames.wait_newest(self._last_seq, timeout=timeout)
        if entry is None:
            return None
        if self._last_seq:
            self.dropped += max(0, entry.seq - self._last_seq - 1)
        self._last_seq = entry.seq
        return entry

    def taken_up_to(self, seq: int) -> None:
        """Frames up to ``seq`` were processed another way (a catch-up): not dropped, not next."""
        self._last_seq = max(self._last_seq, seq)

    def to_bgr(self, msg: Image | CompressedImage, depth_scaling: str) -> np.ndarray | None:
        """The frame as bgr8, or None for a bad one (counted and reported as a bad frame)."""
        try:
            stamp_ns(msg.header)
            if isinstance(msg, CompressedImage):
                return compressed_to_bgr8(msg)
            return image_to_bgr8(msg, depth_scaling)
        except (InvalidStampError, ImageConversionError) as exc:
            self.bad_frames += 1
            self.errors.report(f"bad frame skipped: {exc}")
            return None

    def run_model(self, what: str, run: Callable[[], T]) -> T | None:
        """``run()``, timed into :attr:`inference_ms`; None (reported as "``what`` failed, frame
        skipped") when it raises: an inference failure must not publish garbage or end the node."""
        t0 = time.perf_counter()
        try:
            result = run()
        except Exception as exc:
            self.errors.report(f"{what} failed, frame skipped: {exc!r}")
            return None
        self.inference_ms.add((time.perf_counter() - t0) * 1e3)
        return result

    def published(self, header) -> None:
        """An output for the frame with ``header`` went out: processed rate and frame age."""
        age = self._node.get_clock().now() - Time.from_msg(header.stamp)
        self._latency_ms.add(age.nanoseconds / 1e6)
        self._processed_rate.tick(time.monotonic())

    def reset(self) -> None:
        """Forget held frames, the dropped and bad frame counts and the last problem."""
        self.frames.clear()
        self.dropped = self.bad_frames = 0
        self.errors.clear()

    # ---- diagnostics --------------------------------------------------------------------------
    def flow_values(self, now: float) -> dict[str, object]:
        return {"input_hz": self._input_rate.rate(now),
                "processed_hz": self._processed_rate.rate(now),
                "dropped_frames": self.dropped, "bad_frames": self.bad_frames}

    def latency_values(self) -> dict[str, float]:
        p50, p95 = self._latency_ms.percentiles(50, 95)
        return {"latency_p50_ms": p50, "latency_p95_ms": p95}

    def warning(self, now: float, stall_timeout_s: float) -> str:
        """What diagnostics should warn about: a stalled input, else a recent problem, else ""."""
        stalled = now - self.last_input
        if stalled > stall_timeout_s:
            return f"no input frames for {stalled:.1f} s"
        return self.errors.shown(now)
