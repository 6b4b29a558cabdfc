"""Shared ``main()`` for the nodes: clean start-up errors and clean SIGINT/SIGTERM shutdown.

A managed node (nodes/managed.py) is brought up here, after its constructor: with ``autostart``
it configures and activates, and a failed configure is a start-up error like a bad parameter.
"""
from __future__ import annotations

import signal
import sys
from collections.abc import Callable

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node

from mlkd_tracker.nodes.params import ParameterError


def run_node(factory: Callable[[], Node], args: list[str] | None = None) -> int:
    """Spin the node until shutdown; a bad parameter exits with code 2 and a one-line reason."""
    rclpy.init(args=args if args is not None else sys.argv)
    signal.signal(signal.SIGTERM, lambda *_: rclpy.try_shutdown())
    node = None
    try:
        node = factory()
        bring_up = getattr(node, "bring_up", None)  # a managed node's autostart (nodes/managed.py)
        if bring_up is not None:
            bring_up()
        # Single-threaded on purpose: rclpy's MultiThreadedExecutor stalled the simulator's 30 Hz
        # timer for seconds whenever a subscription was active (rclpy#1452); heavy work runs in
        # each node's own worker thread instead.
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        executor.spin()
    except ParameterError as exc:
        print(f"[FATAL] {exc}", file=sys.stderr, flush=True)
        return 2
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception:
        if rclpy.ok():
            raise
        # A callback that was running when SIGINT/SIGTERM shut the context down fails to publish
        # ("publisher's context is invalid"): that is the shutdown, not a fault of the node.
    finally:
        if node is not None:
            close = getattr(node, "close", None)
            if close is not None:
                close()
            node.destroy_node()
        rclpy.try_shutdown()
    return 0
