"""sim_node in a real process under non-finite gimbal commands: it keeps publishing frames,
says why in its diagnostics (WARN), and a later valid command still moves the gimbal."""
from __future__ import annotations

import math

import pytest
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from geometry_msgs.msg import Vector3Stamped
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image

from mlkd_tracker.tools.launch_xml import NodeSpec
from ros_probe import Probe, diag_statuses, publish_until, start_nodes, wait_until

pytestmark = pytest.mark.ros
T = 60.0


def _cmd(pan_rate: float) -> Vector3Stamped:
    msg = Vector3Stamped()
    msg.vector.z = -pan_rate  # REP-103: z = -pan
    return msg


def test_nan_gimbal_commands_are_ignored_with_a_warning(ros_env, tmp_path):
    group = start_nodes(tmp_path / "logs", NodeSpec(
        "mlkd_tracker", "sim_node", name="sim_node",
        params={"width": "160", "height": "120", "fps": "15.0"}))
    probe = Probe()
    try:
        images = probe.watch(Image, "image_raw", qos_profile_sensor_data)
        diags = probe.watch(DiagnosticArray, "/diagnostics")
        cmd = probe.publisher(Vector3Stamped, "cmd_gimbal")
        assert wait_until(lambda: len(images) > 2 and cmd.get_subscription_count() > 0, T)

        def warned() -> bool:
            s = diag_statuses(list(diags), "sim_node")
            return bool(s) and s[-1].level == DiagnosticStatus.WARN and "cmd_gimbal" in s[-1].message
        assert publish_until(cmd, _cmd(math.nan), warned, T), "no WARN for a NaN command"
        n = len(images)
        assert wait_until(lambda: len(images) > n + 5, T), "sim_node stopped publishing"

        def panned() -> bool:
            s = diag_statuses(list(diags), "sim_node")
            vals = {kv.key: kv.value for kv in s[-1].values} if s else {}
            return abs(float(vals.get("pan_rad", "0"))) > 0.01
        assert publish_until(cmd, _cmd(0.5), panned, T), "a valid command no longer moves it"
        assert group.exited() == []
    finally:
        probe.close()
        assert group.stop()["sim_node"] == 0
