"""The `mlkd-tracker` command: every subcommand is listed, overrides after options are accepted,
stray words are refused, and a drone without torch still gets the runtime commands."""
from __future__ import annotations

import subprocess
import sys

import pytest

from mlkd_tracker import cli

COMMANDS = ("demo", "launch", "train", "export", "summary", "synth", "eval", "tune", "bench")


def test_help_lists_every_subcommand(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    for name in COMMANDS:
        assert name in out


def test_train_overrides_may_follow_options(monkeypatch):
    seen = {}
    monkeypatch.setattr(cli, "_train", lambda args: seen.update(vars(args)) or 0)
    assert cli.main(["train", "student", "--config", "x.yaml", "epochs=2", "optim.lr=0.1"]) == 0
    assert seen["overrides"] == ["epochs=2", "optim.lr=0.1"] and seen["config"] == "x.yaml"


def test_stray_words_are_refused(capsys):
    with pytest.raises(SystemExit):
        cli.main(["summary", "--bogus"])
    assert "unrecognized arguments" in capsys.readouterr().err


def test_runtime_commands_import_without_torch():
    """A drone installs no torch: the CLI and the launch/demo paths must still load."""
    code = ("import sys; sys.modules['torch'] = None\n"
            "from mlkd_tracker import cli; p = cli.build_parser()\n"
            "import mlkd_tracker.runtime.siamese_tracker, mlkd_tracker.eval.ope_runner\n"
            "print('ok')")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
