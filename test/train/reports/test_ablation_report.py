"""`mlkd-tracker report`: the ablation table on the TEST split — teacher, no KD, teacher KD only,
MLKD students, MLKD-Track and OpenCV baselines, with accuracy, cost, speed and ratios to the
teacher. Tiny untrained models on a tiny GOT-10k set; the bookkeeping is what is specified."""
from __future__ import annotations

import argparse
import copy
import dataclasses
import json
from pathlib import Path

import pytest
import torch
import yaml
from tiny_got10k import write_split
from torch_threads import _one_torch_thread  # noqa: F401  (autouse: one torch thread)

from mlkd_tracker.data.sequences import read_dataset
from mlkd_tracker.train.reports import ablation_report as ar
from mlkd_tracker.train.reports.ablation_report import ReportEntry
from mlkd_tracker.eval.ope import score_dataset
from mlkd_tracker.data.results_io import read_boxes
from mlkd_tracker.train.nets.config import TrackerNetConfig
from mlkd_tracker.train.nets.presets import PRESETS
from mlkd_tracker.train.nets.siamese import build_tracker
from mlkd_tracker.train.nets.summary import model_summary
from mlkd_tracker.train.mlkd_select import select

FRAMES, MAX_FRAMES = 5, 4
STUDENT = copy.deepcopy(PRESETS["student_tiny"])
TEACHER = dataclasses.replace(copy.deepcopy(PRESETS["student_tiny"]), name="teacher_small", width_mult=1.0,
                              head_channels=64)  # bigger than the students, cheap enough for a test


def save_ckpt(path: Path, cfg: TrackerNetConfig, seed: int, epoch: int = 1) -> Path:
    torch.manual_seed(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": build_tracker(cfg).state_dict(), "net_config": cfg.to_dict(), "kind": "mlkd-student",
                "epoch": epoch, "step": epoch, "train_config": {"data": "night"}}, path)
    return path


def make_run(run: Path, data: Path, epochs: dict[str, int], seed: int) -> Path:
    """The MLKD trainer's layout: config.yaml, <student>/epoch_NNN.pt and <student>/last.pt."""
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(yaml.safe_dump({
        "students": [{"name": n, "model": "student_tiny"} for n in epochs], "room": {"enabled": True},
        "data": str(data), "val_split": "val"}))
    for s, (name, n) in enumerate(epochs.items()):
        for e in range(1, n + 1):
            save_ckpt(run / name / f"epoch_{e:03d}.pt", STUDENT, seed + 10 * s + e, e)
        save_ckpt(run / name / "last.pt", STUDENT, seed + 10 * s + n, n)
    return run


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("ablation")
    data = base / "night"
    write_split(data / "val", ["val_a"], seed=1, frames=FRAMES)
    write_split(data / "test", ["test_a", "test_b"], seed=2, frames=FRAMES)
    mlkd = make_run(base / "mlkd", data, {"mobile": 2, "alex": 1}, seed=0)
    select(mlkd, threads=1, max_frames=MAX_FRAMES, tune=False, progress=False)
    no_kd = make_run(base / "nokd", data, {"mobile": 1}, seed=100)  # never selected: last.pt
    plain = base / "kd_only_plain"  # a single-model training run: its config has no students
    save_ckpt(plain / "last.pt", STUDENT, seed=200)
    (plain / "config.yaml").write_text("kind: student\nmodel: student_mobile\nepochs: 1\n")
    teacher = save_ckpt(base / "teacher" / "best.pt", TEACHER, seed=300)
    return {"data": data, "mlkd": mlkd, "no_kd": no_kd, "kd_only": plain, "teacher": teacher}


@pytest.fixture(scope="module")
def report(runs) -> dict:
    """The report as the CLI writes it (default output folder: <mlkd run>/report)."""
    parser = argparse.ArgumentParser()
    ar.add_arguments(parser)
    args = parser.parse_args(["--teacher", str(runs["teacher"]), "--mlkd", str(runs["mlkd"]),
                              "--kd-only", str(runs["kd_only"]), "--no-kd", str(runs["no_kd"]),
                              "--data", str(runs["data"] / "test"), "--baselines", "csrt",
                              "--threads", "1", "--max-frames", str(MAX_FRAMES)])
    assert ar.main(args) == 0
    return json.loads((runs["mlkd"] / "report" / "report.json").read_text())


