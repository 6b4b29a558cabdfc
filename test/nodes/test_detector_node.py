"""detector_node in real processes with the tiny exported YOLOv8n: frames in on image_raw (and
image_raw/compressed), one Detection2DArray per frame on ``detections`` with the frame's header,
the runtime's boxes in the frame's pixels and class names as class_id; ``~/enable`` false stops
inference and output; ``~/debug_image`` is drawn only while subscribed; class_filter and
thresholds change at run time and bad values are refused; bad frames are refused clearly (log
line, diagnostics WARN) and the next frame is served; an unusable model or filter stops start-up
with the reason.

The tiny model is untrained (scores ~1e-3), so the node runs with conf_threshold 0 to have boxes
to compare."""
from __future__ import annotations

import numpy as np
import pytest
from sensor_msgs.msg import Image
from std_msgs.msg import Header
from std_srvs.srv import SetBool
from vision_msgs.msg import Detection2DArray

from mlkd_tracker.nodes.detection_conversion import bbox_to_box
from mlkd_tracker.nodes.image_conversion import bgr8_to_compressed, image_to_bgr8
from mlkd_tracker.tools.launch_xml import NodeSpec
from mlkd_tracker.runtime.detector import OnnxDetector
from image_node_probe import (T, Headers, ImageNode, assert_bad_frames_refused, bad_frames,
                              raw_and_compressed, stamp_ns)
from ros_probe import diag_statuses, diag_values, publish_until, start_nodes, wait_until
from tiny_detector import CLASSES, shared_tiny_detector
from tiny_enhancer import with_metadata

pytestmark = pytest.mark.ros

CONF, IOU, MAX_DET = 0.0, 0.7, 20
_header = Headers(300)


def _frame(h: int = 128, w: int = 160, seed: int = 0) -> np.ndarray:
    """A dark textured frame with a few bright blobs."""
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 50, (h, w, 3), dtype=np.uint8)
    for _ in range(4):
        y, x = rng.integers(0, h - 8), rng.integers(0, w - 8)
        img[y:y + 8, x:x + rng.integers(4, 9)] = rng.integers(150, 256, 3)
    return img


def _as_tuples(msg: Detection2DArray) -> list[tuple]:
    return [(bbox_to_box(d.bbox), d.results[0].hypothesis.score, d.results[0].hypothesis.class_id)
            for d in msg.detections]


class Detector(ImageNode):
    node, out_type, out_topic = "detector_node", Detection2DArray, "detections"

    def __init__(self, *args) -> None:
        super().__init__(*args)
        self.enable_client = self.probe.node.create_client(SetBool,
                                                           self.prefix + "detector_node/enable")

    def enable(self, on: bool) -> SetBool.Response:
        assert wait_until(lambda: self.alive() and self.enable_client.service_is_ready(), T)
        future = self.enable_client.call_async(SetBool.Request(data=on))
        assert wait_until(lambda: self.alive() and future.done(), T)
        return future.result()


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return shared_tiny_detector(tmp_path_factory).onnx


@pytest.fixture(scope="module")
def engine(model):
    return OnnxDetector(model, threads=1)


@pytest.fixture(scope="module")
def nodes(ros_module_env, model):
    params = {"model_path": str(model), "threads": "1", "stall_timeout_s": "60.0",
              "conf_threshold": str(CONF), "nms_iou": str(IOU), "max_detections": str(MAX_DET)}
    with raw_and_compressed(Detector, ros_module_env, params, _header) as started:
        yield started


def _expected(engine: OnnxDetector, frame: np.ndarray, **overrides) -> list[tuple]:
    settings = dict(conf=CONF, iou=IOU, max_det=MAX_DET) | overrides
    return [(d.box, d.score, d.class_name) for d in engine.detect(frame, **settings)]


def _assert_same(got: list[tuple], expected: list[tuple]) -> None:
    assert [c for _, _, c in got] == [c for _, _, c in expected]
    np.testing.assert_allclose([b for b, _, _ in got], [b for b, _, _ in expected], atol=1e-6)
    np.testing.assert_allclose([s for _, s, _ in got], [s for _, s, _ in expected], atol=1e-6)


def _assert_same_header(msg, header: Header) -> None:
    assert (msg.header.stamp.sec, msg.header.stamp.nanosec, msg.header.frame_id) == \
        (header.stamp.sec, header.stamp.nanosec, header.frame_id)


