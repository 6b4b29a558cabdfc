"""The tracker node's init/catch-up scheduling without ROS: stamp matching against the frame
history, starting there and catching up, waiting for frames that have not arrived, refusing
requests that can never match, and the precedence of manual inits over detections."""
from __future__ import annotations

import pytest

from mlkd_tracker.runtime.boxes import InvalidBoxError
from mlkd_tracker.runtime.frame_history import Entry, FrameHistory
from mlkd_tracker.runtime.init_scheduler import InitRequest, InitScheduler
from mlkd_tracker.runtime.target_acquisition import Detection

MS = 1_000_000  # ns
BOX = (10.0, 20.0, 30.0, 40.0)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Handler:
    """Records what the scheduler asks; frames are the messages themselves."""

    def __init__(self) -> None:
        self.started: list[tuple[InitRequest, str]] = []
        self.caught_up: list[tuple[int, list[int], str]] = []
        self.refused: list[tuple[InitRequest, str]] = []
        self.unreadable: set[str] = set()
        self.start_result: str | None | Exception = "started"

    def read(self, entry: Entry[str]) -> str | None:
        return None if entry.item in self.unreadable else entry.item

    def start(self, req: InitRequest, frame: str) -> str | None:
        if isinstance(self.start_result, Exception):
            raise self.start_result
        self.started.append((req, frame))
        return self.start_result

    def catch_up(self, start: Entry[str], later: list[Entry[str]], how: str) -> None:
        self.caught_up.append((start.stamp_ns, [e.stamp_ns for e in later], how))

    def refuse(self, req: InitRequest, reason: str) -> None:
        self.refused.append((req, reason))


@pytest.fixture
def clock() -> Clock:
    return Clock()


def setup(clock: Clock, stamps=(), tolerance_ms: float = 2.0, wait_ms: float = 500.0, maxlen=30):
    history: FrameHistory[str] = FrameHistory(maxlen)
    for stamp in stamps:
        history.push(stamp, f"frame@{stamp}")
    return history, InitScheduler(history, tolerance_ms, wait_ms, clock=clock), Handler()


def manual(stamp: int, clock: Clock, box=BOX) -> InitRequest:
    return InitRequest(stamp, box, clock())


def detections(stamp: int, clock: Clock) -> InitRequest:
    return InitRequest(stamp, None, clock(), (Detection(BOX, (("car", 0.9),)),))


def test_a_stamped_request_starts_on_its_frame_and_catches_up_oldest_first(clock):
    _, scheduler, handler = setup(clock, [100 * MS, 200 * MS, 300 * MS, 400 * MS])
    scheduler.add(manual(200 * MS + MS, clock))  # within the 2 ms tolerance
    scheduler.serve(handler)
    assert [frame for _, frame in handler.started] == [f"frame@{200 * MS}"]
    assert handler.caught_up == [(200 * MS, [300 * MS, 400 * MS], "started")]
    assert handler.refused == []
    scheduler.serve(handler)  # settled: not served twice
    assert len(handler.started) == 1


def test_an_unstamped_request_starts_on_the_newest_frame(clock):
    _, scheduler, handler = setup(clock, [100 * MS, 200 * MS])
    scheduler.add(manual(0, clock))
    scheduler.serve(handler)
    assert handler.caught_up == [(200 * MS, [], "started")]


def test_a_stamp_outside_the_tolerance_does_not_match(clock):
    _, scheduler, handler = setup(clock, [100 * MS, 200 * MS], tolerance_ms=2.0)
    scheduler.add(manual(200 * MS + 3 * MS, clock))
    scheduler.serve(handler)
    assert handler.started == [] and handler.refused == []  # may still arrive: waits
    scheduler.tolerance_ms = 5.0  # parameters change at run time
    scheduler.serve(handler)
    assert handler.caught_up == [(200 * MS, [], "started")]


def test_a_request_waits_for_its_frame_then_starts_when_it_arrives(clock):
    history, scheduler, handler = setup(clock, [100 * MS])
    scheduler.add(manual(200 * MS, clock))
    scheduler.serve(handler)
    assert handler.started == [] and handler.refused == []
    clock.now += 0.4
    history.push(200 * MS, f"frame@{200 * MS}")
    history.push(230 * MS, f"frame@{230 * MS}")
    scheduler.serve(handler)
    assert handler.caught_up == [(200 * MS, [230 * MS], "started")]


def test_a_request_whose_frame_never_comes_is_refused_after_the_wait(clock):
    _, scheduler, handler = setup(clock, [100 * MS, 150 * MS], wait_ms=500.0)
    scheduler.add(manual(900 * MS, clock))
    clock.now += 0.499
    scheduler.serve(handler)
    assert handler.refused == []
    clock.now += 0.002
    scheduler.serve(handler)
    [(req, reason)] = handler.refused
    assert req.stamp_ns == 900 * MS
    assert reason == (f"no buffered frame stamped {900 * MS} ns (frames stamped {100 * MS}.."
                      f"{150 * MS} ns); stamp the init with the header of the frame the box was "
                      "drawn on")
    scheduler.serve(handler)
    assert len(handler.refused) == 1 and handler.started == []


