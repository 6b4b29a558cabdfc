"""An observer node for closed-loop runs: initialises the tracker from ground truth and records
ground truth, tracks, frames and the tracker's diagnostics, all keyed by frame stamp."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import cv2
import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.node import Node
from rclpy.time import Time
from sensor_msgs.msg import Image
from vision_msgs.msg import Detection2D, Detection2DArray

from mlkd_tracker.nodes.detection_conversion import bbox_to_box
from mlkd_tracker.nodes.image_conversion import ImageConversionError, image_to_bgr8
from mlkd_tracker.nodes.qos import OUTPUT_QOS, image_qos
from mlkd_tracker.tools.ros_client import wait_for  # noqa: F401 (re-exported)


@dataclass
class Recording:
    gt: dict[int, tuple[float, float, float, float]] = field(default_factory=dict)
    tracks: dict[int, tuple[float, float, float, float] | None] = field(default_factory=dict)
    track_received: dict[int, float] = field(default_factory=dict)  # stamp -> arrival (ns, ROS clock)
    frames: dict[int, np.ndarray] = field(default_factory=dict)     # downscaled, for the video
    # node status -> its values, plus "_level", "_message" and "_stamp_ns" (the message's stamp)
    diagnostics: dict[str, dict[str, str]] = field(default_factory=dict)
    track_frame_ids: set[str] = field(default_factory=set)
    init_stamp: int | None = None
    image_size: tuple[int, int] | None = None  # (width, height)


class TrackMonitor(Node):
    """Subscribes ``ground_truth``, ``tracks``, ``image_raw`` and ``/diagnostics``; publishes the
    first valid ground-truth box to ``init_topic`` with that frame's header."""

    def __init__(self, init_topic: str = "tracker_node/init", keep_frames: int = 2,
                 frame_scale: float = 0.5, auto_init: bool = True, **kwargs) -> None:
        super().__init__("track_monitor", **kwargs)
        self.rec = Recording()
        self._lock = threading.Lock()
        self._keep_frames, self._scale, self._auto_init = keep_frames, frame_scale, auto_init
        self._frame_count = 0
        self._init_sent = 0.0
        self.init_pub = self.create_publisher(Detection2D, init_topic, 10)
        self.create_subscription(Detection2D, "ground_truth", self._on_gt, OUTPUT_QOS)
        self.create_subscription(Detection2DArray, "tracks", self._on_tracks, OUTPUT_QOS)
        self.create_subscription(DiagnosticArray, "/diagnostics", self._on_diag, 10)
        if keep_frames:
            self.create_subscription(Image, "image_raw", self._on_image, image_qos())

    def _on_gt(self, msg: Detection2D) -> None:
        stamp = Time.from_msg(msg.header.stamp).nanoseconds
        box = bbox_to_box(msg.bbox)
        with self._lock:
            self.rec.gt[stamp] = box
            start = self._auto_init and box[2] > 0 and box[3] > 0 and self._init_pending()
            if start:
                self.rec.init_stamp, self._init_sent = stamp, time.monotonic()
        if start:
            self.init_pub.publish(msg)

    def _init_pending(self) -> bool:
        """No init yet, or one that produced no track within a second (an init published while
        discovery was still matching the tracker's subscription is lost): send (again)."""
        if self.init_pub.get_subscription_count() == 0:
            return False
        if self.rec.init_stamp is None:
            return True
        tracking = any(b is not None for s, b in self.rec.tracks.items() if s >= self.rec.init_stamp)
        return not tracking and time.monotonic() - self._init_sent > 1.0

    def request_init(self, msg: Detection2D) -> None:
        with self._lock:
            self.rec.init_stamp = Time.from_msg(msg.header.stamp).nanoseconds
        self.init_pub.publish(msg)

    def _on_tracks(self, msg: Detection2DArray) -> None:
        stamp = Time.from_msg(msg.header.stamp).nanoseconds
        box = bbox_to_box(msg.detections[0].bbox) if msg.detections else None
        with self._lock:
            self.rec.tracks[stamp] = box
            self.rec.track_received[stamp] = self.get_clock().now().nanoseconds
            self.rec.track_frame_ids.add(msg.header.frame_id)

    def _on_image(self, msg: Image) -> None:
        self._frame_count += 1
        if self._frame_count % self._keep_frames:
            return
        try:
            frame = image_to_bgr8(msg)
        except ImageConversionError:
            return
        small = cv2.resize(frame, None, fx=self._scale, fy=self._scale, interpolation=cv2.INTER_AREA)
        with self._lock:
            self.rec.frames[Time.from_msg(msg.header.stamp).nanoseconds] = small
            self.rec.image_size = (frame.shape[1], frame.shape[0])

    def _on_diag(self, msg: DiagnosticArray) -> None:
        stamp = Time.from_msg(msg.header.stamp).nanoseconds
        with self._lock:
            for status in msg.status:
                self.rec.diagnostics[status.name] = {kv.key: kv.value for kv in status.values} | {
                    "_level": str(int.from_bytes(status.level, "little")
                                  if isinstance(status.level, bytes) else status.level),
                    "_message": status.message, "_stamp_ns": str(stamp)}

    def frames_since_init(self) -> int:
        """Ground-truth frames recorded from the init frame on (0 before the init)."""
        with self._lock:
            init = self.rec.init_stamp
            return 0 if init is None else sum(1 for s in self.rec.gt if s >= init)

    def snapshot(self) -> Recording:
        with self._lock:
            return Recording(dict(self.rec.gt), dict(self.rec.tracks),
                             dict(self.rec.track_received), dict(self.rec.frames),
                             {k: dict(v) for k, v in self.rec.diagnostics.items()},
                             set(self.rec.track_frame_ids), self.rec.init_stamp,
                             self.rec.image_size)
