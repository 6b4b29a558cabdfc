"""Replays a rosbag2 flight into the real pipeline and evaluates what comes out
(``mlkd-tracker replay``).

The pipeline is one of the package's launch files with its camera source (``camera_node``,
``sim_node``) left out: the bag is the camera. Each camera frame of the bag is published as
recorded; the tracker is initialised on the first frame with a usable ground-truth box (or
``init_box``), stamped with that frame's header, the way the demo does it live. Three modes:

- ``recorded``: frames at their recorded times (``speed`` scales them);
- ``rate``: frames at a fixed rate;
- ``fast``: the next frame goes out when the output for the previous one arrived (or after
  ``frame_timeout_s``), so no frame is lost to a busy pipeline: its scores are those of an
  offline run over the same frames.

Everything the bag holds goes into the output bag (``<out>/bag``), with the pipeline's topics
added (renamed under ``/replay`` if the input already has them); the report, metrics and plots
go next to it (see :mod:`mlkd_tracker.eval.replay_report`). A damaged bag is replayed up to its
damage and the report says where it stopped; Ctrl-C stops the replay the same way. The output
bag is closed properly in every case.
"""
from __future__ import annotations

import math
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np

from mlkd_tracker.data.bag_reader import BagMessage, BagReader, BagReadError
from mlkd_tracker.data.bag_writer import BagWriter
from mlkd_tracker.eval.replay_report import FrameLog, ReplayRun, ReplaySummary, write_report
from mlkd_tracker.tools.bag_recorder import absolute
from mlkd_tracker.nodes.detection_conversion import make_detection
from mlkd_tracker.tools.launch_xml import load_launch
from mlkd_tracker.tools.process_group import ProcessGroup
from mlkd_tracker.tools.replay_inputs import (check_frame, choose_camera_topic, choose_gt_topic,
                                            gt_from_file, gt_from_topic, stamp_ns)
from mlkd_tracker.tools.replay_node import ReplayNode

__all__ = ["MODES", "ReplayConfig", "replay"]

MODES = ("recorded", "rate", "fast")
SOURCE_NODES = ("camera_node", "sim_node")
Box = tuple[float, float, float, float]


@dataclass
class ReplayConfig:
    bag: Path
    out_dir: Path
    launch_file: str | None = None       # None: publish into a pipeline that is already running
    launch_args: dict[str, str] = field(default_factory=dict)
    exclude_nodes: tuple[str, ...] = SOURCE_NODES
    mode: str = "fast"
    rate_hz: float | None = None         # mode "rate"
    speed: float = 1.0                   # mode "recorded"
    camera_topic: str | None = None      # default: the bag's image topic
    publish_topic: str | None = None     # default: the camera topic's own name
    gt_topic: str | None = None          # default: /ground_truth if the bag has it
    gt_file: Path | None = None          # UAV123-layout annotation file instead
    init_box: Box | None = None          # initialise on the first frame with this box instead
    output_topic: str = "/tracks"
    init_topic: str = "/tracker_node/init"
    reset_service: str = "/tracker_node/reset"
    record_topics: tuple[str, ...] = ("/diagnostics",)  # recorded besides output_topic
    out_storage: str = "mcap"
    frame_timeout_s: float = 2.0         # fast mode: wait this long for an output
    start_timeout_s: float = 30.0        # pipeline up and answering the first frame
    init_settle_s: float = 0.3           # fast mode: time for the tracker to take the init
    progress: bool = True

    def validate(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"unknown mode '{self.mode}'; use one of {', '.join(MODES)}")
        if self.mode == "rate" and not (self.rate_hz and self.rate_hz > 0):
            raise ValueError("mode 'rate' needs a rate > 0 (--rate HZ)")
        if self.speed <= 0:
            raise ValueError(f"speed must be > 0, got {self.speed}")
        if self.gt_file is not None and self.gt_topic is not None:
            raise ValueError("give ground truth as a topic or as a file, not both")


def _valid(box) -> bool:
    return box is not None and all(math.isfinite(v) for v in box) and box[2] > 0 and box[3] > 0


def replay(cfg: ReplayConfig, stop: threading.Event | None = None
           ) -> tuple[ReplaySummary, ReplayRun]:
    """Run the replay and write its outputs into ``cfg.out_dir``. Raises ValueError for a bad
    configuration and BagReadError for a bag that cannot be opened at all; a bag damaged
    further in is replayed up to the damage and reported (``run.read_error``). Setting ``stop``
    ends the replay early like Ctrl-C (``run.interrupted``), with the same outputs."""
    cfg.validate()
    reader = BagReader(cfg.bag)
    try:
        return _Replay(cfg, reader, stop or threading.Event()).run()
    finally:
        reader.close()


