"""`mlkd-tracker bench trackers` on a tiny GOT-10k-layout data set written by the test: every
tracker runs on the same frames, the shipped students are found in models/, and the results go
into the JSON and markdown sections with the command that reproduces them."""
from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from mlkd_tracker.eval import tracker_bench_cli
from mlkd_tracker.eval.eval_cli import load_dataset
from mlkd_tracker.eval.tracker_bench import (bench_trackers, clip_sequences, find_students,
                                             tracker_specs)

REPO = Path(__file__).resolve().parents[2]
W, H, SIZE, FRAMES = 128, 96, 24, 6


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    """Two sequences of a bright checker square moving over a noisy dark ground."""
    root = tmp_path_factory.mktemp("got10k")
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[:SIZE, :SIZE]
    target = np.where((xx // 6 + yy // 6) % 2 == 0, 250, 170).astype(np.uint8)
    for name, (x0, y0, dx) in {"seq_a": (20, 30, 2), "seq_b": (70, 40, -2)}.items():
        folder = root / name
        folder.mkdir()
        lines = []
        for i in range(FRAMES):
            x = x0 + dx * i
            img = rng.integers(0, 50, (H, W), dtype=np.uint8)
            img[y0:y0 + SIZE, x:x + SIZE] = target
            cv2.imwrite(str(folder / f"{i + 1:08d}.jpg"), np.dstack([img] * 3))
            lines.append(f"{x},{y0},{SIZE},{SIZE}")
        (folder / "groundtruth.txt").write_text("\n".join(lines) + "\n")
    return root


def test_students_are_exports_with_both_branches(tmp_path):
    for name in ("a.search.onnx", "a.template.onnx", "b.search.onnx", "c.template.onnx"):
        (tmp_path / name).write_bytes(b"")
    assert find_students(tmp_path) == [tmp_path / "a"]


def test_the_shipped_student_is_found():
    assert REPO / "models" / "student_mobile" in find_students(REPO / "models")


def test_specs_are_students_then_teacher_then_baselines_then_extras(tmp_path):
    teacher = tmp_path / "best.pt"
    teacher.write_bytes(b"")
    specs = tracker_specs(REPO / "models", str(teacher), ["csrt", "kcf"], ["x=opencv:mil"])
    labels = [s.label for s in specs]
    students = [stem.name for stem in find_students(REPO / "models")]
    assert labels == [*students, "teacher", "opencv-csrt", "opencv-kcf", "x"]
    assert "student_mobile" in students
    assert specs[-4].kind == "torch"


def test_a_missing_teacher_checkpoint_is_refused_before_anything_runs(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        tracker_specs(None, str(tmp_path / "nope.pt"), [], [])


def test_two_trackers_with_one_label_are_refused():
    with pytest.raises(ValueError, match="share the label"):
        tracker_specs(None, None, ["kcf"], ["opencv-kcf=opencv:csrt"])


def test_clip_takes_the_first_frames_of_the_data_set_in_order(dataset):
    clips = clip_sequences(load_dataset(dataset), 9)
    assert [(c.name, len(c.frames), len(c.boxes)) for c in clips] == [("seq_a", 6, 6),
                                                                      ("seq_b", 3, 3)]
    assert len(clip_sequences(load_dataset(dataset), None)) == 2


def test_every_tracker_runs_on_the_same_frames(dataset, tmp_path):
    clips = clip_sequences(load_dataset(dataset), 9)
    specs = tracker_specs(None, None, ["kcf", "mosse"], [])
    rows = bench_trackers(specs, clips, tmp_path, progress=False)
    assert [r["tracker"] for r in rows] == ["opencv-kcf", "opencv-mosse"]
    for row in rows:
        assert row["frames"] == 9
        assert row["update_ms"]["n"] == 9 - len(clips)  # each clip's init frame is not an update
        assert row["fps"] > 0 and row["init_ms_median"] > 0
        assert 0.0 <= row["success_auc"] <= 1.0
        assert len(clips) <= row["frames_with_box"] <= 9  # at least each clip's init frame


def _args(dataset: Path, out: Path, **kw) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    tracker_bench_cli.add_arguments(parser)
    words = ["--dataset", str(dataset), "--out", str(out), "--markdown", str(out / "B.md"),
             "--no-progress"]
    for key, value in kw.items():
        words += [f"--{key.replace('_', '-')}", str(value)]
    return parser.parse_args(words)


def test_the_command_writes_json_and_markdown_with_its_command_line(dataset, tmp_path, capsys):
    models = tmp_path / "models"  # the shipped student alone, whatever else models/ holds
    models.mkdir()
    for branch in ("template", "search"):
        shutil.copy(REPO / "models" / f"student_mobile.{branch}.onnx", models)
    args = _args(dataset, tmp_path, frames=8, models=models, opencv="kcf", threads=1,
                 note="smoke")
    assert tracker_bench_cli.main(args) == 0
    result = json.loads((tmp_path / "benchmarks.json").read_text())["trackers"]
    assert [r["tracker"] for r in result["trackers"]] == ["student_mobile", "opencv-kcf"]
    assert result["frames"] == 8 and result["threads"] == 1
    assert result["command"] == tracker_bench_cli.command_line(args)
    assert "--frames 8" in result["command"] and "--threads 1" in result["command"]
    text = (tmp_path / "B.md").read_text()
    assert f"Command: `{result['command']}`" in text and "> **smoke**" in text
    assert "| student_mobile |" in text and "| opencv-kcf |" in text
    assert "| with box |" in text
    for row in result["trackers"]:
        assert f"| {row['frames_with_box']} of 8 |" in text
    assert (tmp_path / "trackers" / "student_mobile" / "seq_a_time.txt").is_file()


@pytest.mark.parametrize("kw, words", [({"tracker": "opencv:nosuch"}, "nosuch"),
                                       ({"models": "/nonexistent", "opencv": ""}, "no trackers")])
def test_bad_arguments_exit_2_with_a_reason(dataset, tmp_path, capsys, kw, words):
    assert tracker_bench_cli.main(_args(dataset, tmp_path, **kw)) == 2
    assert words in capsys.readouterr().err
    assert not (tmp_path / "benchmarks.json").exists()


def test_a_missing_data_set_exits_2(tmp_path, capsys):
    assert tracker_bench_cli.main(_args(tmp_path / "nope", tmp_path, opencv="kcf")) == 2
    assert "does not exist" in capsys.readouterr().err