def test_a_request_older_than_every_buffered_frame_is_refused_at_once(clock):
    _, scheduler, handler = setup(clock, [100 * MS, 200 * MS])
    scheduler.add(manual(50 * MS, clock))
    scheduler.serve(handler)
    assert len(handler.refused) == 1 and "no buffered frame stamped" in handler.refused[0][1]


def test_without_frames_a_request_waits_then_says_no_frames_yet(clock):
    _, scheduler, handler = setup(clock, [])
    scheduler.add(manual(50 * MS, clock))
    scheduler.serve(handler)
    assert handler.refused == []
    clock.now += 1.0
    scheduler.serve(handler)
    assert "(no frames yet)" in handler.refused[0][1]


def test_unreadable_frames_and_unusable_boxes_are_refused_with_the_reason(clock):
    _, scheduler, handler = setup(clock, [100 * MS, 200 * MS])
    handler.unreadable.add(f"frame@{100 * MS}")
    scheduler.add(manual(100 * MS, clock))
    scheduler.serve(handler)
    assert handler.refused[-1][1] == f"its frame (stamp {100 * MS} ns) could not be read"
    handler.start_result = InvalidBoxError("box (0, 0, 0, 0) is empty")
    scheduler.add(manual(200 * MS, clock))
    scheduler.serve(handler)
    assert handler.refused[-1][1] == "box (0, 0, 0, 0) is empty"
    assert handler.caught_up == []


def test_nothing_to_start_on_settles_the_request_silently(clock):
    _, scheduler, handler = setup(clock, [100 * MS, 200 * MS])
    handler.start_result = None  # e.g. no detection passes the filters any more
    scheduler.add(detections(100 * MS, clock))
    scheduler.serve(handler)
    assert len(handler.started) == 1 and handler.caught_up == [] and handler.refused == []
    scheduler.serve(handler)
    assert len(handler.started) == 1


def test_manual_requests_are_served_in_order_and_only_the_newest_four_wait(clock):
    _, scheduler, handler = setup(clock, [100 * MS, 200 * MS, 300 * MS])
    requests = [manual(stamp * MS, clock) for stamp in (100, 200, 300, 100, 200)]
    for req in requests:  # five: the first is pushed out
        scheduler.add(req)
    scheduler.serve(handler)
    assert [req.stamp_ns for req, _ in handler.started] == [200 * MS, 300 * MS, 100 * MS, 200 * MS]
    # ... and answered, so its client does not wait out its timeout
    assert handler.refused == [(requests[0], "pushed out by newer init requests (at most 4 wait "
                                "for their frames)")]


def test_a_request_pushed_out_while_others_wait_is_refused_and_the_rest_keep_their_order(clock):
    history, scheduler, handler = setup(clock, [100 * MS])
    first = [manual(stamp * MS, clock) for stamp in (200, 210, 220, 230)]
    for req in first:
        scheduler.add(req)
    scheduler.serve(handler)  # all four wait for their frames
    assert handler.started == [] and handler.refused == []
    late = manual(240 * MS, clock)
    scheduler.add(late)
    scheduler.serve(handler)
    assert [req for req, _ in handler.refused] == [first[0]]
    for stamp in (200, 210, 220, 230, 240):
        history.push(stamp * MS, f"frame@{stamp * MS}")
    scheduler.serve(handler)
    assert [req for req, _ in handler.started] == [*first[1:], late]


def test_only_the_newest_detections_are_kept(clock):
    _, scheduler, handler = setup(clock, [100 * MS, 200 * MS])
    scheduler.add(detections(100 * MS, clock))
    scheduler.add(detections(200 * MS, clock))
    scheduler.serve(handler)
    assert [req.stamp_ns for req, _ in handler.started] == [200 * MS]


def test_a_manual_request_waiting_for_its_frame_wins_over_detections(clock):
    history, scheduler, handler = setup(clock, [100 * MS, 200 * MS])
    scheduler.add(manual(300 * MS, clock))  # its frame has not arrived
    scheduler.add(detections(200 * MS, clock))
    scheduler.serve(handler)
    assert handler.started == []  # the detections are dropped, not started
    history.push(300 * MS, f"frame@{300 * MS}")
    scheduler.serve(handler)
    assert [req.detections for req, _ in handler.started] == [None]


def test_waiting_detections_keep_their_place_unless_newer_ones_arrive(clock):
    history, scheduler, handler = setup(clock, [100 * MS])
    scheduler.add(detections(200 * MS, clock))
    scheduler.serve(handler)  # waits for frame 200
    history.push(200 * MS, f"frame@{200 * MS}")
    scheduler.serve(handler)
    assert [req.stamp_ns for req, _ in handler.started] == [200 * MS]

    scheduler.add(detections(400 * MS, clock))
    scheduler.serve(handler)  # waits for frame 400 ...
    scheduler.add(detections(300 * MS, clock))  # ... until newer detections replace it
    history.push(300 * MS, f"frame@{300 * MS}")
    history.push(400 * MS, f"frame@{400 * MS}")
    scheduler.serve(handler)
    assert [req.stamp_ns for req, _ in handler.started] == [200 * MS, 300 * MS]
    clock.now += 1.0
    scheduler.serve(handler)
    assert len(handler.started) == 2 and handler.refused == []


