"""`mlkd-tracker eval` end to end on a tiny GOT-10k-layout data set written by the test."""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from mlkd_tracker.data.sequences import Sequence as Seq
from mlkd_tracker.eval import eval_cli
from mlkd_tracker.data.results_io import read_boxes
from mlkd_tracker.eval.tracker_registry import THREADS_ENV

W, H, SIZE, FRAMES = 160, 120, 24, 10
SEQUENCES = {"bright_a": ((20, 30), (3, 1)), "bright_b": ((110, 70), (-2, -2))}  # start, px/frame




def minimal_got10k_reader(root: Path) -> list[Seq]:
    """Stand-in for mlkd_tracker.data.sequences.read_dataset (GOT-10k layout only)."""
    seqs = []
    for folder in sorted(p for p in Path(root).iterdir() if (p / "groundtruth.txt").is_file()):
        boxes = read_boxes(folder / "groundtruth.txt")
        seqs.append(Seq(folder.name, sorted(folder.glob("*.jpg")), boxes, np.zeros(len(boxes), bool)))
    return seqs


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    """Two sequences of a bright textured square moving over a noisy dark background."""
    root = tmp_path_factory.mktemp("got10k")
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[:SIZE, :SIZE]
    target = np.where((xx // 6 + yy // 6) % 2 == 0, 250, 170).astype(np.float32)  # checker: trackable
    for name, ((x0, y0), (dx, dy)) in SEQUENCES.items():
        folder = root / name
        folder.mkdir()
        background = cv2.GaussianBlur(rng.normal(40, 25, (H, W)).astype(np.float32), (0, 0), 1.5)
        lines = []
        for i in range(FRAMES):
            x, y = x0 + dx * i, y0 + dy * i
            img = background + rng.normal(0, 6, (H, W)).astype(np.float32)
            img[y:y + SIZE, x:x + SIZE] = target
            frame = np.repeat(np.clip(img, 0, 255).astype(np.uint8)[..., None], 3, axis=2)
            cv2.imwrite(str(folder / f"{i + 1:08d}.jpg"), frame)
            lines.append(f"{x},{y},{SIZE},{SIZE}")
        (folder / "groundtruth.txt").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture(params=["test-reader", "data.sequences"])
def reader(request, monkeypatch):
    """Runs the CLI tests with the real data-set reader and with a minimal stand-in, so the CLI
    path is covered independently of the data layer."""
    if request.param == "test-reader":
        monkeypatch.setattr(eval_cli, "load_dataset", minimal_got10k_reader)
    return request.param


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    eval_cli.add_arguments(parser)
    return parser.parse_args(argv)


def test_end_to_end_csrt_and_mil(dataset, tmp_path, reader, capsys, monkeypatch):
    monkeypatch.delenv(THREADS_ENV, raising=False)
    cv_threads_before = cv2.getNumThreads()
    out = tmp_path / "eval"
    code = eval_cli.main(parse(["--dataset", str(dataset), "--tracker", "opencv:csrt", "--tracker", "opencv:mil",
                                "--out", str(out), "--threads", "1", "--no-progress"]))
    assert code == 0

    results = json.loads((out / "results.json").read_text())
    assert results["threads"] == 1 and results["opencv_threads"] == 1
    assert results["sequences"] == sorted(SEQUENCES) and results["n_frames"] == 2 * FRAMES
    trackers = results["trackers"]
    assert set(trackers) == {"opencv-csrt", "opencv-mil"}
    csrt = trackers["opencv-csrt"]
    assert csrt["spec"] == "opencv:csrt"
    assert csrt["success_auc"] > 0.5
    for t in trackers.values():
        assert set(t["per_sequence"]) == set(SEQUENCES)
        assert 0 <= t["precision_20"] <= 1 and 0 <= t["norm_precision_20"] <= 1
        assert t["fps"] > 0 and len(t["success_curve"]) == 21
        per_seq_auc = [s["success_auc"] for s in t["per_sequence"].values()]
        assert t["success_auc"] == pytest.approx(np.mean(per_seq_auc))
        assert all(s["fps"] > 0 for s in t["per_sequence"].values())  # kept per sequence
        assert 0 < t["frames_with_box"] <= t["n_frames"]
        assert t["frames_with_box"] == sum(s["frames_with_box"] for s in t["per_sequence"].values())
    ranking = sorted(trackers, key=lambda k: -trackers[k]["success_auc"])
    assert results["ranking"] == ranking

    summary = (out / "summary.md").read_text()
    rows = [line for line in summary.splitlines() if line.startswith("| opencv-")]
    assert [r.split("|")[1].strip() for r in rows] == ranking  # sorted by AUC
    assert "| tracker | success | precision | norm. precision | FPS | with box |" in summary
    assert f"| {csrt['frames_with_box']} of {2 * FRAMES} |" in rows[ranking.index("opencv-csrt")]
    assert f"| {100 * csrt['success_auc']:.1f} |" in rows[ranking.index("opencv-csrt")]
    assert "threads: 1" in summary
    assert (out / "ope.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "attributes.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    overall = results["attributes"][0]
    assert overall["attribute"] == "all" and overall["n"] == len(SEQUENCES)
    assert overall["success"] == pytest.approx({k: t["success_auc"] for k, t in trackers.items()})
    assert "## Success by attribute" in summary and "| all | " in summary
    for label, t in trackers.items():
        seconds = 0.0
        for name in SEQUENCES:
            assert len((out / label / f"{name}.txt").read_text().splitlines()) == FRAMES
            times = (out / label / f"{name}_time.txt").read_text().splitlines()
            assert len(times) == FRAMES
            seconds += sum(float(v) for v in times)
        assert t["fps"] == pytest.approx(2 * FRAMES / seconds, rel=1e-3)  # all frames / all time
    assert "| tracker | success |" in capsys.readouterr().out  # the table is printed

    # the thread settings were in force during the run and are restored afterwards
    assert json.loads((out / "opencv-csrt" / "run.json").read_text())["threads"] == "1"
    assert THREADS_ENV not in os.environ and cv2.getNumThreads() == cv_threads_before


def test_sequence_filter_max_frames_and_resume(dataset, tmp_path, reader):
    out = tmp_path / "eval"
    argv = ["--dataset", str(dataset), "--tracker", "kcf=opencv:kcf", "--out", str(out),
            "--sequences", "bright_b", "--max-frames", "4", "--no-progress"]
    assert eval_cli.main(parse(argv)) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["sequences"] == ["bright_b"] and results["max_frames"] == 4
    assert results["trackers"]["kcf"]["resumed_sequences"] == []
    assert len((out / "kcf" / "bright_b.txt").read_text().splitlines()) == 4
    assert not (out / "kcf" / "bright_a.txt").exists()
    assert eval_cli.main(parse(argv)) == 0  # second run reuses the stored results
    again = json.loads((out / "results.json").read_text())["trackers"]["kcf"]
    assert again["resumed_sequences"] == ["bright_b"]
    assert again["success_auc"] == results["trackers"]["kcf"]["success_auc"]


def test_versus_gives_paired_differences_that_match_the_per_sequence_scores(dataset, tmp_path):
    out = tmp_path / "eval"
    argv = ["--dataset", str(dataset), "--tracker", "kcf=opencv:kcf", "--tracker", "mosse=opencv:mosse",
            "--out", str(out), "--max-frames", "6", "--no-progress", "--versus", "kcf"]
    assert eval_cli.main(parse(argv)) == 0
    results = json.loads((out / "results.json").read_text())
    (row,) = results["versus"]["rows"]
    per = {t: results["trackers"][t]["per_sequence"] for t in ("kcf", "mosse")}
    diffs = [per["mosse"][q]["success_auc"] - per["kcf"][q]["success_auc"] for q in per["kcf"]]
    assert row["tracker"] == "mosse" and row["n_sequences"] == len(diffs)
    assert row["mean"] == pytest.approx(100 * np.mean(diffs))
    assert row["low"] <= row["mean"] <= row["high"]
    assert "## Success minus kcf's" in (out / "summary.md").read_text()


@pytest.mark.parametrize("extra, message", [
    (["--tracker", "opencv:nope"], "not available"),
    (["--tracker", "onnx:/no/such"], "onnx tracker: model"),
    (["--tracker", "opencv:csrt", "--tracker", "opencv:csrt"], "share the label"),
    (["--tracker", "opencv:csrt", "--sequences", "bright_a,typo"], "unknown sequence(s) typo"),
    (["--tracker", "opencv:csrt", "--versus", "kcf"], "--versus kcf: not one of the trackers"),
])
def test_bad_input_returns_2_with_a_message(dataset, tmp_path, capsys, monkeypatch, extra, message):
    monkeypatch.setattr(eval_cli, "load_dataset", minimal_got10k_reader)
    out = tmp_path / "eval"
    code = eval_cli.main(parse(["--dataset", str(dataset), "--out", str(out), "--no-progress", *extra]))
    assert code == 2
    assert message in capsys.readouterr().err
    assert not (out / "results.json").exists()


def test_a_tracker_that_cannot_be_built_stops_before_any_tracker_runs(dataset, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(eval_cli, "load_dataset", minimal_got10k_reader)
    real_make = eval_cli.make

    def make(spec):
        if spec.label == "opencv-mil":
            raise ValueError("model metadata does not fit")
        return real_make(spec)

    monkeypatch.setattr(eval_cli, "make", make)
    out = tmp_path / "eval"
    code = eval_cli.main(parse(["--dataset", str(dataset), "--tracker", "opencv:csrt", "--tracker", "opencv:mil",
                                "--out", str(out), "--no-progress"]))
    assert code == 2 and "opencv-mil: model metadata does not fit" in capsys.readouterr().err
    assert not out.exists()  # csrt did not run first


def test_missing_dataset_folder(tmp_path, capsys):
    code = eval_cli.main(parse(["--dataset", str(tmp_path / "nope"), "--tracker", "opencv:csrt",
                                "--out", str(tmp_path / "o")]))
    assert code == 2 and "does not exist" in capsys.readouterr().err


def test_threads_must_be_positive():
    with pytest.raises(SystemExit):
        parse(["--dataset", "d", "--tracker", "opencv:csrt", "--out", "o", "--threads", "0"])


def test_thread_limit_restores_settings(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "7")
    monkeypatch.delenv(THREADS_ENV, raising=False)
    before = cv2.getNumThreads()
    with eval_cli.thread_limit(1):
        assert cv2.getNumThreads() == 1
        assert os.environ[THREADS_ENV] == "1" and os.environ["OMP_NUM_THREADS"] == "1"
    assert cv2.getNumThreads() == before
    assert os.environ["OMP_NUM_THREADS"] == "7" and THREADS_ENV not in os.environ


def test_help_lists_every_spec_form_of_the_factory():
    from mlkd_tracker.runtime.tracker_factory import spec_forms
    parser = argparse.ArgumentParser()
    eval_cli.add_arguments(parser)
    text = parser.format_help()
    forms = [form for form, _ in spec_forms()]
    assert {f.split(":")[0] for f in forms} >= {"opencv", "onnx", "enhanced", "torch"}
    for form in forms:
        assert form in text
    assert "LABEL=" in text
