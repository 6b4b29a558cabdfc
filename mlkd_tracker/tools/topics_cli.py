"""``mlkd-tracker topics``: ``ros2 topic list / echo / hz`` for a venv without the ``ros2`` CLI.

    mlkd-tracker topics                       # every topic with its type(s)
    mlkd-tracker topics echo /tracks -n 3     # three messages, arrays longer than 16 elided
    mlkd-tracker topics hz /image_raw         # rate over a sliding window, like ros2 topic hz

Message types are imported from the Python packages of the installed interfaces
(``vision_msgs/msg/Detection2DArray`` -> ``vision_msgs.msg.Detection2DArray``), the way
rosidl_runtime_py does it; that package has no wheel, so the few lines are here.
"""
from __future__ import annotations

import argparse
import importlib
import statistics
import sys
import threading
import time

from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data

from mlkd_tracker.cli_types import positive_float, positive_int
from mlkd_tracker.tools.ros_client import ToolError, client_node, wait_for

MAX_ARRAY = 16


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("verb", nargs="?", default="list", choices=("list", "echo", "hz"))
    parser.add_argument("topic", nargs="?", help="for echo and hz")
    parser.add_argument("-n", "--count", type=positive_int, help="echo: stop after N messages; "
                        "hz: stop after N reports")
    parser.add_argument("--window", type=positive_int, default=100, help="hz: messages per window")
    parser.add_argument("--full", action="store_true", help="echo: print whole arrays")
    parser.add_argument("--timeout", type=positive_float, default=5.0,
                        help="seconds to wait for the topic, its publisher and (echo, hz) its "
                        "first message (default 5)")


def message_class(type_name: str):
    """``pkg/msg/Name`` -> the message class."""
    pkg, _, name = type_name.rpartition("/")
    try:
        return getattr(importlib.import_module(pkg.replace("/", ".")), name)
    except (ImportError, AttributeError) as exc:
        raise ToolError(f"message type {type_name} is not installed here: {exc}") from None


def to_plain(value, full: bool = False):
    """A message as nested dicts and lists (for printing); long arrays are elided unless full."""
    if hasattr(value, "get_fields_and_field_types"):
        return {f: to_plain(getattr(value, f), full) for f in value.get_fields_and_field_types()}
    if isinstance(value, (bytes, bytearray)) or (hasattr(value, "__len__") and not isinstance(value, str)):
        items = list(value)
        if not full and len(items) > MAX_ARRAY:
            return f"<{len(items)} values>"
        return [to_plain(v, full) for v in items]
    return value


def _format(plain, indent: int = 0) -> str:
    pad = "  " * indent
    if isinstance(plain, dict):
        lines = []
        for key, value in plain.items():
            if isinstance(value, (dict, list)) and value:
                lines.append(f"{pad}{key}:\n{_format(value, indent + 1)}")
            else:
                lines.append(f"{pad}{key}: {value!r}" if isinstance(value, str) else f"{pad}{key}: {value}")
        return "\n".join(lines)
    if isinstance(plain, list):
        return "\n".join(f"{pad}-\n{_format(v, indent + 1)}" if isinstance(v, dict)
                         else f"{pad}- {v}" for v in plain)
    return f"{pad}{plain}"


def _settled_topics(node, timeout: float, quiet_s: float = 3.5) -> list[tuple[str, list[str]]]:
    """Topics once discovery has settled: nothing new for ``quiet_s`` (there is no ros2 daemon
    to ask, so every call discovers the graph afresh), or what is known at ``timeout``. Fast DDS
    re-announces participants every 3 s, so a participant whose first announcement was missed
    (a loaded machine) shows up within that: the quiet time must be longer."""
    deadline = time.monotonic() + timeout
    wait_for(lambda: len(node.get_node_names()) > 1, timeout)  # another node than ours
    last, since = None, time.monotonic()
    while time.monotonic() < deadline:
        now = sorted((name, list(types)) for name, types in node.get_topic_names_and_types())
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            break
        time.sleep(0.05)
    return last or []


def _topic_type(node, topic: str, timeout: float) -> str:
    def find():
        return next((types[0] for name, types in node.get_topic_names_and_types() if name == topic), None)
    found = wait_for(find, timeout)
    if not found:
        raise ToolError(f"topic {topic} does not appear within {timeout:g} s")
    return found


def _qos_for(node, topic: str, timeout: float) -> QoSProfile:
    """Adapted to the publishers, as ros2 topic echo does: best effort when any publisher is
    best effort (images), transient local (latched messages too) when all of them are. Waits for
    a publisher first: a topic can be known from a subscriber alone, and a reliable subscription
    made then would never hear a best-effort publisher."""
    infos = wait_for(lambda: node.get_publishers_info_by_topic(topic), timeout)
    if not infos:
        raise ToolError(f"topic {topic} has no publisher within {timeout:g} s")
    if any(i.qos_profile.reliability == ReliabilityPolicy.BEST_EFFORT for i in infos):
        return qos_profile_sensor_data
    latched = bool(infos) and all(i.qos_profile.durability == DurabilityPolicy.TRANSIENT_LOCAL
                                  for i in infos)
    return QoSProfile(depth=10, durability=DurabilityPolicy.TRANSIENT_LOCAL if latched
                      else DurabilityPolicy.VOLATILE)


def run(args: argparse.Namespace, out=print) -> int:
    if args.verb != "list" and not args.topic:
        raise ToolError(f"topics {args.verb} needs a topic")
    with client_node("mlkd_topics") as node:
        if args.verb == "list":
            for name, types in _settled_topics(node, args.timeout):
                out(f"{name} [{', '.join(types)}]")
            return 0
        topic = args.topic if args.topic.startswith("/") else f"/{args.topic}"
        cls = message_class(_topic_type(node, topic, args.timeout))
        done = threading.Event()
        stamps: list[float] = []
        seen = [0]

        def on_msg(msg) -> None:
            if done.is_set():
                return
            seen[0] += 1
            if args.verb == "echo":
                out(_format(to_plain(msg, args.full)) + "\n---")
                if args.count and seen[0] >= args.count:
                    done.set()
            else:
                stamps.append(time.monotonic())
                del stamps[:-args.window - 1]
        node.create_subscription(cls, topic, on_msg, _qos_for(node, topic, args.timeout))
        reports = 0
        since = time.monotonic()
        try:
            while not done.wait(1.0):
                if seen[0] == 0 and time.monotonic() - since > args.timeout:
                    raise ToolError(f"no message on {topic} within {args.timeout:g} s")
                if args.verb == "hz" and len(stamps) > 1:
                    gaps = [b - a for a, b in zip(stamps, stamps[1:])]
                    mean = statistics.fmean(gaps)
                    out(f"average rate: {1 / mean:.3f}\n\tmin: {min(gaps):.3f}s max: {max(gaps):.3f}s "
                        f"std dev: {statistics.pstdev(gaps):.5f}s window: {len(gaps) + 1}")
                    reports += 1
                    if args.count and reports >= args.count:
                        break
        except KeyboardInterrupt:
            pass
        return 0


def main(args: argparse.Namespace) -> int:
    try:
        return run(args)
    except ToolError as exc:
        print(f"mlkd-tracker topics: {exc}", file=sys.stderr)
        return 1
