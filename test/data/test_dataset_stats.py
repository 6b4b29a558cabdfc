"""``dataset-stats`` counts what a data set holds per split, from its files and its meta.json."""
from __future__ import annotations

import json

from mlkd_tracker.cli import main
from mlkd_tracker.data.dataset_stats import dataset_stats, format_markdown
from tiny_got10k import SIZE, write_split


def test_counts_sizes_and_recorded_attributes(tmp_path, capsys):
    write_split(tmp_path / "train", ["a", "b"], seed=0, frames=5)
    write_split(tmp_path / "test", ["c"], seed=1, frames=4)
    meta = {"ground": "aerial", "textures": {"train": ["t1.png", "t2.png"], "test": ["t3.png"]},
            "counts": {"train": {"attributes": {"stop": 1, "target_class": {"car": 2}}}}}
    (tmp_path / "meta.json").write_text(json.dumps(meta))
    stats = dataset_stats(tmp_path)
    train, test = stats["splits"]["train"], stats["splits"]["test"]
    assert (train["sequences"], train["frames"], test["sequences"], test["frames"]) == (2, 10, 1, 4)
    assert train["ground_files"] == 2 and test["ground_files"] == 1
    assert train["target_size_px"]["p50"] == SIZE  # the tiny set's square target
    assert train["attributes"] == {"stop": 1} and train["target_class"] == {"car": 2}
    table = format_markdown(stats)
    assert "| sequences with stop | 1 | 0 |" in table and "| target class car | 2 | 0 |" in table
    assert main(["dataset-stats", str(tmp_path), "--json", str(tmp_path / "s.json")]) == 0
    assert json.loads((tmp_path / "s.json").read_text())["splits"]["test"]["frames"] == 4


def test_a_folder_without_splits_is_one_line_exit_2(tmp_path, capsys):
    assert main(["dataset-stats", str(tmp_path)]) == 2
    assert "no train/val/test split folders" in capsys.readouterr().err
