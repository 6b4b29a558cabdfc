"""SLKD end to end on a tiny synthetic set: both teachers train first, then the student learns
from the clean image, Teacher A's output, DRL and IRL; every term is logged, switched off by
its weight, and the student exports to ONNX, runs in front of a tracker and is reported."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from fake_siamese_onnx import fake_export
from mlkd_tracker.train.datasets.enhance_patches import whole_frames
from mlkd_tracker.data.sequences import read_dataset
from mlkd_tracker.data.synth import SynthConfig, generate
from mlkd_tracker.train.reports.slkd_report import build_slkd_report
from mlkd_tracker.train.nets.presets import PRESETS
from mlkd_tracker.train.nets.siamese import build_tracker
from mlkd_tracker.runtime.enhancer import OnnxEnhancer
from mlkd_tracker.train.enhancer_export import export_enhancer, load_enhancer
from mlkd_tracker.train.slkd import SLKDStudent, _padded_forward, _teacher, psnr, train_slkd
from mlkd_tracker.train.slkd_config import load_slkd_config

REPO = Path(__file__).resolve().parents[2]
TINY_CONFIG = REPO / "config/train/slkd_tiny.yaml"
TINY_DATA = dict(width=160, height=120, train_sequences=2, train_frames=6, val_sequences=1,
                 val_frames=6, test_sequences=2, test_frames=6, ground_size=1024, progress=False)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return generate(SynthConfig(out=tmp_path_factory.mktemp("synth") / "night", seed=3, **TINY_DATA))


def _cfg(data: Path, out: Path, *overrides: str):
    return load_slkd_config(TINY_CONFIG, [f"data={data}", f"out={out}", *overrides])


@pytest.fixture(scope="module")
def run(data, tmp_path_factory) -> Path:
    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("runs")
    train_slkd(_cfg(data, out))
    return out


def _log(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return list(csv.DictReader(f))


def test_teachers_train_first_then_the_student_each_with_checkpoints_and_curves(run):
    for stage, epochs in (("teacher_a", 1), ("teacher_b", 1), ("student", 2)):
        folder = run / stage
        assert {"best.pt", "last.pt", "loss_curves.png", "epochs.csv"} <= {p.name for p in folder.iterdir()}
        rows = _log(folder / "epochs.csv")
        assert len(rows) == epochs and np.isfinite(float(rows[-1]["val_psnr"]))
        assert load_enhancer(folder / "best.pt")[1]["role"] == stage


def test_every_student_term_is_logged_separately(run):
    rows = _log(run / "student" / "log.csv")
    assert {"total", "l1", "output_kd", "drl", "irl"} <= set(rows[0])
    assert all(float(r[k]) > 0 for r in rows for k in ("l1", "output_kd", "drl", "irl"))


def test_a_term_at_weight_zero_is_off_and_plain_l1_needs_no_teacher(data, tmp_path):
    train_slkd(_cfg(data, tmp_path, "name=l1_only", "stages=[student]", "terms.output_kd=0",
                    "terms.drl=0", "terms.irl=0"))
    assert set(_log(tmp_path / "l1_only" / "log.csv")[0]) == {"step", "total", "l1", "lr"}


def test_whole_frame_validation_scores_the_selected_checkpoint_on_whole_frames(data, tmp_path):
    # 160 x 120 frames are not a multiple of the student's 16: validation pads like the runtime.
    train_slkd(_cfg(data, tmp_path, "name=frames", "stages=[student]", "terms.output_kd=0",
                    "terms.drl=0", "terms.irl=0", "epochs=1", "val_frames=3"))
    net, _ = load_enhancer(tmp_path / "frames" / "best.pt")
    frames = whole_frames(read_dataset(data / "val"), 3)
    with torch.no_grad():
        expected = np.mean([float(psnr(_padded_forward(net.eval(), f["dark"]), f["clean"]))
                            for f in frames])
    logged = float(_log(tmp_path / "frames" / "epochs.csv")[-1]["val_psnr"])
    assert logged == pytest.approx(expected, abs=1e-4)


def test_teachers_stay_frozen_and_adapters_learn(data, run):
    cfg = _cfg(data, run)
    a, b = _teacher(cfg, "teacher_a"), _teacher(cfg, "teacher_b")
    before = [p.clone() for p in (*a.parameters(), *b.parameters())]
    module = SLKDStudent(cfg, a, b, None)
    trainable = {id(p) for p in module.parameters() if p.requires_grad}
    assert all(id(p) in trainable for p in (*module.drl.adapters.parameters(),
                                            *module.irl.adapters.parameters()))
    assert not trainable & {id(p) for p in (*a.parameters(), *b.parameters())}
    opt = torch.optim.AdamW(module.parameters(), 1e-2)
    x = torch.rand(2, 3, 32, 32)
    module(x, x)["total"].backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in module.drl.adapters.parameters())
    assert all(p.grad is None for p in (*a.parameters(), *b.parameters()))
    opt.step()
    assert all(torch.equal(p, q) for p, q in zip((*a.parameters(), *b.parameters()), before))


def test_unpaired_dark_frames_train_the_terms_that_need_no_clean_image(data, run, tmp_path):
    for t in ("teacher_a", "teacher_b"):
        (tmp_path / t).symlink_to(run / t)
    train_slkd(_cfg(data, tmp_path, "name=unpaired", "stages=[student]", f"unpaired_data={data}",
                    "unpaired_every=2", "epochs=1", "iters_per_epoch=4"))
    rows = _log(tmp_path / "unpaired" / "log.csv")
    unpaired = [r for r in rows if int(r["step"]) % 2 == 0]
    assert unpaired and all(float(r["l1"]) == 0 and float(r["irl"]) == 0 and float(r["drl"]) > 0
                            for r in unpaired)
    assert all(float(r["l1"]) > 0 for r in rows if int(r["step"]) % 2)


def test_the_task_term_uses_a_frozen_tracker(data, run, tmp_path):
    for t in ("teacher_a", "teacher_b"):
        (tmp_path / t).symlink_to(run / t)
    cfg = PRESETS["student_tiny"]
    ckpt = tmp_path / "tracker.pt"
    torch.save({"model": build_tracker(cfg).state_dict(), "net_config": cfg.to_dict()}, ckpt)
    train_slkd(_cfg(data, tmp_path, "name=task", "stages=[student]", "terms.task=1.0",
                    f"task_tracker={ckpt}", "epochs=1"))
    assert all(float(r["task"]) > 0 for r in _log(tmp_path / "task" / "log.csv"))


def test_a_finished_run_resumed_is_a_no_op_and_a_longer_one_continues(data, run):
    mtime = (run / "student" / "last.pt").stat().st_mtime_ns
    train_slkd(_cfg(data, run, "stages=[student]", "resume=true"))
    assert (run / "student" / "last.pt").stat().st_mtime_ns == mtime
    train_slkd(_cfg(data, run, "stages=[student]", "epochs=3", "resume=true"))
    assert len(_log(run / "student" / "epochs.csv")) == 3


def test_a_stage_whose_folder_exists_moves_on_and_later_stages_learn_from_it(data, run, tmp_path):
    for t in ("teacher_a", "teacher_b"):
        (tmp_path / t).symlink_to(run / t)
    dirs = train_slkd(_cfg(data, tmp_path, "stages=[teacher_a, student]", "epochs=1"))
    assert dirs == {"teacher_a": tmp_path / "teacher_a2", "student": tmp_path / "student"}
    assert load_enhancer(tmp_path / "teacher_a2" / "best.pt")[1]["role"] == "teacher_a"
    stored = yaml.safe_load((tmp_path / "student" / "config.yaml").read_text())
    assert stored["teacher_a_run"] == "teacher_a2" and stored["teacher_b_run"] == "teacher_b"
    assert yaml.safe_load((tmp_path / "teacher_a2" / "config.yaml").read_text())["stage"] == "teacher_a"


@pytest.mark.parametrize("overrides, message", [
    (["nope=1"], "unknown keys"),
    (["stages=[teacher_c]"], "unknown stages"),
    (["terms.drl=-1"], ">= 0"),
    (["unpaired_every=2"], "unpaired_data"),
    (["terms.task=1"], "task_tracker"),
    (["val_frames=-1"], "val_frames"),
    (["recolour=1.5"], "recolour"),
])
def test_config_errors_are_clear(data, tmp_path, overrides, message):
    with pytest.raises(ValueError, match=message):
        _cfg(data, tmp_path, *overrides)


def test_a_student_without_trained_teachers_says_which_to_train(data, tmp_path):
    with pytest.raises(FileNotFoundError, match="train stage teacher_b first"):
        train_slkd(_cfg(data, tmp_path, "stages=[student]"))
    with pytest.raises(FileNotFoundError, match="train stage teacher_a first"):
        train_slkd(_cfg(data, tmp_path, "stages=[student]", "terms.irl=0"))


def test_the_student_exports_runs_and_is_reported_against_teacher_a(data, run, tmp_path):
    onnx = export_enhancer(run / "student" / "best.pt", tmp_path / "student.onnx")
    frame = np.full((120, 160, 3), 20, np.uint8)
    assert OnnxEnhancer(onnx).enhance(frame).shape == frame.shape
    fake_export(tmp_path / "tracker")
    md = build_slkd_report([("teacher_a", run / "teacher_a" / "best.pt"), ("student", onnx)],
                           str(tmp_path / "tracker"), [], data / "test", tmp_path / "report",
                           step=3, threads=1, max_frames=4, progress=False)
    report = json.loads(md.with_name("report.json").read_text())
    assert [q["label"] for q in report["quality"]] == ["night input (no enhancer)", "teacher_a",
                                                       "student"]
    assert all(np.isfinite(q["psnr"]) and 0 < q["ssim"] <= 1 for q in report["quality"])
    student, teacher = report["quality"][2], report["quality"][1]
    assert student["macs"] < teacher["macs"] and student["fps"] > 0
    assert [t["label"] for t in report["tracking"]] == ["tracker", "teacher_a+tracker",
                                                        "student+tracker"]
    assert {"ope.png", "samples.png", "report.md"} <= {p.name for p in md.parent.iterdir()}
    (diff,) = report["psnr_differences"]
    assert (diff["label"], diff["versus"], diff["n_sequences"]) == ("student", "teacher_a", 2)
    assert diff["low"] <= diff["mean"] <= diff["high"]
    assert "ΔPSNR" in md.read_text()
