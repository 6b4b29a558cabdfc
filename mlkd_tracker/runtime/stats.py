"""Rolling rate and latency statistics for diagnostics (ROS-free so they are unit-tested)."""
from __future__ import annotations

import math
import threading
from collections import deque

import numpy as np


class RollingWindow:
    """The last ``maxlen`` samples of a quantity, with percentiles (thread-safe)."""

    def __init__(self, maxlen: int = 300) -> None:
        if maxlen < 1:
            raise ValueError(f"maxlen must be >= 1, got {maxlen}")
        self._values: deque[float] = deque(maxlen=maxlen)
        self._lock = threading.Lock()

    def add(self, value: float) -> None:
        """Record one sample; NaN/inf are ignored (they would poison every percentile)."""
        value = float(value)
        if not math.isfinite(value):
            return
        with self._lock:
            self._values.append(value)

    def percentiles(self, *qs: float) -> list[float]:
        """NaN for each q while empty, so diagnostics show "no data" rather than 0."""
        with self._lock:
            if not self._values:
                return [float("nan")] * len(qs)
            return [float(v) for v in np.percentile(np.fromiter(self._values, float), qs)]

    def __len__(self) -> int:
        return len(self._values)


class RateMeter:
    """Events per second over a sliding time window (monotonic seconds supplied by the caller)."""

    def __init__(self, window_s: float = 2.0) -> None:
        if not window_s > 0:
            raise ValueError(f"window_s must be > 0, got {window_s}")
        self.window_s = window_s
        self._times: deque[float] = deque()
        self._lock = threading.Lock()

    def tick(self, now: float) -> None:
        with self._lock:
            self._times.append(now)
            self._trim(now)

    def rate(self, now: float) -> float:
        with self._lock:
            self._trim(now)
            return len(self._times) / self.window_s

    def _trim(self, now: float) -> None:
        # the window is (now - window_s, now]: n events at f Hz over it count n, not n + 1
        while self._times and self._times[0] <= now - self.window_s:
            self._times.popleft()
