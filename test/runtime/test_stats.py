"""Specification of runtime.stats: rolling percentiles and event rates for diagnostics."""
from __future__ import annotations

import math
import threading

import pytest

from mlkd_tracker.runtime.stats import RateMeter, RollingWindow


# ---- RollingWindow -----------------------------------------------------------------------------
def test_empty_window_gives_nan_for_every_requested_percentile():
    values = RollingWindow().percentiles(50, 95)
    assert len(values) == 2 and all(math.isnan(v) for v in values)


def test_percentiles_of_known_samples():
    window = RollingWindow()
    for v in range(1, 101):  # 1..100
        window.add(v)
    p0, p50, p100 = window.percentiles(0, 50, 100)
    assert (p0, p50, p100) == (1.0, pytest.approx(50.5), 100.0)


def test_single_sample_is_every_percentile():
    window = RollingWindow()
    window.add(7.5)
    assert window.percentiles(5, 50, 95) == [7.5, 7.5, 7.5]


def test_window_keeps_only_the_last_maxlen_samples():
    window = RollingWindow(maxlen=3)
    for v in (1000, 1000, 1, 2, 3):
        window.add(v)
    assert len(window) == 3
    assert window.percentiles(100) == [3.0]


def test_percentiles_are_plain_floats():
    window = RollingWindow()
    window.add(1)
    assert all(type(v) is float for v in window.percentiles(50))


def test_non_finite_samples_are_ignored_instead_of_poisoning_the_percentiles():
    window = RollingWindow()
    for v in (1.0, math.nan, 3.0, math.inf):
        window.add(v)
    assert len(window) == 2
    assert window.percentiles(50) == [2.0]


def test_window_maxlen_below_one_is_refused():
    with pytest.raises(ValueError):
        RollingWindow(maxlen=0)


def test_window_is_safe_to_fill_and_read_from_several_threads():
    window = RollingWindow(maxlen=50)
    errors = []

    def hammer() -> None:
        try:
            for i in range(2000):
                window.add(i)
                window.percentiles(50, 95)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=hammer) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(window) == 50


# ---- RateMeter ---------------------------------------------------------------------------------
def test_rate_of_a_fresh_meter_is_zero():
    assert RateMeter().rate(now=100.0) == 0.0


def test_steady_events_give_their_frequency():
    meter = RateMeter(window_s=2.0)
    for i in range(100):  # 10 Hz for 10 s
        meter.tick(i * 0.1)
    assert meter.rate(now=9.95) == pytest.approx(10.0)


def test_rate_counts_events_in_the_half_open_window_ending_now():
    meter = RateMeter(window_s=1.0)
    for t in (0.0, 0.5, 1.0):
        meter.tick(t)
    # (0.0, 1.0] holds 0.5 and 1.0: the event exactly one window ago no longer counts
    assert meter.rate(now=1.0) == pytest.approx(2.0)


def test_rate_decays_to_zero_once_events_stop():
    meter = RateMeter(window_s=2.0)
    for i in range(30):
        meter.tick(i / 30)
    assert meter.rate(now=1.0) > 0
    assert meter.rate(now=4.0) == 0.0


def test_rate_follows_a_change_of_frequency_within_one_window():
    meter = RateMeter(window_s=1.0)
    t = 0.0
    for _ in range(30):  # 30 Hz ...
        t += 1 / 30
        meter.tick(t)
    for _ in range(10):  # ... then 5 Hz for 2 s
        t += 0.2
        meter.tick(t)
    assert meter.rate(now=t + 0.1) == pytest.approx(5.0)


def test_rate_meter_window_must_be_positive():
    with pytest.raises(ValueError):
        RateMeter(window_s=0.0)
