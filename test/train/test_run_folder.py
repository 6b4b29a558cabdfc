"""The run-folder rules every trainer follows (Ultralytics' discipline): the config is written
first, a taken name moves on to the next free one, and an old run continues only when asked
and only with the config it was trained with."""
from __future__ import annotations

import pytest
import yaml

from mlkd_tracker.train.run_folder import (
    CONFIG_FILE, RunFolderError, differences, next_free, prepare, read_config,
)

CONFIG = {"out": "runs", "name": "exp", "epochs": 2, "resume": False, "lr": 0.01,
          "optim": {"lr": 0.002, "warmup_epochs": 1.0},
          "students": [{"name": "mobile", "corr_kd": "softmax_mse"}]}


def _config(tmp_path, **changes):
    return {**CONFIG, "out": str(tmp_path), **changes}


def test_a_new_run_writes_its_resolved_config_before_anything_else(tmp_path):
    run = prepare(tmp_path / "exp", _config(tmp_path))
    assert run.path == tmp_path / "exp" and not run.resume
    assert sorted(p.name for p in run.path.iterdir()) == [CONFIG_FILE]
    assert read_config(run.path) == _config(tmp_path)


def test_a_taken_name_goes_to_the_next_free_one_and_says_so(tmp_path, capsys):
    first = prepare(tmp_path / "exp", _config(tmp_path))
    (first.path / "last.pt").write_bytes(b"old run")
    second = prepare(tmp_path / "exp", _config(tmp_path))
    third = prepare(tmp_path / "exp", _config(tmp_path))
    assert [second.path.name, third.path.name] == ["exp2", "exp3"]
    assert (first.path / "last.pt").read_bytes() == b"old run"
    assert f"{tmp_path / 'exp'} already exists" in capsys.readouterr().out
    assert read_config(second.path)["name"] == "exp2", "the stored config must name its folder"


def test_next_free_skips_every_taken_number(tmp_path):
    for name in ("exp", "exp2", "exp3"):
        (tmp_path / name).mkdir()
    assert next_free(tmp_path / "exp") == tmp_path / "exp4"
    assert next_free(tmp_path / "other") == tmp_path / "other"


def test_resume_continues_the_same_folder_with_the_same_config(tmp_path):
    prepare(tmp_path / "exp", _config(tmp_path))
    run = prepare(tmp_path / "exp", _config(tmp_path, resume=True), resume=True)
    assert run.path == tmp_path / "exp" and run.resume
    assert not (tmp_path / "exp2").exists()


def test_resume_may_extend_the_epochs_and_stores_the_new_count(tmp_path):
    prepare(tmp_path / "exp", _config(tmp_path))
    prepare(tmp_path / "exp", _config(tmp_path, epochs=5), resume=True)
    assert read_config(tmp_path / "exp")["epochs"] == 5


def test_resume_of_a_moved_run_continues_the_folder_it_moved_to(tmp_path):
    prepare(tmp_path / "exp", _config(tmp_path))
    prepare(tmp_path / "exp", _config(tmp_path, lr=0.1))  # -> exp2, another experiment
    run = prepare(tmp_path / "exp2", _config(tmp_path, name="exp2", lr=0.1), resume=True)
    assert run.path == tmp_path / "exp2"


def test_resume_with_a_changed_config_is_refused_naming_every_changed_key(tmp_path):
    prepare(tmp_path / "exp", _config(tmp_path))
    changed = _config(tmp_path, lr=0.1, optim={"lr": 0.002, "warmup_epochs": 0.5},
                      students=[{"name": "mobile", "corr_kd": "none"}])
    with pytest.raises(RunFolderError) as err:
        prepare(tmp_path / "exp", changed, resume=True)
    assert "differs from this config in lr, optim.warmup_epochs, students.0.corr_kd;" \
        in str(err.value)
    assert read_config(tmp_path / "exp") == _config(tmp_path), "a refused resume wrote nothing"


def test_a_refusal_is_a_value_error_the_cli_can_print_as_one_line(tmp_path):
    prepare(tmp_path / "exp", _config(tmp_path))
    with pytest.raises(ValueError) as err:
        prepare(tmp_path / "exp", _config(tmp_path, lr=0.1), resume=True)
    assert "\n" not in str(err.value)


def test_resume_of_something_that_is_not_a_run_folder_is_refused(tmp_path):
    with pytest.raises(RunFolderError, match="no config.yaml"):
        prepare(tmp_path / "never_trained", _config(tmp_path), resume=True)
    (tmp_path / "plain").mkdir()
    with pytest.raises(RunFolderError, match="not a run folder"):
        prepare(tmp_path / "plain", _config(tmp_path), resume=True)


def test_extra_ignored_keys_and_the_name_key_may_differ_on_resume(tmp_path):
    config = {**_config(tmp_path), "stages": ["teacher_a", "student"], "teacher_a_run": "ta"}
    prepare(tmp_path / "ta", config, name_key="teacher_a_run")
    prepare(tmp_path / "ta", {**config, "stages": ["student"]}, resume=True,
            name_key="teacher_a_run", ignore=("stages",))
    with pytest.raises(RunFolderError, match="in stages;"):
        prepare(tmp_path / "ta", {**config, "stages": ["teacher_a"]}, resume=True,
                name_key="teacher_a_run")


def test_differences_compare_nested_values_and_keys_only_one_side_has():
    assert differences({"a": 1, "b": {"c": 2}}, {"a": 1, "b": {"c": 3}, "d": 4}) == ["b.c", "d"]
    assert differences({"a": [1, 2]}, {"a": (1, 2)}) == []
    assert differences({"resume": False, "x": 1}, {"resume": True, "x": 1}, ["resume"]) == []


def test_the_written_config_is_plain_yaml_that_loads_back(tmp_path):
    run = prepare(tmp_path / "exp", _config(tmp_path))
    assert yaml.safe_load((run.path / CONFIG_FILE).read_text())["optim"]["lr"] == 0.002
