"""The MLKD trainer end to end on a tiny synthetic set with a tiny teacher: K students train
together, every loss term is logged, elections are recorded, the teacher never changes, runs
resume, and two DDP processes (gloo, under torchrun) stay in sync. Numbers mean nothing here."""
from __future__ import annotations

import csv
import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from mlkd_tracker.data.synth import SynthConfig, generate
from mlkd_tracker.train.nets.config import EnhancerConfig
from mlkd_tracker.train.nets.presets import PRESETS
from mlkd_tracker.train.nets.siamese import build_tracker
from mlkd_tracker.train.checkpoints import load_tracker
from mlkd_tracker.train.mlkd import MLKDTrainer, train_mlkd
from mlkd_tracker.train.mlkd_config import load_mlkd_config
from mlkd_tracker.train.mlkd_parallel import digest
from mlkd_tracker.train.run_folder import RunFolderError

REPO = Path(__file__).resolve().parents[2]
TINY_CONFIG = REPO / "config/train/mlkd_tiny.yaml"
TINY_DATA = dict(width=160, height=120, train_sequences=2, train_frames=8, val_sequences=2,
                 val_frames=8, test_sequences=2, test_frames=8, ground_size=1024, progress=False)
STUDENTS = ("mobile", "shuffle", "hint")


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return generate(SynthConfig(out=tmp_path_factory.mktemp("synth") / "night", seed=5, **TINY_DATA))


@pytest.fixture(scope="module")
def teacher(tmp_path_factory) -> Path:
    """A small tracker with an enhancer in the teacher's checkpoint format."""
    torch.manual_seed(1)
    cfg = dataclasses.replace(PRESETS["student_tiny"], name="tiny_teacher",
                              enhancer=EnhancerConfig(channels=8, layers=4, iterations=2))
    path = tmp_path_factory.mktemp("teacher") / "teacher.pt"
    torch.save({"model": build_tracker(cfg).state_dict(), "net_config": cfg.to_dict(),
                "kind": "teacher", "epoch": 1}, path)
    return path


def _cfg(data: Path, teacher: Path, out: Path, *overrides: str):
    return load_mlkd_config(TINY_CONFIG, [f"teacher={teacher}", f"data={data}", f"out={out}",
                                          *overrides])


@pytest.fixture(scope="module")
def run(data, teacher, tmp_path_factory) -> Path:
    torch.manual_seed(0)
    return train_mlkd(_cfg(data, teacher, tmp_path_factory.mktemp("runs")))


def test_every_student_gets_per_epoch_checkpoints_loadable_as_trackers(run):
    for name in STUDENTS:
        for file in ("epoch_001.pt", "epoch_002.pt", "last.pt"):
            model, state = load_tracker(run / name / file)
            assert state["kind"] == "mlkd-student" and state["student"]["name"] == name
    assert (run / "last.pt").exists() and (run / "config.yaml").exists()


def test_every_loss_term_of_every_student_is_logged(run):
    rows = list(csv.DictReader((run / "log.csv").open()))
    assert len(rows) == 4
    cols = set(rows[0])
    for name in STUDENTS:
        assert {f"{name}/{k}" for k in ("gt", "cls", "box", "kd_cls", "kd_box", "kd_corr",
                                        "mimic", "total")} <= cols
    assert "room/superior" in cols and "lr" in cols
    epochs = list(csv.DictReader((run / "epochs.csv").open()))
    assert [int(r["epoch"]) for r in epochs] == [1, 2]
    assert all(f"{n}/val_total" in epochs[0] for n in STUDENTS)
    for plot in ("loss_curves.png", "elections.png"):
        assert (run / plot).stat().st_size > 0


def test_elections_are_logged_with_every_students_score(run):
    rows = list(csv.DictReader((run / "elections.csv").open()))
    assert [int(r["step"]) for r in rows] == [0, 1, 2, 3]
    for r in rows:
        scores = [float(r[f"score_{n}"]) for n in STUDENTS]
        assert r["superior"] == STUDENTS[scores.index(max(scores))]


def test_the_superior_gets_no_mimic_loss_and_the_others_do(run):
    rows = list(csv.DictReader((run / "log.csv").open()))
    for r in rows:
        sup = STUDENTS[int(float(r["room/superior"]))]
        assert float(r[f"{sup}/mimic"]) == 0.0
        assert all(float(r[f"{n}/mimic"]) > 0 for n in STUDENTS if n != sup)


