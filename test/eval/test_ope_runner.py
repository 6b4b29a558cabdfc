"""OPE runner and tracker registry: hand-computed metrics through run_dataset, the frame-0 rule,
result files, resume, timing, frames with a box, the per-sequence random state, and tracker-spec
parsing."""
from __future__ import annotations

import ctypes
import logging
import random
import re
import subprocess
import sys
import types
from pathlib import Path

import cv2
import numpy as np
import pytest

from mlkd_tracker.data.sequences import Sequence as Seq
from mlkd_tracker.eval import ope_runner
from mlkd_tracker.eval.ope_runner import (RunScore, frames_with_box, init_frame_index, reset_random_state,
                                          run_dataset, run_sequence, sequence_fps)
from mlkd_tracker.eval.plots import plot_ope
from mlkd_tracker.eval.tracker_registry import THREADS_ENV, TrackerSpec, make, parse_spec, spec_identity
from mlkd_tracker.runtime.opencv_trackers import OpenCVTracker
from mlkd_tracker.runtime.track_supervisor import TrackSupervisor
from mlkd_tracker.runtime.tracker_base import TrackResult, Tracker

W, H = 120, 90
BOX_W, BOX_H = 40, 30
SPEC = TrackerSpec("fake", "oracle", "fake")




def make_seq(root: Path, name: str, n: int, invalid: tuple[int, ...] = ()) -> Seq:
    """A white 40x30 rectangle gliding 2 px/frame right and 1 px/frame down on black (PNG, so
    pixels are exact). Frames listed in ``invalid`` have no target and a 0x0 ground truth."""
    folder = root / name
    folder.mkdir(parents=True)
    frames, boxes = [], []
    for i in range(n):
        img = np.zeros((H, W, 3), np.uint8)
        if i in invalid:
            boxes.append([0.0, 0.0, 0.0, 0.0])
        else:
            x, y = 5 + 2 * i, 10 + i
            img[y:y + BOX_H, x:x + BOX_W] = 255
            boxes.append([x, y, BOX_W, BOX_H])
        path = folder / f"{i + 1:08d}.png"
        cv2.imwrite(str(path), img)
        frames.append(path)
    return Seq(name, frames, np.array(boxes, float), np.zeros(n, bool))


