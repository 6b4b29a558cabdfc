"""A camera that stalls and comes back, with tracker_node in a real process: diagnostics go WARN
("no input frames") while no frame arrives and back to OK when frames resume, and the track —
its state and its episode — survives the stall: the same episode goes on tracking the target."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from sensor_msgs.msg import Image
from std_msgs.msg import Header
from vision_msgs.msg import Detection2D, Detection2DArray

from mlkd_tracker.nodes.detection_conversion import make_detection
from mlkd_tracker.nodes.image_conversion import array_to_image
from mlkd_tracker.tools.launch_xml import NodeSpec
from ros_probe import Probe, diag_statuses, start_nodes, wait_init_link, wait_until

pytestmark = pytest.mark.ros
W, H = 160, 120
T = 60.0  # generous: only a failing test waits this long (the machine may be loaded)
STALL_TIMEOUT_S = 1.0


def _x(t: int) -> int:
    """Left edge of the target in frame ``t``: 1 px per frame, back and forth."""
    return 30 + min(t % 160, 160 - t % 160)


def _frame(t: int) -> np.ndarray:
    """A bright square on a noisy dark ground."""
    img = np.random.default_rng(0).integers(0, 60, (H, W, 3), dtype=np.uint8)
    x = _x(t)
    img[50:70, x:x + 20] = np.random.default_rng(1).integers(150, 255, (20, 20, 3), np.uint8)
    return img


class Camera:
    """Publishes frames at 15 Hz on a thread until paused; the motion resumes where it stopped,
    as a real camera's view would after a short outage."""

    def __init__(self, publisher) -> None:
        self.publisher, self.t = publisher, 0
        self.running = threading.Event()
        self._quit = threading.Event()
        self.headers: dict[int, Header] = {}
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._quit.is_set():
            if self.running.wait(0.1):
                header = Header(frame_id="cam")
                header.stamp.sec, header.stamp.nanosec = divmod(time.time_ns(), 10**9)
                self.headers[self.t] = header
                self.publisher.publish(array_to_image(_frame(self.t), "bgr8", header))
                self.t += 1
                time.sleep(1 / 15)

    def close(self) -> None:
        self._quit.set()
        self._thread.join(2)


@pytest.fixture
def loop(ros_env, tmp_path):
    group = start_nodes(tmp_path / "logs", NodeSpec(
        "mlkd_tracker", "tracker_node", name="tracker_node",
        params={"opencv_algorithm": "kcf", "stall_timeout_s": str(STALL_TIMEOUT_S)}))
    probe = Probe()
    camera = Camera(probe.publisher(Image, "image_raw"))
    yield group, probe, camera
    camera.close()
    probe.close()
    assert group.stop()["tracker_node"] == 0


def _latest(diags: list) -> DiagnosticStatus | None:
    statuses = diag_statuses(list(diags), "tracker_node")
    return statuses[-1] if statuses else None


def _values(status: DiagnosticStatus) -> dict[str, str]:
    return {kv.key: kv.value for kv in status.values}


def _centre_x(msg: Detection2DArray) -> float:
    return msg.detections[0].bbox.center.position.x


def test_stall_warns_then_resume_is_ok_and_the_track_survives(loop):
    group, probe, camera = loop
    tracks = probe.watch(Detection2DArray, "tracks")
    diags = probe.watch(DiagnosticArray, "/diagnostics")
    init = probe.publisher(Detection2D, "tracker_node/init")

    camera.running.set()
    assert wait_until(lambda: camera.publisher.get_subscription_count() > 0
                      and init.get_subscription_count() > 0 and len(tracks) > 3, T)
    wait_init_link(init, group.running[0].log_path.read_text)
    t0 = camera.t - 1
    init.publish(make_detection(camera.headers[t0], (_x(t0), 50, 20, 20)))
    assert wait_until(lambda: any(m.detections and m.detections[0].id == "1" for m in tracks), T), \
        "the tracker did not start tracking"
    assert wait_until(lambda: (s := _latest(diags)) is not None and s.level == DiagnosticStatus.OK
                      and _values(s)["state"] == "TRACKING", T), "not OK while frames flow"

    camera.running.clear()  # the camera stalls
    stalled = lambda: (s := _latest(diags)) is not None and s.level == DiagnosticStatus.WARN \
        and "no input frames" in s.message and float(_values(s)["input_hz"]) == 0.0
    assert wait_until(stalled, T), "diagnostics did not warn about the stalled input"
    during = _values(_latest(diags))
    assert (during["state"], during["episode"]) == ("TRACKING", "1"), \
        "the track did not survive the stall"
    n_before = len(tracks)

    camera.running.set()  # ... and comes back
    assert wait_until(lambda: (s := _latest(diags)) is not None and s.level == DiagnosticStatus.OK,
                      T), "diagnostics did not return to OK when frames resumed"
    after = _values(_latest(diags))
    assert (after["state"], after["episode"]) == ("TRACKING", "1")
    resumed = [m for m in tracks[n_before:] if m.detections]
    assert resumed and all(m.detections[0].id == "1" for m in resumed), \
        "tracks after the stall do not continue episode 1"
    last_t = max(t for t, h in camera.headers.items()
                 if (h.stamp.sec, h.stamp.nanosec) == (resumed[-1].header.stamp.sec,
                                                       resumed[-1].header.stamp.nanosec))
    assert abs(_centre_x(resumed[-1]) - (_x(last_t) + 10)) < 6, \
        "after the stall the track is no longer on the target"
    assert group.exited() == []
