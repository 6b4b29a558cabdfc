"""Specification of mlkd_tracker.eval.node_bench_report: the node benchmark's table, its verdicts
on the real-time targets, the frames-with-a-box warning and the soak plot, from a stored result
(no ROS needed)."""
from __future__ import annotations

import copy
import re

import pytest

from mlkd_tracker.eval.bench_report import machine_info
from mlkd_tracker.eval.node_bench_report import evaluate_targets, format_nodes_markdown, plot_soak


def _age(p50, p95, p99):
    return {"n": 300, "p50": p50, "p95": p95, "p99": p99, "max": p99 + 1, "mean": p50}


RESULT = {
    "command": "mlkd-tracker bench nodes --duration 60 --rate 30 --width 640 --height 480",
    "machine": machine_info(), "note": None,
    "config": {"rate_hz": 30.0, "width": 640, "height": 480, "warmup_s": 5.0,
               "tracker_params": "config/tracker_student.yaml"},
    "window": {"seconds": 60.2},
    "nodes": {
        "sim_node": {"role": "camera (simulator)", "input_hz": None, "processed_hz": 30.0,
                     "dropped_frames": None, "frame_age_ms": None, "cpu_percent": 35.0,
                     "rss_mean_mb": 250.0, "peak_rss_mb": 256.0},
        "tracker_node": {"role": "tracker (student_mobile)", "input_hz": 30.0, "processed_hz": 30.0,
                         "input_frames": 1806, "processed_frames": 1806, "frames_with_box": 1800,
                         "unanswered_frames": 0, "dropped_frames": 0,
                         "frame_age_ms": _age(9.0, 11.8, 14.2),
                         "delivered_age_ms": _age(9.3, 12.0, 15.0), "inference_p50_ms": 3.9,
                         "state": "TRACKING", "episode": "1", "cpu_percent": 40.0,
                         "rss_mean_mb": 170.0, "peak_rss_mb": 175.0},
        "follow_node": {"role": "gimbal follower", "input_hz": 30.0, "processed_hz": 30.0,
                        "dropped_frames": None, "frame_age_ms": _age(9.5, 12.0, 15.0),
                        "cpu_percent": 5.0, "rss_mean_mb": 100.0, "peak_rss_mb": 109.0},
    },
    "soak": None,
}
SOAK = {"window_s": 60.0,
        "rss": {"tracker_node": {"first_mb": 170.0, "last_mb": 180.0, "growth_percent": 5.88,
                                 "timeline": [[0.0, 170.0], [300.0, 175.0], [600.0, 180.0]]}},
        "frame_age_p50_ms": {"first": 9.0, "last": 9.4, "drift_ms": 0.4},
        "frame_age_timeline": [[0.0, 9.0, 14.0], [10.0, None, None], [20.0, 9.4, 15.0]]}


def test_every_target_met_is_reported_as_met():
    rows = evaluate_targets(RESULT)
    assert [r["met"] for r in rows] == [True, True, True]
    assert [r["measured"] for r in rows] == [0, 14.2, 175.0]


def test_each_missed_target_is_reported_as_missed():
    bad = copy.deepcopy(RESULT)
    t = bad["nodes"]["tracker_node"]
    t["dropped_frames"], t["frame_age_ms"]["p99"], t["peak_rss_mb"] = 3, 33.0, 300.0
    assert [r["met"] for r in evaluate_targets(bad)] == [False, False, False]


def test_a_target_without_a_measurement_is_neither_met_nor_missed():
    none = copy.deepcopy(RESULT)
    none["nodes"]["tracker_node"]["frame_age_ms"] = {"n": 0, "p50": None, "p95": None,
                                                     "p99": None, "max": None, "mean": None}
    assert evaluate_targets(none)[1]["met"] is None


def test_the_soak_target_appears_only_in_soak_mode():
    assert len(evaluate_targets(RESULT)) == 3
    soak = dict(RESULT, soak=SOAK)
    last = evaluate_targets(soak)[-1]
    assert "RSS growth" in last["target"] and last["measured"] == 5.88 and last["met"] is False


def test_the_markdown_carries_command_machine_every_node_and_the_verdicts():
    text = format_nodes_markdown(RESULT)
    assert RESULT["command"] in text
    assert RESULT["machine"]["cpu_model"] in text and RESULT["machine"]["onnxruntime"] in text
    for node in ("sim_node", "tracker_node", "follow_node"):
        assert f"| {node} |" in text
    assert "| 9.0 / 11.8 / 14.2 |" in text  # p50 / p95 / p99
    assert "**no**" not in text and "| yes |" in text


def test_a_note_is_shown_at_the_top_of_the_section():
    text = format_nodes_markdown(dict(RESULT, note="smoke run under load — to be re-measured"))
    assert text.splitlines()[2] == "> **smoke run under load — to be re-measured**"


def test_the_soak_table_lists_growth_and_drift():
    text = format_nodes_markdown(dict(RESULT, soak=SOAK))
    assert "| tracker_node | 170.0 | 180.0 | 5.88 |" in text
    assert "drift 0.40 ms" in text and "**no**" in text


def test_plot_soak_writes_a_png_and_does_nothing_without_soak_data(tmp_path):
    assert plot_soak(RESULT, tmp_path / "none.png") is None
    path = plot_soak(dict(RESULT, soak=SOAK), tmp_path / "soak.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("missing", ["cpu_percent", "peak_rss_mb"])
def test_missing_process_numbers_show_as_a_dash(missing):
    gone = copy.deepcopy(RESULT)
    gone["nodes"]["follow_node"][missing] = None
    row = next(line for line in format_nodes_markdown(gone).splitlines()
               if line.startswith("| follow_node |"))
    assert "–" in row


def test_the_targets_are_stated_in_words_without_issue_numbers():
    text = format_nodes_markdown(RESULT)
    assert "| target | measured | met |" in text
    assert "one frame period" in text and "300 MB" in text
    assert not re.search(r"issue\s*#?\d", text, re.IGNORECASE)


def test_a_run_that_lost_its_target_says_how_many_frames_had_a_box():
    lost = copy.deepcopy(RESULT)
    lost["nodes"]["tracker_node"].update(processed_frames=1830, input_frames=1830,
                                          frames_with_box=128, state="LOST")
    text = format_nodes_markdown(lost)
    assert "box on 128 of 1830 processed frames (7 %)" in text
    assert "not a measurement of the loop while it holds its target" in text


def test_no_box_warning_when_every_processed_frame_had_a_box():
    held = copy.deepcopy(RESULT)
    held["nodes"]["tracker_node"]["frames_with_box"] = 1806
    assert "had a box on" not in format_nodes_markdown(held)
    unknown = copy.deepcopy(RESULT)
    unknown["nodes"]["tracker_node"]["frames_with_box"] = None
    assert "had a box on" not in format_nodes_markdown(unknown)
