"""`mlkd-tracker bench nodes`: a short, small run of the real pipeline (sim_node → tracker_node
with the shipped student → follow_node) in real processes. It checks what is measured and
written — every node, consistent frame accounting, per-frame ages, /proc numbers, the soak
comparison, JSON and markdown with the command — never how fast anything is."""
from __future__ import annotations

import argparse
import json

import pytest

from mlkd_tracker.eval.proc_stats import MB, ProcSample
from mlkd_tracker.tools import node_bench_cli
from mlkd_tracker.tools.node_bench import NodeBenchConfig, summarise

pytestmark = pytest.mark.ros
NODES = {"sim_node", "tracker_node", "follow_node"}


def _args(tmp_path, *extra: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    node_bench_cli.add_arguments(parser)
    return parser.parse_args(["--duration", "3", "--warmup", "1", "--rate", "15", "--width", "160",
                              "--height", "120", "--out", str(tmp_path / "out"), "--markdown",
                              str(tmp_path / "BENCHMARKS.md"), "--start-timeout", "120",
                              "--no-progress", *extra])


@pytest.fixture(scope="module")
def soak_run(ros_domain_id, tmp_path_factory):
    """One short soak run shared by the tests below (starting the pipeline is the slow part)."""
    tmp = tmp_path_factory.mktemp("bench")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ROS_DOMAIN_ID", str(ros_domain_id))
        mp.setenv("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
        mp.setenv("ROS_LOG_DIR", str(tmp / "ros_log"))
        args = _args(tmp, "--soak", "--soak-window", "1", "--note", "test run")
        code = node_bench_cli.main(args)
    content = json.loads((tmp / "out" / "benchmarks.json").read_text()) if code == 0 else {}
    return code, args, content.get("nodes_soak", {}), tmp


def test_a_soak_run_has_its_own_section_beside_the_plain_run(soak_run):
    code, _, _, tmp = soak_run
    assert code == 0
    assert list(json.loads((tmp / "out" / "benchmarks.json").read_text())) == ["nodes_soak"]
    text = (tmp / "BENCHMARKS.md").read_text()
    assert "<!-- bench:nodes_soak begin -->" in text and "<!-- bench:nodes begin -->" not in text


def test_the_run_succeeds_and_stops_every_node_it_started(soak_run):
    code, _, result, _ = soak_run
    assert code == 0
    assert set(result["exit_codes"]) == NODES
    # 0 after SIGINT; on a loaded machine the stop may escalate to SIGTERM (-15). A positive
    # code would be a node that failed on its own.
    assert all(c == 0 or c < 0 for c in result["exit_codes"].values()), result["exit_codes"]


def test_the_tracker_runs_the_shipped_student_and_its_frames_add_up(soak_run):
    _, _, result, _ = soak_run
    t = result["nodes"]["tracker_node"]
    assert t["role"] == "tracker (student_mobile)"
    assert t["input_frames"] > 0 and t["processed_frames"] > 0
    assert t["processed_frames"] + t["unanswered_frames"] == t["input_frames"]
    assert 0 <= t["frames_with_box"] <= t["processed_frames"]
    # the counter counts only frames that got no output and were newer than the last frame
    # answered when the window opened (exactly; see node_bench's docstring)
    assert 0 <= t["dropped_frames"] <= t["droppable_frames"]
    # the monitor re-sends an init that brought no track within a second (as in the demo)
    assert t["state"] in ("TRACKING", "LOST") and int(t["episode"]) >= 1


def test_frame_ages_are_per_frame_and_delivery_comes_after_publishing(soak_run):
    _, _, result, _ = soak_run
    t = result["nodes"]["tracker_node"]
    age, delivered = t["frame_age_ms"], t["delivered_age_ms"]
    assert age["n"] == delivered["n"] == t["processed_frames"]
    assert 0 < age["p50"] <= age["p95"] <= age["p99"] <= age["max"]
    assert delivered["p50"] >= age["p50"] and delivered["max"] >= age["max"]
    follow = result["nodes"]["follow_node"]  # answers the frames the tracker found a box in
    assert follow["frame_age_ms"]["n"] == follow["processed_frames"] <= t["frames_with_box"]
    if follow["processed_frames"]:
        assert follow["frame_age_ms"]["p50"] > 0


def test_every_process_has_cpu_and_memory_numbers(soak_run):
    _, _, result, _ = soak_run
    assert set(result["nodes"]) == NODES
    for name, node in result["nodes"].items():
        assert node["cpu_percent"] > 0, name
        assert 20 < node["rss_mean_mb"] <= node["rss_max_mb"] <= node["peak_rss_mb"], name


def test_soak_compares_first_and_last_window_for_every_node(soak_run):
    _, _, result, tmp = soak_run
    soak = result["soak"]
    assert soak["window_s"] == pytest.approx(1.0)
    assert set(soak["rss"]) == NODES
    for name, r in soak["rss"].items():
        assert r["first_mb"] > 0 and r["last_mb"] > 0, name
        assert r["growth_percent"] == pytest.approx(100 * (r["last_mb"] - r["first_mb"])
                                                    / r["first_mb"])
        assert len(r["timeline"]) >= 2
    age = soak["frame_age_p50_ms"]  # None where a window held no processed frame (slow machine)
    if age["first"] is None or age["last"] is None:
        assert age["drift_ms"] is None
    else:
        assert age["drift_ms"] == pytest.approx(age["last"] - age["first"])
    assert (tmp / "out" / "soak.png").read_bytes()[:4] == b"\x89PNG"


def test_json_and_markdown_carry_the_command_and_the_machine(soak_run):
    _, args, result, tmp = soak_run
    assert result["command"] == node_bench_cli.command_line(args)
    assert "--soak" in result["command"] and "--width 160" in result["command"]
    assert result["note"] == "test run"
    text = (tmp / "BENCHMARKS.md").read_text()
    assert f"Command: `{result['command']}`" in text
    assert result["machine"]["cpu_model"] in text and result["machine"]["onnxruntime"] in text
    for name in NODES:
        assert f"| {name} |" in text
    assert "RSS growth" in text


def test_a_tracker_that_refuses_its_parameters_fails_the_run_naming_its_log(ros_env, tmp_path,
                                                                            capsys):
    params = tmp_path / "bad.yaml"
    params.write_text("/**/tracker_node:\n  ros__parameters:\n    score_threshold: 2.0\n")
    assert node_bench_cli.main(_args(tmp_path, "--tracker-params", str(params))) == 1
    err = capsys.readouterr().err
    assert "tracker_node (exit 2" in err and "tracker_node.log" in err
    assert not (tmp_path / "BENCHMARKS.md").exists()


def test_a_missing_params_file_exits_2_before_starting_anything(tmp_path, capsys):
    assert node_bench_cli.main(_args(tmp_path, "--tracker-params", "nope.yaml")) == 2
    assert "nope.yaml" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


# ---- the accounting, on made-up measurements (no processes) ------------------------------------
MS = 10**6


def test_summarise_counts_frames_inside_the_window_and_ages_each_frame_once():
    t0 = 1_000 * 10**9
    first = (t0, 100.0, {"dropped_frames": "3"})
    last = (t0 + 3000 * MS, 103.0, {"dropped_frames": "5", "backend": "onnx-x", "state": "LOST",
                                    "episode": "2", "inference_p50_ms": "3.5"})
    frames = [t0 - 100 * MS] + [t0 + i * 100 * MS for i in range(30)] + [t0 + 3000 * MS]
    inside = frames[1:-1]
    answered = [s for s in inside if s not in (inside[3], inside[7])]  # two frames got no output
    timings = {
        "ground_truth": [(s, s + MS, s + 2 * MS, True) for s in frames],
        "tracks": ([(s, s + 8 * MS, s + 9 * MS, i % 2 == 0) for i, s in enumerate(answered)]
                   + [(answered[0], answered[0] + 50 * MS, answered[0] + 51 * MS, True)]  # again
                   + [(frames[0], frames[0] + 8 * MS, frames[0] + 9 * MS, True)]),  # outside
        "cmd_gimbal": ([(s, s + 9 * MS, s + 10 * MS, True) for s in answered[::2]]
                       + [(t0 + 5 * MS, t0 + 5 * MS, t0 + 6 * MS, True)]),  # a hold command
    }
    samples = {"tracker_node": [ProcSample(99.0, 0.0, 90 * MB, 90 * MB),
                                ProcSample(100.0, 1.0, 100 * MB, 120 * MB),
                                ProcSample(101.5, 1.5, 105 * MB, 120 * MB),
                                ProcSample(103.0, 2.5, 110 * MB, 120 * MB)]}
    cfg = NodeBenchConfig(soak=True, soak_window_s=1.0)
    result = summarise(cfg, first, last, timings, {"sim_node: simulator": {"render_p50_ms": "4"}},
                       samples)

    assert result["window"]["seconds"] == pytest.approx(3.0)
    t = result["nodes"]["tracker_node"]
    assert (t["input_frames"], t["processed_frames"], t["unanswered_frames"]) == (30, 28, 2)
    assert t["frames_with_box"] == 14 and t["dropped_frames"] == 2
    # frames[0] was answered before the window opened: the two unanswered frames after it
    assert t["droppable_frames"] == 2
    assert t["input_hz"] == pytest.approx(10.0) and t["processed_hz"] == pytest.approx(28 / 3)
    assert t["frame_age_ms"]["n"] == 28 and t["frame_age_ms"]["max"] == pytest.approx(8.0)
    assert t["delivered_age_ms"]["p50"] == pytest.approx(9.0)
    assert (t["role"], t["state"], t["episode"], t["inference_p50_ms"]) == \
        ("tracker (onnx-x)", "LOST", "2", 3.5)
    assert t["cpu_percent"] == pytest.approx(50.0) and t["peak_rss_mb"] == pytest.approx(120.0)
    assert t["rss_mean_mb"] == pytest.approx(105.0)  # the sample before the window is left out
    f = result["nodes"]["follow_node"]
    assert (f["processed_frames"], f["unanswered_frames"]) == (14, 0)
    assert f["frame_age_ms"]["p50"] == pytest.approx(9.0)
    sim = result["nodes"]["sim_node"]
    assert sim["processed_hz"] == pytest.approx(10.0) and sim["render_p50_ms"] == 4.0
    assert sim["cpu_percent"] is None  # no samples: not made up
    rss = result["soak"]["rss"]["tracker_node"]
    assert (rss["first_mb"], rss["last_mb"]) == (pytest.approx(100.0), pytest.approx(110.0))
    assert rss["growth_percent"] == pytest.approx(10.0)
    assert result["soak"]["frame_age_p50_ms"]["drift_ms"] == pytest.approx(0.0)
