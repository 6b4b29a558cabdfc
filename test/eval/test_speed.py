"""Side-by-side timing: every model is timed in every round, in alternating order, so a drift
in the machine's speed reaches all of them alike."""
from __future__ import annotations

import time

import numpy as np

from mlkd_tracker.eval.speed import time_per_frame, time_side_by_side


def test_models_are_interleaved_in_alternating_order_after_their_warm_up():
    calls: list[str] = []
    fns = [lambda f, n=n: calls.append(n) for n in "abc"]
    stats = time_side_by_side(fns, height=8, width=8, runs=3, warmup=1)
    assert calls == list("abc") + list("abc") + list("cba") + list("abc")
    assert len(stats) == 3 and all(set(s) == {"ms_median", "ms_p90", "fps"} for s in stats)


def test_each_model_gets_its_own_times_on_the_same_frame():
    seen: list[np.ndarray] = []

    def slow(frame):
        seen.append(frame)
        time.sleep(0.003)

    fast, sleepy = time_side_by_side([lambda f: seen.append(f), slow], height=6, width=10, runs=5,
                                     warmup=0)
    assert sleepy["ms_median"] >= 3.0 > fast["ms_median"]
    assert all(f is seen[0] and f.shape == (6, 10, 3) and f.dtype == np.uint8 for f in seen)


def test_one_model_alone_is_timed_like_time_per_frame():
    frame = np.zeros((4, 4, 3), np.uint8)
    alone = time_per_frame(lambda f: None, frame, runs=4, warmup=0)
    [side] = time_side_by_side([lambda f: None], frame, runs=4, warmup=0)
    assert set(alone) == set(side) and side["fps"] == 1e3 / side["ms_median"]
