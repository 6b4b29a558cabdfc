"""Managed nodes in real processes, driven through their lifecycle services the way a lifecycle
manager (Nav2's, or yolo_ros's launch) does: with ``autostart:=false`` a node waits unconfigured
and publishes nothing; configure + activate make it process frames; deactivate stops its output
(and activate restarts it); a model that cannot load fails configure without ending the process
(get_state, the log and diagnostics say why), and configure can be retried once the model is
there; the detector's configure also checks ``class_filter`` against the model. With the
default ``autostart`` the node is active at once (the other node tests rely on that, and on exit
code 2 for a bad model)."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState, GetState
from rcl_interfaces.srv import SetParameters
from rclpy.parameter import Parameter
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image
from std_msgs.msg import Header
from vision_msgs.msg import Detection2DArray

from mlkd_tracker.nodes.image_conversion import array_to_image
from mlkd_tracker.tools.launch_xml import NodeSpec
from ros_probe import Probe, diag_values, publish_until, start_nodes, wait_until
from tiny_detector import CLASSES, shared_tiny_detector
from tiny_enhancer import export_tiny_enhancer

pytestmark = pytest.mark.ros

T = 30.0  # generous: only a failing check waits this long (the machine may be loaded)


class Managed:
    """One node process and the probe's lifecycle clients for it."""

    def __init__(self, group, probe: Probe, name: str) -> None:
        self.group, self.probe, self.name = group, probe, name
        self.change = probe.node.create_client(ChangeState, f"/{name}/change_state")
        self.get = probe.node.create_client(GetState, f"/{name}/get_state")

    def log(self) -> str:
        return self.group.running[0].log_path.read_text(errors="replace")

    def alive(self) -> bool:
        if self.group.running[0].proc.poll() is not None:
            raise AssertionError(f"{self.name} died; its log ends:\n{self.log()[-3000:]}")
        return True

    def call(self, client, request):
        assert wait_until(lambda: self.alive() and client.service_is_ready(), T), \
            f"{client.srv_name} is not offered"
        future = client.call_async(request)
        assert wait_until(lambda: self.alive() and future.done(), T)
        return future.result()

    def state(self) -> str:
        return self.call(self.get, GetState.Request()).current_state.label

    def transition(self, transition_id: int) -> bool:
        request = ChangeState.Request()
        request.transition.id = transition_id
        return self.call(self.change, request).success


def _header(i: int) -> Header:
    header = Header(frame_id="cam")
    header.stamp.sec, header.stamp.nanosec = 300, i * 10**6
    return header


def _frame() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 80, (48, 64, 3), dtype=np.uint8)


def _answered(out: list, header: Header) -> bool:
    return any((m.header.stamp.sec, m.header.stamp.nanosec) ==
               (header.stamp.sec, header.stamp.nanosec) for m in list(out))


def _silent(images, out: list, header: Header, node: Managed, seconds: float = 3.0) -> bool:
    """Frames stamped ``header`` for ``seconds`` get no answer (the node stays up)."""
    msg = array_to_image(_frame(), "bgr8", header)
    return not publish_until(images, msg, lambda: node.alive() and _answered(out, header),
                             seconds, period=0.3)


@pytest.fixture
def probe(ros_env):
    p = Probe("lifecycle_probe")
    yield p
    p.close()


def _stop(group, name: str) -> None:
    codes = group.stop()
    assert codes[name] == 0, f"{name} did not exit cleanly on SIGINT"


def test_tracker_waits_unconfigured_then_configure_activate_deactivate(tmp_path, probe):
    name = "tracker_node"  # the default opencv:csrt tracker: no model file to make
    group = start_nodes(tmp_path / "logs", NodeSpec("mlkd_tracker", name, name=name,
                                                   params={"autostart": "false"}))
    node = Managed(group, probe, name)
    tracks = probe.watch(Detection2DArray, "tracks")
    diags = probe.watch(DiagnosticArray, "/diagnostics")
    images = probe.publisher(Image, "image_raw", qos_profile_sensor_data)
    try:
        assert node.state() == "unconfigured"
        assert "autostart is off" in node.log()
        assert images.get_subscription_count() == 0, "subscribed to frames while unconfigured"
        assert wait_until(lambda: diag_values(diags, name).get("lifecycle") == "unconfigured", T)
        assert _silent(images, tracks, _header(1), node, 1.5)

        assert node.transition(Transition.TRANSITION_CONFIGURE)
        assert node.state() == "inactive"
        assert "lifecycle: configure done" in node.log()
        assert _silent(images, tracks, _header(2), node, 1.5), "tracks while inactive"

        assert node.transition(Transition.TRANSITION_ACTIVATE)
        assert node.state() == "active"
        frame = array_to_image(_frame(), "bgr8", _header(3))
        assert publish_until(images, frame, lambda: node.alive() and _answered(tracks, _header(3)),
                             T), "no tracks once active"
        assert wait_until(lambda: diag_values(diags, name).get("lifecycle") == "active", T)

        assert node.transition(Transition.TRANSITION_DEACTIVATE)
        assert node.state() == "inactive"
        assert wait_until(lambda: images.get_subscription_count() == 0, T), \
            "still subscribed to frames after deactivate"
        assert _silent(images, tracks, _header(4), node), "tracks after deactivate"

        assert node.transition(Transition.TRANSITION_ACTIVATE)  # the worker starts again
        frame = array_to_image(_frame(), "bgr8", _header(5))
        assert publish_until(images, frame, lambda: node.alive() and _answered(tracks, _header(5)),
                             T), "no tracks after a second activate"

        assert node.transition(Transition.TRANSITION_DEACTIVATE)
        assert node.transition(Transition.TRANSITION_CLEANUP)
        assert node.state() == "unconfigured"
        log = node.log()
        for words in ("activate done", "deactivate done", "cleanup done"):
            assert f"lifecycle: {words}" in log, log[-2000:]
        assert not node.transition(Transition.TRANSITION_ACTIVATE), "activated unconfigured"
    finally:
        _stop(group, name)
    assert "lifecycle: shutdown from unconfigured" in node.log()  # released at SIGINT


