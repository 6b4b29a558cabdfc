"""The replay's ROS side: publishes the bag's camera frames and the init box into the pipeline,
collects the pipeline's outputs by frame stamp, and records the pipeline's topics into the output
bag.

Frames are published as the bag's CDR bytes (no re-serialisation), so the nodes receive exactly
what was recorded. Times are system-clock nanoseconds on both sides (publish here, the
middleware's receive timestamp there), so latency is publish → arrival of the output. Messages
the pipeline publishes are placed on the bag's timeline: an output received ``d`` ns after the
latest frame was published gets that frame's bag time + ``d``.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from std_srvs.srv import Trigger
from vision_msgs.msg import Detection2D, Detection2DArray

from mlkd_tracker.data.bag_writer import BagWriter
from mlkd_tracker.tools.background_spin import BackgroundSpin
from mlkd_tracker.tools.bag_recorder import TopicRecorder, absolute
from mlkd_tracker.nodes.detection_conversion import bbox_to_box
from mlkd_tracker.nodes.qos import OUTPUT_QOS
from mlkd_tracker.tools.replay_inputs import IMAGE_TYPES, stamp_ns

__all__ = ["Output", "ReplayNode"]

Box = tuple[float, float, float, float]
# Reliable frames: a reliable writer matches both best-effort readers (the nodes' sensor-data
# default; delivery is then best effort) and reliable ones, which a best-effort writer would not.
_RELIABLE_FRAMES = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10,
                              reliability=ReliabilityPolicy.RELIABLE,
                              durability=DurabilityPolicy.VOLATILE)


@dataclass
class Output:
    first_ns: int           # system time the first output for the stamp arrived
    box: Box | None         # the latest output's box (an init's catch-up may re-answer a frame)
    count: int = 1


class ReplayNode:
    def __init__(self, camera_topic: str, camera_type: str, publish_topic: str, output_topic: str,
                 init_topic: str, writer: BagWriter, record_topics: list[str],
                 rename: dict[str, str], first_bag_time: int) -> None:
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node("mlkd_bag_replay", context=self.context)
        self.camera_pub = self.node.create_publisher(IMAGE_TYPES[camera_type], publish_topic,
                                                     _RELIABLE_FRAMES)
        self.init_pub = self.node.create_publisher(Detection2D, init_topic, OUTPUT_QOS)
        self.output_topic = absolute(output_topic)
        self.node.create_subscription(Detection2DArray, self.output_topic, self._on_output,
                                      QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE))
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, 10)
        self._cond = threading.Condition()
        self.outputs: dict[int, Output] = {}
        self.statuses: dict[str, dict[str, str]] = {}
        self._diagnostics_at = 0.0  # monotonic time of the latest /diagnostics message
        self._anchor = (time.time_ns(), first_bag_time)  # (system ns, bag ns) of the last frame
        self.recorder = TopicRecorder(self.node, writer, record_topics, rename=rename,
                                      clock=self.bag_time, depth=1000)
        self._spin = BackgroundSpin(self.node, self.context, name="replay_spin")

    # ---- timeline -----------------------------------------------------------------------------
    def bag_time(self, system_ns: int) -> int:
        pub_ns, bag_ns = self._anchor
        return bag_ns + max(0, system_ns - pub_ns)

    # ---- publishing ---------------------------------------------------------------------------
    def publish_frame(self, data: bytes, bag_time: int) -> int:
        """Publish one recorded frame; returns the system time it was published."""
        now = time.time_ns()
        self._anchor = (now, bag_time)
        self.camera_pub.publish(data)
        return now

    def publish_init(self, det: Detection2D) -> None:
        self.init_pub.publish(det)

    def pipeline_ready(self, need_init: bool) -> bool:
        """The pipeline reads the camera topic, publishes the output topic and, if the replay
        will initialise a tracker, reads the init topic."""
        return (self.camera_pub.get_subscription_count() > 0
                and (not need_init or self.init_pub.get_subscription_count() > 0)
                and bool(self.node.get_publishers_info_by_topic(self.output_topic)))

    def reset_tracker(self, service: str, timeout: float = 2.0) -> bool:
        """Call the tracker's ``~/reset`` (clears its frame buffer and counters) if it has one."""
        client = self.node.create_client(Trigger, service)
        try:
            if not client.wait_for_service(timeout_sec=timeout):
                return False
            done = threading.Event()
            future = client.call_async(Trigger.Request())
            future.add_done_callback(lambda _f: done.set())
            return done.wait(timeout) and bool(future.result() and future.result().success)
        finally:
            self.node.destroy_client(client)

    # ---- collecting ---------------------------------------------------------------------------
    def _on_output(self, msg: Detection2DArray, info) -> None:
        received = int(info.get("received_timestamp") or 0) or time.time_ns()
        stamp = stamp_ns(msg.header)
        box = bbox_to_box(msg.detections[0].bbox) if msg.detections else None
        with self._cond:
            out = self.outputs.get(stamp)
            if out is None:
                self.outputs[stamp] = Output(received, box)
            else:
                out.box, out.count = box, out.count + 1
            self._cond.notify_all()

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        with self._cond:
            for status in msg.status:
                self.statuses[status.name] = {kv.key: kv.value for kv in status.values}
            self._diagnostics_at = time.monotonic()
            self._cond.notify_all()

    def wait_output(self, stamp: int, timeout: float, with_box: bool = False) -> bool:
        """Block until an output stamped ``stamp`` (with a box, if ``with_box``) arrived (True)
        or ``timeout`` passed."""
        def arrived() -> bool:
            out = self.outputs.get(stamp)
            return out is not None and (not with_box or out.box is not None)
        with self._cond:
            return self._cond.wait_for(arrived, timeout)

    def wait_outputs(self, stamps: set[int], timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: stamps <= self.outputs.keys(), timeout)

    def wait_fresh_diagnostics(self, timeout: float) -> bool:
        """Wait for a /diagnostics message newer than now (the nodes publish them at 1 Hz), so
        the counters read afterwards cover the whole replay."""
        since = time.monotonic()
        with self._cond:
            return self._cond.wait_for(lambda: self._diagnostics_at > since, timeout)

    def snapshot(self) -> tuple[dict[int, Output], dict[str, dict[str, str]]]:
        with self._cond:
            return ({k: Output(v.first_ns, v.box, v.count) for k, v in self.outputs.items()},
                    {k: dict(v) for k, v in self.statuses.items()})

    def close(self) -> None:
        self._spin.close()
