"""tracker_node (the one node that takes images) in a real process, fuzzed with hypothesis:
malformed Image and CompressedImage frames, malformed ``~/init`` boxes and stamps, and arbitrary
parameter values through the parameter service.

For every example the node must: stay up; say what was wrong in its log (the converter's own
words, for a frame); never publish a result for a bad frame; and answer the next good frame.
Over the run its diagnostics must have gone to WARN naming the problem. One node serves all the
examples of a test (starting one is the slow part), so each test takes seconds.

The converter's behaviour on every possible message is specified in test_image_conversion.py;
here it is only the oracle for "is this frame bad", and the subject is the node.
"""
from __future__ import annotations

import dataclasses
import itertools
import math
from pathlib import Path

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from rcl_interfaces.srv import GetParameters, SetParameters
from rclpy.parameter import Parameter, parameter_value_to_python
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header
from vision_msgs.msg import Detection2D, Detection2DArray

from mlkd_tracker.nodes.detection_conversion import make_detection
from mlkd_tracker.nodes.image_conversion import (SUPPORTED_ENCODINGS, ImageConversionError,
                                               array_to_image, bgr8_to_compressed,
                                               compressed_to_bgr8, image_to_bgr8)
from mlkd_tracker.tools.launch_xml import NodeSpec
from mlkd_tracker.nodes.params import ParameterError, check_value
from mlkd_tracker.nodes.tracker_node import TrackerNodeConfig
from ros_probe import Probe, diag_statuses, publish_until, start_nodes, wait_until

# DDS strings end at a NUL character, so a generated string with one arrives shortened.
DDS_CHARS = st.characters(exclude_characters="\x00")

pytestmark = pytest.mark.ros

