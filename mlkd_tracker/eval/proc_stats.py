"""CPU time and resident memory of running processes, sampled from ``/proc`` (Linux).

Why ``/proc`` and not psutil: psutil is not a dependency of the package (a drone image carries
numpy, OpenCV, ONNX Runtime and rclpy), and the benchmarks need only two numbers per process,
each one line of ``/proc``: CPU seconds (``stat`` fields 14 and 15, utime + stime, summed over all
threads) and memory (``status``: VmRSS now, VmHWM the peak since the process image started —
``exec`` resets it, which is right here, because the ROS wheels' start-up hook re-executes every
Python process once and the peak of that short-lived first image is not the node's).

CPU % follows ``top``: 100 % is one core fully busy, so a process may exceed 100 %.
"""
from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ProcSample", "read_sample", "cpu_percent", "ProcessSampler", "window_summary"]

PROC = Path("/proc")
_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
MB = 1024 * 1024


@dataclass(frozen=True)
class ProcSample:
    t: float              # the sampler's clock (monotonic seconds by default)
    cpu_s: float          # user + system CPU seconds since the process started
    rss_bytes: int        # resident set size now
    peak_rss_bytes: int   # high-water mark of the resident set since exec


def _parse_cpu_seconds(stat: str) -> float:
    """utime + stime from a ``/proc/<pid>/stat`` line. The command name (field 2) is in
    parentheses and may itself hold spaces and ')', so fields are counted after the last ')'."""
    fields = stat[stat.rindex(")") + 2:].split()
    # fields[0] is field 3 (state): utime (14) and stime (15) are fields[11] and fields[12]
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


def _parse_status_kb(status: str, key: str) -> int:
    for line in status.splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise ValueError(f"no {key} in /proc status (a kernel thread or a zombie?)")


def read_sample(pid: int, proc_root: Path = PROC,
                clock: Callable[[], float] = time.monotonic) -> ProcSample:
    """One sample of ``pid``; raises ProcessLookupError when the process is gone."""
    base = proc_root / str(pid)
    try:
        stat = (base / "stat").read_text()
        status = (base / "status").read_text()
    except (FileNotFoundError, ProcessLookupError) as exc:
        raise ProcessLookupError(f"process {pid} is gone") from exc
    try:
        return ProcSample(clock(), _parse_cpu_seconds(stat),
                          _parse_status_kb(status, "VmRSS") * 1024,
                          _parse_status_kb(status, "VmHWM") * 1024)
    except ValueError as exc:
        raise ProcessLookupError(f"process {pid}: {exc}") from exc


def cpu_percent(first: ProcSample, last: ProcSample) -> float:
    """Mean CPU use between two samples of one process, % of one core; NaN for no interval."""
    dt = last.t - first.t
    return 100.0 * (last.cpu_s - first.cpu_s) / dt if dt > 0 else float("nan")


class ProcessSampler:
    """Samples labelled processes every ``period_s`` on a background thread, so a long (soak) run
    gets a memory timeline, not only the peak. A process that ends keeps the samples it had."""

    def __init__(self, pids: Mapping[str, int], period_s: float = 1.0, proc_root: Path = PROC,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not period_s > 0:
            raise ValueError(f"period_s must be > 0, got {period_s}")
        self.pids = dict(pids)
        self.period_s = period_s
        self._root, self._clock = proc_root, clock
        self.samples: dict[str, list[ProcSample]] = {label: [] for label in self.pids}
        self.gone: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sample_now(self) -> None:
        """Take one sample of every process still running."""
        for label, pid in self.pids.items():
            if label in self.gone:
                continue
            try:
                sample = read_sample(pid, self._root, self._clock)
            except ProcessLookupError:
                self.gone.add(label)
                continue
            with self._lock:
                self.samples[label].append(sample)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample_now()
            self._stop.wait(self.period_s)

    def start(self) -> "ProcessSampler":
        self._thread = threading.Thread(target=self._run, name="proc_sampler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)

    def snapshot(self) -> dict[str, list[ProcSample]]:
        with self._lock:
            return {label: list(s) for label, s in self.samples.items()}


def window_summary(samples: list[ProcSample], start: float, end: float) -> dict[str, float | None]:
    """CPU % and memory of one process over ``[start, end]`` (the sampler's clock).

    ``peak_rss_mb`` is the kernel's high-water mark at the last sample: the peak over the
    process's whole life, start-up included, which is what a memory budget must cover.
    Values are None when the window holds fewer than two samples.
    """
    inside = [s for s in samples if start <= s.t <= end]
    if len(inside) < 2:
        return {"cpu_percent": None, "rss_mean_mb": None, "rss_max_mb": None, "peak_rss_mb": None}
    rss = [s.rss_bytes / MB for s in inside]
    return {"cpu_percent": cpu_percent(inside[0], inside[-1]),
            "rss_mean_mb": sum(rss) / len(rss), "rss_max_mb": max(rss),
            "peak_rss_mb": inside[-1].peak_rss_bytes / MB}
