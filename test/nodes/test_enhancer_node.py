"""enhancer_node in real processes with a tiny exported enhancer: frames in on image_raw (and
image_raw/compressed), the enhancer's output on image_enhanced with the source frame's header;
the low-light gate passes bright frames through; bad frames are refused clearly (log line,
diagnostics WARN) and the next good frame is served; an unusable model stops start-up with the
reason. A small hypothesis fuzz covers malformed frames (test_fuzz_nodes.py is built around
tracker_node and has no list to add a node to)."""
from __future__ import annotations

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticStatus
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from mlkd_tracker.nodes.image_conversion import (SUPPORTED_ENCODINGS, ImageConversionError,
                                               array_to_image, bgr8_to_compressed, image_to_bgr8)
from mlkd_tracker.tools.launch_xml import NodeSpec
from mlkd_tracker.runtime.enhancer import OnnxEnhancer
from image_node_probe import (T, Headers, ImageNode, assert_bad_frames_refused, bad_frames,
                              raw_and_compressed)
from mlkd_tracker.runtime.low_light_gate import measure
from ros_probe import diag_statuses, diag_values, publish_until, start_nodes, wait_until
from tiny_enhancer import export_tiny_enhancer, with_metadata

# DDS strings end at a NUL character, so a generated string with one arrives shortened.
DDS_CHARS = st.characters(exclude_characters="\x00")

pytestmark = pytest.mark.ros

_header = Headers(200)


def _frame(luma: int, h: int = 48, w: int = 64, seed: int = 0) -> np.ndarray:
    """A textured frame of mean luma ~``luma``."""
    noise = np.random.default_rng(seed).integers(-15, 16, (h, w, 3))
    return np.clip(luma + noise, 0, 255).astype(np.uint8)


class Enhancer(ImageNode):
    node, out_type, out_topic, out_qos = "enhancer_node", Image, "image_enhanced", \
        qos_profile_sensor_data


@pytest.fixture(scope="module")
def model(ros_module_env):
    return export_tiny_enhancer(ros_module_env / "tiny_enhancer.onnx")


@pytest.fixture(scope="module")
def nodes(ros_module_env, model):
    params = {"model_path": str(model), "threads": "1", "stall_timeout_s": "60.0"}
    with raw_and_compressed(Enhancer, ros_module_env, params, _header) as started:
        yield started


@pytest.fixture(scope="module")
def engine(model):
    return OnnxEnhancer(model, threads=1)


def _pixels(msg: Image) -> np.ndarray:
    assert msg.encoding == "bgr8"
    return image_to_bgr8(msg)


def _assert_same_header(msg: Image, header: Header) -> None:
    assert (msg.header.stamp.sec, msg.header.stamp.nanosec, msg.header.frame_id) == \
        (header.stamp.sec, header.stamp.nanosec, header.frame_id)


# ---- frames ------------------------------------------------------------------------------------
@pytest.mark.parametrize("h, w", [(48, 64), (37, 51), (1, 1)])
def test_frames_come_back_enhanced_with_their_header_and_size(nodes, engine, h, w):
    raw, _, _ = nodes
    frame = _frame(40, h, w)
    header, msg = raw.send(frame)
    _assert_same_header(msg, header)
    assert (msg.height, msg.width, msg.step) == (h, w, 3 * w)
    np.testing.assert_allclose(_pixels(msg), engine.enhance(frame), atol=1)


def test_compressed_input_is_decoded_and_enhanced(nodes, engine):
    _, cmp, _ = nodes
    frame = _frame(40, 30, 44, seed=1)
    header, msg = cmp.send(frame)  # PNG: lossless, so the expected output is exact
    _assert_same_header(msg, header)
    np.testing.assert_allclose(_pixels(msg), engine.enhance(frame), atol=1)


def test_gate_passes_bright_frames_through_and_enhances_dark_ones(nodes, engine):
    raw, _, diags = nodes
    raw.set(gate_enabled=True)
    try:
        bright = _frame(200, seed=2)
        header, msg = raw.send(bright)
        _assert_same_header(msg, header)
        np.testing.assert_array_equal(_pixels(msg), bright)

        dark = _frame(20, seed=3)
        _, msg = raw.send(dark)
        expected = engine.enhance(dark)
        assert not np.array_equal(expected, dark)  # the check below can tell them apart
        np.testing.assert_allclose(_pixels(msg), expected, atol=1)

        hovering = _frame(75, seed=4)  # above the threshold (70), within the hysteresis (10)
        _, msg = raw.send(hovering)
        np.testing.assert_allclose(_pixels(msg), engine.enhance(hovering), atol=1)

        raw.send(bright)
        assert wait_until(lambda: any(
            s.level == DiagnosticStatus.OK and s.hardware_id == raw.fqn
            and {kv.key: kv.value for kv in s.values}.get("gate") == "bright"
            and float({kv.key: kv.value for kv in s.values}["brightness"]) > 150
            for s in diag_statuses(list(diags), "enhancer_node")), 10), \
            "diagnostics do not show the gate state"

        raw.set(passthrough_when_bright=False)
        silent, quiet = _header(), _frame(160, seed=5)  # bright, of a brightness seen only here
        level = measure(quiet).brightness
        assert abs(level - measure(bright).brightness) > 20
        # re-sent until diagnostics show the node measured it (it was taken, not overwritten) ...
        assert publish_until(raw.images, array_to_image(quiet, "bgr8", silent), lambda: raw.alive()
                             and abs(float(diag_values(diags, "enhancer_node", raw.fqn)
                                           .get("brightness", "nan")) - level) < 1.0, T)
        # ... then a dark frame's answer: outputs are in order, so one for it would be here now
        raw.send(dark)
        assert raw.answer(silent) is None, "a bright frame was published without passthrough"
    finally:
        raw.set(gate_enabled=False, passthrough_when_bright=True)


