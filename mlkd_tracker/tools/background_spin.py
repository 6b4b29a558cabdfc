"""Spin one in-process node on a background thread, and stop it without hanging.

The demo, the node benchmark, the replay driver and the test probe all observe the pipeline
from the calling process. ``threading.Thread(target=executor.spin)`` followed by
``executor.shutdown()`` from another thread is not safe in rclpy: shutdown destroys the
executor's guard condition while the spin thread may still be inside a wait set
(ros2/rclpy#968, #205); we saw it as a spin thread busy at 100 % CPU and a main thread blocked
for ever while closing. So the loop here uses ``spin_once`` with a short timeout and
checks a stop flag; ``close`` joins it *before* anything is destroyed, and if the thread still
does not return it leaves the handles alone rather than risk the deadlock.
"""
from __future__ import annotations

import threading

import rclpy
from rclpy.context import Context
from rclpy.executors import (ExternalShutdownException, ShutdownException,
                             SingleThreadedExecutor)
from rclpy.node import Node

_POLL_S = 0.05


class BackgroundSpin:
    """Own ``node`` (on ``context``) and spin it until :meth:`close`."""

    def __init__(self, node: Node, context: Context, name: str = "background_spin") -> None:
        self.node = node
        self.context = context
        self._stop = threading.Event()
        self._closed = False
        self._executor = SingleThreadedExecutor(context=context)
        self._executor.add_node(node)
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        try:
            while not self._stop.is_set() and self.context.ok():
                self._executor.spin_once(timeout_sec=_POLL_S)
        except (ExternalShutdownException, ShutdownException):
            pass  # the context was shut down under us: nothing left to spin

    @property
    def spinning(self) -> bool:
        return self._thread.is_alive()

    def close(self, timeout: float = 5.0) -> bool:
        """Stop spinning, then destroy the node and shut the context down. Idempotent.
        Returns False when the spin thread did not stop within ``timeout``; the handles are then
        left to the process exit (the thread is a daemon) instead of being destroyed under it."""
        if self._closed:
            return True
        self._stop.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            rclpy.try_shutdown(context=self.context)  # wakes a wait set; still do not destroy
            return False
        self._executor.shutdown(timeout_sec=timeout)
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)
        self._closed = True
        return True