def test_entries_cover_every_arm_with_val_selected_checkpoints(runs):
    entries = ar.entries_from_runs(runs["teacher"], runs["mlkd"], runs["kd_only"], runs["no_kd"], ("csrt", "mil"))
    sel = json.loads((runs["mlkd"] / "selection" / "selection.json").read_text())
    best = {s: runs["mlkd"] / r["checkpoint"] for s, r in sel["best_per_student"].items()}
    assert [(e.label, e.group) for e in entries] == [
        ("teacher", "teacher"), ("noKD-mobile", "no KD"), ("KD-kd_only_plain", "teacher KD only"),
        ("MLKD-mobile", "MLKD"), ("MLKD-alex", "MLKD"), ("MLKD-Track", "MLKD-Track"),
        ("opencv-csrt", "OpenCV baseline"), ("opencv-mil", "OpenCV baseline")]
    spec = {e.label: e.spec for e in entries}
    assert spec["teacher"] == f"torch:{runs['teacher']}"
    assert spec["noKD-mobile"] == f"torch:{runs['no_kd'] / 'mobile' / 'last.pt'}"
    assert spec["KD-kd_only_plain"] == f"torch:{runs['kd_only'] / 'last.pt'}"
    assert spec["MLKD-mobile"] == f"torch:{best['mobile']}" and spec["MLKD-alex"] == f"torch:{best['alex']}"
    assert spec["MLKD-Track"] == f"onnx:{runs['mlkd'] / 'export' / 'mlkd_track'}"


def test_mlkd_track_needs_a_selected_run(runs, tmp_path):
    unselected = make_run(tmp_path / "fresh", runs["data"], {"mobile": 1}, seed=0)
    with pytest.raises(ValueError, match="mlkd-tracker select"):
        ar.entries_from_runs(runs["teacher"], unselected)


def test_scores_are_ope_on_the_test_split(report, runs):
    assert [e["label"] for e in report["entries"]] == [
        "teacher", "noKD-mobile", "KD-kd_only_plain", "MLKD-mobile", "MLKD-alex", "MLKD-Track", "opencv-csrt"]
    assert report["groups"] == ["teacher", "no KD", "teacher KD only", "MLKD", "MLKD-Track", "OpenCV baseline"]
    gt = {s.name: s.boxes[:MAX_FRAMES] for s in read_dataset(runs["data"] / "test")}
    for e in report["entries"]:
        folder = runs["mlkd"] / "report" / "results" / e["label"]
        score = score_dataset({n: (read_boxes(folder / f"{n}.txt"), g) for n, g in gt.items()})
        assert (e["success"], e["precision"], e["norm_precision"]) == pytest.approx(
            (score.auc, score.precision_20, score.norm_precision_20))
        assert e["fps"] > 0 and e["n_frames"] == 2 * MAX_FRAMES


def test_cost_and_ratios_to_the_teacher(report):
    rows = {e["label"]: e for e in report["entries"]}
    teacher, student = model_summary(TEACHER), model_summary(STUDENT)
    assert (rows["teacher"]["params"], rows["teacher"]["search_macs"]) == (teacher["params"], teacher["search_macs"])
    for label in ("noKD-mobile", "KD-kd_only_plain", "MLKD-mobile", "MLKD-Track"):  # ONNX: from its metadata
        assert (rows[label]["params"], rows[label]["search_macs"]) == (student["params"], student["search_macs"])
    assert rows["opencv-csrt"]["params"] is None and rows["opencv-csrt"]["search_macs"] is None
    assert report["teacher"] == "teacher" and rows["teacher"]["macs_vs_teacher"] == pytest.approx(100)
    t = rows["teacher"]
    for r in rows.values():
        if t["success"] > 0:
            assert r["success_vs_teacher"] == pytest.approx(100 * r["success"] / t["success"])
        if r["search_macs"] is not None:
            assert r["macs_vs_teacher"] == pytest.approx(100 * r["search_macs"] / t["search_macs"])
    assert rows["MLKD-Track"]["macs_vs_teacher"] < 100


def test_markdown_is_grouped_and_has_plots(report, runs):
    out = runs["mlkd"] / "report"
    md = (out / "report.md").read_text()
    table = md.split("## ")[0]  # the ablation table; the comparisons follow under a heading
    rows = [ln.split("|")[1:-1] for ln in table.splitlines() if ln.startswith("| ") and "---" not in ln][1:]
    assert [c[1].strip() for c in rows] == [e["label"] for e in report["entries"]]
    groups = [c[0].strip() for c in rows]
    assert groups == sorted(groups, key=report["groups"].index)  # each arm's rows together
    csrt = next(c for c in rows if c[1].strip() == "opencv-csrt")
    assert [x.strip() for x in csrt[5:7]] == ["—", "—"]  # no network: no params, no MACs
    assert (out / "ope.png").stat().st_size > 0 and "ope.png" in md


