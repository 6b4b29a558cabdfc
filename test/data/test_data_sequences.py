"""Readers for the GOT-10k and UAV123-family layouts on tiny hand-written trees."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from mlkd_tracker.data.sequences import (
    Sequence, natural_key, read_dataset, read_got10k, read_uav123,
)


def touch_frames(folder: Path, names: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for n in names:
        (folder / n).write_bytes(b"")  # readers never decode images


def got_seq(root: Path, name: str, lines: list[str], n_frames: int, **labels: list[int]) -> None:
    touch_frames(root / name, [f"{i:08d}.jpg" for i in range(1, n_frames + 1)])
    (root / name / "groundtruth.txt").write_text("\n".join(lines) + "\n")
    for label, values in labels.items():
        (root / name / f"{label}.label").write_text("".join(f"{v}\n" for v in values))


def test_natural_sort_orders_numbers_numerically():
    names = ["img10.jpg", "img2.jpg", "img1.jpg", "img100.jpg"]
    assert sorted(names, key=natural_key) == ["img1.jpg", "img2.jpg", "img10.jpg", "img100.jpg"]


def test_got10k_reads_boxes_labels_clean_and_list_order(tmp_path):
    got_seq(tmp_path, "b", ["1,2,3,4", "2,3,4,5", "0,0,0,0"], 3, absence=[0, 0, 1],
            cover=[8, 4, 0])
    touch_frames(tmp_path / "b" / "clean", ["00000001.jpg", "00000002.jpg", "00000003.jpg"])
    got_seq(tmp_path, "a", ["5\t6\t7\t8"], 1)
    (tmp_path / "list.txt").write_text("b\na\n")
    seqs = read_got10k(tmp_path)
    assert [s.name for s in seqs] == ["b", "a"]
    b = seqs[0]
    np.testing.assert_array_equal(b.boxes[:2], [[1, 2, 3, 4], [2, 3, 4, 5]])
    assert np.isnan(b.boxes[2]).all()  # 0,0,0,0 -> invalid
    assert b.absent.tolist() == [False, False, True] and b.valid.tolist() == [True, True, False]
    assert b.cover.tolist() == [1.0, 0.5, 0.0]
    assert [p.name for p in b.clean_frames] == [p.name for p in b.frames]
    assert b.clean_frames[0].parent.name == "clean"
    assert seqs[1].clean_frames is None and seqs[1].cover is None
    np.testing.assert_array_equal(seqs[1].boxes, [[5, 6, 7, 8]])


def test_invalid_rows_become_nan_with_one_warning(tmp_path, caplog):
    lines = ["1,2,3,4", "nan,nan,nan,nan", "1,2,-3,4", "1,2,3", "x,1,2,3", "1,2,0,4", "1, 2, 3, 4"]
    got_seq(tmp_path, "s", lines, len(lines))
    with caplog.at_level(logging.WARNING):
        (s,) = read_got10k(tmp_path)
    assert s.valid.tolist() == [True, False, False, False, False, False, True]
    assert np.isnan(s.boxes[1:6]).all() and s.absent[1:6].all()
    warnings = [r.getMessage() for r in caplog.records if "malformed" in r.getMessage()]
    assert len(warnings) == 1 and "2 malformed" in warnings[0]


def test_small_length_mismatch_truncates_large_one_names_the_sequence(tmp_path, caplog):
    got_seq(tmp_path, "longer_anno", ["1,1,2,2"] * 5, 4)
    got_seq(tmp_path, "more_frames", ["1,1,2,2"] * 4, 6)
    with caplog.at_level(logging.WARNING):
        seqs = read_got10k(tmp_path)
    assert [len(s) for s in seqs] == [4, 4]
    assert len(seqs[0].boxes) == 4 and len(seqs[1].frames) == 4
    assert any("longer_anno" in r.getMessage() for r in caplog.records)
    got_seq(tmp_path / "far", "bad_seq", ["1,1,2,2"] * 30, 5)
    with pytest.raises(ValueError, match="bad_seq"):
        read_got10k(tmp_path / "far")


def test_first_frame_only_annotation_is_kept(tmp_path):
    got_seq(tmp_path, "test_seq", ["1,2,3,4"], 40)
    (s,) = read_got10k(tmp_path)
    assert len(s) == 40 and s.valid[0] and not s.valid[1:].any()


def test_got10k_missing_pieces_give_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope"):
        read_got10k(tmp_path / "nope")
    got_seq(tmp_path, "ok", ["1,2,3,4"], 1)
    touch_frames(tmp_path / "unlabelled", ["00000001.jpg"])
    with pytest.raises(FileNotFoundError, match="unlabelled"):
        read_got10k(tmp_path)
    (tmp_path / "list.txt").write_text("ok\nghost\n")
    with pytest.raises(FileNotFoundError, match="ghost"):
        read_got10k(tmp_path)
    (tmp_path / "list.txt").write_text("empty\n")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "groundtruth.txt").write_text("1,2,3,4\n")
    with pytest.raises(ValueError, match="empty.*no image"):
        read_got10k(tmp_path)


def make_uav(root: Path) -> None:
    shuffled = (10, 9, 8, 1, 2, 3, 4, 5, 6, 7)
    touch_frames(root / "data_seq" / "car1", [f"{i:05d}.jpg" for i in shuffled])
    (root / "anno").mkdir(parents=True)
    rows = [f"{i},{i},10,5" for i in range(9)] + ["NaN,NaN,NaN,NaN"]
    (root / "anno" / "car1.txt").write_text("\n".join(rows) + "\n\n")
    touch_frames(root / "data_seq" / "person2", ["img1.jpg", "img2.jpg", "img10.jpg"])
    (root / "anno" / "person2.txt").write_text("1 2 3 4\n5 6 7 8\n9 10 11 12\n")


def test_uav123_family_layout(tmp_path):
    make_uav(tmp_path)
    seqs = read_uav123(tmp_path)
    assert [s.name for s in seqs] == ["car1", "person2"]
    car = seqs[0]
    assert [p.name for p in car.frames][:3] == ["00001.jpg", "00002.jpg", "00003.jpg"]
    assert car.frames[-1].name == "00010.jpg" and car.clean_frames is None
    np.testing.assert_array_equal(car.boxes[3], [3, 3, 10, 5])
    assert car.valid.sum() == 9 and car.absent[-1]
    assert [p.name for p in seqs[1].frames] == ["img1.jpg", "img2.jpg", "img10.jpg"]
    (tmp_path / "anno" / "person2.txt").unlink()
    with pytest.raises(FileNotFoundError, match="person2"):
        read_uav123(tmp_path)


def test_read_dataset_detects_the_layout(tmp_path):
    make_uav(tmp_path / "uav")
    got_seq(tmp_path / "got", "s", ["1,2,3,4"], 1)
    assert [s.name for s in read_dataset(tmp_path / "uav")] == ["car1", "person2"]
    assert [s.name for s in read_dataset(tmp_path / "got")] == ["s"]
    got_seq(tmp_path / "splits" / "train", "s", ["1,2,3,4"], 1)
    with pytest.raises(ValueError, match=r"splits.*\['train'\]"):
        read_dataset(tmp_path / "splits")
    (tmp_path / "nothing").mkdir()
    with pytest.raises(ValueError, match="nothing"):
        read_dataset(tmp_path / "nothing")


def test_sequence_rejects_inconsistent_lengths():
    with pytest.raises(ValueError, match="s1"):
        Sequence("s1", [Path("a.jpg")], np.zeros((2, 4)), np.zeros(1, bool))


def test_readers_and_generator_import_no_torch():
    import subprocess
    import sys
    code = ("import sys, mlkd_tracker.data.sequences, mlkd_tracker.data.synth, "
            "mlkd_tracker.data.synth_cli; assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