def test_unmatched_detections_are_refused_with_the_detector_hint(clock):
    _, scheduler, handler = setup(clock, [100 * MS, 200 * MS])
    scheduler.add(detections(10 * MS, clock))
    scheduler.serve(handler)
    [(req, reason)] = handler.refused
    assert req.detections is not None
    assert reason.endswith("a detector must publish with the header of the frame it ran on")


def test_clear_forgets_every_pending_request(clock):
    history, scheduler, handler = setup(clock, [100 * MS])
    scheduler.add(manual(200 * MS, clock))
    scheduler.add(detections(200 * MS, clock))
    scheduler.serve(handler)
    scheduler.clear()
    history.push(200 * MS, f"frame@{200 * MS}")
    scheduler.serve(handler)
    assert handler.started == [] and handler.refused == []


class InterleavingHandler(Handler):
    """Runs ``during_read`` the first time a frame is read: what another thread (a ~/stop, a new
    ~/init) does while ``serve()`` works on the requests it has taken out."""

    def __init__(self, during_read) -> None:
        super().__init__()
        self.during_read = during_read

    def read(self, entry: Entry[str]) -> str | None:
        if self.during_read is not None:
            action, self.during_read = self.during_read, None
            action()
        return super().read(entry)


def test_a_clear_while_serving_is_not_undone_by_putting_waiting_requests_back(clock):
    history, scheduler, _ = setup(clock, [100 * MS])
    handler = InterleavingHandler(scheduler.clear)  # ~/stop while the second one is read
    waiting = manual(300 * MS, clock)  # its frame has not arrived: would be put back
    starting = manual(100 * MS, clock)
    scheduler.add(waiting)
    scheduler.add(starting)
    scheduler.add(manual(0, clock))  # taken out too: forgotten, not started
    scheduler.add(detections(100 * MS, clock))
    scheduler.serve(handler)
    assert [req for req, _ in handler.started] == [starting]  # already being started
    history.push(300 * MS, f"frame@{300 * MS}")
    scheduler.serve(handler)
    clock.now += 1.0
    scheduler.serve(handler)
    assert [req for req, _ in handler.started] == [starting] and handler.refused == []


def test_a_request_taken_out_before_a_clear_is_no_longer_current(clock):
    _, scheduler, _ = setup(clock, [100 * MS])
    started: list[InitRequest] = []

    class CheckingHandler(InterleavingHandler):  # as the tracker node's start() checks
        def start(self, req: InitRequest, frame: str) -> str | None:
            if not scheduler.current(req):
                return None
            started.append(req)
            return super().start(req, frame)
    handler = CheckingHandler(scheduler.clear)  # ~/stop between reading the frame and starting
    scheduler.add(manual(100 * MS, clock))
    scheduler.serve(handler)
    assert started == [] and handler.caught_up == [] and handler.refused == []
    after = manual(100 * MS, clock)  # a request after the clear is current again
    scheduler.add(after)
    scheduler.serve(handler)
    assert started == [after]


def test_waiting_detections_are_not_put_back_after_a_clear(clock):
    history, scheduler, _ = setup(clock, [100 * MS])
    handler = InterleavingHandler(None)
    scheduler.add(detections(200 * MS, clock))
    original_match = scheduler.match

    def match_then_clear(req):
        entry = original_match(req)
        scheduler.clear()  # ~/reset between taking the detections out and putting them back
        return entry
    scheduler.match = match_then_clear
    scheduler.serve(handler)  # frame 200 not there: the detections would wait
    scheduler.match = original_match
    history.push(200 * MS, f"frame@{200 * MS}")
    scheduler.serve(handler)
    assert handler.started == [] and handler.refused == []


def test_a_request_added_while_serving_queues_behind_the_older_waiting_ones(clock):
    history, scheduler, _ = setup(clock, [100 * MS])
    older = [manual(300 * MS, clock), manual(310 * MS, clock)]  # wait for their frames
    newer = manual(320 * MS, clock)
    handler = InterleavingHandler(lambda: scheduler.add(newer))  # a ~/init arrives meanwhile
    scheduler.add(older[0])
    scheduler.add(manual(100 * MS, clock))  # starts; its read() adds ``newer``
    scheduler.add(older[1])
    scheduler.serve(handler)
    assert [req.stamp_ns for req, _ in handler.started] == [100 * MS]
    for stamp in (300, 310, 320):
        history.push(stamp * MS, f"frame@{stamp * MS}")
    scheduler.serve(handler)
    assert [req for req, _ in handler.started[1:]] == [*older, newer]


def test_the_wait_can_change_at_run_time(clock):
    _, scheduler, handler = setup(clock, [100 * MS], wait_ms=10_000.0)
    scheduler.add(manual(200 * MS, clock))
    clock.now += 1.0
    scheduler.serve(handler)
    assert handler.refused == []
    scheduler.wait_ms = 500.0
    scheduler.serve(handler)
    assert len(handler.refused) == 1
