"""Specification of mlkd_tracker.eval.bench_report: latency distributions, soak windows, the
machine description, and the shared outputs (one JSON file and BENCHMARKS.md, one section per
benchmark, so re-running one benchmark never erases the other's numbers)."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from mlkd_tracker.eval.bench_report import (MARKDOWN_HEADER, distribution, format_machine,
                                            growth_percent, machine_info, split_windows,
                                            update_json, write_section)


def test_distribution_matches_numpy_percentiles_and_ignores_non_finite_values():
    values = list(np.linspace(1.0, 100.0, 100)) + [math.nan, math.inf]
    d = distribution(values)
    ref = np.percentile(np.linspace(1.0, 100.0, 100), [50, 95, 99])
    assert d["n"] == 100
    assert (d["p50"], d["p95"], d["p99"]) == pytest.approx(tuple(ref))
    assert (d["max"], d["mean"]) == pytest.approx((100.0, 50.5))


def test_distribution_of_nothing_is_none_not_zero():
    assert distribution([]) == {"n": 0, "p50": None, "p95": None, "p99": None, "max": None,
                                "mean": None}


def test_split_windows_takes_the_first_and_last_window_of_the_span():
    first, last = split_windows([0.0, 10.0, 59.9, 60.0, 300.0, 540.1, 600.0], 0.0, 600.0, 60.0)
    assert first.tolist() == [True, True, True, False, False, False, False]
    assert last.tolist() == [False, False, False, False, False, True, True]


def test_split_windows_never_overlap_on_a_short_run():
    first, last = split_windows([0.0, 1.0, 2.0, 3.0, 4.0], 0.0, 4.0, 60.0)
    assert not (first & last).any()
    assert first.tolist() == [True, True, False, False, False]
    assert last.tolist() == [False, False, False, True, True]


@pytest.mark.parametrize("first, last, expected", [(100.0, 104.0, 4.0), (200.0, 190.0, -5.0),
                                                   (None, 1.0, None), (0.0, 1.0, None)])
def test_growth_percent(first, last, expected):
    got = growth_percent(first, last)
    assert got == (pytest.approx(expected) if expected is not None else None)


def test_machine_info_names_cpu_cores_os_python_and_onnxruntime():
    info = machine_info()
    assert {"cpu_model", "cores", "usable_cores", "os", "python", "onnxruntime",
            "load_average_1_5_15", "date"} <= info.keys()
    assert info["cores"] >= 1 and info["onnxruntime"][0].isdigit()
    text = format_machine(info)
    for key in ("cpu_model", "python", "onnxruntime"):
        assert str(info[key]) in text


# ---- the markdown file ---------------------------------------------------------------------------
def test_a_missing_markdown_file_is_created_with_the_header_and_the_section(tmp_path):
    path = tmp_path / "BENCHMARKS.md"
    write_section(path, "nodes", "## Nodes\n\nnumbers")
    text = path.read_text()
    assert text.startswith(MARKDOWN_HEADER)
    assert "<!-- bench:nodes begin -->\n## Nodes\n\nnumbers\n<!-- bench:nodes end -->" in text


def test_rewriting_a_section_replaces_only_that_section(tmp_path):
    path = tmp_path / "BENCHMARKS.md"
    write_section(path, "nodes", "old nodes")
    write_section(path, "trackers", "trackers table")
    path.write_text(path.read_text() + "\nA note a person added by hand.\n")
    write_section(path, "nodes", "new nodes")
    text = path.read_text()
    assert "old nodes" not in text and text.count("new nodes") == 1
    assert "trackers table" in text and "A note a person added by hand." in text
    assert text.index("new nodes") < text.index("trackers table")


def test_a_new_section_goes_before_the_sections_that_follow_it(tmp_path):
    path = tmp_path / "BENCHMARKS.md"
    write_section(path, "trackers", "trackers table")
    write_section(path, "nodes", "nodes table")
    text = path.read_text()
    assert text.index("nodes table") < text.index("trackers table")


def test_sections_keep_the_order_nodes_soak_trackers_whatever_order_they_are_written_in(
        tmp_path):
    path = tmp_path / "BENCHMARKS.md"
    for name in ("trackers", "nodes", "nodes_soak"):
        write_section(path, name, f"{name} table")
    text = path.read_text()
    assert text.index("nodes table") < text.index("nodes_soak table") < text.index("trackers table")


def test_enhancer_and_detector_sections_follow_the_tracker_section(tmp_path):
    path = tmp_path / "BENCHMARKS.md"
    for name in ("detectors", "enhancers", "trackers", "nodes"):
        write_section(path, name, f"{name} table")
    text = path.read_text()
    assert (text.index("nodes table") < text.index("trackers table")
            < text.index("enhancers table") < text.index("detectors table"))


def test_the_header_names_every_bench_command_that_writes_a_section():
    for command in ("bench nodes", "bench trackers", "bench enhancers", "bench detectors"):
        assert command in MARKDOWN_HEADER


def test_writing_the_same_section_twice_changes_nothing(tmp_path):
    path = tmp_path / "BENCHMARKS.md"
    write_section(path, "nodes", "table")
    once = path.read_text()
    write_section(path, "nodes", "table")
    assert path.read_text() == once


def test_section_text_with_backslashes_is_written_verbatim(tmp_path):
    path = tmp_path / "BENCHMARKS.md"
    write_section(path, "nodes", "a")
    write_section(path, "nodes", r"path C:\new\1 and \g<0>")
    assert r"path C:\new\1 and \g<0>" in path.read_text()


# ---- the JSON file -------------------------------------------------------------------------------
def test_update_json_keeps_the_other_sections_and_writes_nan_as_null(tmp_path):
    path = tmp_path / "out" / "benchmarks.json"
    update_json(path, "trackers", {"fps": 10.0})
    update_json(path, "nodes", {"p99": math.nan, "rows": [np.float64(1.5), math.inf]})
    content = json.loads(path.read_text())
    assert content == {"trackers": {"fps": 10.0}, "nodes": {"p99": None, "rows": [1.5, None]}}


def test_update_json_refuses_to_overwrite_a_file_it_cannot_read(tmp_path):
    path = tmp_path / "benchmarks.json"
    path.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        update_json(path, "nodes", {})
    assert path.read_text() == "{not json"
