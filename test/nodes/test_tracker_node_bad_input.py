"""tracker_node in a real process, fed bad frames and bad init boxes: each is logged clearly,
diagnostics warn, and the node keeps tracking the next good frame."""
from __future__ import annotations

import math

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from sensor_msgs.msg import Image
from std_msgs.msg import Header
from vision_msgs.msg import Detection2D, Detection2DArray

from mlkd_tracker.nodes.detection_conversion import make_detection
from mlkd_tracker.nodes.image_conversion import array_to_image
from mlkd_tracker.tools.launch_xml import NodeSpec
from ros_probe import Probe, diag_statuses, publish_until, start_nodes, wait_until

pytestmark = pytest.mark.ros
W, H = 160, 120


def _frame(t: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    img = rng.integers(0, 60, (H, W, 3), dtype=np.uint8)
    x = 40 + t
    img[50:70, x:x + 20] = rng.integers(150, 255, (20, 20, 3), dtype=np.uint8)
    return img


def _good(t: int, stamp_ns: int) -> Image:
    header = Header(frame_id="cam")
    header.stamp.sec, header.stamp.nanosec = divmod(stamp_ns, 10**9)
    return array_to_image(_frame(t), "bgr8", header)


def _bad_frames() -> dict[str, Image]:
    """Keyed by a word the node's log line must contain."""
    good = _good(0, 10**9)
    wrong_step = _good(0, 10**9); wrong_step.step = W * 3 - 1
    unknown = _good(0, 10**9); unknown.encoding = "hsv8"
    empty = Image(); empty.encoding = "bgr8"
    truncated = _good(0, 10**9); truncated.data = bytes(good.data)[: len(good.data) // 2]
    return {"step 479": wrong_step, "hsv8": unknown, "image is empty": empty, "truncated": truncated}


@pytest.fixture
def tracker(ros_env, tmp_path):
    group = start_nodes(tmp_path / "logs", NodeSpec("mlkd_tracker", "tracker_node",
                                                    name="tracker_node"))
    probe = Probe()
    yield group, probe
    probe.close()
    codes = group.stop()
    assert codes["tracker_node"] == 0, "tracker_node did not exit cleanly on SIGINT"


def _log(group) -> str:
    return group.running[0].log_path.read_text()


def test_bad_frames_and_boxes_are_refused_and_tracking_continues(tracker):
    group, probe = tracker
    tracks = probe.watch(Detection2DArray, "tracks")
    diags = probe.watch(DiagnosticArray, "/diagnostics")
    images = probe.publisher(Image, "image_raw")
    init = probe.publisher(Detection2D, "tracker_node/init")
    assert wait_until(lambda: images.get_subscription_count() > 0 and init.get_subscription_count() > 0)

    for reason, msg in _bad_frames().items():
        assert publish_until(images, msg, lambda: reason in _log(group)), \
            f"no clear log line for a frame with bad {reason}"
    assert _log(group).count("bad frame skipped") >= len(_bad_frames())
    assert wait_until(lambda: any(s.level == DiagnosticStatus.WARN and "bad frame" in s.message
                                  for s in diag_statuses(diags, "tracker_node")), 5)

    stamp = 5 * 10**9
    assert publish_until(images, _good(0, stamp), lambda: len(tracks) >= 1), \
        "a good frame after bad ones was not processed"
    header = Header(frame_id="cam"); header.stamp.sec = 5
    for box, words in (((math.nan, 10, 20, 20), "finite"), ((500, 500, 20, 20), "outside")):
        # re-sent until refused (a refused init changes nothing): the first may go out before
        # the tracker's side of the link has matched; afterwards the valid init is sent once
        assert publish_until(init, make_detection(header, box),
                             lambda: "~/init refused" in _log(group) and words in _log(group))

    init.publish(make_detection(header, (40, 50, 20, 20)))
    for t in range(1, 6):
        images.publish(_good(t, stamp + t * 33_000_000))
        wait_until(lambda: any(m.header.stamp.nanosec == (t * 33_000_000) % 10**9 for m in tracks), 2)
    tracked = [m for m in tracks if m.detections]
    assert tracked, "no track published after a valid init"
    last = tracked[-1].detections[0]
    assert last.id == "1"
    assert abs(last.bbox.center.position.x - (40 + 5 + 10)) < 6
    assert group.exited() == []


def test_out_of_range_parameter_stops_start_up_with_a_clear_message(ros_env, tmp_path):
    spec = NodeSpec("mlkd_tracker", "tracker_node", name="tracker_node",
                    params={"score_threshold": "2.0"})
    group = start_nodes(tmp_path / "logs", spec)
    code = group.running[0].proc.wait(timeout=30)
    assert code == 2
    log = _log(group)
    assert "score_threshold" in log and "2.0" in log
