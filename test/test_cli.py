"""The `mlkd-tracker` command: every subcommand is listed, overrides after options are accepted,
stray words are refused, and a drone without torch still gets the runtime commands."""
from __future__ import annotations

import json
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


# Every command that does not train, as typed by a user. Training commands (train, export,
# summary, select, report, bench models) may import torch.
NON_TRAINING = (["--help"], ["demo", "--help"], ["launch", "--help"], ["synth", "--help"],
                ["synth-detect", "--help"], ["convert-visdrone", "--help"], ["eval", "--help"],
                ["tune", "--help"], ["record", "--help"], ["replay", "--help"],
                ["bench", "--help"], ["bench", "nodes", "--help"], ["bench", "trackers", "--help"],
                ["bench", "enhancers", "--help"], ["bench", "detectors", "--help"],
                ["report", "--help"], ["train", "--help"])


def test_parser_and_non_training_help_do_not_import_torch():
    """torch costs ~2 s of start-up and is absent on a drone: building the parser and the --help
    of every non-training command must not import it (checked in a fresh interpreter)."""
    code = ("import contextlib, io, json, sys\n"
            "from mlkd_tracker import cli\n"
            "cli.build_parser()\n"
            "leaks = ['build_parser'] if 'torch' in sys.modules else []\n"
            f"for argv in {NON_TRAINING!r}:\n"
            "    with contextlib.redirect_stdout(io.StringIO()):\n"
            "        try:\n"
            "            cli.main(argv)\n"
            "        except SystemExit:\n"
            "            pass\n"
            "    if 'torch' in sys.modules:\n"
            "        leaks.append(' '.join(argv)); break\n"
            "print(json.dumps(leaks))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


def test_a_subcommand_help_shows_its_own_arguments(capsys):
    """Arguments are added lazily, but only for the command being run: its --help is complete."""
    with pytest.raises(SystemExit):
        cli.main(["eval", "--help"])
    assert "--tracker" in capsys.readouterr().out


def test_training_commands_are_refused_cleanly_without_torch():
    """On a drone (no torch) a training command says it is unavailable instead of a traceback."""
    code = ("import sys; sys.modules['torch'] = None\n"
            "from mlkd_tracker import cli\n"
            "cli.main(['bench', 'models'])")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 1
    assert "unavailable here" in result.stderr and "Traceback" not in result.stderr


def test_a_refused_run_folder_is_one_line_and_exit_2(monkeypatch, capsys):
    from mlkd_tracker.train import tracker_training
    from mlkd_tracker.train.run_folder import RunFolderError

    def refuse(cfg):
        raise RunFolderError(f"{cfg.run_dir}: resume=true but config.yaml differs in epochs")
    monkeypatch.setattr(tracker_training, "train_tracker", refuse)
    assert cli.main(["train", "student", "resume=true"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("mlkd-tracker train: error: ") and "differs" in err[0]