def test_success_is_broken_down_by_attribute(report, runs):
    out = runs["mlkd"] / "report"
    overall = report["attributes"][0]
    assert overall["attribute"] == "all" and overall["n"] == report["n_sequences"]
    assert overall["success"] == pytest.approx({e["label"]: e["success"] for e in report["entries"]})
    md = (out / "report.md").read_text()
    section = md.split("## Success by attribute")[1]
    header = next(ln for ln in section.splitlines() if ln.startswith("| attribute"))
    assert header.split("|")[3:-1] == [f" {e['label']} " for e in report["entries"]]
    assert (out / "attributes.png").stat().st_size > 0 and "attributes.png" in section


def test_each_distilled_row_is_compared_with_the_same_network_without_kd(report, runs):
    # Every student here is student_tiny, so noKD-mobile is the no-KD twin of all of them; the
    # teacher (another network), the no-KD row itself and OpenCV have no twin.
    comps = {c["label"]: c for c in report["kd_comparisons"]}
    assert sorted(comps) == sorted(["KD-kd_only_plain", "MLKD-mobile", "MLKD-alex", "MLKD-Track"])
    gt = {s.name: s.boxes[:MAX_FRAMES] for s in read_dataset(runs["data"] / "test")}

    def per_sequence(label: str) -> dict[str, float]:
        folder = runs["mlkd"] / "report" / "results" / label
        return {n: score_dataset({n: (read_boxes(folder / f"{n}.txt"), g)}).auc for n, g in gt.items()}

    base = per_sequence("noKD-mobile")
    for label, c in comps.items():
        mine = per_sequence(label)
        assert c["versus"] == "noKD-mobile" and c["n_sequences"] == 2
        assert c["delta"] == pytest.approx(sum(mine[n] - base[n] for n in gt) / len(gt))
        assert c["low"] - 1e-12 <= c["delta"] <= c["high"] + 1e-12
    md = (runs["mlkd"] / "report" / "report.md").read_text()
    assert "## Distillation against the same network without it" in md
    assert all(f"| {label} | noKD-mobile |" in md for label in comps)


def test_rerun_reuses_results_and_no_teacher_means_no_ratios(report, runs, tmp_path):
    results = sorted((runs["mlkd"] / "report" / "results").rglob("*.txt"))
    stamps = [p.stat().st_mtime_ns for p in results]
    entries = [ReportEntry(e["label"], e["group"], e["spec"]) for e in report["entries"]]
    md = ar.build_report(entries, runs["data"] / "test", runs["mlkd"] / "report", max_frames=MAX_FRAMES,
                         progress=False)
    assert [p.stat().st_mtime_ns for p in results] == stamps
    again = json.loads(md.with_name("report.json").read_text())
    assert all(len(e["resumed_sequences"]) == 2 for e in again["entries"])

    lone = ar.build_report([ReportEntry("csrt", "OpenCV baseline", "opencv:csrt")], runs["data"] / "test",
                           tmp_path / "lone", max_frames=2, progress=False)
    row = json.loads(lone.with_name("report.json").read_text())["entries"][0]
    assert row["success_vs_teacher"] is None and row["macs_vs_teacher"] is None
    with pytest.raises(ValueError, match="share the label"):
        ar.build_report([ReportEntry("x", "a", "opencv:csrt"), ReportEntry("x", "b", "opencv:mil")],
                        runs["data"] / "test", tmp_path / "dupe", progress=False)


def test_mlkd_track_is_compared_with_the_tuned_no_kd_winner_when_there_is_one(runs, tmp_path):
    """MLKD-Track's post-processing is tuned on val; a no-KD run put through `select` gets the
    same treatment, and MLKD-Track is measured against that, not against the untuned row."""
    no_kd = make_run(tmp_path / "nokd_selected", runs["data"], {"mobile": 1}, seed=400)
    select(no_kd, threads=1, max_frames=MAX_FRAMES, tune=False, progress=False)
    entries = ar.entries_from_runs(runs["teacher"], runs["mlkd"], None, no_kd, ())
    labels = [(e.label, e.group) for e in entries]
    assert labels[-2:] == [("noKD-Track", ar.NO_KD_TRACK_GROUP), ("MLKD-Track", "MLKD-Track")]
    md = ar.build_report(entries, runs["data"] / "test", tmp_path / "report", max_frames=MAX_FRAMES,
                         progress=False)
    comps = {c["label"]: c["versus"] for c in
             json.loads(md.with_name("report.json").read_text())["kd_comparisons"]}
    assert comps == {"MLKD-mobile": "noKD-mobile", "MLKD-alex": "noKD-mobile",
                     "MLKD-Track": "noKD-Track"}