@pytest.mark.parametrize("name, value, words", [
    ("brightness_threshold", 300.0, "out of range"),
    ("hysteresis", -1.0, "hysteresis"),
    ("model_path", "other.onnx", "read-only"),
])
def test_bad_parameter_values_are_refused_at_run_time(nodes, name, value, words):
    raw, _, _ = nodes
    (result,) = raw.set(check=False, **{name: value})
    assert not result.successful and words in result.reason
    raw.send(_frame(40, seed=8))


def test_bad_frames_are_refused_clearly_and_the_next_frame_is_served(nodes):
    raw, _, diags = nodes
    assert_bad_frames_refused(raw, diags, bad_frames(_frame(40), _header), _frame(40, seed=5))


def test_bad_compressed_frames_are_refused_and_the_next_frame_is_served(nodes):
    _, cmp, _ = nodes
    bad = bgr8_to_compressed(_frame(40), "jpeg", header=_header())
    bad.data = bytes(bad.data)[:40]
    start = len(cmp.log())
    assert publish_until(cmp.images, bad, lambda: cmp.alive() and "could not decode"
                         in cmp.log()[start:], T, 1.2)
    cmp.send(_frame(40, seed=6))


# ---- fuzz ----------------------------------------------------------------------------------------
FUZZ = settings(max_examples=15, deadline=None, database=None,
                phases=(Phase.explicit, Phase.generate),
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
U32 = st.integers(0, 2**32 - 1)


@st.composite
def malformed_images(draw) -> Image:
    """A good frame with one thing wrong, or arbitrary fields; some happen to be valid."""
    msg = array_to_image(_frame(40), "bgr8", _header())
    kind = draw(st.sampled_from(["encoding", "step", "truncated", "zero", "huge", "arbitrary"]))
    if kind == "encoding":
        msg.encoding = draw(st.text(DDS_CHARS, max_size=12).filter(lambda e: e not in SUPPORTED_ENCODINGS))
    elif kind == "step":
        msg.step = draw(st.integers(0, 64 * 3 - 1) | st.integers(64 * 3 + 1, 2**32 - 1))
    elif kind == "truncated":
        msg.data = bytes(msg.data)[: draw(st.integers(0, len(msg.data) - 1))]
    elif kind == "zero":
        msg.height, msg.width = draw(st.sampled_from([(0, 64), (48, 0), (0, 0)]))
    elif kind == "huge":
        msg.height, msg.width = draw(st.integers(2**12, 2**32 - 1)), draw(st.integers(2**12, 2**30))
        msg.step = min(msg.width * 3, 2**32 - 1)
    else:
        msg = Image(header=msg.header, encoding=draw(st.sampled_from(["bgr8", "mono8", "mono16",
                                                                      "32FC1", "yuv422"])),
                    height=draw(st.integers(0, 32) | U32), width=draw(st.integers(0, 32) | U32),
                    step=draw(st.integers(0, 128) | U32), is_bigendian=draw(st.integers(0, 255)),
                    data=draw(st.binary(max_size=3000)))
    return msg


@FUZZ
@given(msg=malformed_images())
def test_fuzzed_frames_never_end_the_node(nodes, msg):
    raw, _, _ = nodes
    try:
        image_to_bgr8(msg)
        problem = None
    except ImageConversionError as exc:
        problem = str(exc)
    if problem is None:  # valid after all: it is enhanced like any frame
        assert publish_until(raw.images, msg, lambda: raw.alive()
                             and raw.answer(msg.header) is not None, T)
        assert raw.answer(msg.header).height == msg.height
    else:
        start = len(raw.log())
        assert publish_until(raw.images, msg, lambda: raw.alive() and problem in raw.log()[start:],
                             T, 1.2), f"no log line saying {problem!r}"
    raw.send(_frame(40, seed=7))
    if problem is not None:
        assert raw.answer(msg.header) is None, f"a result was published for a bad frame ({problem})"


# ---- start-up ----------------------------------------------------------------------------------
@pytest.mark.parametrize("make_bad, words", [
    (lambda model, d: str(d / "absent.onnx"), "does not exist"),
    (lambda model, d: str(with_metadata(model, d / "old.onnx", format_version="0")),
     "export format 0 is not supported"),
    (lambda model, d: str(with_metadata(model, d / "det.onnx", kind="mlkd_tracker/detector")),
     "metadata kind is 'mlkd_tracker/detector'"),
])
def test_unusable_model_stops_start_up_with_the_reason(ros_env, tmp_path, model, make_bad, words):
    path = make_bad(model, tmp_path)
    group = start_nodes(tmp_path / "logs", NodeSpec("mlkd_tracker", "enhancer_node",
                                                    name="enhancer_node",
                                                    params={"model_path": path}))
    try:
        assert group.running[0].proc.wait(timeout=180) == 2
    finally:
        group.stop()
    log = group.running[0].log_path.read_text()
    assert "[FATAL] parameter 'model_path'" in log and path in log and words in log
    assert "Traceback" not in log

