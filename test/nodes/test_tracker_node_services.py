"""tracker_node's control surface in a real process: ~/stop, ~/reset, the lazy ~/debug_image,
and CompressedImage input."""
from __future__ import annotations

import pytest
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header
from vision_msgs.msg import Detection2D, Detection2DArray

from mlkd_tracker.nodes.detection_conversion import make_detection
from mlkd_tracker.nodes.image_conversion import array_to_image, bgr8_to_compressed
from mlkd_tracker.tools.launch_xml import NodeSpec
from ros_probe import (Probe, call_trigger, publish_until, square_frame, start_nodes,
                       wait_init_link, wait_until)

pytestmark = pytest.mark.ros
W, H = 160, 120


def _header(t: int) -> Header:
    header = Header(frame_id="cam")
    header.stamp.sec, header.stamp.nanosec = 10, t * 33_000_000
    return header


@pytest.fixture
def node_and_probe(ros_env, tmp_path, request):
    params = getattr(request, "param", {})
    group = start_nodes(tmp_path / "logs", NodeSpec("mlkd_tracker", "tracker_node",
                                                    name="tracker_node", params=params))
    probe = Probe()
    yield group, probe
    probe.close()
    assert group.stop()["tracker_node"] == 0


def _log(group) -> str:
    return group.running[0].log_path.read_text()


def _init_once(group, init, msg) -> None:
    """One init = one episode, so no re-sending: wait until both sides matched the link."""
    wait_init_link(init, lambda: _log(group))
    init.publish(msg)


class _Call:
    """Adapter so publish_until can "publish" by calling a function."""

    def __init__(self, fn) -> None:
        self.publish = lambda _msg: fn()


def test_stop_ends_the_episode_and_reset_clears_the_buffer(node_and_probe):
    group, probe = node_and_probe
    images = probe.publisher(Image, "image_raw")
    send = lambda t: images.publish(array_to_image(square_frame(t), "bgr8", _header(t)))  # noqa: E731
    tracks = probe.watch(Detection2DArray, "tracks")
    init = probe.publisher(Detection2D, "tracker_node/init")
    assert publish_until(_Call(lambda: send(0)), None, lambda: len(tracks) > 0)
    _init_once(group, init, make_detection(_header(0), (40, 50, 20, 20)))
    assert publish_until(_Call(lambda: send(1)), None, lambda: any(m.detections for m in tracks))
    assert tracks[-1].detections[0].id == "1"

    response = call_trigger(probe, "tracker_node/stop")
    assert response.success and "episode 1" in response.message
    n = len(tracks)
    assert publish_until(_Call(lambda: send(2)), None, lambda: len(tracks) > n)
    assert tracks[-1].detections == [], "a stopped tracker still publishes a box"

    assert call_trigger(probe, "tracker_node/reset").success
    start = len(_log(group))
    init.publish(make_detection(_header(2), (42, 50, 20, 20)))  # the link is up since episode 1
    stamp = _header(2).stamp.sec * 10**9 + _header(2).stamp.nanosec
    assert wait_until(lambda: f"~/init refused: no buffered frame stamped {stamp} ns"
                      in _log(group)[start:], 10), \
        "an init for a frame dropped by ~/reset must be refused"
    assert publish_until(_Call(lambda: send(3)), None, lambda: len(tracks) > n + 1)
    init.publish(make_detection(_header(3), (43, 50, 20, 20)))
    assert publish_until(_Call(lambda: send(4)), None,
                         lambda: tracks[-1].detections and tracks[-1].detections[0].id == "2")


def test_debug_image_is_published_only_to_subscribers(node_and_probe):
    _, probe = node_and_probe
    images = probe.publisher(Image, "image_raw")
    tracks = probe.watch(Detection2DArray, "tracks")
    send = lambda: images.publish(array_to_image(square_frame(0), "bgr8", _header(0)))  # noqa: E731
    assert publish_until(_Call(send), None, lambda: len(tracks) > 2)
    debug = probe.watch(Image, "tracker_node/debug_image", 1)
    assert publish_until(_Call(send), None, lambda: len(debug) > 0)
    assert (debug[-1].width, debug[-1].height) == (W, H)
    assert debug[-1].header.stamp == _header(0).stamp


@pytest.mark.parametrize("node_and_probe", [{"compressed_input": "true"}], indirect=True)
def test_compressed_input_is_tracked_and_garbage_is_refused(node_and_probe):
    group, probe = node_and_probe
    images = probe.publisher(CompressedImage, "image_raw/compressed")
    tracks = probe.watch(Detection2DArray, "tracks")
    init = probe.publisher(Detection2D, "tracker_node/init")
    garbage = CompressedImage(header=_header(9), format="jpeg", data=b"not a jpeg at all")
    assert publish_until(images, garbage,
                         lambda: "bad frame skipped" in group.running[0].log_path.read_text())
    send = lambda t: images.publish(  # noqa: E731
        bgr8_to_compressed(square_frame(t), "png", header=_header(t)))
    assert publish_until(_Call(lambda: send(0)), None, lambda: len(tracks) > 0)
    _init_once(group, init, make_detection(_header(0), (40, 50, 20, 20)))
    assert publish_until(_Call(lambda: send(1)), None, lambda: any(m.detections for m in tracks))
    assert abs(tracks[-1].detections[0].bbox.center.position.x - 51) < 4
