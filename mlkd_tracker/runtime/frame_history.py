"""A short, stamp-indexed history of recent frames.

The newest entry is what the worker processes next (older unprocessed ones are dropped, never
queued); the history lets an init request drawn on an older frame be matched by its stamp and the
tracker then catch up through the frames that followed.
"""
from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Entry(Generic[T]):
    seq: int        # arrival counter: gaps between processed seqs are dropped frames
    stamp_ns: int   # header stamp of the frame
    item: T         # the message (converted lazily by the worker)


class FrameHistory(Generic[T]):
    """Thread-safe ring of the last ``maxlen`` frames; the worker waits for a newer one."""

    def __init__(self, maxlen: int = 30) -> None:
        if maxlen < 1:
            raise ValueError(f"maxlen must be >= 1, got {maxlen}")
        self._entries: deque[Entry[T]] = deque(maxlen=maxlen)
        self._lock = threading.Lock()
        self._new = threading.Condition(self._lock)  # notified on every push
        self._seq = 0

    def push(self, stamp_ns: int, item: T) -> None:
        with self._new:
            self._seq += 1
            self._entries.append(Entry(self._seq, stamp_ns, item))
            self._new.notify_all()

    def wait_newest(self, after_seq: int, timeout: float) -> Entry[T] | None:
        """Newest entry with ``seq > after_seq``, waiting up to ``timeout`` seconds for one.

        Returns at once when such an entry is already held, and None only after ``timeout``.
        """
        def newer() -> bool:
            return bool(self._entries) and self._entries[-1].seq > after_seq

        with self._new:
            if self._new.wait_for(newer, timeout=max(0.0, timeout)):
                return self._entries[-1]
        return None

    def find(self, stamp_ns: int, tolerance_ns: int = 0) -> Entry[T] | None:
        """The entry whose stamp is nearest ``stamp_ns`` within ``tolerance_ns``."""
        with self._lock:
            best = min(self._entries, key=lambda e: abs(e.stamp_ns - stamp_ns), default=None)
        if best is None or abs(best.stamp_ns - stamp_ns) > tolerance_ns:
            return None
        return best

    def after(self, seq: int) -> list[Entry[T]]:
        """Entries newer than ``seq``, oldest first (the catch-up path after an init)."""
        with self._lock:
            return [e for e in self._entries if e.seq > seq]

    def span_ns(self) -> tuple[int, int] | None:
        """(oldest, newest) stamps held, for error messages about unmatched init stamps."""
        with self._lock:
            if not self._entries:
                return None
            return self._entries[0].stamp_ns, self._entries[-1].stamp_ns

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
