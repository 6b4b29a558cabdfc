"""Test-side ROS helpers: start package nodes as real processes and talk to them from an
in-process probe node on its own context."""
from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np
import rclpy
from rclpy.qos import QoSProfile
from std_msgs.msg import Header
from std_srvs.srv import Trigger

from mlkd_tracker.nodes.detection_conversion import make_detection

from mlkd_tracker.tools.background_spin import BackgroundSpin
from mlkd_tracker.tools.launch_xml import LaunchPlan, NodeSpec
from mlkd_tracker.tools.process_group import ProcessGroup
from mlkd_tracker.tools.track_monitor import wait_for


def start_nodes(log_dir: Path, *specs: NodeSpec) -> ProcessGroup:
    return ProcessGroup(LaunchPlan(nodes=list(specs)), log_dir=log_dir).start()


class Probe:
    """A node that records every message on the topics it is asked to watch."""

    def __init__(self, name: str = "probe") -> None:
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node(name, context=self.context)
        self.messages: dict[str, list] = defaultdict(list)
        self._spin = BackgroundSpin(self.node, self.context, name=f"{name}_spin")

    def watch(self, msg_type, topic: str, qos: QoSProfile | int = 10) -> list:
        self.node.create_subscription(msg_type, topic, self.messages[topic].append, qos)
        return self.messages[topic]

    def publisher(self, msg_type, topic: str, qos: QoSProfile | int = 10):
        return self.node.create_publisher(msg_type, topic, qos)

    def close(self) -> None:
        assert self._spin.close(), "the probe's spin thread did not stop"


wait_until = wait_for  # the tests' name for it


def publish_until(publisher, msg, predicate, timeout: float = 10.0, period: float = 0.2) -> bool:
    """Publish ``msg`` every ``period`` until ``predicate()``: discovery may still be completing
    on the subscriber's side when the publisher already sees it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        publisher.publish(msg)
        if wait_until(predicate, period):
            return True
    return False


def diag_statuses(messages: list, name_prefix: str) -> list:
    return [s for m in messages for s in m.status if s.name.startswith(name_prefix)]


def diag_values(messages: list, name_prefix: str, hardware_id: str | None = None) -> dict[str, str]:
    """The key/values of the newest status named ``name_prefix...`` (of ``hardware_id``, when
    given); {} while there is none."""
    statuses = [s for s in diag_statuses(list(messages), name_prefix)
                if hardware_id is None or s.hardware_id == hardware_id]
    return {kv.key: kv.value for kv in statuses[-1].values} if statuses else {}


PROBE_INIT_STAMP_NS = 10**9  # 1 s after the epoch: older than any frame a test sends


def wait_init_link(init_pub, log: Callable[[], str], timeout: float = 30.0) -> None:
    """Return once tracker_node's ``~/init`` subscription has matched ``init_pub`` on its own
    side. The publisher may see the subscription before the subscriber sees the publisher, and an
    init sent in between is lost (an init is sent once: each one starts an episode). An init
    stamped :data:`PROBE_INIT_STAMP_NS` matches no frame, so the tracker refuses it with a log
    line and changes nothing else (its diagnostics show the refusal for a few seconds): it is
    sent until that line shows."""
    header = Header(frame_id="link_probe")
    header.stamp.sec, header.stamp.nanosec = divmod(PROBE_INIT_STAMP_NS, 10**9)
    words = f"no buffered frame stamped {PROBE_INIT_STAMP_NS} ns"
    start = len(log())
    assert wait_until(lambda: init_pub.get_subscription_count() > 0, timeout), \
        "no ~/init subscription"
    assert publish_until(init_pub, make_detection(header, (1.0, 1.0, 4.0, 4.0)),
                         lambda: words in log()[start:], timeout, period=0.5), \
        "tracker_node never answered an init (no refusal logged)"


def call_trigger(probe: Probe, name: str):
    """Call a std_srvs/Trigger service (e.g. ``tracker_node/stop``); its response."""
    client = probe.node.create_client(Trigger, name)
    assert client.wait_for_service(timeout_sec=10)
    future = client.call_async(Trigger.Request())
    assert wait_until(future.done, 10)
    return future.result()


def square_frame(t: int, w: int = 160, h: int = 120) -> np.ndarray:
    """A dark noisy frame with a bright 20x20 square at (40 + t, 50): a target to track."""
    img = np.random.default_rng(0).integers(0, 60, (h, w, 3), dtype=np.uint8)
    img[50:70, 40 + t:60 + t] = np.random.default_rng(1).integers(150, 255, (20, 20, 3), np.uint8)
    return img