def test_teacher_is_frozen_and_students_and_adapters_learn(data, teacher, tmp_path):
    trainer = MLKDTrainer(_cfg(data, teacher, tmp_path, "epochs=1"))
    t_before = digest(trainer.teacher)
    hint = trainer.units[2]
    adapter_before = [p.detach().clone() for p in hint.adapter_parameters()]
    assert adapter_before, "the hint student has no adapter to train"
    head_before = hint.net.head.cls_out.weight.detach().clone()
    s_before = [digest(u.net) for u in trainer.units]
    trainer.fit()
    assert digest(trainer.teacher) == t_before
    assert not trainer.teacher.training
    assert all(not p.requires_grad for p in trainer.teacher.parameters())
    assert all(digest(u.net) != d for u, d in zip(trainer.units, s_before))
    assert any(not torch.equal(a, p) for a, p in zip(adapter_before, hint.adapter_parameters()))
    assert torch.equal(head_before, hint.net.head.cls_out.weight), "freeze_head was ignored"


def test_a_run_resumes_where_it_stopped(data, teacher, tmp_path):
    train_mlkd(_cfg(data, teacher, tmp_path, "epochs=1"))
    train_mlkd(_cfg(data, teacher, tmp_path, "epochs=2", "resume=true"))
    state = torch.load(tmp_path / "mlkd" / "last.pt", weights_only=False)
    assert state["epoch"] == 2 and state["step"] == 4
    assert [e[0] for e in state["room"]["history"]] == [0, 1, 2, 3]
    epochs = list(csv.DictReader((tmp_path / "mlkd" / "epochs.csv").open()))
    assert [int(r["epoch"]) for r in epochs] == [1, 2]


def test_resume_refuses_a_changed_config_and_a_new_run_never_overwrites(data, teacher, tmp_path):
    first = train_mlkd(_cfg(data, teacher, tmp_path, "epochs=1"))
    with pytest.raises(RunFolderError, match=r"in students\.1\.corr_kd;"):
        train_mlkd(_cfg(data, teacher, tmp_path, "epochs=2", "resume=true",
                        "students.1.corr_kd=none"))
    assert torch.load(first / "last.pt", weights_only=False)["epoch"] == 1
    second = train_mlkd(_cfg(data, teacher, tmp_path, "epochs=1"))
    assert (first.name, second.name) == ("mlkd", "mlkd2")
    stored = yaml.safe_load((second / "config.yaml").read_text())
    assert stored["name"] == "mlkd2" and stored["students"][1]["corr_kd"] == "spatial_consistency"
    state = torch.load(second / "mobile" / "last.pt", weights_only=False)
    assert state["train_config"]["name"] == "mlkd2/mobile"


def test_the_no_kd_baseline_needs_no_teacher(data, tmp_path):
    cfg = _cfg(data, tmp_path / "missing.pt", tmp_path, "kd=false", "room.enabled=false")
    run = train_mlkd(cfg)
    rows = list(csv.DictReader((run / "log.csv").open()))
    assert not any("kd_" in k or "mimic" in k for k in rows[0])


def test_config_errors_are_clear(data, teacher, tmp_path):
    with pytest.raises(ValueError, match="unknown keys"):
        _cfg(data, teacher, tmp_path, "students.0.colour=blue")
    with pytest.raises(ValueError, match="corr_kd"):
        _cfg(data, teacher, tmp_path, "students.0.corr_kd=hard_mask")
    with pytest.raises(ValueError, match="unique"):
        _cfg(data, teacher, tmp_path, "students.1.name=mobile")
    bad = _cfg(data, teacher, tmp_path, "students.1.model={name: big, backbone: mobilenet, "
                                        "search_size: 192}")
    with pytest.raises(ValueError, match="geometry"):
        MLKDTrainer(bad)


def test_two_ddp_processes_on_gloo_stay_in_sync(data, teacher, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "mlkd_tracker.cli", "train", "mlkd", "--config", str(TINY_CONFIG),
           f"teacher={teacher}", f"data={data}", f"out={tmp_path}", "name=ddp"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((tmp_path / "ddp" / "ddp_sync.json").read_text())
    assert [r["epoch"] for r in report] == [1, 2]
    for r in report:
        assert r["world_size"] == 2 and r["in_sync"]
        assert r["digests"][0] == r["digests"][1] and len(r["digests"][0]) == 3
    # both ranks drew different pairs, yet the students moved (gradients were all-reduced)
    state = torch.load(tmp_path / "ddp" / "last.pt", weights_only=False)
    assert state["step"] == 4


def test_a_tiny_run_is_selected_on_val_and_exported_to_onnx(run, data):
    from mlkd_tracker.runtime.siamese_tracker import SiameseTracker
    from mlkd_tracker.train.mlkd_select import select
    result = select(run, threads=1, grid={"window_influence": [0.2, 0.4]}, progress=False)
    assert len(result["candidates"]) == 2 * len(STUDENTS)
    assert result["winner"]["student"] in STUDENTS
    SiameseTracker(run / "export" / "mlkd_track")  # loads, with metadata checks
