"""QoS choices shared by the nodes (DESIGN §4): images best-effort newest-only, outputs reliable."""
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
