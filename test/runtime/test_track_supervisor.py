"""Specification of the track life cycle (runtime.track_supervisor) with a scripted tracker.

IDLE -> start -> TRACKING; ``lost_after`` consecutive frames scoring below the threshold -> LOST;
a good frame while LOST -> TRACKING in the same episode; stop -> IDLE; each start is a new episode.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from mlkd_tracker.runtime.boxes import InvalidBoxError
from mlkd_tracker.runtime.track_supervisor import TrackOutput, TrackState, TrackSupervisor
from mlkd_tracker.runtime.tracker_base import TrackResult, Tracker

W, H = 160, 120
FRAME = np.zeros((H, W, 3), np.uint8)
BOX = (40.0, 30.0, 20.0, 10.0)
GOOD, LOW = 0.9, 0.1


class ScriptedTracker(Tracker):
    """Returns the next scripted score (and box) per update; records init calls."""

    name = "scripted"

    def __init__(self, scores=(), boxes=None, fail_init: Exception | None = None) -> None:
        self.scores = list(scores)
        self.boxes = list(boxes) if boxes is not None else None
        self.fail_init = fail_init
        self.inits: list[tuple] = []
        self.updates = 0

    def init(self, frame, box) -> None:
        if self.fail_init is not None:
            raise self.fail_init
        self.inits.append(tuple(box))

    def update(self, frame) -> TrackResult:
        i = self.updates
        self.updates += 1
        score = self.scores[i] if i < len(self.scores) else GOOD
        box = self.boxes[i] if self.boxes is not None and i < len(self.boxes) else BOX
        return TrackResult(box, score)


def run(sup: TrackSupervisor, n: int) -> list[TrackOutput]:
    return [sup.step(FRAME) for _ in range(n)]


def started(scores=(), lost_after=3, threshold=0.3, **kw) -> TrackSupervisor:
    sup = TrackSupervisor(ScriptedTracker(scores, **kw), score_threshold=threshold,
                          lost_after=lost_after)
    sup.start(FRAME, BOX)
    return sup


def test_new_supervisor_is_idle_in_episode_zero():
    sup = TrackSupervisor(ScriptedTracker())
    assert sup.state is TrackState.IDLE
    assert sup.episode == 0


def test_idle_step_returns_no_box_and_does_not_run_the_tracker():
    tracker = ScriptedTracker()
    sup = TrackSupervisor(tracker)
    out = sup.step(FRAME)
    assert out == TrackOutput(TrackState.IDLE, None, 0.0, 0)
    assert tracker.updates == 0


def test_start_enters_tracking_in_episode_one_and_inits_the_tracker_on_the_box():
    tracker = ScriptedTracker()
    sup = TrackSupervisor(tracker)
    assert sup.start(FRAME, BOX) == 1
    assert sup.state is TrackState.TRACKING
    assert tracker.inits == [BOX]


def test_tracking_step_reports_the_trackers_box_score_and_episode():
    out = started([0.8]).step(FRAME)
    assert out == TrackOutput(TrackState.TRACKING, BOX, 0.8, 1)


def test_fewer_than_lost_after_low_frames_keep_tracking_and_publish_the_box():
    outs = run(started([LOW, LOW], lost_after=3), 2)
    assert [o.state for o in outs] == [TrackState.TRACKING] * 2
    assert all(o.box == BOX for o in outs)


def test_lost_after_exactly_lost_after_consecutive_low_frames():
    outs = run(started([LOW] * 4, lost_after=3), 4)
    assert [o.state for o in outs] == [TrackState.TRACKING, TrackState.TRACKING,
                                      TrackState.LOST, TrackState.LOST]


def test_a_good_frame_resets_the_consecutive_low_count():
    outs = run(started([LOW, LOW, GOOD, LOW, LOW], lost_after=3), 5)
    assert all(o.state is TrackState.TRACKING for o in outs)


def test_score_equal_to_threshold_is_not_low():
    outs = run(started([0.3] * 5, lost_after=2, threshold=0.3), 5)
    assert all(o.state is TrackState.TRACKING for o in outs)


def test_lost_output_has_no_box_but_keeps_score_and_episode():
    out = run(started([LOW, 0.2], lost_after=2), 2)[-1]
    assert out.state is TrackState.LOST
    assert out.box is None
    assert out.score == pytest.approx(0.2)
    assert out.episode == 1


def test_tracker_keeps_running_while_lost():
    sup = started([LOW] * 10, lost_after=2)
    run(sup, 10)
    assert sup.tracker.updates == 10


def test_recovery_from_lost_returns_to_tracking_in_the_same_episode():
    outs = run(started([LOW, LOW, LOW, GOOD], lost_after=2), 4)
    assert [o.state for o in outs] == [TrackState.TRACKING, TrackState.LOST,
                                      TrackState.LOST, TrackState.TRACKING]
    assert outs[-1].box == BOX
    assert {o.episode for o in outs} == {1}


def test_after_recovery_lost_again_needs_lost_after_new_low_frames():
    outs = run(started([LOW, LOW, GOOD, LOW, LOW], lost_after=2), 5)
    assert [o.state for o in outs][2:] == [TrackState.TRACKING, TrackState.TRACKING,
                                          TrackState.LOST]


def test_nan_score_counts_as_zero():
    outs = run(started([math.nan, math.nan], lost_after=2), 2)
    assert outs[0].score == 0.0
    assert outs[-1].state is TrackState.LOST


def test_non_finite_box_with_high_score_is_not_published_and_counts_as_low():
    nan_box = (math.nan, 1.0, 2.0, 3.0)
    outs = run(started([GOOD, GOOD], lost_after=2, boxes=[nan_box, nan_box]), 2)
    assert outs[0].box is None and outs[0].score == 0.0
    assert outs[1].state is TrackState.LOST


def test_empty_box_from_tracker_is_not_published():
    out = started([GOOD], boxes=[(5.0, 5.0, 0.0, 4.0)]).step(FRAME)
    assert out.box is None


def test_stop_returns_to_idle_and_the_next_step_publishes_nothing():
    sup = started()
    sup.stop()
    assert sup.state is TrackState.IDLE
    out = sup.step(FRAME)
    assert out.state is TrackState.IDLE and out.box is None


def test_start_after_stop_opens_the_next_episode():
    sup = started()
    sup.stop()
    assert sup.start(FRAME, BOX) == 2
    assert sup.step(FRAME).episode == 2


def test_start_while_tracking_opens_a_new_episode_and_clears_the_low_count():
    sup = started([LOW, LOW, LOW, LOW], lost_after=3)
    run(sup, 2)
    assert sup.start(FRAME, BOX) == 2
    outs = run(sup, 2)
    assert all(o.state is TrackState.TRACKING for o in outs)


def test_start_from_lost_opens_a_new_episode_in_tracking():
    sup = started([LOW, LOW], lost_after=2)
    run(sup, 2)
    assert sup.state is TrackState.LOST
    assert sup.start(FRAME, BOX) == 2
    assert sup.state is TrackState.TRACKING


def test_lost_after_is_read_at_each_step_so_it_can_change_at_run_time():
    sup = started([LOW] * 3, lost_after=10)
    run(sup, 2)
    sup.lost_after = 3
    assert sup.step(FRAME).state is TrackState.LOST


def test_lost_after_below_one_is_refused():
    with pytest.raises(ValueError, match="lost_after"):
        TrackSupervisor(ScriptedTracker(), lost_after=0)


BAD_BOXES = {
    "nan": (math.nan, 10.0, 20.0, 20.0),
    "inf": (10.0, 10.0, math.inf, 20.0),
    "zero-size": (10.0, 10.0, 0.0, 20.0),
    "negative-size": (10.0, 10.0, 20.0, -5.0),
    "outside-right": (W + 5.0, 10.0, 20.0, 20.0),
    "outside-above": (10.0, -50.0, 20.0, 20.0),
    "sliver-inside": (W - 1.0, 10.0, 20.0, 20.0),
}


@pytest.mark.parametrize("box", BAD_BOXES.values(), ids=BAD_BOXES.keys())
def test_invalid_box_on_idle_raises_and_leaves_state_unchanged(box):
    tracker = ScriptedTracker()
    sup = TrackSupervisor(tracker)
    with pytest.raises(InvalidBoxError):
        sup.start(FRAME, box)
    assert (sup.state, sup.episode) == (TrackState.IDLE, 0)
    assert tracker.inits == []


@pytest.mark.parametrize("box", BAD_BOXES.values(), ids=BAD_BOXES.keys())
def test_invalid_box_while_tracking_keeps_the_running_track(box):
    sup = started([LOW, LOW], lost_after=2)
    sup.step(FRAME)  # one low frame counted
    with pytest.raises(InvalidBoxError):
        sup.start(FRAME, box)
    assert (sup.state, sup.episode) == (TrackState.TRACKING, 1)
    assert sup.tracker.inits == [BOX]
    # the low-frame count survived too: the next low frame is the second, so LOST
    assert sup.step(FRAME).state is TrackState.LOST


def test_invalid_box_while_lost_stays_lost():
    sup = started([LOW, LOW], lost_after=2)
    run(sup, 2)
    with pytest.raises(InvalidBoxError):
        sup.start(FRAME, BAD_BOXES["nan"])
    assert (sup.state, sup.episode) == (TrackState.LOST, 1)


def test_box_partly_outside_the_frame_is_clipped_before_init():
    tracker = ScriptedTracker()
    sup = TrackSupervisor(tracker)
    sup.start(FRAME, (-10.0, 100.0, 30.0, 40.0))
    assert tracker.inits == [(0.0, 100.0, 20.0, 20.0)]


def test_tracker_init_failure_raises_invalid_box_error_and_goes_idle():
    sup = started()
    sup.tracker.fail_init = RuntimeError("cannot start here")
    with pytest.raises(InvalidBoxError, match="cannot start here"):
        sup.start(FRAME, BOX)
    assert (sup.state, sup.episode) == (TrackState.IDLE, 1)
