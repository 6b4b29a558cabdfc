"""`mlkd-tracker select`: MLKD-Track is the best student checkpoint on the VALIDATION split,
with its post-processing tuned on that split and exported to ONNX.

A tiny run folder (the layout the MLKD trainer writes) with untrained student_tiny weights and
a tiny GOT-10k data set; the numbers mean nothing, the choice and the bookkeeping are specified.
"""
from __future__ import annotations

import argparse
import copy
import json
import re
from pathlib import Path

import pytest
import torch
import yaml
from tiny_got10k import write_split
from torch_threads import _one_torch_thread  # noqa: F401  (autouse: one torch thread)

from mlkd_tracker.data.sequences import read_dataset
from mlkd_tracker.eval import tune_postprocess
from mlkd_tracker.eval.ope import score_dataset
from mlkd_tracker.data.results_io import read_boxes
from mlkd_tracker.train.nets.presets import PRESETS
from mlkd_tracker.train.nets.siamese import build_tracker
from mlkd_tracker.runtime.onnx_siamese import OnnxSiameseEngine
from mlkd_tracker.train import mlkd_select
from mlkd_tracker.train.mlkd_select import Candidate, rank, select

FRAMES = 6
GRID = {"window_influence": [0.2, 0.5], "penalty_k": [0.06], "size_lr": [0.4]}


def save_student(path: Path, seed: int, epoch: int, crippled: bool = False) -> None:
    """A checkpoint as the MLKD trainer writes one per student and epoch (kind mlkd-student).
    ``crippled``: the box head always puts the target ~20 crop px up-left of where it looks, so
    the track drifts away and the checkpoint scores worse than any untrained one."""
    cfg = copy.deepcopy(PRESETS["student_tiny"])
    torch.manual_seed(seed)
    model = build_tracker(cfg)
    if crippled:
        with torch.no_grad():
            model.head.box_out.weight.zero_()
            model.head.box_out.bias.copy_(torch.tensor([1.6, 1.6, -10.0, -10.0]))  # l,t ≈ 40 px
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": model.state_dict(), "net_config": cfg.to_dict(), "kind": "mlkd-student",
                "epoch": epoch, "step": 10 * epoch, "train_config": {"data": "tiny-night"}}, path)


def make_run(run: Path, data: Path, epochs: dict[str, int], val_split: str = "val",
             crippled: tuple[str, int] | None = None) -> Path:
    students = [{"name": n, "model": "student_tiny", "corr_kd": "softmax_mse", "response_kd": True}
                for n in epochs]
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(yaml.safe_dump({
        "teacher": "t.pt", "students": students, "room": {"enabled": True}, "data": str(data),
        "train_split": "train", "val_split": val_split}))
    for s, (name, n) in enumerate(epochs.items()):
        for e in range(1, n + 1):
            save_student(run / name / f"epoch_{e:03d}.pt", seed=10 * s + e, epoch=e,
                         crippled=(name, e) == crippled)
        save_student(run / name / "last.pt", seed=10 * s + n, epoch=n)
    return run


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("night")
    write_split(root / "val", ["val_a", "val_b"], seed=1, frames=FRAMES)
    write_split(root / "test", ["test_a"], seed=2, frames=FRAMES)
    return root


@pytest.fixture(scope="module")
def selected(data, tmp_path_factory):
    # mobile's last epoch is the worst candidate: selection must keep mobile's epoch 1.
    run = make_run(tmp_path_factory.mktemp("runs") / "mlkd", data, {"mobile": 2, "alex": 2},
                   crippled=("mobile", 2))
    (run / "stray").mkdir()  # a folder of a student the config does not list: not a candidate
    torch.save({}, run / "stray" / "epoch_001.pt")
    sel = select(run, threads=1, max_frames=5, grid=GRID, progress=False)
    return run, sel


def test_rank_is_by_success_then_precision():
    rows = [{"student": "a", "epoch": 1, "success": 0.5, "precision": 0.1},
            {"student": "b", "epoch": 1, "success": 0.6, "precision": 0.0},
            {"student": "c", "epoch": 2, "success": 0.5, "precision": 0.9}]
    assert [r["student"] for r in rank(rows)] == ["b", "c", "a"]


def test_candidates_are_every_epoch_of_every_listed_student(data, tmp_path):
    run = make_run(tmp_path / "run", data, {"mobile": 2, "alex": 1})
    (run / "ghost").mkdir()
    torch.save({}, run / "ghost" / "epoch_001.pt")
    found = mlkd_select.find_candidates(run, mlkd_select.read_run_config(run))
    assert [(c.student, c.epoch, c.checkpoint.name) for c in found] == [
        ("mobile", 1, "epoch_001.pt"), ("mobile", 2, "epoch_002.pt"), ("alex", 1, "epoch_001.pt")]