class Clock:
    """A scripted perf_counter: time moves only when a fake tracker says it worked."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class OracleTracker(Tracker):
    """Finds the white rectangle in the frame, then reports it moved by ``offset`` (a scripted
    error); optionally advances a scripted clock by ``cost`` seconds per call."""

    name = "oracle"

    def __init__(self, offset=(0.0, 0.0), clock: Clock | None = None, cost: float = 0.0) -> None:
        self.offset = np.array([*offset, 0.0, 0.0])
        self.clock, self.cost = clock, cost
        self.init_boxes: list[tuple] = []
        self.init_frames: list[np.ndarray] = []
        self.updates = 0

    def _tick(self) -> None:
        if self.clock is not None:
            self.clock.now += self.cost

    def init(self, frame, box) -> None:
        assert frame.dtype == np.uint8 and frame.shape == (H, W, 3)  # BGR colour frame
        self.init_boxes.append(tuple(box))
        self.init_frames.append(frame)
        self._tick()

    def update(self, frame) -> TrackResult:
        self.updates += 1
        self._tick()
        ys, xs = np.nonzero(frame[..., 0] > 127)
        found = np.array([xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1], float)
        return TrackResult(tuple(found + self.offset), 1.0)


def factory(trackers: list, **kwargs):
    def build(spec: TrackerSpec) -> Tracker:
        tracker = OracleTracker(**kwargs)
        trackers.append(tracker)
        return tracker

    return build


# --- metrics through run_dataset ----------------------------------------------------------


def test_perfect_tracker_scores_20_of_21(tmp_path):
    seqs = [make_seq(tmp_path / "data", "a", 10), make_seq(tmp_path / "data", "b", 6)]
    made: list[OracleTracker] = []
    score = run_dataset(SPEC, seqs, tmp_path / "out", progress=False, tracker_factory=factory(made))
    assert isinstance(score, RunScore)
    assert score.auc == pytest.approx(20 / 21)  # τ = 1.0 fails even a perfect frame
    assert score.precision_20 == 1.0 and score.norm_precision_20 == 1.0
    assert set(score.per_sequence) == {"a", "b"} and score.n_frames == 16
    assert len(made) == 2  # a fresh tracker per sequence
    assert [m.updates for m in made] == [9, 5]  # every frame after the first, no re-init
    assert [len(m.init_boxes) for m in made] == [1, 1]
    assert made[0].init_boxes[0] == (5.0, 10.0, 40.0, 30.0)  # frame 0's ground truth


def test_shift_of_25px_hand_computed_and_averaged_over_sequences(tmp_path):
    # IoU of a 40x30 box and itself shifted 25 px: 15*30 / (2*1200 - 450) = 3/13 ≈ 0.231, so
    # frames 1.. pass τ = 0 … 0.20 (5 thresholds) and fail τ = 0.25 … 1.0; frame 0 (init) is
    # perfect and passes all but τ = 1. Centre error 25 px > 20; normalised 25/40 > 0.2.
    seqs = [make_seq(tmp_path / "data", "long", 10), make_seq(tmp_path / "data", "short", 5)]
    score = run_dataset(SPEC, seqs, tmp_path / "out", progress=False,
                        tracker_factory=factory([], offset=(25.0, 0.0)))
    long_, short = score.per_sequence["long"], score.per_sequence["short"]
    assert long_.auc == pytest.approx((5 * 1.0 + 15 * 0.1) / 21)
    assert short.auc == pytest.approx((5 * 1.0 + 15 * 0.2) / 21)
    assert long_.precision_20 == pytest.approx(0.1) and short.precision_20 == pytest.approx(0.2)
    assert long_.precision_curve[24] == pytest.approx(0.1) and long_.precision_curve[25] == 1.0  # ≤ τ
    assert long_.norm_precision_20 == pytest.approx(0.1)
    # dataset numbers are means over sequences (pooled frames would give P@20 = 2/15)
    assert score.auc == pytest.approx((6.5 / 21 + 8 / 21) / 2)
    assert score.precision_20 == pytest.approx(0.15)
    assert score.norm_precision_20 == pytest.approx(0.15)


# --- frame 0 -------------------------------------------------------------------------------


def test_invalid_first_gt_initialises_on_first_valid_frame(tmp_path):
    seq = make_seq(tmp_path, "late", 10, invalid=(0,))
    tracker = OracleTracker()
    pred, times, scores = run_sequence(tracker, seq)
    assert tracker.init_boxes == [tuple(seq.boxes[1])]
    assert tracker.init_frames[0][..., 0].max() == 255  # frame 1 (frame 0 has no target)
    assert tracker.updates == 8
    assert np.isnan(pred[0]).all() and np.isnan(times[0])
    np.testing.assert_array_equal(pred[1:], seq.boxes[1:])
    assert np.isfinite(times[1:]).all()
    assert np.isnan(scores[0]) and scores[1] == 1.0 and (scores[2:] == 1.0).all()
    score = run_dataset(SPEC, [seq], tmp_path / "out", progress=False, tracker_factory=factory([]))
    assert score.auc == pytest.approx(0.9 * 20 / 21)  # frame 0 fails every threshold
    assert score.precision_20 == pytest.approx(0.9)
    assert (tmp_path / "out" / "fake" / "late.txt").read_text().splitlines()[0] == "nan,nan,nan,nan"


def test_absent_flag_and_no_usable_frame(tmp_path):
    seq = make_seq(tmp_path, "s", 4, invalid=(0, 1, 2, 3))
    assert init_frame_index(seq) is None
    tracker = OracleTracker()
    pred, times, scores = run_sequence(tracker, seq)
    assert tracker.init_boxes == [] and np.isnan(pred).all() and np.isnan(times).all()
    assert np.isnan(scores).all() and frames_with_box(pred, scores) == 0
    seq2 = make_seq(tmp_path, "t", 4)
    seq2.absent[:2] = True  # valid boxes, but the target is flagged out of view
    assert init_frame_index(seq2) == 2
    assert init_frame_index(seq2, n=2) is None


def test_tracker_refusing_init_fails_the_sequence_with_a_warning(tmp_path, caplog):
    class Refuses(OracleTracker):
        def init(self, frame, box):
            raise ValueError("box too small")

    seq = make_seq(tmp_path, "s", 5)
    with caplog.at_level(logging.WARNING):
        pred, times, scores = run_sequence(Refuses(), seq)
    assert np.isnan(pred).all() and np.isnan(times).all() and np.isnan(scores).all()
    assert "refused to start" in caplog.text and "'s'" in caplog.text


def test_max_frames_and_length_mismatch(tmp_path):
    seq = make_seq(tmp_path, "s", 8)
    pred, times, scores = run_sequence(OracleTracker(), seq, max_frames=3)
    assert pred.shape == (3, 4) and times.shape == (3,) and scores.shape == (3,)
    seq.boxes = seq.boxes[:-1]
    with pytest.raises(ValueError, match="8 frames but 7"):
        run_sequence(OracleTracker(), seq)


def test_unreadable_frame_is_an_error_naming_the_file(tmp_path):
    seq = make_seq(tmp_path, "s", 3)
    seq.frames[2].unlink()
    with pytest.raises(ValueError, match="00000003.png"):
        run_sequence(OracleTracker(), seq)


# --- timing ---------------------------------------------------------------------------------


def test_fps_is_all_frames_over_all_time_and_kept_per_sequence(tmp_path, monkeypatch):
    clock = Clock()
    monkeypatch.setattr(ope_runner, "_clock", clock)
    costs = iter([0.01, 0.04])  # seconds per init/update for the 1st and 2nd sequence's tracker

    def build(spec):
        return OracleTracker(clock=clock, cost=next(costs))

    seqs = [make_seq(tmp_path / "d", "a", 10), make_seq(tmp_path / "d", "b", 5)]
    score = run_dataset(SPEC, seqs, tmp_path / "out", progress=False, tracker_factory=build)
    assert score.fps_per_sequence == {"a": pytest.approx(100.0), "b": pytest.approx(25.0)}
    assert score.fps == pytest.approx(15 / (10 * 0.01 + 5 * 0.04))  # 50, not the mean 62.5
    lines = (tmp_path / "out" / "fake" / "b_time.txt").read_text().splitlines()
    assert lines == ["0.040000"] * 5


def test_frame_loading_is_not_timed(tmp_path, monkeypatch):
    """On a scripted clock, reading a frame takes 1 s and each tracker call 0.01 s: the times
    hold the tracker's 0.01 s only, exactly (no wall clock, so load cannot change the outcome)."""
    clock = Clock()
    monkeypatch.setattr(ope_runner, "_clock", clock)
    real_read = ope_runner._read_frame

    def slow_read(path):
        clock.now += 1.0
        return real_read(path)

    monkeypatch.setattr(ope_runner, "_read_frame", slow_read)
    _, times, _ = run_sequence(OracleTracker(clock=clock, cost=0.01), make_seq(tmp_path, "s", 4))
    np.testing.assert_allclose(times, 0.01)
    assert clock.now == pytest.approx(4 * 1.0 + 4 * 0.01)  # the reads did happen


