"""`mlkd-tracker bench enhancers`: every model timed at the asked size, the command that reproduces
it written next to the numbers, and a clear error for a model that is not an enhancer."""
from __future__ import annotations

import json

import pytest

from mlkd_tracker.cli import main
from tiny_enhancer import export_tiny_enhancer


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return export_tiny_enhancer(tmp_path_factory.mktemp("m") / "tiny.onnx")


def test_models_are_timed_and_written_with_their_command(model, tmp_path):
    md = tmp_path / "BENCH.md"
    assert main(["bench", "enhancers", "--model", str(model), "--size", "64x48", "--threads", "1",
                 "--runs", "3", "--out", str(tmp_path), "--markdown", str(md)]) == 0
    result = json.loads((tmp_path / "benchmarks.json").read_text())["enhancers"]
    (row,) = result["enhancers"]
    assert row["name"] == "tiny" and row["ms_median"] > 0 and row["fps"] > 0
    assert result["size"] == [64, 48] and "--size 64x48" in result["command"]
    assert "<!-- bench:enhancers begin -->" in md.read_text()


def test_no_markdown_is_written_unless_asked(model, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # where a default BENCHMARKS.md would land
    assert main(["bench", "enhancers", "--model", str(model), "--size", "64x48", "--threads", "1",
                 "--runs", "2", "--out", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "benchmarks.json").is_file()
    assert not list(tmp_path.glob("*.md"))


def test_a_file_that_is_not_an_enhancer_is_refused(tmp_path, capsys):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not onnx")
    assert main(["bench", "enhancers", "--model", str(bad), "--out", str(tmp_path),
                 "--markdown", str(tmp_path / "b.md")]) == 2
    assert "cannot load" in capsys.readouterr().err
