"""QoS choices shared by the nodes: images best-effort newest-only, outputs reliable, and a latched
init request that a one-shot publisher cannot lose."""
from __future__ import annotations

from rclpy.qos import (HistoryPolicy, QoSProfile, ReliabilityPolicy, DurabilityPolicy,
                       qos_profile_sensor_data)

IMAGE_QOS_CHOICES = ("sensor_data", "reliable")


def image_qos(kind: str = "sensor_data") -> QoSProfile:
    """Depth 1: a subscriber never needs more than the newest frame."""
    reliability = (ReliabilityPolicy.BEST_EFFORT if kind == "sensor_data"
                   else ReliabilityPolicy.RELIABLE)
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=reliability,
                      durability=DurabilityPolicy.VOLATILE)


def image_pub_qos(kind: str = "sensor_data") -> QoSProfile:
    """Publishers use the same policy; sensor-data QoS is readable by both kinds of subscriber."""
    return qos_profile_sensor_data if kind == "sensor_data" else image_qos(kind)


OUTPUT_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10,
                        reliability=ReliabilityPolicy.RELIABLE)


# ~/init: reliable and transient-local with depth 1, so a request published once (a command-line
# tool, a ground station) reaches a tracker that matches the publisher a moment later. A stale
# request cannot start a wrong track: its stamp must match a frame the tracker still holds.
INIT_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                      reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.TRANSIENT_LOCAL)