class Scripted(Tracker):
    """Replays (box, score) results, one per update."""

    name = "scripted"

    def __init__(self, results: list[TrackResult]) -> None:
        self.results = iter(results)

    def init(self, frame, box) -> None:
        pass

    def update(self, frame) -> TrackResult:
        return next(self.results)


def test_frames_with_box_follow_the_node_rule(tmp_path):
    """The count equals the frames on which a TrackSupervisor with the same settings outputs a
    box, for a run that loses its target, recovers, and reports NaN and empty boxes."""
    rng = np.random.default_rng(5)
    scores = np.concatenate([rng.uniform(0.5, 1, 8), rng.uniform(0, 0.2, 20), rng.uniform(0.3, 1, 5),
                             rng.uniform(0, 0.29, 4), [0.9, 0.1, 0.1]])
    boxes = np.tile([10.0, 10.0, 20.0, 20.0], (len(scores), 1))
    boxes[3] = np.nan  # scores 0 whatever its score says
    boxes[30, 2] = 0.0
    results = [TrackResult(tuple(b), s) for b, s in zip(boxes, scores)]
    supervisor = TrackSupervisor(Scripted(results), score_threshold=0.3, lost_after=15)
    frame = np.zeros((H, W, 3), np.uint8)
    supervisor.start(frame, (10.0, 10.0, 20.0, 20.0))
    published = 1 + sum(supervisor.step(frame).box is not None for _ in results)
    run_boxes = np.vstack([[10.0, 10.0, 20.0, 20.0], boxes])
    run_scores = np.concatenate([[1.0], scores])
    assert frames_with_box(run_boxes, run_scores, 0.3, 15) == published
    assert 1 < published < len(run_scores)  # it did lose the target, and recovered
    # frames before the initialisation frame (NaN: not run) never count
    nan_first = np.concatenate([[np.nan, np.nan], run_scores])
    assert frames_with_box(np.vstack([np.full((2, 4), np.nan), run_boxes]), nan_first, 0.3, 15) == published