@pytest.mark.parametrize("where", ["argument", "config"])
def test_the_test_split_is_refused(data, tmp_path, where):
    run = make_run(tmp_path / "run", data, {"mobile": 1}, val_split="test" if where == "config" else "val")
    with pytest.raises(ValueError, match="test split"):
        select(run, split="test" if where == "argument" else None, progress=False)
    assert not (run / "export").exists()


def test_every_candidate_is_scored_on_val_and_the_best_wins(selected, data):
    run, sel = selected
    cands = sel["candidates"]
    assert sorted((c["student"], c["epoch"]) for c in cands) == [("alex", 1), ("alex", 2), ("mobile", 1),
                                                                 ("mobile", 2)]
    assert cands == rank(cands) and sel["winner"] == cands[0]
    assert (cands[-1]["student"], cands[-1]["epoch"]) == ("mobile", 2)
    assert cands[-1]["success"] < min(c["success"] for c in cands[:-1])
    assert sel["best_per_student"]["mobile"]["epoch"] == 1
    assert sel["split"] == "val"
    # The stored numbers are the OPE scores of the stored result files on VAL (never test).
    gt = {s.name: s.boxes[:5] for s in read_dataset(data / "val")}
    for c in cands:
        folder = run / "selection" / "results" / "val" / Candidate(c["student"], c["epoch"], Path()).label
        assert sorted(p.name for p in folder.glob("*_a.txt")) == ["val_a.txt"]
        score = score_dataset({n: (read_boxes(folder / f"{n}.txt"), g) for n, g in gt.items()})
        assert c["success"] == pytest.approx(score.auc) and c["precision"] == pytest.approx(score.precision_20)
        assert mlkd_select.resolve(run, c["checkpoint"]) == run / c["student"] / f"epoch_{c['epoch']:03d}.pt"
    for student, best in sel["best_per_student"].items():
        assert best == max((c for c in cands if c["student"] == student), key=lambda c: c["success"])
    assert mlkd_select.best_checkpoints(run) == {
        s: run / s / f"epoch_{b['epoch']:03d}.pt" for s, b in sel["best_per_student"].items()}
    assert json.loads((run / "selection" / "selection.json").read_text()) == sel


def test_winner_is_exported_with_the_post_processing_tuned_on_val(selected):
    run, sel = selected
    grid = json.loads((run / "selection" / "tune.json").read_text())["rows"]
    assert len(grid) == 2 and {r["window_influence"] for r in grid} == {0.2, 0.5}
    assert sel["tuned"] and sel["postprocess"]["window_influence"] == grid[0]["window_influence"]
    stem = run / "export" / "mlkd_track"
    assert mlkd_select.export_stem(run) == stem
    engine = OnnxSiameseEngine(stem)
    assert engine.postprocess == sel["postprocess"]
    assert "tiny-night" not in engine.meta["training_data"]  # names the run's data, not a guess
    assert str(Path(yaml.safe_load((run / "config.yaml").read_text())["data"])) in engine.meta["training_data"]
    assert json.loads(engine.meta["training_run"])["epoch"] == sel["winner"]["epoch"]


def test_markdown_lists_every_candidate_with_the_winner_in_bold(selected):
    run, sel = selected
    md = (run / "selection" / "selection.md").read_text()
    rows = [ln for ln in md.splitlines() if re.match(r"^\| \**\d", ln)]
    assert len(rows) == len(sel["candidates"])
    bold = [ln for ln in rows if "**" in ln]
    assert len(bold) == 1 and sel["winner"]["checkpoint"] in bold[0]
    assert (run / "selection" / sel["plot"]).stat().st_size > 0


def test_a_rerun_reuses_the_evaluation_and_the_tuning(selected, monkeypatch):
    run, sel = selected
    results = sorted((run / "selection" / "results").rglob("*.txt"))
    stamps = [p.stat().st_mtime_ns for p in results]

    def no_tuning(*a, **k):
        raise AssertionError("tuned again although nothing changed")

    monkeypatch.setattr(tune_postprocess, "tune", no_tuning)
    again = select(run, threads=1, max_frames=5, grid=GRID, progress=False)
    assert [p.stat().st_mtime_ns for p in results] == stamps
    assert again["candidates"] == sel["candidates"] and again["postprocess"] == sel["postprocess"]


def test_cli(data, tmp_path, capsys):
    run = make_run(tmp_path / "run", data, {"solo": 1})
    parser = argparse.ArgumentParser()
    mlkd_select.add_arguments(parser)
    assert mlkd_select.main(parser.parse_args([str(run), "--split", "test"])) == 2
    assert "test split" in capsys.readouterr().err
    out = tmp_path / "exp" / "track"
    code = mlkd_select.main(parser.parse_args([str(run), "--data", str(data), "--split", "val", "--threads", "1",
                                               "--max-frames", "3", "--no-tune", "--out", str(out)]))
    assert code == 0
    sel = json.loads((run / "selection" / "selection.json").read_text())
    assert not sel["tuned"] and sel["max_frames"] == 3
    assert OnnxSiameseEngine(out).postprocess == sel["postprocess"]
    assert "solo" in capsys.readouterr().out
