"""sim_node's lockstep mode (``pace_topic``) in a real process: without an answer it holds the
next frame back until ``pace_timeout_s``; each answer, stamped like its frame, releases the next
one at once; its diagnostics account for every frame. Causality is checked on stamps (a frame
stamped before the answer it waited for was not held back), never on how fast anything runs."""
from __future__ import annotations

import time

import pytest
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.qos import qos_profile_sensor_data
from rclpy.time import Time
from sensor_msgs.msg import Image
from vision_msgs.msg import Detection2DArray

from mlkd_tracker.nodes.qos import OUTPUT_QOS
from mlkd_tracker.tools.launch_xml import NodeSpec
from ros_probe import Probe, diag_statuses, start_nodes, wait_until

pytestmark = pytest.mark.ros
T = 60.0
TIMEOUT_S = 3.0  # long beside the probe's answer time, so an answer is never late
ANSWERED = 30


def _stamp(msg) -> int:
    return Time.from_msg(msg.header.stamp).nanoseconds


def _values(status) -> dict[str, str]:
    return {kv.key: kv.value for kv in status.values}


def test_frames_wait_for_answers_and_every_frame_is_accounted_for(ros_env, tmp_path):
    group = start_nodes(tmp_path / "logs", NodeSpec(
        "mlkd_tracker", "sim_node", name="sim_node",
        params={"width": "160", "height": "120", "fps": "30.0", "pace_topic": "answers",
                "pace_timeout_s": str(TIMEOUT_S)}))
    probe = Probe()
    try:
        images = probe.watch(Image, "image_raw", qos_profile_sensor_data)
        diags = probe.watch(DiagnosticArray, "/diagnostics")
        answers = probe.publisher(Detection2DArray, "answers", OUTPUT_QOS)
        assert wait_until(lambda: answers.get_subscription_count() > 0 and len(images) >= 2, T)

        # unanswered, a frame holds the next one back for pace_timeout_s (at 30 Hz: 33 ms apart)
        first, second = _stamp(images[0]), _stamp(images[1])
        assert (second - first) / 1e9 >= TIMEOUT_S

        # answered, each frame comes only after the answer to the one before it
        answer_sent: dict[int, int] = {}
        for _ in range(ANSWERED):
            n = len(images)
            newest = images[-1]
            answer_sent[_stamp(newest)] = time.time_ns()  # before publishing: a lower bound
            answers.publish(Detection2DArray(header=newest.header))
            assert wait_until(lambda: group.exited() == [] and len(images) > n, T), \
                "no frame after an answer"
        late = {s: (t - s) / 1e9 for s, t in answer_sent.items() if t - s > TIMEOUT_S / 2 * 1e9}
        assert not late, f"answers sent too late to count (stamp -> answer, s): {late}"
        stamps = [_stamp(m) for m in images]
        answered = [s for s in stamps if s in answer_sent]
        for prev, nxt in zip(stamps, stamps[1:]):
            if prev in answer_sent:
                assert nxt > answer_sent[prev], "a frame went out before its predecessor's answer"
        assert len(answered) == ANSWERED

        # diagnostics: frames published = answered + given up on + settled by a later answer +
        # in flight (one snapshot)
        def accounted() -> bool:
            s = diag_statuses(list(diags), "sim_node")
            v = _values(s[-1]) if s else {}
            return v.get("paced_by") == "answers" and int(v["frames"]) >= ANSWERED + 2 and \
                int(v["frames"]) == ANSWERED + int(v["pace_timeouts"]) + int(v["pace_skipped"]) \
                + int(v["in_flight"])
        assert wait_until(accounted, T), _values(diag_statuses(list(diags), "sim_node")[-1])
        assert group.exited() == []
    finally:
        probe.close()
        assert group.stop()["sim_node"] == 0


def test_an_answer_to_the_newest_frame_settles_the_older_ones(ros_env, tmp_path):
    """A newest-frame consumer answers only the last of several frames in flight: the older ones
    are settled with it instead of each waiting out pace_timeout_s."""
    group = start_nodes(tmp_path / "logs", NodeSpec(
        "mlkd_tracker", "sim_node", name="sim_node",
        params={"width": "160", "height": "120", "fps": "30.0", "pace_topic": "answers",
                "pace_max_in_flight": "3", "pace_timeout_s": "600.0"}))
    probe = Probe()
    try:
        images = probe.watch(Image, "image_raw", qos_profile_sensor_data)
        diags = probe.watch(DiagnosticArray, "/diagnostics")
        answers = probe.publisher(Detection2DArray, "answers", OUTPUT_QOS)
        assert wait_until(lambda: answers.get_subscription_count() > 0 and len(images) >= 3, T)
        n = len(images)
        answers.publish(Detection2DArray(header=images[-1].header))
        assert wait_until(lambda: len(images) >= n + 3, T), "the older frames still hold slots"

        def settled() -> bool:
            s = diag_statuses(list(diags), "sim_node")
            v = _values(s[-1]) if s else {}
            return int(v.get("pace_skipped", 0)) >= 2 and v.get("pace_timeouts") == "0"
        assert wait_until(settled, T)
    finally:
        probe.close()
        assert group.stop()["sim_node"] == 0
