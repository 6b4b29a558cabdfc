"""A short-lived rclpy client node for the pip-only command-line tools (``init``, ``topics``,
``params``): its own context, spun in the background, closed on exit, and a ``wait_for`` that
polls a condition instead of sleeping a fixed time (discovery takes from ~0.1 s to seconds)."""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import rclpy
from rclpy.node import Node

from mlkd_tracker.tools.background_spin import BackgroundSpin

T = TypeVar("T")


class ToolError(RuntimeError):
    """What a tool could not do, said in one line (the CLI exits 1 with it)."""


@contextmanager
def client_node(name: str) -> Iterator[Node]:
    context = rclpy.Context()
    rclpy.init(context=context)
    node = Node(name, context=context, start_parameter_services=False)
    spin = BackgroundSpin(node, context, name=f"{name}_spin")
    try:
        yield node
    finally:
        spin.close()


def wait_for(predicate: Callable[[], T], timeout: float = 10.0, poll: float = 0.05) -> T | None:
    """The first truthy value of ``predicate()`` within ``timeout`` seconds, else None."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value or None
        time.sleep(poll)


def resolve_node_name(node: Node, name: str, timeout: float) -> str:
    """A node's fully qualified name from ``tracker_node`` or ``/uav1/tracker_node``: waits for
    discovery and refuses an unknown or ambiguous name."""
    def matches() -> list[str]:
        found = [f"{ns.rstrip('/')}/{n}" for n, ns in node.get_node_names_and_namespaces()]
        if name.startswith("/"):
            return [f for f in found if f == name]
        return sorted(f for f in found if f.rsplit("/", 1)[-1] == name)
    found = wait_for(matches, timeout)
    if not found:
        raise ToolError(f"no node '{name}' on this ROS domain within {timeout:g} s "
                        f"(ROS_DOMAIN_ID, ROS_AUTOMATIC_DISCOVERY_RANGE and the Fast DDS profile "
                        f"must match the nodes')")
    if len(found) > 1:
        raise ToolError(f"'{name}' is ambiguous: {', '.join(found)}; give the full name")
    return found[0]
