"""Specification of runtime.frame_history: newest-frame hand-off plus a short stamp index."""
from __future__ import annotations

import threading
import time

import pytest

from mlkd_tracker.runtime.frame_history import Entry, FrameHistory

MS = 1_000_000  # ns


def filled(n: int, maxlen: int = 30, period_ns: int = 33 * MS) -> FrameHistory[str]:
    hist: FrameHistory[str] = FrameHistory(maxlen)
    for i in range(n):
        hist.push(1_000 * MS + i * period_ns, f"frame{i}")
    return hist


def test_push_numbers_entries_from_one_in_arrival_order():
    hist = filled(3)
    assert [e.seq for e in hist.after(0)] == [1, 2, 3]
    assert [e.item for e in hist.after(0)] == ["frame0", "frame1", "frame2"]


def test_ring_keeps_only_the_last_maxlen_entries():
    hist = filled(7, maxlen=3)
    assert [e.item for e in hist.after(0)] == ["frame4", "frame5", "frame6"]


def test_seq_keeps_counting_after_old_entries_fall_out():
    hist = filled(7, maxlen=3)
    assert [e.seq for e in hist.after(0)] == [5, 6, 7]


def test_maxlen_below_one_is_refused():
    with pytest.raises(ValueError):
        FrameHistory(0)


def test_wait_newest_returns_only_the_newest_entry_skipping_unprocessed_older_ones():
    hist = filled(5)
    entry = hist.wait_newest(after_seq=1, timeout=0.0)
    assert (entry.seq, entry.item) == (5, "frame4")


def test_wait_newest_returns_at_once_when_a_newer_entry_is_already_held():
    hist = filled(5)
    hist.wait_newest(after_seq=0, timeout=0.0)  # consume the "new frame" notification
    t0 = time.monotonic()
    entry = hist.wait_newest(after_seq=3, timeout=2.0)
    assert entry is not None and entry.seq == 5
    assert time.monotonic() - t0 < 0.5


def test_wait_newest_returns_none_after_the_timeout_when_nothing_is_newer():
    hist = filled(2)
    t0 = time.monotonic()
    assert hist.wait_newest(after_seq=2, timeout=0.1) is None
    assert 0.09 <= time.monotonic() - t0 < 1.0


def test_wait_newest_on_an_empty_history_times_out_with_none():
    assert FrameHistory().wait_newest(after_seq=0, timeout=0.01) is None


def test_wait_newest_does_not_return_none_early_after_an_already_consumed_push():
    hist = filled(1)
    assert hist.wait_newest(after_seq=0, timeout=0.0).seq == 1
    t0 = time.monotonic()
    assert hist.wait_newest(after_seq=1, timeout=0.15) is None
    assert time.monotonic() - t0 >= 0.14


def test_wait_newest_wakes_up_when_a_frame_is_pushed():
    hist = filled(1)
    timer = threading.Timer(0.05, hist.push, args=(2_000 * MS, "late"))
    timer.start()
    t0 = time.monotonic()
    entry = hist.wait_newest(after_seq=1, timeout=5.0)
    timer.join()
    assert entry is not None and entry.item == "late"
    assert time.monotonic() - t0 < 2.0


def test_find_returns_the_entry_with_exactly_that_stamp():
    hist = filled(5)
    assert hist.find(1_000 * MS + 2 * 33 * MS).item == "frame2"


def test_find_returns_the_nearest_stamp_within_the_tolerance():
    hist = filled(5)
    assert hist.find(1_000 * MS + 66 * MS + 1 * MS, tolerance_ns=2 * MS).item == "frame2"


def test_find_returns_none_when_the_nearest_stamp_is_beyond_the_tolerance():
    hist = filled(5)
    assert hist.find(1_000 * MS + 66 * MS + 3 * MS, tolerance_ns=2 * MS) is None


def test_find_default_tolerance_is_an_exact_match():
    assert filled(5).find(1_000 * MS + 1) is None


def test_find_on_an_empty_history_returns_none():
    assert FrameHistory().find(123, tolerance_ns=10**12) is None


def test_find_does_not_match_frames_that_fell_out_of_the_ring():
    hist = filled(10, maxlen=3)
    assert hist.find(1_000 * MS, tolerance_ns=1 * MS) is None


def test_after_returns_entries_newer_than_seq_oldest_first():
    hist = filled(6)
    assert [e.seq for e in hist.after(3)] == [4, 5, 6]


def test_after_the_newest_seq_is_empty():
    assert filled(4).after(4) == []


def test_span_is_the_oldest_and_newest_stamp_held():
    hist = filled(10, maxlen=4, period_ns=10 * MS)
    assert hist.span_ns() == (1_000 * MS + 60 * MS, 1_000 * MS + 90 * MS)


def test_span_of_an_empty_history_is_none():
    assert FrameHistory().span_ns() is None


def test_clear_drops_entries_but_seq_keeps_increasing():
    hist = filled(3)
    hist.clear()
    assert hist.after(0) == [] and hist.span_ns() is None
    hist.push(5, "after-clear")
    assert hist.after(0)[0].seq == 4


def test_entries_are_immutable():
    entry = filled(1).after(0)[0]
    assert isinstance(entry, Entry)
    with pytest.raises(AttributeError):
        entry.seq = 99  # type: ignore[misc]


def test_producer_and_consumer_threads_run_without_errors_and_seqs_increase():
    hist: FrameHistory[int] = FrameHistory(maxlen=8)
    n = 2000
    errors: list[BaseException] = []
    seen: list[int] = []

    def produce() -> None:
        try:
            for i in range(n):
                hist.push(i, i)
                hist.find(i // 2, tolerance_ns=3)  # other readers hit the lock meanwhile
                if i % 100 == 0:
                    time.sleep(0.001)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    def consume() -> None:
        try:
            last = 0
            while last < n:
                entry = hist.wait_newest(last, timeout=1.0)
                if entry is None:
                    break
                assert entry.seq > last and entry.item == entry.seq - 1
                hist.after(last)
                hist.span_ns()
                seen.append(entry.seq)
                last = entry.seq
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=produce), threading.Thread(target=consume)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10.0)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    assert seen == sorted(set(seen))
    assert seen[-1] == n
