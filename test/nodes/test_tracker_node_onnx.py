"""tracker_node with `backend: onnx`: a missing or unfit model stops start-up with the reason;
a fitting export (hand-built, known response) tracks."""
from __future__ import annotations

import numpy as np
import pytest
from sensor_msgs.msg import Image
from std_msgs.msg import Header
from vision_msgs.msg import Detection2D, Detection2DArray

from fake_siamese_onnx import fake_export
from mlkd_tracker.nodes.detection_conversion import make_detection
from mlkd_tracker.nodes.image_conversion import array_to_image
from mlkd_tracker.tools.launch_xml import NodeSpec
from ros_probe import Probe, publish_until, start_nodes, wait_init_link

pytestmark = pytest.mark.ros


def _spec(model_path: str) -> NodeSpec:
    return NodeSpec("mlkd_tracker", "tracker_node", name="tracker_node",
                    params={"backend": "onnx", "model_path": model_path})


@pytest.mark.parametrize("make_bad, words", [
    (lambda d: str(d / "absent"), "missing"),
    (lambda d: fake_export(d / "old", meta_overrides={"format_version": 0}), "export format 0"),
])
def test_missing_or_unfit_model_stops_start_up_with_the_reason(ros_env, tmp_path, make_bad, words):
    group = start_nodes(tmp_path / "logs", _spec(str(make_bad(tmp_path))))
    assert group.running[0].proc.wait(timeout=30) == 2
    assert words in group.running[0].log_path.read_text()


def test_onnx_backend_tracks_with_the_shipped_post_processing(ros_env, tmp_path):
    stem = fake_export(tmp_path / "fake", peak=(6, 6))
    group = start_nodes(tmp_path / "logs", _spec(str(stem)))
    probe = Probe()
    try:
        tracks = probe.watch(Detection2DArray, "tracks")
        images = probe.publisher(Image, "image_raw")
        init = probe.publisher(Detection2D, "tracker_node/init")
        header = Header(frame_id="cam")
        header.stamp.sec = 3
        frame = array_to_image(np.zeros((240, 320, 3), np.uint8), "bgr8", header)
        assert publish_until(images, frame, lambda: len(tracks) > 0, timeout=20)
        wait_init_link(init, group.running[0].log_path.read_text)
        init.publish(make_detection(header, (140, 100, 40, 40)))
        header2 = Header(frame_id="cam")
        header2.stamp.sec = 4
        assert publish_until(images, array_to_image(np.zeros((240, 320, 3), np.uint8), "bgr8",
                                                    header2),
                             lambda: any(m.detections for m in tracks))
        det = next(m for m in tracks if m.detections).detections[0]
        assert det.bbox.center.position.x == pytest.approx(160, abs=0.5)
        assert "fake" in group.running[0].log_path.read_text()
    finally:
        probe.close()
        assert group.stop()["tracker_node"] == 0
