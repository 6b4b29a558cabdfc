"""Records ROS topics into a rosbag2 with rosbags (``mlkd-tracker record``), and lends its topic
subscriber to the replay, which records the pipeline's outputs into its output bag.

Subscriptions are raw (``raw=True``): the CDR bytes go into the bag untouched, so every message
keeps its header stamp exactly, at no deserialisation cost for large images. A topic's type is
taken from the graph when its first publisher appears (topics may appear after the recorder
starts, as with ``ros2 bag record``); its QoS follows the publishers (best effort if any
publisher is best effort, transient-local only if all are) and their offered QoS profiles go into
the bag so ``ros2 bag play`` can offer the same. The bag timestamp of a message is its receive
time (the middleware's, else the node clock), as in rosbag2.
"""
from __future__ import annotations

import importlib
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rosbags.interfaces import (Qos, QosDurability, QosHistory, QosLiveliness, QosReliability,
                                QosTime)

from mlkd_tracker.data.bag_writer import BagWriter

__all__ = ["message_class", "offered_qos", "TopicRecorder", "RecordConfig", "RecordSummary",
           "record", "stop_on_signals"]


@contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """An event set by SIGINT or SIGTERM while the block runs (previous handlers restored after).

    Why not KeyboardInterrupt: raised in the middle of a bag write it would leave a half-written
    record behind; the loops check the event between messages instead. Installing the handlers
    also makes a recorder started in the background (where SIGINT is inherited as ignored)
    stop on SIGINT like ``ros2 bag record``. Main thread only; elsewhere the event is inert.
    """
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = {sig: signal.signal(sig, lambda *_: stop.set())
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def message_class(msgtype: str) -> type:
    """The rclpy class of "pkg/msg/Name" (what ``ros2 topic`` resolves without rosidl_runtime_py)."""
    pkg, kind, name = msgtype.split("/")
    try:
        return getattr(importlib.import_module(f"{pkg}.{kind}"), name)
    except (ImportError, AttributeError) as exc:
        raise LookupError(f"message type {msgtype} has no Python bindings here ({exc}); "
                          f"install the {pkg} package") from exc


def _qos_time(duration) -> QosTime:
    ns = int(duration.nanoseconds)
    return QosTime(ns // 1_000_000_000, ns % 1_000_000_000)


def offered_qos(profile: QoSProfile) -> Qos:
    """rclpy's QoS profile as rosbags stores it in a bag's metadata (same rmw enum values)."""
    return Qos(QosHistory(int(profile.history)), int(profile.depth),
               QosReliability(int(profile.reliability)), QosDurability(int(profile.durability)),
               _qos_time(profile.deadline), _qos_time(profile.lifespan),
               QosLiveliness(int(profile.liveliness)), _qos_time(profile.liveliness_lease_duration),
               bool(profile.avoid_ros_namespace_conventions))


def absolute(topic: str) -> str:
    return topic if topic.startswith("/") else "/" + topic


class TopicRecorder:
    """Subscribes to ``topics`` on ``node`` as their publishers appear and writes every message
    to ``writer``. ``rename`` maps a topic to the name it gets in the bag; ``clock`` maps a
    receive time (ns, system clock) to the bag timestamp."""

    def __init__(self, node: Node, writer: BagWriter, topics: Iterable[str], *,
                 rename: Mapping[str, str] | None = None,
                 clock: Callable[[int], int] | None = None, depth: int = 100) -> None:
        self.node, self.writer = node, writer
        self.topics = [absolute(t) for t in dict.fromkeys(topics)]
        self.rename = {absolute(k): v for k, v in (rename or {}).items()}
        self.clock = clock or (lambda ns: ns)
        self.depth = depth
        self.subscribed: dict[str, str] = {}  # topic -> type
        self.failed: dict[str, str] = {}      # topic -> why it cannot be recorded

    @property
    def missing(self) -> list[str]:
        """Wanted topics not (yet) recorded and not given up on."""
        return [t for t in self.topics if t not in self.subscribed and t not in self.failed]

    def poll(self) -> list[str]:
        """Subscribe to every wanted topic that now has a publisher; returns the new ones."""
        new = []
        for topic in self.missing:
            infos = self.node.get_publishers_info_by_topic(topic)
            types = sorted({i.topic_type for i in infos})
            if not types:
                continue
            if len(types) > 1:
                self.node.get_logger().warn(f"{topic} is published with several types {types}; "
                                            f"recording {types[0]}")
            try:
                self._subscribe(topic, types[0],
                                [i.qos_profile for i in infos if i.topic_type == types[0]])
            except LookupError as exc:  # no bindings or no definition for the type: say so once
                self.failed[topic] = str(exc)
                self.node.get_logger().error(f"cannot record {topic}: {exc}")
                continue
            new.append(topic)
        return new

    def _subscribe(self, topic: str, msgtype: str, profiles: list[QoSProfile]) -> None:
        best_effort = any(p.reliability == ReliabilityPolicy.BEST_EFFORT for p in profiles)
        latched = bool(profiles) and all(p.durability == DurabilityPolicy.TRANSIENT_LOCAL
                                         for p in profiles)
        qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=self.depth,
                         reliability=ReliabilityPolicy.BEST_EFFORT if best_effort
                         else ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL if latched
                         else DurabilityPolicy.VOLATILE)
        name = self.rename.get(topic, topic)
        cls = message_class(msgtype)
        self.writer.add_topic(name, msgtype, qos=[offered_qos(p) for p in profiles])

        def on_message(data: bytes, info) -> None:
            received = int(info.get("received_timestamp") or 0) or time.time_ns()
            self.writer.write(name, self.clock(received), data)

        self.node.create_subscription(cls, topic, on_message, qos, raw=True)
        self.subscribed[topic] = msgtype
        self.node.get_logger().info(f"recording {topic} ({msgtype})"
                                    + (f" as {name}" if name != topic else ""))


@dataclass
class RecordConfig:
    topics: list[str]
    out: Path
    storage: str = "mcap"
    duration_s: float | None = None       # None: until Ctrl-C / stop()
    discovery_period_s: float = 0.5       # how often to look for topics not yet published
    progress: bool = True


@dataclass
class RecordSummary:
    out: Path
    storage: str
    counts: dict[str, int] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)  # topics never seen
    failed: dict[str, str] = field(default_factory=dict)  # topics seen but not recordable, why
    duration_s: float = 0.0


