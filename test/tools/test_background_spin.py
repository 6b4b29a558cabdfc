"""BackgroundSpin: callbacks run on its thread, and close() returns promptly and cleanly even
when messages are arriving, when called twice, or after the context was shut down elsewhere."""
from __future__ import annotations

import threading
import time

import pytest
import rclpy
from std_msgs.msg import Int32

from mlkd_tracker.tools.background_spin import BackgroundSpin
from mlkd_tracker.tools.track_monitor import wait_for

pytestmark = pytest.mark.ros


def _spin_node(name: str) -> tuple[BackgroundSpin, list]:
    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node(name, context=context)
    got: list = []
    node.create_subscription(Int32, "bg_spin_test", lambda m: got.append(m.data), 100)
    return BackgroundSpin(node, context, name=f"{name}_spin"), got


class _Flood:
    """Publish as fast as possible from a separate context, so close() races live callbacks."""

    def __init__(self) -> None:
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node("bg_spin_flood", context=self.context)
        self.pub = self.node.create_publisher(Int32, "bg_spin_test", 100)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        i = 0
        while not self._stop.is_set():
            self.pub.publish(Int32(data=i))
            i += 1
            time.sleep(0.0005)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


def test_callbacks_run_until_close_and_close_stops_the_thread(ros_env):
    flood = _Flood()
    witness = None
    try:
        spin, got = _spin_node("bg_spin_a")
        witness, seen = _spin_node("bg_spin_witness")  # still spinning: the flood goes on
        assert wait_for(lambda: len(got) > 10 and len(seen) > 10, 20), \
            "no message reached the spun nodes"
        assert spin.close(timeout=5.0)
        assert not spin.spinning
        n, m = len(got), len(seen)
        assert wait_for(lambda: len(seen) > m + 100, 20), "the flood stopped"
        assert len(got) == n, "callbacks kept running after close()"
        assert spin.close(), "a second close() is a no-op"
    finally:
        if witness is not None:
            witness.close()
        flood.close()


def test_close_under_a_message_flood_never_hangs(ros_env):
    """The race that hung CI (executor shutdown while spin() was in a wait set), repeated."""
    flood = _Flood()
    try:
        for i in range(8):
            spin, got = _spin_node(f"bg_spin_r{i}")
            wait_for(lambda: len(got) > 0, 5)
            started = time.monotonic()
            assert spin.close(timeout=5.0)
            assert time.monotonic() - started < 5.0
    finally:
        flood.close()


def test_close_after_the_context_was_shut_down_elsewhere(ros_env):
    spin, _ = _spin_node("bg_spin_ext")
    rclpy.try_shutdown(context=spin.context)
    assert wait_for(lambda: not spin.spinning, 5), "the loop did not notice the shutdown"
    assert spin.close(timeout=5.0)