def test_a_frame_whose_box_is_unusable_has_no_box_even_while_tracking():
    boxes = np.array([[1, 1, 5, 5], [np.nan, 1, 5, 5], [1, 1, 0, 5], [1, 1, 5, 5]], float)
    scores = np.ones(4)
    assert frames_with_box(boxes, scores, 0.3, 15) == 2


def test_run_dataset_counts_frames_with_box_per_sequence(tmp_path):
    seqs = [make_seq(tmp_path / "d", "a", 5), make_seq(tmp_path / "d", "b", 20)]
    lost = [TrackResult((1.0, 1.0, 5.0, 5.0), 0.0)] * 19  # scores 0 from the first update on

    def build(spec):
        return Scripted(list(lost))

    score = run_dataset(SPEC, seqs, tmp_path / "out", progress=False, tracker_factory=build)
    # a: init + 4 low frames (not yet 15) = 5; b: init + 14 frames, then LOST for 5
    assert score.frames_with_box_per_sequence == {"a": 5, "b": 15}
    assert score.frames_with_box == 20 and score.n_frames == 25


def test_every_sequence_starts_from_the_same_random_state(tmp_path):
    """C rand() (OpenCV's MIL draws its features from it), OpenCV's RNG, numpy and Python are
    reset, so a tracker draws the same numbers whatever ran before it."""
    libc_rand = ctypes.CDLL(None).rand

    def draws():
        return (libc_rand(), cv2.randu(np.zeros(3), 0, 1).tolist(), np.random.rand(), random.random())

    reset_random_state()
    first = draws()
    draws()  # what an earlier tracker would consume
    reset_random_state()
    assert draws() == first

    class Draws(OracleTracker):
        def init(self, frame, box) -> None:
            super().init(frame, box)
            self.drawn = draws()

    a, b = Draws(), Draws()
    seq = make_seq(tmp_path, "s", 3)
    run_sequence(a, seq)
    draws()
    run_sequence(b, seq)
    assert a.drawn == b.drawn == first


def test_sequence_fps_ignores_untracked_frames():
    assert sequence_fps(np.array([np.nan, 0.1, 0.1])) == pytest.approx(10.0)
    assert np.isnan(sequence_fps(np.array([np.nan, np.nan])))


# --- result files and resume --------------------------------------------------------------


def test_result_files_one_line_per_frame(tmp_path):
    seqs = [make_seq(tmp_path / "d", "a", 7)]
    run_dataset(SPEC, seqs, tmp_path / "out", progress=False, tracker_factory=factory([], offset=(1.5, -2.0)))
    box_lines = (tmp_path / "out" / "fake" / "a.txt").read_text().splitlines()
    time_lines = (tmp_path / "out" / "fake" / "a_time.txt").read_text().splitlines()
    score_lines = (tmp_path / "out" / "fake" / "a_score.txt").read_text().splitlines()
    assert len(box_lines) == 7 and len(time_lines) == 7 and score_lines == ["1.000000"] * 7
    number = r"-?\d+\.\d{4}"
    assert all(re.fullmatch(",".join([number] * 4), line) for line in box_lines)
    assert box_lines[0] == "5.0000,10.0000,40.0000,30.0000"  # the init box
    assert box_lines[1] == "8.5000,9.0000,40.0000,30.0000"  # (7, 11) + (1.5, -2)
    assert all(re.fullmatch(r"\d+\.\d{6}", line) for line in time_lines)
    assert not list((tmp_path / "out" / "fake").glob("*.tmp"))


def test_resume_skips_finished_sequences(tmp_path):
    seqs = [make_seq(tmp_path / "d", "a", 6), make_seq(tmp_path / "d", "b", 4)]
    out = tmp_path / "out"
    made: list[OracleTracker] = []
    first = run_dataset(SPEC, seqs, out, progress=False, tracker_factory=factory(made, offset=(3.0, 0.0)))
    assert len(made) == 2 and first.resumed == ()

    made.clear()
    again = run_dataset(SPEC, seqs, out, progress=False, tracker_factory=factory(made))
    assert made == [] and again.resumed == ("a", "b")
    assert again.auc == first.auc  # the stored (shifted) boxes were scored, not a new run
    assert again.fps_per_sequence == first.fps_per_sequence

    (out / "fake" / "b.txt").unlink()  # as if interrupted before b finished
    run_dataset(SPEC, seqs, out, progress=False, tracker_factory=factory(made))
    assert len(made) == 1 and made[0].updates == 3

    made.clear()
    (out / "fake" / "b_score.txt").unlink()  # a result folder from before scores were kept
    run_dataset(SPEC, seqs, out, progress=False, tracker_factory=factory(made))
    assert len(made) == 1 and made[0].updates == 3

    made.clear()
    (out / "fake" / "a_time.txt").write_text("0.1\n0.1\n")  # incomplete file -> run again
    run_dataset(SPEC, seqs, out, progress=False, tracker_factory=factory(made))
    assert len(made) == 1 and made[0].updates == 5

    made.clear()
    run_dataset(SPEC, seqs, out, progress=False, max_frames=3, tracker_factory=factory(made))
    assert len(made) == 2  # stored runs are longer than 3 frames
    made.clear()
    run_dataset(SPEC, seqs, out, progress=False, resume=False, max_frames=3, tracker_factory=factory(made))
    assert len(made) == 2


