"""Results-file round trips and the separators / malformed lines real annotation files contain."""

import numpy as np
import pytest

from mlkd_tracker.data.results_io import read_boxes, read_times, write_boxes, write_times


def test_boxes_round_trip_with_nan(tmp_path):
    boxes = np.array([[10.0, 20.5, 30.25, 40.125], [np.nan] * 4, [-1.5, 0.0, 1e4, 0.00004]])
    path = tmp_path / "runs" / "seq1.txt"  # parent created on demand
    write_boxes(path, boxes)
    lines = path.read_text().splitlines()
    assert lines == ["10.0000,20.5000,30.2500,40.1250", "nan,nan,nan,nan", "-1.5000,0.0000,10000.0000,0.0000"]
    back = read_boxes(path)
    assert back.shape == (3, 4)
    np.testing.assert_allclose(back, np.round(boxes, 4), atol=1e-9)  # NaN == NaN here


def test_empty_boxes_round_trip(tmp_path):
    write_boxes(tmp_path / "e.txt", np.zeros((0, 4)))
    assert read_boxes(tmp_path / "e.txt").shape == (0, 4)


def test_write_boxes_rejects_bad_shape(tmp_path):
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        write_boxes(tmp_path / "x.txt", np.zeros((2, 3)))


@pytest.mark.parametrize(
    "text",
    [
        "1,2,3,4\n5,6,7,8\n",  # UAV123 anno
        "1\t2\t3\t4\n5\t6\t7\t8\n",  # tab separated
        "1 2 3 4\n5   6 7 8\n",  # whitespace
        "1, 2, 3, 4\r\n5 ,6,\t7,8\r\n",  # padded commas, CRLF
        "\n1,2,3,4\n\n  \n5,6,7,8",  # blank lines, no final newline
        "\ufeff1,2,3,4\n5,6,7,8\n",  # UTF-8 BOM
    ],
)
def test_read_boxes_separators(tmp_path, text):
    path = tmp_path / "anno.txt"
    path.write_text(text, encoding="utf-8", newline="")
    np.testing.assert_array_equal(read_boxes(path), [[1, 2, 3, 4], [5, 6, 7, 8]])


def test_read_boxes_accepts_nan_spellings(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("NaN,NaN,NaN,NaN\nnan\tnan\tnan\tnan\n1,2,3,4\n")
    out = read_boxes(path)
    assert np.isnan(out[:2]).all() and (out[2] == [1, 2, 3, 4]).all()


@pytest.mark.parametrize(
    "bad_line, why",
    [
        ("1,2,3", "expected 4"),
        ("1,2,3,4,5", "expected 4"),
        ("1,2,three,4", "not a number"),
        ("1,,2,3", "not a number"),  # empty field is not silently skipped
    ],
)
def test_read_boxes_malformed_line_names_file_and_line(tmp_path, bad_line, why):
    path = tmp_path / "seq.txt"
    path.write_text(f"1,2,3,4\n\n{bad_line}\n5,6,7,8\n")
    with pytest.raises(ValueError, match=why) as err:
        read_boxes(path)
    assert f"{path}:3:" in str(err.value)  # 1-based line number, blank lines counted


def test_times_round_trip(tmp_path):
    t = np.array([0.0123456, 0.02, 1.5])
    write_times(tmp_path / "seq_time.txt", t)
    np.testing.assert_allclose(read_times(tmp_path / "seq_time.txt"), t, atol=1e-6)


def test_read_times_malformed(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("0.01\n\n0.02 0.03\n")
    with pytest.raises(ValueError, match=f"{path}:3:"):
        read_times(path)
    path.write_text("0.01\nfast\n")
    with pytest.raises(ValueError, match=f"{path}:2:"):
        read_times(path)


def test_write_times_rejects_2d(tmp_path):
    with pytest.raises(ValueError, match="1-D"):
        write_times(tmp_path / "t.txt", np.zeros((2, 2)))