def record(cfg: RecordConfig, stop: threading.Event | None = None) -> RecordSummary:
    """Record until ``cfg.duration_s`` ends, ``stop`` is set, Ctrl-C or ROS shutdown; the bag
    is closed properly in every case (and on any error) so what was recorded stays readable."""
    if not cfg.topics:
        raise ValueError("no topics to record")
    stop = stop or threading.Event()
    writer = BagWriter(cfg.out, cfg.storage)
    context = rclpy.Context()
    start = time.monotonic()
    node = recorder = None
    try:
        rclpy.init(context=context)
        node = rclpy.create_node("mlkd_bag_recorder", context=context)
        recorder = TopicRecorder(node, writer, cfg.topics)
        node.get_logger().info(f"recording into {cfg.out} ({cfg.storage}); waiting for "
                               f"{', '.join(recorder.missing)}")
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        _spin(cfg, stop, executor, recorder, writer, start)
    finally:
        writer.close()
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown(context=context)
    return RecordSummary(cfg.out, cfg.storage, dict(writer.counts),
                         recorder.missing if recorder else list(cfg.topics),
                         dict(recorder.failed) if recorder else {}, time.monotonic() - start)


def _spin(cfg: RecordConfig, stop: threading.Event, executor: SingleThreadedExecutor,
          recorder: TopicRecorder, writer: BagWriter, start: float) -> None:
    from tqdm import tqdm
    end = start + cfg.duration_s if cfg.duration_s else float("inf")
    next_poll = 0.0
    with tqdm(desc=f"recording {cfg.out}", unit=" msg", disable=not cfg.progress) as bar:
        try:
            while not stop.is_set() and executor.context.ok() and (now := time.monotonic()) < end:
                if recorder.missing and now >= next_poll:
                    recorder.poll()
                    next_poll = now + cfg.discovery_period_s
                executor.spin_once(timeout_sec=min(0.1, max(0.0, end - now)))
                bar.update(sum(writer.counts.values()) - bar.n)
        except (KeyboardInterrupt, ExternalShutdownException):
            pass  # Ctrl-C: close the bag below
