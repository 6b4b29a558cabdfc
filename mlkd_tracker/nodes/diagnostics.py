"""A 1 Hz ``/diagnostics`` publisher (diagnostic_updater has no wheel; this is the part we need)."""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node

OK, WARN, ERROR, STALE = (DiagnosticStatus.OK, DiagnosticStatus.WARN, DiagnosticStatus.ERROR,
                          DiagnosticStatus.STALE)


@dataclass
class Health:
    level: bytes = OK
    message: str = "OK"
    values: Mapping[str, object] = field(default_factory=dict)


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.3f}"
    return str(value)


class DiagnosticsPublisher:
    """Publishes one DiagnosticStatus, named ``<node>: <task>``, from ``collect()`` every period."""

    def __init__(self, node: Node, task: str, collect: Callable[[], Health],
                 period_s: float = 1.0, hardware_id: str = "") -> None:
        self._node = node
        self._name = f"{node.get_name()}: {task}"
        self._hardware_id = hardware_id or node.get_fully_qualified_name()
        self._collect = collect
        self._pub = node.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._timer = node.create_timer(period_s, self.publish)

    def publish(self) -> None:
        health = self._collect()
        status = DiagnosticStatus(level=health.level, name=self._name, message=health.message,
                                  hardware_id=self._hardware_id)
        status.values = [KeyValue(key=k, value=_fmt(v)) for k, v in health.values.items()]
        msg = DiagnosticArray(status=[status])
        msg.header.stamp = self._node.get_clock().now().to_msg()
        self._pub.publish(msg)