def test_resume_refuses_results_of_another_tracker_under_the_same_label(tmp_path):
    seqs = [make_seq(tmp_path / "d", "a", 3)]
    run_dataset(SPEC, seqs, tmp_path / "out", progress=False, tracker_factory=factory([]))
    other = TrackerSpec("fake", "other", "fake")
    with pytest.raises(ValueError, match="holds results of"):
        run_dataset(other, seqs, tmp_path / "out", progress=False, tracker_factory=factory([]))
    run_dataset(other, seqs, tmp_path / "out", progress=False, resume=False, tracker_factory=factory([]))


def test_duplicate_or_no_sequences(tmp_path):
    seq = make_seq(tmp_path, "a", 2)
    with pytest.raises(ValueError, match="duplicate"):
        run_dataset(SPEC, [seq, seq], tmp_path / "out", progress=False, tracker_factory=factory([]))
    with pytest.raises(ValueError, match="no sequences"):
        run_dataset(SPEC, [], tmp_path / "out", progress=False, tracker_factory=factory([]))


def test_run_score_plots_like_a_dataset_score(tmp_path):
    score = run_dataset(SPEC, [make_seq(tmp_path, "a", 3)], tmp_path / "out", progress=False,
                        tracker_factory=factory([]))
    plot = plot_ope({"fake": score}, tmp_path / "ope.png")
    assert plot.success_labels == ("fake [0.952]",)


# --- registry ---------------------------------------------------------------------------------


@pytest.mark.parametrize("text, kind, arg, label", [
    ("opencv:csrt", "opencv", "csrt", "opencv-csrt"),
    (" OpenCV:KCF ", "opencv", "kcf", "opencv-kcf"),
    ("opencv:mil", "opencv", "mil", "opencv-mil"),
    ("opencv:mosse", "opencv", "mosse", "opencv-mosse"),
    ("baseline=opencv:csrt", "opencv", "csrt", "baseline"),
])
def test_parse_opencv_specs(text, kind, arg, label):
    spec = parse_spec(text)
    assert (spec.kind, spec.arg, spec.label) == (kind, arg, label)
    assert str(spec) == f"{kind}:{arg}"


def onnx_export(folder: Path, stem: str) -> Path:
    """The two files of a Siamese export (contents are irrelevant until a tracker is built)."""
    folder.mkdir(parents=True, exist_ok=True)
    for part in ("template", "search"):
        (folder / f"{stem}.{part}.onnx").write_bytes(b"x")
    return folder / stem


def test_parse_model_file_specs(tmp_path):
    stem = onnx_export(tmp_path / "a=b", "student_v2")  # an '=' in the path is not a label
    forms = [f"onnx:{stem}", f"onnx:{stem}.template.onnx", f"onnx:{stem}.search.onnx"]
    specs = [parse_spec(text) for text in forms]
    assert [(s.kind, s.label) for s in specs] == [("onnx", "student_v2")] * 3
    assert specs[1].arg == f"{stem}.template.onnx"  # passed on as written
    assert len({spec_identity(s) for s in specs}) == 1  # one export, whichever file was named
    (tmp_path / "best.pt").write_bytes(b"x")
    torch_spec = parse_spec(f"torch:{tmp_path / 'best.pt'}")
    assert (torch_spec.kind, torch_spec.label) == ("torch", "torch-best")
    assert parse_spec(f"teacher=torch:{tmp_path / 'best.pt'}").label == "teacher"
    assert spec_identity(parse_spec("x=opencv:kcf")) == "opencv:kcf"


