"""Numbers and files shared by the ``mlkd-tracker bench`` commands (nodes, trackers, enhancers,
detectors): latency distributions, soak drift, the machine description, and the two outputs —
one JSON file and ``BENCHMARKS.md`` — each holding one section per benchmark.

Why sections: the benchmarks run separately (minutes apart, or on different days), and a re-run
of one must replace its own numbers without erasing the others'. The markdown sections sit
between HTML comment markers, so a person may edit the text around them.

ROS-free and torch-free: importable where only numpy is.
"""
from __future__ import annotations

import json
import math
import os
import platform
import re
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import numpy as np

__all__ = ["distribution", "split_windows", "growth_percent", "machine_info", "format_machine",
           "clean_json", "update_json", "write_section", "SECTION_ORDER", "MARKDOWN_HEADER", "fmt"]

SECTION_ORDER = ("nodes", "nodes_soak", "trackers", "enhancers", "detectors")
MARKDOWN_HEADER = """# Benchmarks

Written by `mlkd-tracker bench nodes` (section `nodes`; with `--soak`, section `nodes_soak`),
`bench trackers`, `bench enhancers` and `bench detectors` (sections of the same names), each
run with `--markdown BENCHMARKS.md` (without it a bench writes only its JSON). Each command
replaces its own section (between the `<!-- bench:... -->` markers) and leaves the rest of this
file alone; the JSON behind each table is in `<out>/benchmarks.json` (default `runs/bench/`),
under the same section name. Each section names the command that wrote it; the node and tracker
sections also name the machine, its load at the start and the date. The sections were measured
at different times and loads: compare rows within one section.
"""


def distribution(values_ms: Iterable[float]) -> dict[str, float | int | None]:
    """p50 / p95 / p99 / max / mean of a latency sample (finite values only); None when empty,
    so a report says "no data" instead of a made-up 0."""
    v = np.asarray([x for x in values_ms if math.isfinite(x)], dtype=np.float64)
    if v.size == 0:
        return {"n": 0, "p50": None, "p95": None, "p99": None, "max": None, "mean": None}
    p50, p95, p99 = (float(x) for x in np.percentile(v, [50, 95, 99]))
    return {"n": int(v.size), "p50": p50, "p95": p95, "p99": p99, "max": float(v.max()),
            "mean": float(v.mean())}


def split_windows(times: Sequence[float], start: float, end: float,
                  window_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks of the first and the last ``window_s`` of ``[start, end]`` (clipped to half
    the span, so the two never overlap)."""
    t = np.asarray(times, dtype=np.float64)
    w = min(window_s, (end - start) / 2)
    return (t >= start) & (t < start + w), (t > end - w) & (t <= end)


def growth_percent(first: float | None, last: float | None) -> float | None:
    """(last - first) / first in %; None when either is missing or first is not positive."""
    if first is None or last is None or not first > 0:
        return None
    return 100.0 * (last - first) / first


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _os_name() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return f"{line.split('=', 1)[1].strip().strip(chr(34))}, {platform.system()} " \
                       f"{platform.release()}"
    except OSError:
        pass
    return platform.platform()


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine_info() -> dict[str, object]:
    """What a reader needs to compare numbers between machines — and the load at the start,
    because numbers taken while other jobs run are not the machine's numbers."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return {
        "cpu_model": _cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "os": _os_name(),
        "python": platform.python_version(),
        "onnxruntime": _version("onnxruntime"),
        "opencv": _version("opencv-contrib-python-headless"),
        "rclpy": _version("rclpy"),
        "load_average_1_5_15": [round(x, 2) for x in load],
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def format_machine(info: dict) -> str:
    load = ", ".join(f"{x:.2f}" for x in info.get("load_average_1_5_15", []))
    return (f"{info['cpu_model']}, {info['cores']} cores ({info['usable_cores']} usable); "
            f"{info['os']}; Python {info['python']}, onnxruntime {info['onnxruntime']}, "
            f"OpenCV {info['opencv']}, rclpy {info['rclpy']}; load average at start {load}; "
            f"{info['date']}")


def fmt(value: object, digits: int = 1) -> str:
    """A table cell: numbers rounded, missing values as an en dash."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def clean_json(value: object) -> object:
    """JSON has no NaN or inf: write null (and numpy scalars as plain numbers)."""
    if isinstance(value, dict):
        return {str(k): clean_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean_json(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def update_json(path: Path, section: str, data: dict) -> None:
    """Set ``section`` of the JSON object in ``path`` (created if missing), keeping the others.
    An unreadable file is not silently overwritten: it would lose the other benchmark's data."""
    path = Path(path)
    content: dict = {}
    if path.is_file():
        try:
            content = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path} is not valid JSON ({exc}); move it away first") from exc
        if not isinstance(content, dict):
            raise ValueError(f"{path} does not hold a JSON object; move it away first")
    content[section] = clean_json(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(content, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)


def _markers(name: str) -> tuple[str, str]:
    return f"<!-- bench:{name} begin -->", f"<!-- bench:{name} end -->"


def write_section(path: Path, name: str, body: str) -> None:
    """Put ``body`` between the markers of section ``name`` in the markdown file ``path``:
    replaced in place if the section exists, else inserted in ``SECTION_ORDER`` (before the first
    later section present) or appended. A missing file starts with ``MARKDOWN_HEADER``."""
    path = Path(path)
    text = path.read_text(encoding="utf-8") if path.is_file() else MARKDOWN_HEADER
    begin, end = _markers(name)
    block = f"{begin}\n{body.strip()}\n{end}"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _m: block, text, count=1)
    else:
        later = SECTION_ORDER[SECTION_ORDER.index(name) + 1:] if name in SECTION_ORDER else ()
        positions = [text.find(_markers(n)[0]) for n in later if _markers(n)[0] in text]
        if positions:
            at = min(positions)
            text = text[:at] + block + "\n\n" + text[at:]
        else:
            text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
