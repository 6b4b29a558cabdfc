"""The training CSV logs keep their columns: across a resume, and whatever order a row's keys
come in, a value lands under its own header; a column the file never had is refused."""
from __future__ import annotations

import csv

import pytest

from mlkd_tracker.train.callbacks import CsvLogger


def _rows(path):
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_rows_keep_the_columns_of_the_header_across_a_resume(tmp_path):
    CsvLogger(tmp_path).on_epoch_end(None, 1, {"train_total": 1.0, "val_total": 2.0})
    CsvLogger(tmp_path).on_epoch_end(None, 2, {"val_total": 4.0, "train_total": 3.0})  # resumed
    CsvLogger(tmp_path).on_epoch_end(None, 3, {"train_total": 5.0})  # no validation this epoch
    rows = _rows(tmp_path / "epochs.csv")
    assert [(r["epoch"], r["train_total"], r["val_total"]) for r in rows] == [
        ("1", "1.0", "2.0"), ("2", "3.0", "4.0"), ("3", "5.0", "")]


def test_a_new_column_is_refused(tmp_path):
    logger = CsvLogger(tmp_path)
    logger.on_log(None, 1, {"total": 1.0})
    with pytest.raises(ValueError, match="new columns \\['cls'\\]"):
        logger.on_log(None, 2, {"total": 1.0, "cls": 0.5})
