"""The training machinery end to end on a tiny synthetic set: train (with resume), export to
ONNX with parity, run the export in the runtime tracker, and evaluate trackers with the CLI.
Numbers here mean nothing; the plumbing is what is specified."""
from __future__ import annotations

import argparse
import csv
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from mlkd_tracker.data.synth import SynthConfig, generate
from mlkd_tracker.eval import eval_cli
from mlkd_tracker.runtime.onnx_siamese import OnnxSiameseEngine
from mlkd_tracker.runtime.siamese_postprocess import PostprocessConfig
from mlkd_tracker.runtime.siamese_tracker import SiameseTracker
from mlkd_tracker.train.checkpoints import load_tracker
from mlkd_tracker.train.config import load_config
from mlkd_tracker.train.export import check_parity, export_tracker
from mlkd_tracker.train.run_folder import RunFolderError
from mlkd_tracker.train.tracker_training import train_tracker

REPO = Path(__file__).resolve().parents[2]
TINY_DATA = dict(width=160, height=120, train_sequences=2, train_frames=8, val_sequences=2,
                 val_frames=8, test_sequences=2, test_frames=8, ground_size=1024, progress=False)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return generate(SynthConfig(out=tmp_path_factory.mktemp("synth") / "night", seed=5, **TINY_DATA))


def _cfg(data: Path, out: Path, *overrides: str):
    return load_config(REPO / "config/train/tiny.yaml", [f"data={data}", f"out={out}", *overrides])