W, H = 96, 72
T = 60.0  # generous: only a failing example ever waits this long (the machine may be loaded)
# No shrinking: all examples share one node, so once an example has broken it every later one
# fails too, and the first failing example (the one reported) is the one that matters.
FUZZ = settings(max_examples=25, deadline=None, database=None,
                phases=(Phase.explicit, Phase.generate),
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
_stamps = itertools.count(1)


def _stamp() -> Header:
    """A fresh, increasing stamp (100 s + 1 ms per call): every frame is told apart by it."""
    header = Header(frame_id="cam")
    header.stamp.sec, header.stamp.nanosec = divmod(100 * 10**9 + next(_stamps) * 10**6, 10**9)
    return header


def _ns(header: Header) -> int:
    return header.stamp.sec * 10**9 + header.stamp.nanosec


def _frame() -> np.ndarray:
    img = np.random.default_rng(0).integers(0, 60, (H, W, 3), dtype=np.uint8)
    img[30:50, 40:60] = 220
    return img


class Node:
    """One tracker_node process and a probe that feeds it and watches its outputs."""

    def __init__(self, group, probe: Probe, compressed: bool, ns: str) -> None:
        self.group, self.probe, self.compressed = group, probe, compressed
        self.fqn = f"/{ns}/tracker_node" if ns else "/tracker_node"
        prefix = f"{ns}/" if ns else ""
        self.tracks = probe.watch(Detection2DArray, prefix + "tracks")
        self.diags = probe.watch(DiagnosticArray, "/diagnostics")
        topic, kind = (("image_raw/compressed", CompressedImage) if compressed
                       else ("image_raw", Image))
        self.images = probe.publisher(kind, prefix + topic)
        self.init = probe.publisher(Detection2D, prefix + "tracker_node/init")
        self.set_client = probe.node.create_client(SetParameters,
                                                   prefix + "tracker_node/set_parameters")
        self.get_client = probe.node.create_client(GetParameters,
                                                   prefix + "tracker_node/get_parameters")
        assert wait_until(lambda: self.alive() and self.images.get_subscription_count() > 0
                          and self.init.get_subscription_count() > 0, T), "tracker_node not up"
        self.last_good: Header | None = None

    def log(self) -> str:
        return self.group.running[0].log_path.read_text(errors="replace")

    def alive(self) -> bool:
        """True, or fail at once (not after a timeout) with the end of the node's log."""
        if self.group.exited():
            raise AssertionError(f"tracker_node died; its log ends:\n{self.log()[-3000:]}")
        return True

    def answered(self, stamp_ns: int) -> bool:
        return any(_ns(m.header) == stamp_ns for m in list(self.tracks))

    def good_frame(self) -> Image | CompressedImage:
        header = _stamp()
        self.last_good = header
        if self.compressed:
            return bgr8_to_compressed(_frame(), "jpeg", header=header)
        return array_to_image(_frame(), "bgr8", header)

    def serves_next_good_frame(self) -> None:
        msg = self.good_frame()
        assert publish_until(self.images, msg,
                             lambda: self.alive() and self.answered(_ns(msg.header)), T), \
            "the next good frame got no answer on tracks"

    def send_bad(self, msg, expected: str) -> None:
        """Publish a bad frame until the node's log names the problem. Re-publishing matters:
        the node keeps only the newest frame, and it logs a repeat of its last complaint at most
        once a second."""
        start = len(self.log())
        assert publish_until(self.images, msg,
                             lambda: self.alive() and expected in self.log()[start:], T, 1.2), \
            f"no log line saying {expected!r}"

    def warned(self, words: str) -> bool:
        return any(s.level == DiagnosticStatus.WARN and words in s.message
                   for s in diag_statuses(list(self.diags), "tracker_node")
                   if s.hardware_id == self.fqn)

    def call(self, client, request):
        assert wait_until(lambda: self.alive() and client.service_is_ready(), T)
        future = client.call_async(request)
        assert wait_until(lambda: self.alive() and future.done(), T), \
            "parameter service did not answer"
        return future.result()


def _node(tmp: Path, compressed: bool):
    """The raw-image node in the root namespace, the compressed one in /cmp: both run at once
    and must not answer each other's frames or service calls."""
    ns = "cmp" if compressed else ""
    params = {"opencv_algorithm": "kcf", "compressed_input": "true" if compressed else "false"}
    group = start_nodes(tmp / (ns or "raw"), NodeSpec("mlkd_tracker", "tracker_node",
                                                      name="tracker_node",
                                                      namespace=f"/{ns}" if ns else "",
                                                      params=params))
    probe = Probe(f"fuzz_probe_{ns or 'raw'}")
    try:
        node = Node(group, probe, compressed, ns)
        node.serves_next_good_frame()
        yield node
    finally:
        probe.close()
        codes = group.stop()
    assert codes["tracker_node"] == 0, "tracker_node did not exit cleanly on SIGINT"


@pytest.fixture(scope="module")
def raw_node(ros_module_env):
    yield from _node(ros_module_env, compressed=False)


@pytest.fixture(scope="module")
def compressed_node(ros_module_env):
    yield from _node(ros_module_env, compressed=True)


# ---- strategies ------------------------------------------------------------------------------
U32 = st.integers(0, 2**32 - 1)
BPP = {"bgr8": 3, "mono8": 1, "mono16": 2, "32FC1": 4, "yuv422": 2}


@st.composite
def malformed_images(draw) -> Image:
    """A good frame with one thing wrong, or arbitrary fields; some happen to be valid."""
    msg = array_to_image(_frame(), "bgr8", _stamp())
    kind = draw(st.sampled_from(["encoding", "step", "truncated", "zero", "huge", "nan32",
                                 "negative_stamp", "arbitrary"]))
    if kind == "encoding":
        msg.encoding = draw(st.text(DDS_CHARS, max_size=12).filter(lambda e: e not in SUPPORTED_ENCODINGS))
    elif kind == "step":
        msg.step = draw(st.integers(0, W * 3 - 1) | st.integers(W * 3 + 1, 2**32 - 1))
    elif kind == "truncated":
        msg.data = bytes(msg.data)[: draw(st.integers(0, len(msg.data) - 1))]
    elif kind == "zero":
        msg.height, msg.width = draw(st.sampled_from([(0, W), (H, 0), (0, 0)]))
    elif kind == "huge":
        msg.height, msg.width = draw(st.integers(2**12, 2**32 - 1)), draw(st.integers(2**12, 2**30))
        msg.step = min(msg.width * 3, 2**32 - 1)
    elif kind == "nan32":  # NaN/inf are "no reading" in float images: valid, mapped to 0
        fill = draw(st.sampled_from([math.nan, math.inf, -math.inf, 0.5]))
        arr = np.full((H, W), fill, np.float32)
        arr[: draw(st.integers(0, H)), : draw(st.integers(0, W))] = math.nan
        msg = array_to_image(arr, "32FC1", msg.header)
    elif kind == "negative_stamp":
        msg.header.stamp.sec = draw(st.integers(-2**31, -1))
    else:
        encoding = draw(st.sampled_from(sorted(BPP)))
        msg = Image(header=msg.header, encoding=encoding, height=draw(st.integers(0, 64) | U32),
                    width=draw(st.integers(0, 64) | U32), step=draw(st.integers(0, 200) | U32),
                    is_bigendian=draw(st.integers(0, 255)), data=draw(st.binary(max_size=4000)))
    return msg


def _problem(msg: Image | CompressedImage, compressed: bool) -> str | None:
    """What the node must say about ``msg`` (None: a valid frame)."""
    if msg.header.stamp.sec < 0:
        return f"stamp {msg.header.stamp.sec} s"
    try:
        if compressed:
            compressed_to_bgr8(msg)
        else:
            image_to_bgr8(msg)
    except ImageConversionError as exc:
        return str(exc)
    return None


def _fuzz_frame(node: Node, msg) -> None:
    problem = _problem(msg, node.compressed)
    if problem is None:
        node.images.publish(msg)
    else:
        node.send_bad(msg, problem)
    node.serves_next_good_frame()
    if problem is not None and msg.header.stamp.sec >= 0:
        assert not node.answered(_ns(msg.header)), f"a result was published for a bad frame " \
                                                    f"({problem})"


@st.composite
def malformed_compressed(draw) -> CompressedImage:
    good = bgr8_to_compressed(_frame(), draw(st.sampled_from(["jpeg", "png"])), header=_stamp())
    data = bytes(good.data)
    kind = draw(st.sampled_from(["random", "truncated", "corrupted", "empty", "depth", "format",
                                 "negative_stamp"]))
    if kind == "random":
        good.data = draw(st.binary(max_size=3000))
    elif kind == "truncated":
        good.data = data[: draw(st.integers(0, len(data) - 1))]
    elif kind == "corrupted":
        at = draw(st.integers(0, len(data) - 1))
        good.data = data[:at] + draw(st.binary(min_size=1, max_size=64)) + data[at + 1:]
    elif kind == "empty":
        good.data = b""
    elif kind == "depth":
        good.format = "16UC1; compressedDepth"
    elif kind == "format":  # the codec is sniffed from the bytes: any format text is fine
        good.format = draw(st.text(DDS_CHARS, max_size=30))
    else:
        good.header.stamp.sec = draw(st.integers(-2**31, -1))
    return good


# ---- frames ----------------------------------------------------------------------------------
@FUZZ
@given(msg=malformed_images())
def test_malformed_images_are_refused_clearly_and_the_next_frame_is_served(raw_node, msg):
    _fuzz_frame(raw_node, msg)


def test_bad_images_set_diagnostics_to_warn(raw_node):
    # runs after the fuzz above (file order) on the same node
    assert "bad frame skipped" in raw_node.log()
    assert wait_until(lambda: raw_node.warned("bad frame skipped"), 10), \
        "diagnostics never warned about the bad frames"


@FUZZ
@given(msg=malformed_compressed())
def test_malformed_compressed_images_are_refused_clearly_and_the_next_frame_is_served(
        compressed_node, msg):
    _fuzz_frame(compressed_node, msg)


def test_bad_compressed_images_set_diagnostics_to_warn(compressed_node):
    assert wait_until(lambda: compressed_node.warned("bad frame skipped"), 10)


# ---- ~/init ------------------------------------------------------------------------------------
COORD = st.floats(allow_nan=True, allow_infinity=True) | st.floats(-50.0, 200.0)


@st.composite
def init_requests(draw, node: Node) -> Detection2D:
    header = Header(frame_id="cam")
    which = draw(st.sampled_from(["newest", "held", "random", "negative"]))
    if which == "held" and node.last_good is not None:
        header.stamp = node.last_good.stamp
    elif which == "random":
        header.stamp.sec, header.stamp.nanosec = draw(st.integers(0, 2**31 - 1)), draw(U32)
    elif which == "negative":
        header.stamp.sec = draw(st.integers(-2**31, -1))
    if draw(st.booleans()):  # a box that may well be fine, so some inits do start
        box = (draw(st.floats(0, W - 8)), draw(st.floats(0, H - 8)), draw(st.floats(4, 40)),
               draw(st.floats(4, 40)))
        return make_detection(header, box)
    det = make_detection(header, (0.0, 0.0, 1.0, 1.0))
    det.bbox.center.position.x, det.bbox.center.position.y = draw(COORD), draw(COORD)
    det.bbox.size_x, det.bbox.size_y = draw(COORD), draw(COORD)
    return det


@FUZZ
@given(data=st.data())
def test_malformed_init_requests_are_answered_in_the_log_and_frames_keep_flowing(raw_node, data):
    det = data.draw(init_requests(raw_node))
    start = len(raw_node.log())
    settled = lambda: raw_node.alive() and any(w in raw_node.log()[start:]
                                               for w in ("~/init refused", "started on"))
    # a refusal identical to the previous one is logged again only after a second
    assert publish_until(raw_node.init, det, settled, T, 1.5), "~/init neither refused nor started"
    if det.header.stamp.sec < 0:
        assert "~/init refused" in raw_node.log()[start:]
    raw_node.serves_next_good_frame()


def test_refused_inits_set_diagnostics_to_warn(raw_node):
    # re-sent until it shows (a refused init changes nothing): a first test of the module may
    # publish before tracker_node's side of the ~/init link has matched
    assert publish_until(raw_node.init,
                         make_detection(raw_node.last_good, (math.nan, 0.0, 10.0, 10.0)),
                         lambda: raw_node.warned("~/init refused"), 10)


# ---- parameters --------------------------------------------------------------------------------
FIELDS = {f.name: f for f in dataclasses.fields(TrackerNodeConfig)}
DEFAULTS = TrackerNodeConfig()
VALUES = (st.booleans() | st.integers(-2**63, 2**63 - 1) | st.integers(-5, 700)
          | st.floats(allow_nan=True, allow_infinity=True) | st.floats(-1.0, 2000.0)
          | st.text(DDS_CHARS, max_size=16) | st.sampled_from(["minmax", "fixed", "onnx", "csrt"])
          | st.lists(st.integers(-3, 3), max_size=3) | st.none())


def _acceptable(name: str, value) -> bool:
    """The node's contract: a known, writable parameter, of its declared type, within its
    range or choices (None would undeclare it: never allowed)."""
    field = FIELDS.get(name)
    if field is None or field.metadata.get("read_only") or value is None:
        return False
    if type(value) is not type(getattr(DEFAULTS, name)):
        return False
    try:
        check_value(field, value)
    except (ParameterError, TypeError):
        return False
    return True


def _get(node: Node, name: str):
    res = node.call(node.get_client, GetParameters.Request(names=[name]))
    return parameter_value_to_python(res.values[0])


def _set(node: Node, name: str, value):
    msg = Parameter(name, value=value).to_parameter_msg()
    return node.call(node.set_client, SetParameters.Request(parameters=[msg])).results[0]


@FUZZ
@given(name=st.sampled_from(sorted(FIELDS)) | st.just("no_such_parameter"), value=VALUES)
def test_parameter_values_are_checked_and_refusals_keep_the_old_value(raw_node, name, value):
    before = _get(raw_node, name) if name in FIELDS else None
    result = _set(raw_node, name, value)
    expected = _acceptable(name, value)
    assert result.successful == expected, f"{name} = {value!r}: {result.reason}"
    if name in FIELDS:
        after = _get(raw_node, name)
        if expected:
            assert after == value or (isinstance(value, float) and math.isclose(after, value))
        else:
            assert result.reason, f"{name} = {value!r} refused without a reason"
            assert after == before or (isinstance(before, float) and math.isnan(before)
                                       and math.isnan(after)), f"{name} changed although refused"
    raw_node.serves_next_good_frame()


def test_after_parameter_fuzzing_the_defaults_can_be_restored(raw_node):
    for name, field in FIELDS.items():
        if not field.metadata.get("read_only"):
            assert _set(raw_node, name, getattr(DEFAULTS, name)).successful, name
    raw_node.serves_next_good_frame()
