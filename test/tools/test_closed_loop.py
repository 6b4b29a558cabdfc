"""The foundation's vertical slice: sim_node, tracker_node and follow_node in separate processes
over DDS, the tracker initialised from ground truth, the follower steering the simulated gimbal.

Thresholds, from measurements on this scene (seed 0, night, no occluders; see the issue note):
- OpenCV CSRT scores success AUC 0.63 offline on the same 10 s without gimbal control and 0.60
  in the 20 s closed loop; 0.35 leaves room for a loaded 2-core CI machine dropping frames, while
  a tracker that loses the target in the first seconds scores < 0.1.
- Without the follower the target's median distance from the image centre is 89 px (seed 0; it
  leaves the frame for seed 1); with it, 20 px. 45 px fails if the loop does not close.
"""
from __future__ import annotations

import numpy as np
import pytest

from mlkd_tracker.tools.demo import DemoConfig, run_demo

pytestmark = pytest.mark.ros


@pytest.fixture(scope="module")
def closed_loop(ros_module_env):
    return run_demo(DemoConfig(duration_s=12.0, out_dir=ros_module_env / "run", video=True,
                               progress=False, launch_args={"seed": "0"}))


def test_tracker_follows_the_target_in_the_closed_loop(closed_loop):
    summary, run, _ = closed_loop
    assert summary.frames >= 200, "the simulator published too few frames"
    assert summary.success_auc > 0.35
    assert summary.precision_20 > 0.6


def test_follower_keeps_the_target_near_the_image_centre(closed_loop):
    summary, _, _ = closed_loop
    assert summary.target_offset_median_px < 45.0


def test_tracks_carry_the_stamps_and_frame_id_of_their_input_frames(closed_loop):
    _, run, rec = closed_loop
    # The tracker may have published before the monitor listened, and the newest track may
    # arrive before its ground truth when the recording stops: compare the overlap.
    first, last = min(rec.gt), max(rec.gt)
    seen = {s for s in rec.tracks if first <= s <= last}
    assert len(seen) > 100 and seen <= set(rec.gt)
    assert rec.track_frame_ids == {"camera_optical_frame"}
    frames = {s for s in rec.frames if first <= s <= last}
    assert frames and frames <= set(rec.gt), "sim_node's image and ground truth stamps differ"
    assert run.processed.mean() > 0.5, "the tracker processed fewer than half of the frames"


def test_tracker_diagnostics_report_rates_latency_and_state(closed_loop):
    _, _, rec = closed_loop
    status = rec.diagnostics["tracker_node: tracking"]
    assert status["state"] == "TRACKING"
    assert float(status["input_hz"]) > 15
    assert float(status["processed_hz"]) > 10
    assert np.isfinite(float(status["latency_p95_ms"]))
    assert int(status["dropped_frames"]) >= 0


def test_demo_writes_summary_plot_video_and_results(closed_loop):
    summary, run, _ = closed_loop
    out = __import__("pathlib").Path(summary.out_dir)
    for name in ("summary.json", "timeline.png", "demo.mp4", "tracks.txt", "groundtruth.txt"):
        assert (out / name).stat().st_size > 0, name
    assert len((out / "tracks.txt").read_text().splitlines()) == len(run.stamps)
