"""The paired difference of two trackers' per-sequence scores: its mean is the difference of
their means, its interval comes from resampling sequences with both scores kept together, and
it says when a split cannot tell two trackers apart."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlkd_tracker.eval.paired_difference import paired_difference


def _scores(values) -> dict[str, float]:
    return {f"seq{i:02d}": float(v) for i, v in enumerate(values)}


def test_a_constant_shift_is_certain_and_equal_trackers_differ_by_nothing():
    a = _scores(np.linspace(0.2, 0.8, 12))
    shifted = paired_difference(a, {k: v - 0.03 for k, v in a.items()})
    assert (shifted.mean, shifted.low, shifted.high) == pytest.approx((0.03, 0.03, 0.03))
    same = paired_difference(a, a)
    assert (same.mean, same.low, same.high) == (0.0, 0.0, 0.0) and not same.excludes_zero


def test_pairing_removes_what_the_sequences_share():
    # Sequence difficulty varies widely but b is always 2 points behind a, give or take 1:
    # unpaired, the spread of difficulties would swamp 2 points; paired, it cannot.
    rng = np.random.default_rng(0)
    difficulty = rng.uniform(0.1, 0.9, 12)
    a = _scores(difficulty)
    b = _scores(difficulty - 0.02 + rng.uniform(-0.01, 0.01, 12))
    d = paired_difference(a, b)
    assert d.excludes_zero and 0.01 < d.low < d.mean < d.high < 0.03 and d.n_sequences == 12


def test_a_difference_of_mixed_sign_is_not_resolved():
    a = _scores([0.5, 0.6, 0.4, 0.7, 0.5, 0.3])
    b = _scores([0.6, 0.5, 0.5, 0.6, 0.4, 0.4])
    d = paired_difference(a, b)
    assert d.low < 0 < d.high and not d.excludes_zero


def test_only_shared_sequences_count_and_the_result_is_reproducible():
    a = _scores([0.5, 0.6, 0.4, 0.7])
    b = {**_scores([0.4, 0.5, 0.5]), "other": 0.0}
    d = paired_difference(a, b, seed=3)
    assert d.n_sequences == 3 and d.mean == pytest.approx(np.mean([0.1, 0.1, -0.1]))
    assert paired_difference(a, b, seed=3) == d


@pytest.mark.parametrize("a, b, kwargs, message", [
    ({"s": 0.5}, {"s": 0.4}, {}, ">= 2 shared"),
    (_scores([0.5, 0.6]), _scores([0.4]), {}, ">= 2 shared"),
    (_scores([0.5, float("nan")]), _scores([0.4, 0.3]), {}, "finite"),
    (_scores([0.5, 0.6]), _scores([0.4, 0.3]), {"confidence": 1.0}, "confidence"),
])
def test_bad_input_is_a_clear_error(a, b, kwargs, message):
    with pytest.raises(ValueError, match=message):
        paired_difference(a, b, **kwargs)


@settings(max_examples=30, deadline=None, derandomize=True)
@given(st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1)), min_size=2, max_size=15))
def test_the_interval_always_holds_the_mean(pairs):
    a = _scores([p[0] for p in pairs])
    b = _scores([p[1] for p in pairs])
    d = paired_difference(a, b, resamples=500)
    assert d.low - 1e-12 <= d.mean <= d.high + 1e-12
    assert d.mean == pytest.approx(np.mean([x - y for x, y in pairs]))