def test_failed_configure_leaves_the_node_up_and_saying_why(tmp_path, probe):
    name = "enhancer_node"
    model = tmp_path / "models" / "late_enhancer.onnx"  # not there yet
    group = start_nodes(tmp_path / "logs", NodeSpec(
        "mlkd_tracker", name, name=name,
        params={"autostart": "false", "model_path": str(model), "threads": "1"}))
    node = Managed(group, probe, name)
    out = probe.watch(Image, "image_enhanced", qos_profile_sensor_data)
    diags = probe.watch(DiagnosticArray, "/diagnostics")
    images = probe.publisher(Image, "image_raw", qos_profile_sensor_data)
    try:
        assert node.state() == "unconfigured"
        assert not node.transition(Transition.TRANSITION_CONFIGURE)
        assert node.state() == "unconfigured"
        log = node.log()
        assert "lifecycle: configure failed: parameter 'model_path'" in log, log[-2000:]
        assert str(model) in log and "Traceback" not in log

        def failure_shown() -> bool:
            statuses = [s for m in list(diags) for s in m.status if s.name.startswith(name)]
            return bool(statuses) and statuses[-1].level == DiagnosticStatus.ERROR \
                and "configure failed" in statuses[-1].message \
                and str(model) in {kv.key: kv.value for kv in statuses[-1].values
                                   }.get("configure_error", "")
        assert wait_until(failure_shown, T), "diagnostics do not say why configure failed"
        assert not node.transition(Transition.TRANSITION_ACTIVATE)

        model.parent.mkdir(parents=True, exist_ok=True)
        export_tiny_enhancer(tmp_path / "tiny.onnx")
        shutil.copy(tmp_path / "tiny.onnx", model)
        assert node.transition(Transition.TRANSITION_CONFIGURE), node.log()[-2000:]
        assert node.transition(Transition.TRANSITION_ACTIVATE)
        frame = array_to_image(_frame(), "bgr8", _header(7))
        assert publish_until(images, frame, lambda: node.alive() and _answered(out, _header(7)),
                             T), "no enhanced frame after a retried configure"

        def recovered() -> bool:
            statuses = [s for m in list(diags) for s in m.status if s.name.startswith(name)]
            return bool(statuses) and statuses[-1].level != DiagnosticStatus.ERROR \
                and {kv.key: kv.value for kv in statuses[-1].values}.get("lifecycle") == "active"
        assert wait_until(recovered, T), "diagnostics still show the failed configure"
    finally:
        _stop(group, name)


def test_autostart_false_with_a_bad_model_does_not_end_the_process(tmp_path, probe):
    """A file that is not a model (not just a missing one): still unconfigured and up."""
    name = "enhancer_node"
    bad = tmp_path / "not_a_model.onnx"
    bad.write_bytes(b"not an onnx file")
    group = start_nodes(tmp_path / "logs", NodeSpec(
        "mlkd_tracker", name, name=name, params={"autostart": "false", "model_path": str(bad)}))
    node = Managed(group, probe, name)
    try:
        assert not node.transition(Transition.TRANSITION_CONFIGURE)
        assert node.state() == "unconfigured" and node.alive()
        assert "lifecycle: configure failed: parameter 'model_path'" in node.log()
        assert node.transition(Transition.TRANSITION_UNCONFIGURED_SHUTDOWN)
        assert node.state() == "finalized"
        assert "lifecycle: shutdown (from unconfigured) done" in node.log()
    finally:
        _stop(group, name)


def test_detector_configure_checks_class_filter_against_the_model(tmp_path, tmp_path_factory,
                                                                   probe):
    """A class name the model lacks fails configure (the node stays up); fixed while
    unconfigured, the next configure loads and the node detects once active."""
    name = "detector_node"
    model = shared_tiny_detector(tmp_path_factory).onnx
    group = start_nodes(tmp_path / "logs", NodeSpec(
        "mlkd_tracker", name, name=name,
        params={"autostart": "false", "model_path": str(model), "threads": "1",
                "class_filter": "bus"}))
    node = Managed(group, probe, name)
    detections = probe.watch(Detection2DArray, "detections")
    images = probe.publisher(Image, "image_raw", qos_profile_sensor_data)
    try:
        assert not node.transition(Transition.TRANSITION_CONFIGURE)
        assert node.state() == "unconfigured"
        log = node.log()
        assert "lifecycle: configure failed: parameter 'class_filter'" in log, log[-2000:]
        assert "unknown class name(s) 'bus'" in log

        request = SetParameters.Request(parameters=[
            Parameter("class_filter", value=CLASSES[0]).to_parameter_msg()])
        result = node.call(probe.node.create_client(SetParameters, f"/{name}/set_parameters"),
                            request)
        assert all(r.successful for r in result.results), result.results
        assert node.transition(Transition.TRANSITION_CONFIGURE), node.log()[-2000:]
        assert node.transition(Transition.TRANSITION_ACTIVATE)
        frame = array_to_image(_frame(), "bgr8", _header(9))
        assert publish_until(images, frame,
                             lambda: node.alive() and _answered(detections, _header(9)), T), \
            "no detections once configured and active"
    finally:
        _stop(group, name)
