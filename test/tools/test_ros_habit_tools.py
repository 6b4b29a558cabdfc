"""The pip-only equivalents of ``ros2`` habits, against real nodes over DDS: ``mlkd-tracker init``
(a box, the centre box; a refused box says why; an earlier request's latched answer is not taken
for this one's), ``topics`` (list, echo, hz) and ``params`` (get, set with the node's own refusal,
describe); errors go to stderr."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mlkd_tracker.tools.init_cli import accepted_episode, own_result
from mlkd_tracker.tools.launch_xml import NodeSpec
from ros_probe import start_nodes

pytestmark = pytest.mark.ros
EXE = str(Path(sys.executable).with_name("mlkd-tracker"))


def _tool(*argv: str, timeout: float = 90) -> subprocess.CompletedProcess:
    return subprocess.run([EXE, *argv], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def pipeline(ros_module_env):
    """sim_node publishing frames and a CSRT tracker_node, shared by the tests of this module."""
    group = start_nodes(ros_module_env / "logs",
                        NodeSpec("mlkd_tracker", "sim_node", name="sim_node"),
                        NodeSpec("mlkd_tracker", "tracker_node", name="tracker_node",
                                 params={"tracker": "opencv:csrt"}))
    yield group
    group.stop()


def test_init_with_a_box_starts_a_track_and_says_so(pipeline):
    result = _tool("init", "300,200,40,30", "--timeout", "30")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "/tracker_node: tracking episode" in result.stdout


def test_init_with_the_centre_box_uses_the_frame_size(pipeline):
    result = _tool("init", "--centre", "40,40", "--timeout", "30")
    assert result.returncode == 0, result.stdout + result.stderr
    # 640x480 frames: the centre 40x40 box starts at (300, 220); CSRT may move it a little
    assert "tracking episode" in result.stdout


def test_a_refused_init_reports_the_trackers_reason(pipeline):
    result = _tool("init", "3000,200,40,30", "--timeout", "30")
    assert result.returncode == 1 and result.stdout == ""
    assert "refused" in result.stderr and "outside" in result.stderr
    latched = _tool("topics", "echo", "/tracker_node/init_result", "-n", "1", "--timeout", "30")
    assert "data: 'refused [init-" in latched.stdout
    assert "]: box (3000.0, 200.0, 40.0, 30.0) lies outside" in latched.stdout


def test_an_earlier_requests_latched_answer_is_not_taken_for_this_one(pipeline):
    refused = _tool("init", "3000,200,40,30", "--timeout", "30")
    assert refused.returncode == 1 and "refused" in refused.stderr
    # ~/init_result now holds that refusal, latched: the next call must wait for its own answer
    result = _tool("init", "300,200,40,30", "--timeout", "30")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "/tracker_node: tracking episode" in result.stdout


def test_answers_are_matched_by_request_id():
    results = ["accepted [init-1-2]: episode 3 from (1.0, 2.0, 3.0, 4.0)",
               "refused [init-5-6]: box (0, 0, 0, 0) is empty",
               "accepted: episode 4 from (1.0, 2.0, 3.0, 4.0)",  # a request without an id
               "accepted [init-5-67]: episode 5 from (1.0, 2.0, 3.0, 4.0)"]
    assert own_result(results, "init-5-6") == ["refused [init-5-6]: box (0, 0, 0, 0) is empty"]
    assert own_result(results, "init-9-9") == []
    assert accepted_episode(results[0]) == "3" and accepted_episode(results[3]) == "5"
    assert accepted_episode(results[1]) is None


def test_a_malformed_box_is_a_usage_error():
    result = _tool("init", "nan,1,2,3")
    assert result.returncode == 2 and "expected 4 comma-separated numbers" in result.stderr


def test_topics_list_echo_and_hz(pipeline):
    listed = _tool("topics", "list", "--timeout", "30")
    assert listed.returncode == 0, listed.stderr
    for line in ("/image_raw [sensor_msgs/msg/Image]", "/tracks [vision_msgs/msg/Detection2DArray]",
                 "/tracker_node/init [vision_msgs/msg/Detection2D]"):
        assert line in listed.stdout
    echo = _tool("topics", "echo", "/ground_truth", "-n", "1", "--timeout", "30")
    assert echo.returncode == 0, echo.stderr
    assert "bbox:" in echo.stdout and "size_x:" in echo.stdout and "frame_id:" in echo.stdout
    hz = _tool("topics", "hz", "/image_raw", "-n", "1", "--timeout", "30")
    assert hz.returncode == 0, hz.stderr
    rate = float(hz.stdout.split("average rate:")[1].split()[0])
    assert 1.0 < rate < 100.0  # the simulator runs at 30 Hz; a timer catching up bursts


def test_params_get_set_describe(pipeline):
    got = _tool("params", "tracker_node", "get", "score_threshold", "--timeout", "30")
    assert got.returncode == 0 and "double value is:" in got.stdout, got.stdout + got.stderr
    ok = _tool("params", "tracker_node", "set", "lost_after_frames", "20", "--timeout", "30")
    assert ok.returncode == 0 and "successful" in ok.stdout, ok.stdout
    assert "20" in _tool("params", "tracker_node", "get", "lost_after_frames", "--timeout", "30").stdout
    bad = _tool("params", "tracker_node", "set", "score_threshold", "7.0", "--timeout", "30")
    assert bad.returncode == 1 and "score_threshold" in bad.stderr
    desc = _tool("params", "tracker_node", "describe", "score_threshold", "--timeout", "30")
    assert "Min value: 0.0" in desc.stdout and "Max value: 1.0" in desc.stdout
    listed = _tool("params", "tracker_node", "--timeout", "30")
    assert "  tracker: 'opencv:csrt'" in listed.stdout


def test_an_unknown_node_is_one_clear_line():
    result = _tool("params", "no_such_node", "--timeout", "1")
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.strip().startswith("mlkd-tracker params: no node 'no_such_node'")