@pytest.mark.parametrize("text, message", [
    ("csrt", "kind:arg"),
    ("opencv:", "kind:arg"),
    ("yolo:model.pt", "unknown tracker kind 'yolo'"),
    ("opencv:boosting", "not available"),
    ("onnx:/no/such/student", "onnx tracker: model"),
    ("torch:/no/such/best.pt", "does not exist"),
    ("bad label=opencv:csrt", "label"),
])
def test_parse_errors_are_clear(text, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_spec(text)


def test_onnx_spec_needs_both_files_of_the_export(tmp_path):
    (tmp_path / "m.template.onnx").write_bytes(b"x")
    with pytest.raises(ValueError, match=r"missing .*m\.search\.onnx"):
        parse_spec(f"onnx:{tmp_path / 'm.template.onnx'}")


def test_make_builds_a_fresh_opencv_tracker_each_time():
    spec = parse_spec("opencv:csrt")
    a, b = make(spec), make(spec)
    assert isinstance(a, OpenCVTracker) and a is not b and a.name == "opencv-csrt"


class _Plugged(Tracker):
    def __init__(self, path: str, threads: int | None = None) -> None:
        self.path, self.threads = path, threads

    def init(self, frame, box) -> None:
        pass

    def update(self, frame) -> TrackResult:
        return TrackResult((0, 0, 1, 1), 1.0)


@pytest.fixture
def plugged_backends(monkeypatch):
    """Stand-ins for the ONNX / torch tracker modules and torch itself, found by module name
    exactly as the real ones are, so the test needs neither onnxruntime sessions nor torch."""
    onnx_mod = types.ModuleType("mlkd_tracker.runtime.siamese_tracker")
    onnx_mod.SiameseTracker = _Plugged
    torch_mod = types.ModuleType("mlkd_tracker.train.torch_tracker")
    torch_mod.TorchTracker = type("TorchTracker", (), {"from_checkpoint": staticmethod(_Plugged)})
    fake_torch = types.ModuleType("torch")
    fake_torch.threads = []
    fake_torch.set_num_threads = fake_torch.threads.append
    for module in (onnx_mod, torch_mod, fake_torch):
        monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.delenv(THREADS_ENV, raising=False)
    return fake_torch


def test_make_loads_onnx_and_torch_backends_by_name(tmp_path, plugged_backends):
    stem = onnx_export(tmp_path, "s")
    (tmp_path / "t.pt").write_bytes(b"x")
    onnx_tracker = make(parse_spec(f"onnx:{stem}"))
    torch_tracker = make(parse_spec(f"torch:{tmp_path / 't.pt'}"))
    assert isinstance(onnx_tracker, _Plugged) and onnx_tracker.path == str(stem)
    assert isinstance(torch_tracker, _Plugged) and torch_tracker.path == str(tmp_path / "t.pt")
    assert onnx_tracker.threads is None and plugged_backends.threads == []  # library defaults


def test_make_hands_the_thread_count_to_backends(tmp_path, plugged_backends, monkeypatch):
    stem = onnx_export(tmp_path, "s")
    (tmp_path / "t.pt").write_bytes(b"x")
    assert make(parse_spec(f"onnx:{stem}"), threads=3).threads == 3  # SiameseTracker(threads=3)
    monkeypatch.setenv(THREADS_ENV, "2")  # what eval --threads 2 sets
    assert make(parse_spec(f"onnx:{stem}")).threads == 2
    make(parse_spec(f"torch:{tmp_path / 't.pt'}"))
    assert plugged_backends.threads == [2]  # torch.set_num_threads(2)
    monkeypatch.setenv(THREADS_ENV, "many")
    with pytest.raises(ValueError, match="positive integer"):
        make(parse_spec(f"onnx:{stem}"))


def test_make_reports_unloadable_backend_and_unknown_kind(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "mlkd_tracker.runtime.siamese_tracker", None)  # import fails
    stem = onnx_export(tmp_path, "s")
    with pytest.raises(ValueError, match="cannot load the 'onnx' tracker backend"):
        make(parse_spec(f"onnx:{stem}"))
    with pytest.raises(ValueError, match="unknown tracker kind"):
        make(TrackerSpec("nope", "x", "nope"))
    spec = parse_spec(f"onnx:{stem}")
    (tmp_path / "s.search.onnx").unlink()
    with pytest.raises(ValueError, match="missing"):
        make(spec)


def test_eval_modules_import_neither_torch_nor_matplotlib():
    code = ("import sys, mlkd_tracker.eval.eval_cli, mlkd_tracker.eval.ope_runner, "
            "mlkd_tracker.eval.tracker_registry; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'rclpy', 'matplotlib'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
