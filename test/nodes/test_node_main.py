"""run_node: the exit codes that launch files and operators see when a node stops."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent('''
    import sys

    import rclpy
    from rclpy.node import Node
    from std_msgs.msg import String

    from mlkd_tracker.nodes.node_main import run_node


    class ShutDownMidCallback(Node):
        """Publishes after the context has shut down, as a timer callback does when SIGINT
        lands while it runs."""

        def __init__(self):
            super().__init__("shut_down_mid_callback")
            self.pub = self.create_publisher(String, "chatter", 1)
            self.create_timer(0.01, self._tick)

        def _tick(self):
            rclpy.try_shutdown()
            self.pub.publish(String(data="late"))


    class BugInCallback(Node):
        def __init__(self):
            super().__init__("bug_in_callback")
            self.create_timer(0.01, self._tick)

        def _tick(self):
            raise RuntimeError("a real bug")


    factory = {"shutdown": ShutDownMidCallback, "bug": BugInCallback}[sys.argv[1]]
    sys.exit(run_node(factory, []))
''')


def _run(mode: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True,
                          timeout=60)


@pytest.mark.usefixtures("ros_env")
def test_a_callback_cut_off_by_shutdown_still_exits_0():
    result = _run("shutdown")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.usefixtures("ros_env")
def test_a_callback_that_fails_while_running_is_not_hidden():
    result = _run("bug")
    assert result.returncode != 0
    assert "a real bug" in result.stderr