class _Replay:
    def __init__(self, cfg: ReplayConfig, reader: BagReader, stop: threading.Event) -> None:
        self.cfg, self.reader, self.stop = cfg, reader, stop
        self.camera = choose_camera_topic(reader, cfg.camera_topic)
        self.gt: dict[int, Box] = {}
        self.anno: np.ndarray | None = None
        gt_topic = None if cfg.gt_file else choose_gt_topic(reader, cfg.gt_topic)
        if cfg.gt_file:
            self.anno, gt_source = gt_from_file(cfg.gt_file), f"file `{cfg.gt_file}`"
        elif gt_topic:
            self.gt, _ = gt_from_topic(reader, gt_topic)  # damage is reported by the main pass
            gt_source = f"topic `{gt_topic}`"
        else:
            gt_source = "none"
        out_topics = [absolute(cfg.output_topic), *(absolute(t) for t in cfg.record_topics)]
        self.rename = {t: "/replay" + t for t in out_topics if t in reader.topics}
        self.run_log = ReplayRun(str(cfg.bag), reader.storage, cfg.mode, self.camera,
                                 reader.topics[self.camera].msgtype, absolute(cfg.output_topic),
                                 gt_source, launch=cfg.launch_file or "", rate_hz=cfg.rate_hz)
        self.out_topics = out_topics
        self.node: ReplayNode | None = None
        self.group: ProcessGroup | None = None

    # ---- the whole run ----------------------------------------------------------------------------
    def run(self) -> tuple[ReplaySummary, ReplayRun]:
        cfg = self.cfg
        cfg.out_dir.mkdir(parents=True, exist_ok=True)
        writer = BagWriter(cfg.out_dir / "bag", cfg.out_storage)
        start = time.monotonic()
        try:
            for t in self.reader.topics.values():
                writer.add_topic(t.name, t.msgtype, msgdef=t.msgdef, digest=t.digest, qos=t.qos)
            self._start_pipeline()
            first_time = self._first_bag_time() or 0
            self.node = ReplayNode(self.camera, self.run_log.camera_type,
                                   cfg.publish_topic or self.camera, cfg.output_topic,
                                   cfg.init_topic, writer, self.out_topics, self.rename, first_time)
            self._wait_ready()
            self.node.reset_tracker(cfg.reset_service, timeout=1.0)
            self._stream(writer)
            self._drain()
        except KeyboardInterrupt:
            self.run_log.interrupted = True
            if self.node is not None:  # outputs already on their way still count
                self.node.wait_outputs(self._published(), timeout=0.5)
        except RuntimeError as exc:  # the pipeline died or never came up
            self.run_log.pipeline_error = str(exc)
        finally:
            self._collect()
            if self.group is not None:
                self.group.stop()
            if self.node is not None:
                self.node.close()
            writer.close()
        self.run_log.output_bag = str(writer.path)
        self.run_log.output_counts = dict(writer.counts)
        self.run_log.wall_s = time.monotonic() - start
        return write_report(self.run_log, cfg.out_dir), self.run_log

    def _first_bag_time(self) -> int | None:
        messages = self.reader.messages([self.camera])
        try:
            return next(messages).timestamp
        except (StopIteration, BagReadError):
            return None
        finally:
            messages.close()

    def _start_pipeline(self) -> None:
        if not self.cfg.launch_file:
            return
        plan = load_launch(self.cfg.launch_file, self.cfg.launch_args)
        plan.nodes = [n for n in plan.nodes if (n.name or n.exec) not in self.cfg.exclude_nodes]
        if not plan.nodes:
            raise ValueError(f"{self.cfg.launch_file} has no nodes besides the camera source")
        os.environ.update(plan.env)  # this process talks DDS too (same transport profile)
        self.group = ProcessGroup(plan, log_dir=self.cfg.out_dir / "logs").start()

    def _check_pipeline(self) -> None:
        """Raise if the replay was stopped (handled like Ctrl-C) or a pipeline node died."""
        if self.stop.is_set():
            raise KeyboardInterrupt
        if self.group is not None and self.group.exited():
            dead = ", ".join(f"{r.label} (exit {r.proc.returncode}, log {r.log_path})"
                             for r in self.group.exited())
            raise RuntimeError(f"pipeline node ended: {dead}")

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.cfg.start_timeout_s
        need_init = self.cfg.init_box is not None or self.anno is not None or bool(self.gt)
        while not self.node.pipeline_ready(need_init):
            self._check_pipeline()
            self.node.recorder.poll()
            if time.monotonic() > deadline:
                hint = (" (a CompressedImage bag needs a tracker with compressed_input: true)"
                        if self.run_log.camera_type.endswith("CompressedImage") else "")
                raise RuntimeError(f"the pipeline did not subscribe to "
                                   f"{self.cfg.publish_topic or self.camera}{hint} and "
                                   f"{self.cfg.init_topic} or publish {self.cfg.output_topic} within "
                                   f"{self.cfg.start_timeout_s:.0f} s"
                                   + (f"; see the logs in {self.cfg.out_dir / 'logs'}"
                                      if self.group else ""))
            time.sleep(0.05)
        self.node.recorder.poll()

    # ---- streaming ----------------------------------------------------------------------------
    def _stream(self, writer: BagWriter) -> None:
        from tqdm import tqdm
        cfg, log = self.cfg, self.run_log
        self._t0: tuple[float, int] | None = None  # (monotonic s, bag ns) of the first frame
        self._await_track = False
        self._next_poll = 0.0
        bar = tqdm(total=self.reader.topics[self.camera].count, unit="frame",
                   desc=f"replay ({cfg.mode})", disable=not cfg.progress)
        try:
            for msg in self.reader.messages():
                writer.write(msg.topic, msg.timestamp, msg.data)
                if msg.topic == self.camera:
                    self._frame(msg)
                    bar.update(1)
        except BagReadError as exc:
            log.read_error = str(exc)
        finally:
            bar.close()

    def _frame(self, msg: BagMessage) -> None:
        self._check_pipeline()
        log, node = self.run_log, self.node
        check = check_frame(msg)
        frame = FrameLog(len(log.frames), stamp_ns(check.header) if check.header else -1,
                         msg.timestamp, problem=check.problem)
        log.frames.append(frame)
        if self.anno is not None and frame.index < len(self.anno) and check.header:
            self.gt[frame.stamp_ns] = tuple(float(v) for v in self.anno[frame.index])
        if check.problem:
            return
        if time.monotonic() >= self._next_poll:
            node.recorder.poll()
            self._next_poll = time.monotonic() + 0.5
        if self._t0 is None:
            frame.published_ns = self._first_frame(msg, frame.stamp_ns)
            self._t0 = (time.monotonic(), msg.timestamp)
        else:
            self._pace(msg, frame.index)
            frame.published_ns = node.publish_frame(msg.data, msg.timestamp)
        init_box = self._init_box(frame)
        fast = self.cfg.mode == "fast"
        if init_box is not None:
            if fast:
                node.wait_output(frame.stamp_ns, self.cfg.frame_timeout_s)
            node.publish_init(make_detection(check.header, init_box, 1.0, "target", "target"))
            log.init_stamp = frame.stamp_ns
            if fast:
                time.sleep(self.cfg.init_settle_s)
                self._await_track = True
        elif fast:
            # The first frame after the init: if the tracker answered it before taking the init,
            # its catch-up answers it again with a box; wait for that one so the next frame
            # is not swallowed by the same catch-up.
            node.wait_output(frame.stamp_ns, self.cfg.frame_timeout_s, with_box=self._await_track)
            self._await_track = False

    def _first_frame(self, msg: BagMessage, stamp: int) -> int:
        """Publish the first frame until the pipeline answers it: the first samples after
        discovery can still be lost, and no timing should start before the data path works."""
        deadline = time.monotonic() + self.cfg.start_timeout_s
        while True:
            published = self.node.publish_frame(msg.data, msg.timestamp)
            if self.node.wait_output(stamp, 0.5):
                return published
            self._check_pipeline()
            if time.monotonic() > deadline:
                raise RuntimeError(f"the pipeline published nothing on {self.cfg.output_topic} for "
                                   f"the first frame within {self.cfg.start_timeout_s:.0f} s")

    def _init_box(self, frame: FrameLog) -> Box | None:
        if self.run_log.init_stamp is not None:
            return None
        box = self.cfg.init_box if self.cfg.init_box is not None else self.gt.get(frame.stamp_ns)
        return tuple(float(v) for v in box) if _valid(box) else None

    def _pace(self, msg: BagMessage, index: int) -> None:
        t0, bag0 = self._t0
        if self.cfg.mode == "recorded":
            due = t0 + (msg.timestamp - bag0) / 1e9 / self.cfg.speed
        elif self.cfg.mode == "rate":
            due = t0 + index / self.cfg.rate_hz
        else:
            return
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)

    def _published(self) -> set[int]:
        return {f.stamp_ns for f in self.run_log.frames if f.published_ns is not None}

    def _drain(self) -> None:
        """Wait for the outputs of the last frames, then for diagnostics newer than them."""
        self.node.wait_outputs(self._published(), self.cfg.frame_timeout_s)
        self.node.wait_fresh_diagnostics(timeout=1.5)

    def _collect(self) -> None:
        if self.node is None:
            return
        outputs, statuses = self.node.snapshot()
        for frame in self.run_log.frames:
            out = outputs.get(frame.stamp_ns)
            if out is not None and frame.published_ns is not None:
                frame.output_ns = out.first_ns
        self.run_log.tracks = {s: o.box for s, o in outputs.items()}
        self.run_log.gt = dict(self.gt)
        tracker = PurePosixPath(self.cfg.init_topic).parent.name  # /tracker_node/init: its node
        self.run_log.tracker_status = next(
            (v for k, v in statuses.items() if tracker and k.startswith(f"{tracker}:")), {})
