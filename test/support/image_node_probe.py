"""Driving an image node under test: frames in on image_raw (or image_raw/compressed), one answer
per frame out, stamped like the frame. enhancer_node and detector_node tests share it: both start
a raw-input node in the root namespace and a compressed-input one in /cmp, and both match answers
to frames by stamp."""
from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rcl_interfaces.srv import SetParameters
from rclpy.parameter import Parameter
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

from mlkd_tracker.nodes.image_conversion import array_to_image, bgr8_to_compressed
from mlkd_tracker.tools.launch_xml import NodeSpec
from ros_probe import Probe, diag_statuses, publish_until, start_nodes, wait_until

T = 30.0  # generous: only a failing check waits this long (the machine may be loaded)


def stamp_ns(header: Header) -> int:
    return header.stamp.sec * 10**9 + header.stamp.nanosec


class Headers:
    """Fresh stamps (``base_s`` + 1 ms per call) with an unusual frame_id to check."""

    def __init__(self, base_s: int) -> None:
        self.base_ns, self.count = base_s * 10**9, itertools.count(1)

    def __call__(self) -> Header:
        header = Header(frame_id="cam_under_test")
        header.stamp.sec, header.stamp.nanosec = divmod(self.base_ns + next(self.count) * 10**6,
                                                        10**9)
        return header


class ImageNode:
    """One node process (its namespace) and the probe's handles on it. Subclasses name the
    executable (``node``) and the answer (``out_type`` on ``out_topic``, ``out_qos``)."""

    node: str
    out_type: type
    out_topic: str
    out_qos = 10

    def __init__(self, group, probe: Probe, ns: str, compressed: bool, headers: Headers) -> None:
        self.group, self.probe, self.compressed, self.headers = group, probe, compressed, headers
        self.prefix = f"{ns}/" if ns else ""
        self.fqn = f"/{ns}/{self.node}" if ns else f"/{self.node}"
        self.out = probe.watch(self.out_type, self.prefix + self.out_topic, self.out_qos)
        self.images = probe.publisher(CompressedImage if compressed else Image,
                                      self.prefix + ("image_raw/compressed" if compressed
                                                     else "image_raw"))
        self.set_client = probe.node.create_client(SetParameters,
                                                   f"{self.prefix}{self.node}/set_parameters")

    def log(self) -> str:
        return self.group.running[0].log_path.read_text(errors="replace")

    def alive(self) -> bool:
        """True, or fail at once with the end of the node's log."""
        if self.group.running[0].proc.poll() is not None:
            raise AssertionError(f"{self.node} died; its log ends:\n{self.log()[-3000:]}")
        return True

    def answer(self, header: Header):
        return next((m for m in list(self.out) if stamp_ns(m.header) == stamp_ns(header)), None)

    def message(self, frame: np.ndarray, header: Header):
        return (bgr8_to_compressed(frame, "png", header=header) if self.compressed
                else array_to_image(frame, "bgr8", header))

    def send(self, frame: np.ndarray, timeout: float = T):
        """Publish a frame until its answer arrives; returns (the frame's header, the answer)."""
        header = self.headers()
        assert publish_until(self.images, self.message(frame, header),
                             lambda: self.alive() and self.answer(header) is not None, timeout), \
            f"no {self.out_topic} message for a good frame"
        return header, self.answer(header)

    def set(self, check: bool = True, **params) -> list:
        """Set parameters through the node's service; the per-parameter results."""
        assert wait_until(lambda: self.alive() and self.set_client.service_is_ready(), T)
        request = SetParameters.Request(parameters=[Parameter(k, value=v).to_parameter_msg()
                                                    for k, v in params.items()])
        future = self.set_client.call_async(request)
        assert wait_until(lambda: self.alive() and future.done(), T)
        results = future.result().results
        assert not check or all(r.successful for r in results), results
        return results


@contextmanager
def raw_and_compressed(handle: type[ImageNode], log_root: Path, params: dict[str, str],
                       headers: Headers) -> Iterator[tuple[ImageNode, ImageNode, list]]:
    """(raw-input node, compressed-input node in /cmp, /diagnostics messages), started together
    (starting is the slow part); both must still run at the end and exit cleanly on SIGINT."""
    name = handle.node
    # one group (and log folder) each: a group names its logs after the node, the same for both
    groups = [start_nodes(log_root / "logs_raw",
                          NodeSpec("mlkd_tracker", name, name=name, params=params)),
              start_nodes(log_root / "logs_cmp",
                          NodeSpec("mlkd_tracker", name, name=name, namespace="/cmp",
                                   params={**params, "compressed_input": "true"}))]
    probe = Probe(f"{name}_probe")
    diags = probe.watch(DiagnosticArray, "/diagnostics")
    try:
        raw = handle(groups[0], probe, "", False, headers)
        cmp = handle(groups[1], probe, "cmp", True, headers)
        for node in (raw, cmp):
            assert wait_until(lambda: node.alive() and node.images.get_subscription_count() > 0, T)
        yield raw, cmp, diags
    finally:
        probe.close()
        ended = [g.exited() != [] for g in groups]
        codes = [g.stop()[name] for g in groups]
    assert ended == [False, False], f"a {name} ended on its own"
    assert codes == [0, 0], f"{name} did not exit cleanly on SIGINT"


def bad_frames(frame: np.ndarray, headers: Headers) -> dict[str, Image]:
    """Malformed copies of ``frame``, keyed by words the node's log line must contain."""
    good = array_to_image(frame, "bgr8", headers())
    unknown = array_to_image(frame, "bgr8", headers()); unknown.encoding = "hsv8"
    truncated = array_to_image(frame, "bgr8", headers())
    truncated.data = bytes(good.data)[: len(good.data) // 2]
    empty = Image(header=headers(), encoding="bgr8")
    negative = array_to_image(frame, "bgr8", headers()); negative.header.stamp.sec = -5
    return {"unsupported encoding 'hsv8'": unknown, "data truncated": truncated,
            "image is empty": empty, "stamp -5 s": negative}


def assert_bad_frames_refused(node: ImageNode, diags: list, bad: dict[str, Image],
                              good: np.ndarray) -> None:
    """Each bad frame gets a clear log line and no answer, the next good frame is served, and
    diagnostics warn."""
    for words, msg in bad.items():
        start = len(node.log())
        assert publish_until(node.images, msg,
                             lambda: node.alive() and words in node.log()[start:], T, 1.2), \
            f"no clear log line saying {words!r}"
        assert "bad frame skipped" in node.log()[start:]
        node.send(good)
        assert node.answer(msg.header) is None, f"a result was published for a bad frame ({words})"
    assert wait_until(lambda: any(s.level == DiagnosticStatus.WARN and "bad frame" in s.message
                                  and s.hardware_id == node.fqn
                                  for s in diag_statuses(list(diags), node.node)), 10), \
        "diagnostics never warned about the bad frames"