@pytest.fixture(scope="module")
def student(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    torch.manual_seed(0)
    last = train_tracker(_cfg(data, out, "kind=student", "model=student_tiny"))
    return last, out


def test_student_run_writes_checkpoints_logs_and_a_loss_plot(student):
    last, _ = student
    run = last.parent
    for name in ("last.pt", "best.pt", "epoch_001.pt", "epoch_002.pt", "loss_curves.png"):
        assert (run / name).stat().st_size > 0, name
    rows = list(csv.DictReader((run / "log.csv").open()))
    assert len(rows) == 6 and {"total", "cls", "box", "lr"} <= set(rows[0])
    epochs = list(csv.DictReader((run / "epochs.csv").open()))
    assert [int(r["epoch"]) for r in epochs] == [1, 2] and "val_total" in epochs[0]
    assert any((run / "tensorboard").iterdir())


def test_training_resumes_from_the_last_checkpoint(student, data):
    last, out = student
    before = torch.load(last, weights_only=False)
    assert before["epoch"] == 2 and before["step"] == 6
    train_tracker(_cfg(data, out, "kind=student", "model=student_tiny", "epochs=3", "resume=true"))
    after = torch.load(last, weights_only=False)
    assert after["epoch"] == 3 and after["step"] == 9, "resume restarted instead of continuing"
    rows = list(csv.DictReader((last.parent / "epochs.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]


def test_the_run_folder_holds_the_resolved_config(student, data):
    last, out = student
    stored = load_config(last.parent / "config.yaml")
    asked = _cfg(data, out, "kind=student", "model=student_tiny")
    # epochs and resume are what a resumed run may change (the resume test does)
    assert stored == dataclasses.replace(asked, name="student-student_tiny",
                                         epochs=stored.epochs, resume=stored.resume)
    assert stored.epochs == torch.load(last, weights_only=False)["epoch"]


def test_resume_with_a_changed_config_is_refused_and_touches_nothing(student, data):
    last, out = student
    before = last.stat().st_mtime_ns
    with pytest.raises(RunFolderError, match=r"differs from this config in batch_size, optim\.lr;"):
        train_tracker(_cfg(data, out, "kind=student", "model=student_tiny", "resume=true",
                           "batch_size=2", "optim.lr=0.1"))
    assert last.stat().st_mtime_ns == before


def test_a_second_run_with_the_same_name_goes_to_name2(data, tmp_path):
    args = ("kind=student", "model=student_tiny", "name=again", "epochs=1", "iters_per_epoch=1")
    first = train_tracker(_cfg(data, tmp_path, *args))
    first_state = torch.load(first, weights_only=False)
    second = train_tracker(_cfg(data, tmp_path, *args))
    assert (first.parent.name, second.parent.name) == ("again", "again2")
    assert torch.load(first, weights_only=False)["step"] == first_state["step"] == 1
    assert load_config(second.parent / "config.yaml").name == "again2"


def test_export_matches_torch_and_runs_in_the_runtime(student, tmp_path):
    last, _ = student
    post = PostprocessConfig(window_influence=0.3)
    t_path, s_path = export_tracker(last, tmp_path / "tiny", post, "tiny synthetic set")
    model, _ = load_tracker(last)
    assert check_parity(model, t_path, trials=2, seed=7) <= 1e-4
    engine = OnnxSiameseEngine(s_path)
    assert engine.meta["training_data"] == "tiny synthetic set"
    assert engine.postprocess["window_influence"] == 0.3
    tracker = SiameseTracker(tmp_path / "tiny")
    frame = np.random.default_rng(0).integers(0, 255, (120, 160, 3), dtype=np.uint8)
    tracker.init(frame, (60, 40, 20, 16))
    result = tracker.update(frame)
    assert np.isfinite(result.box).all() and 0.0 <= result.score <= 1.0


def test_teacher_pretrains_its_enhancer_then_trains_the_tracker(data, tmp_path):
    last = train_tracker(_cfg(data, tmp_path, "kind=teacher", "model=teacher", "epochs=1",
                              "iters_per_epoch=2", "batch_size=2"))
    assert (last.parent / "enhancer" / "last.pt").is_file()
    assert load_config(last.parent / "enhancer" / "config.yaml").name == "teacher-teacher/enhancer"
    state = torch.load(last, weights_only=False)
    assert state["kind"] == "teacher" and state["net_config"]["enhancer"] is not None


def test_eval_cli_scores_onnx_torch_and_opencv_trackers(student, data, tmp_path):
    last, _ = student
    export_tracker(last, tmp_path / "student")
    parser = argparse.ArgumentParser()
    eval_cli.add_arguments(parser)
    out = tmp_path / "eval"
    args = parser.parse_args(["--dataset", str(data / "test"), "--out", str(out), "--no-progress",
                              "--tracker", f"onnx:{tmp_path / 'student'}",
                              "--tracker", f"torch:{last}", "--tracker", "opencv:kcf"])
    assert eval_cli.main(args) == 0
    results = json.loads((out / "results.json").read_text())
    assert sorted(results["trackers"]) == ["opencv-kcf", "student", "torch-last"]
    assert (out / "ope.png").stat().st_size > 0 and "| " in (out / "summary.md").read_text()


def test_tune_ranks_post_processing_on_the_validation_split(student, data, tmp_path):
    from mlkd_tracker.data.sequences import read_dataset
    from mlkd_tracker.eval.tune_postprocess import tune
    last, _ = student
    export_tracker(last, tmp_path / "student")
    grid = {"window_influence": [0.2, 0.6], "size_lr": [0.3, 0.5]}
    rows = tune(OnnxSiameseEngine(tmp_path / "student"), read_dataset(data / "val"), grid,
                progress=False)
    assert len(rows) == 4
    assert [r["auc"] for r in rows] == sorted((r["auc"] for r in rows), reverse=True)
    assert {(r["window_influence"], r["size_lr"]) for r in rows} == {
        (0.2, 0.3), (0.2, 0.5), (0.6, 0.3), (0.6, 0.5)}


def test_bench_models_reports_macs_and_speed():
    from mlkd_tracker.train.nets.presets import PRESETS
    from mlkd_tracker.train.nets.summary import model_summary
    from mlkd_tracker.train.model_bench import bench, format_table
    (row,) = bench(["student_tiny"], {}, runs=5)
    assert row["search_GMAC"] == pytest.approx(model_summary(PRESETS["student_tiny"])["search_macs"] / 1e9)
    assert row["fps_1t"] > 0 and row["fps_2t"] > 0
    assert "student_tiny" in format_table([row])