# ---- frames ------------------------------------------------------------------------------------
@pytest.mark.parametrize("h, w", [(128, 160), (480, 640), (203, 97)])
def test_detections_carry_the_frame_header_and_image_pixels(nodes, engine, h, w):
    raw, _, _ = nodes
    frame = _frame(h, w, seed=h)
    header, msg = raw.send(frame)
    _assert_same_header(msg, header)
    expected = _expected(engine, frame)
    assert expected, "the comparison needs detections"
    got = _as_tuples(msg)
    _assert_same(got, expected)
    for det in msg.detections:
        _assert_same_header(det, header)
        assert len(det.results) == 1 and det.results[0].hypothesis.class_id in CLASSES
    for (x, y, bw, bh), _, _ in got:  # pixels of this frame, not of the network input
        assert 0 <= x and 0 <= y and bw > 0 and bh > 0 and x + bw <= w + 1e-6 \
            and y + bh <= h + 1e-6


def test_compressed_input_is_decoded_and_detected(nodes, engine):
    _, cmp, _ = nodes
    frame = _frame(120, 176, seed=5)
    header, msg = cmp.send(frame)  # PNG: lossless, so the expected output is exact
    _assert_same_header(msg, header)
    _assert_same(_as_tuples(msg), _expected(engine, frame))


def test_thresholds_and_class_filter_change_at_run_time(nodes, engine):
    raw, _, _ = nodes
    frame = _frame(seed=7)
    try:
        raw.set(class_filter=["truck", "motor"])
        _, msg = raw.send(frame)
        _assert_same(_as_tuples(msg), _expected(engine, frame, classes=[1, 3]))
        assert {c for _, _, c in _as_tuples(msg)} <= {"truck", "motor"}

        raw.set(class_filter=[], conf_threshold=0.99)
        header, msg = raw.send(frame)  # nothing scores that high: an empty array, same header
        _assert_same_header(msg, header)
        assert msg.detections == []

        raw.set(conf_threshold=CONF, max_detections=2)
        _, msg = raw.send(frame)
        _assert_same(_as_tuples(msg), _expected(engine, frame, max_det=2))
    finally:
        raw.set(class_filter=[], conf_threshold=CONF, max_detections=MAX_DET)


@pytest.mark.parametrize("name, value, words", [
    ("class_filter", ["car", "bus"], "unknown class name(s) 'bus'; this model's classes are "
                                     "person, motor, car, truck"),
    ("class_filter", 3, "is not a list of class names"),
    ("conf_threshold", 1.5, "out of range"),
    ("nms_iou", -0.1, "out of range"),
    ("max_detections", 0, "out of range"),
    ("model_path", "other.onnx", "read-only"),
])
def test_bad_parameter_values_are_refused_at_run_time(nodes, name, value, words):
    raw, _, _ = nodes
    (result,) = raw.set(check=False, **{name: value})
    assert not result.successful and words in result.reason, result.reason
    raw.send(_frame(seed=8))


def test_enable_false_stops_inference_and_output(nodes, engine):
    raw, _, diags = nodes
    raw.send(_frame(seed=9))
    response = raw.enable(False)
    try:
        assert response.success and "disabled" in response.message
        def skipped() -> int:
            values = diag_values(diags, "detector_node", raw.fqn)
            return int(values["skipped_while_disabled"]) if values.get("state") == "disabled" \
                else -1
        assert wait_until(lambda: raw.alive() and skipped() >= 0, T), \
            "diagnostics do not show the detector disabled"
        silent = [_header() for _ in range(3)]
        for header in silent:  # each re-sent until the node counts it as skipped
            before = skipped()
            assert publish_until(raw.images, raw.message(_frame(seed=10), header),
                                 lambda: raw.alive() and skipped() > before, T), \
                "diagnostics do not count the frames skipped while disabled"
        # a skipped frame is never answered, and the answers come in order: once enabled, the
        # next frame's answer arrives after any there could have been for the silent ones
        assert all(raw.answer(h) is None for h in silent), "a disabled detector published"
    finally:
        assert raw.enable(True).success
    frame = _frame(seed=11)
    _, msg = raw.send(frame)
    _assert_same(_as_tuples(msg), _expected(engine, frame))
    assert all(raw.answer(h) is None for h in silent), "a disabled detector published"


def _debug_count(diags, fqn: str) -> int:
    values = [{kv.key: kv.value for kv in s.values} for s in diag_statuses(list(diags),
                                                                           "detector_node")
              if s.hardware_id == fqn]
    return int(values[-1]["debug_images"]) if values else -1


