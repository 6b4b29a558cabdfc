"""replay_report: a replay is scored like a live run (stamp-keyed ground truth and tracks), its
losses and latency are counted per frame, and the report says what went wrong."""
from __future__ import annotations

import json

import numpy as np
import pytest

from mlkd_tracker.eval.ope import score_sequence
from mlkd_tracker.eval.replay_report import FrameLog, ReplayRun, evaluate, write_report

MS = 1_000_000


def make_run(n: int = 10) -> ReplayRun:
    """Frame i stamped 1000+i, published at i*100 ms and answered 10+i ms later; the tracker
    is initialised on frame 1 and drifts by one pixel per frame."""
    run = ReplayRun("flight", "mcap", "fast", "/image_raw", "sensor_msgs/msg/Image", "/tracks",
                    "topic `/ground_truth`")
    for i in range(n):
        stamp = 1000 + i
        run.frames.append(FrameLog(i, stamp, 5000 + i, published_ns=i * 100 * MS,
                                   output_ns=(i * 100 + 10 + i) * MS))
        run.gt[stamp] = (10.0 + i, 20.0, 30.0, 40.0)
        run.tracks[stamp] = (10.0 + 2 * i, 20.0, 30.0, 40.0)
    run.init_stamp = 1001
    return run


def test_scores_equal_the_ope_metrics_of_the_frames_from_the_init_frame_on():
    run = make_run()
    summary, aligned, _ = evaluate(run)
    gt = np.array([run.gt[1000 + i] for i in range(1, 10)])
    pred = np.array([run.tracks[1000 + i] for i in range(1, 10)])
    expected = score_sequence(pred, gt)
    assert summary.scored_frames == 9 and list(aligned.stamps) == list(range(1001, 1010))
    assert summary.success_auc == pytest.approx(expected.auc)
    assert summary.precision_20 == pytest.approx(expected.precision_20)


def test_counts_lost_and_unpublished_frames_and_latency_percentiles():
    run = make_run()
    run.frames[4].output_ns = None                          # published, never answered
    run.frames[7].published_ns = run.frames[7].output_ns = None
    run.frames[7].problem = "message #14 on /image_raw does not decode"
    run.tracker_status = {"dropped_frames": "2"}
    summary, _, _ = evaluate(run)
    assert (summary.frames_in_bag, summary.frames_published, summary.frames_not_published,
            summary.frames_answered, summary.frames_lost, summary.tracker_dropped) == (10, 9, 1, 8, 1, 2)
    latencies = [10 + i for i in range(10) if i not in (4, 7)]
    assert summary.latency_ms["p50"] == pytest.approx(np.percentile(latencies, 50))
    assert summary.latency_ms["max"] == pytest.approx(max(latencies))


def test_a_frame_without_its_own_output_is_scored_with_the_previous_box():
    run = make_run()
    del run.tracks[1005]
    _, aligned, _ = evaluate(run)
    assert tuple(aligned.pred[4]) == run.tracks[1004]


def test_report_files_name_the_damage_and_hold_every_number(tmp_path):
    run = make_run()
    run.read_error = "flight/flight.mcap: chunk record at byte 123 is cut off"
    summary = write_report(run, tmp_path)
    report = (tmp_path / "report.md").read_text()
    assert "The bag is damaged" in report and "chunk record at byte 123" in report
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["summary"]["success_auc"] == pytest.approx(summary.success_auc)
    assert results["summary"]["read_error"] == run.read_error
    rows = (tmp_path / "frames.csv").read_text().splitlines()
    assert len(rows) == 1 + len(run.frames)
    for name in ("ope.png", "timeline.png", "latency.png", "tracks.txt", "groundtruth.txt"):
        assert (tmp_path / name).stat().st_size > 0, name


def test_without_ground_truth_there_is_no_score_but_still_a_report(tmp_path):
    run = make_run()
    run.gt, run.init_stamp, run.gt_source = {}, None, "none"
    summary = write_report(run, tmp_path)
    assert summary.success_auc is None and summary.frames_answered == 10
    assert "No score" in (tmp_path / "report.md").read_text()
    assert not (tmp_path / "ope.png").exists()
