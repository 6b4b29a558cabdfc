"""Specification of mlkd_tracker.eval.proc_stats: CPU seconds and memory per process from /proc,
sampled over time, summarised over a window. Parsing is checked on a fake /proc (exact numbers);
one test reads a real process that holds a known amount of memory."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlkd_tracker.eval.proc_stats import (MB, ProcessSampler, ProcSample, cpu_percent,
                                          read_sample, window_summary)

TCK = os.sysconf("SC_CLK_TCK")


def fake_process(root: Path, pid: int, comm: str, utime: int, stime: int, rss_kb: int | None,
                 hwm_kb: int | None) -> None:
    """Write /proc/<pid>/stat and status as the kernel does (only the fields read matter)."""
    d = root / str(pid)
    d.mkdir(parents=True, exist_ok=True)
    rest = ["S"] + ["7"] * 10 + [str(utime), str(stime)] + ["9"] * 30
    (d / "stat").write_text(f"{pid} ({comm}) {' '.join(rest)}\n")
    lines = [f"Name:\t{comm}", "State:\tS (sleeping)"]
    if hwm_kb is not None:
        lines.append(f"VmHWM:\t{hwm_kb:8d} kB")
    if rss_kb is not None:
        lines.append(f"VmRSS:\t{rss_kb:8d} kB")
    (d / "status").write_text("\n".join(lines) + "\n")


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_cpu_seconds_are_user_plus_system_ticks_even_if_the_name_holds_parentheses(tmp_path):
    fake_process(tmp_path, 42, "tracker) (node x", utime=3 * TCK, stime=TCK, rss_kb=2048,
                 hwm_kb=4096)
    sample = read_sample(42, tmp_path, clock=lambda: 5.0)
    assert sample == ProcSample(t=5.0, cpu_s=4.0, rss_bytes=2048 * 1024, peak_rss_bytes=4096 * 1024)


def test_a_missing_process_raises_process_lookup_error(tmp_path):
    with pytest.raises(ProcessLookupError, match="77"):
        read_sample(77, tmp_path)


def test_a_process_without_memory_fields_raises_process_lookup_error(tmp_path):
    fake_process(tmp_path, 5, "kthread", 0, 0, rss_kb=None, hwm_kb=None)
    with pytest.raises(ProcessLookupError, match="VmRSS"):
        read_sample(5, tmp_path)


def test_cpu_percent_is_cpu_seconds_per_wall_second_in_percent_of_one_core():
    first = ProcSample(t=10.0, cpu_s=1.0, rss_bytes=0, peak_rss_bytes=0)
    assert cpu_percent(first, ProcSample(12.0, 4.0, 0, 0)) == pytest.approx(150.0)  # 1.5 cores
    assert cpu_percent(first, ProcSample(14.0, 2.0, 0, 0)) == pytest.approx(25.0)


def test_cpu_percent_over_no_interval_is_nan():
    s = ProcSample(1.0, 1.0, 0, 0)
    assert cpu_percent(s, s) != cpu_percent(s, s)


def test_the_sampler_keeps_a_timeline_per_label_and_marks_processes_that_end(tmp_path):
    clock = Clock()
    fake_process(tmp_path, 1, "a", 0, 0, 1000, 1000)
    fake_process(tmp_path, 2, "b", 0, 0, 500, 500)
    sampler = ProcessSampler({"a": 1, "b": 2}, period_s=1.0, proc_root=tmp_path, clock=clock)
    sampler.sample_now()
    clock.t = 2.0
    fake_process(tmp_path, 1, "a", TCK, 0, 3000, 3000)
    (tmp_path / "2" / "stat").unlink()  # b ends
    sampler.sample_now()
    got = sampler.snapshot()
    assert [s.rss_bytes // 1024 for s in got["a"]] == [1000, 3000]
    assert [s.t for s in got["a"]] == [0.0, 2.0]
    assert len(got["b"]) == 1 and sampler.gone == {"b"}


def test_window_summary_uses_only_samples_inside_the_window():
    samples = [ProcSample(t, cpu, int(rss * MB), int(peak * MB)) for t, cpu, rss, peak in
               [(0.0, 0.0, 999, 999), (1.0, 1.0, 100, 1000), (2.0, 1.5, 110, 1000),
                (3.0, 2.0, 120, 1000), (9.0, 9.0, 999, 999)]]
    s = window_summary(samples, 1.0, 3.0)
    assert s["cpu_percent"] == pytest.approx(50.0)
    assert s["rss_mean_mb"] == pytest.approx(110.0)
    assert s["rss_max_mb"] == pytest.approx(120.0)
    assert s["peak_rss_mb"] == pytest.approx(1000.0)  # the high-water mark at the window's end


def test_window_summary_with_fewer_than_two_samples_reports_nothing():
    one = [ProcSample(1.0, 1.0, MB, MB)]
    assert set(window_summary(one, 0.0, 2.0).values()) == {None}


def test_a_real_process_holding_64_mb_shows_at_least_that_resident():
    code = ("import sys; b = bytearray(64 * 1024 * 1024); b[::4096] = b'x' * len(b[::4096]); "
            "print('ready', flush=True); sys.stdin.read()")
    child = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        sample = read_sample(child.pid)
        assert sample.rss_bytes >= 64 * MB
        assert sample.peak_rss_bytes >= sample.rss_bytes
        assert sample.cpu_s >= 0.0
    finally:
        child.stdin.close()
        child.wait(timeout=30)