def test_debug_image_is_drawn_only_while_subscribed(nodes):
    raw, _, diags = nodes
    for seed in range(3):  # frames processed with no debug subscriber
        raw.send(_frame(seed=20 + seed))
    n_diags = len(diags)
    assert wait_until(lambda: len(diags) > n_diags + 3, 10)  # fresh diagnostics of both nodes
    assert _debug_count(diags, raw.fqn) == 0, "debug images drawn without a subscriber"

    debug: list[Image] = []
    sub = raw.probe.node.create_subscription(Image, "detector_node/debug_image", debug.append, 1)
    frame = _frame(seed=30)
    header = _header()
    assert publish_until(raw.images, raw.message(frame, header),
                         lambda: raw.alive() and any(stamp_ns(m.header) == stamp_ns(header) for m in debug),
                         T)
    picture = next(m for m in debug if stamp_ns(m.header) == stamp_ns(header))
    _assert_same_header(picture, header)
    assert (picture.height, picture.width) == frame.shape[:2]
    assert not np.array_equal(image_to_bgr8(picture), frame), "nothing was drawn"

    raw.probe.node.destroy_subscription(sub)
    assert wait_until(lambda: raw.alive() and _debug_count(diags, raw.fqn) > 0, 10)
    before = len(debug)
    seeds = iter(range(40, 100))

    def drawn_after_three_frames() -> int:
        for _ in range(3):
            raw.send(_frame(seed=next(seeds)))
        n_diags = len(diags)
        assert wait_until(lambda: len(diags) > n_diags + 3, 10)  # both nodes report, twice
        return _debug_count(diags, raw.fqn)

    # The node learns through discovery that the subscriber left, which takes a moment (longer
    # on a loaded machine): until then frames may still be drawn. Once a batch of frames drew
    # nothing, no later batch may draw either.
    drawn = drawn_after_three_frames()
    for _ in range(10):
        settled = drawn_after_three_frames()
        if settled == drawn:
            break
        drawn = settled
    assert settled == drawn, "still drawing long after the subscriber left"
    assert drawn_after_three_frames() == drawn, "drawing again without a subscriber"
    assert len(debug) == before


def test_diagnostics_report_rates_latency_and_detections(nodes):
    raw, _, diags = nodes
    for seed in range(3):
        raw.send(_frame(seed=60 + seed))
    keys = {"state", "input_hz", "processed_hz", "dropped_frames", "bad_frames",
            "latency_p50_ms", "latency_p95_ms", "inference_p50_ms", "inference_p95_ms",
            "detections_per_frame_p50", "last_detections", "class_filter"}

    def good() -> bool:
        for s in diag_statuses(list(diags), "detector_node: detection"):
            values = {kv.key: kv.value for kv in s.values}
            if s.hardware_id == raw.fqn and keys <= set(values) and values["state"] == "enabled" \
                    and float(values["inference_p50_ms"]) > 0 \
                    and float(values["detections_per_frame_p50"]) > 0:
                return True
        return False
    assert wait_until(good, 10), "diagnostics lack the detector's numbers"


# ---- bad input ---------------------------------------------------------------------------------
def test_bad_frames_are_refused_clearly_and_the_next_frame_is_served(nodes):
    raw, _, diags = nodes
    assert_bad_frames_refused(raw, diags, bad_frames(_frame(), _header), _frame(seed=70))


def test_bad_compressed_frames_are_refused_and_the_next_frame_is_served(nodes):
    _, cmp, _ = nodes
    bad = bgr8_to_compressed(_frame(), "jpeg", header=_header())
    bad.data = bytes(bad.data)[:40]
    start = len(cmp.log())
    assert publish_until(cmp.images, bad, lambda: cmp.alive() and "could not decode"
                         in cmp.log()[start:], T, 1.2)
    assert cmp.answer(bad.header) is None
    cmp.send(_frame(seed=71))


# ---- start-up ----------------------------------------------------------------------------------
def test_unusable_model_or_settings_stop_start_up_with_the_reason(ros_env, tmp_path, model):
    cases = {  # name: (params, words the log must contain)
        "absent": ({"model_path": str(tmp_path / "absent.onnx")},
                   ["[FATAL] parameter 'model_path'", str(tmp_path / "absent.onnx"),
                    "does not exist"]),
        "segment": ({"model_path": str(with_metadata(model, tmp_path / "seg.onnx",
                                                     task="segment"))},
                    ["[FATAL] parameter 'model_path'", "task is 'segment', not 'detect'"]),
        "classes": ({"model_path": str(model), "class_filter": "[car, bus]"},
                    ["[FATAL] parameter 'class_filter'", "unknown class name(s) 'bus'",
                     "person, motor, car, truck"]),
        "size": ({"model_path": str(model), "input_size": "320"},
                 ["[FATAL] parameter 'input_size' = 320", "fixed input of [128, 128]"]),
    }
    groups = {name: start_nodes(tmp_path / f"logs_{name}",  # all at once: starting is slow
                                NodeSpec("mlkd_tracker", "detector_node", name="detector_node",
                                         params=params))
              for name, (params, _) in cases.items()}
    try:
        codes = {name: g.running[0].proc.wait(timeout=180) for name, g in groups.items()}
    finally:
        for g in groups.values():
            g.stop()
    for name, (_, words) in cases.items():
        log = groups[name].running[0].log_path.read_text()
        assert codes[name] == 2, f"{name}: exit code {codes[name]}\n{log[-2000:]}"
        for w in words:
            assert w in log, f"{name}: {w!r} not in\n{log[-2000:]}"
        assert "Traceback" not in log
