"""camera_node in a real process: publishes a video file's frames at the configured size, and
keeps running (with a clear error and diagnostics ERROR) when its source cannot be opened."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from sensor_msgs.msg import CameraInfo, Image

from mlkd_tracker.nodes.image_conversion import image_to_bgr8
from mlkd_tracker.tools.launch_xml import NodeSpec
from mlkd_tracker.nodes.qos import image_qos
from ros_probe import Probe, diag_statuses, start_nodes, wait_until

pytestmark = pytest.mark.ros


def _video(path, frames: int = 10) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (320, 240))
    assert writer.isOpened()
    for i in range(frames):
        img = np.full((240, 320, 3), 40, np.uint8)
        cv2.rectangle(img, (10 + 20 * i, 100), (50 + 20 * i, 140), (255, 255, 255), -1)
        writer.write(img)
    writer.release()


def test_video_file_frames_are_published_resized_with_camera_info(ros_env, tmp_path):
    video = tmp_path / "clip.avi"
    _video(video)
    group = start_nodes(tmp_path / "logs", NodeSpec(
        "mlkd_tracker", "camera_node", name="camera_node",
        params={"source": str(video), "width": "160", "height": "120", "fps": "20.0",
                "frame_id": "cam_test"}))
    probe = Probe()
    try:
        images = probe.watch(Image, "image_raw", image_qos())
        infos = probe.watch(CameraInfo, "camera_info")
        assert wait_until(lambda: len(images) >= 15 and infos, 15), "frames did not arrive"
        assert group.exited() == [], "camera_node ended at the end of a looping file"
        frame = image_to_bgr8(images[-1])
        assert frame.shape == (120, 160, 3)
        assert images[-1].header.frame_id == "cam_test"
        assert infos[-1].k[0] > 0 and infos[-1].width == 160
    finally:
        probe.close()
        assert group.stop()["camera_node"] == 0


def test_unreadable_source_is_reported_and_the_node_keeps_running(ros_env, tmp_path):
    group = start_nodes(tmp_path / "logs", NodeSpec(
        "mlkd_tracker", "camera_node", name="camera_node",
        params={"source": str(tmp_path / "missing.mp4"), "reopen_interval_s": "0.5"}))
    probe = Probe()
    try:
        diags = probe.watch(DiagnosticArray, "/diagnostics")
        assert wait_until(lambda: any(s.level == DiagnosticStatus.ERROR and "cannot open" in s.message
                                      for s in diag_statuses(diags, "camera_node")), 10)
        log = group.running[0].log_path.read_text()
        assert "cannot open camera source" in log and "missing.mp4" in log
        assert group.exited() == []
    finally:
        probe.close()
        assert group.stop()["camera_node"] == 0
