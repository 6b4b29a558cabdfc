"""Every launch file parses, names only this package's console scripts, and every parameter it
sets (params files and inline <param>) is one the node declares, with a value it accepts."""
from __future__ import annotations

import dataclasses
import importlib
import re
from pathlib import Path

import pytest
import yaml

from mlkd_tracker.tools.launch_xml import LaunchError, load_launch, substitute
from mlkd_tracker.nodes.params import ParameterError, validate_config

REPO = Path(__file__).resolve().parents[2]
LAUNCH_FILES = sorted((REPO / "launch").glob("*.launch.xml"))
NODE_CONFIGS = {
    "tracker_node": "mlkd_tracker.nodes.tracker_node:TrackerNodeConfig",
    "follow_node": "mlkd_tracker.nodes.follow_node:FollowNodeConfig",
    "camera_node": "mlkd_tracker.nodes.camera_node:CameraNodeConfig",
    "sim_node": "mlkd_tracker.tools.sim_node:SimNodeConfig",
    "enhancer_node": "mlkd_tracker.nodes.enhancer_node:EnhancerNodeConfig",
    "detector_node": "mlkd_tracker.nodes.detector_node:DetectorNodeConfig",
}


def _config_class(exec_name: str):
    module, _, name = NODE_CONFIGS[exec_name].partition(":")
    return getattr(importlib.import_module(module), name)


def _assert_declared_and_valid(cls, values: dict, where: str) -> None:
    unknown = set(values) - {f.name for f in dataclasses.fields(cls)}
    assert not unknown, f"{where} sets undeclared parameters {unknown}"
    defaults = cls()
    typed = {k: type(getattr(defaults, k))(v) for k, v in values.items()}
    validate_config(dataclasses.replace(defaults, **typed))


def _console_scripts() -> set[str]:
    setup = (REPO / "setup.py").read_text()
    return set(re.findall(r'f?"([\w-]+) = \{PACKAGE\}\.', setup))


def test_launch_files_exist():
    assert {p.name for p in LAUNCH_FILES} >= {"sim_demo.launch.xml", "camera_tracking.launch.xml"}


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_every_node_is_a_console_script_with_a_config(path):
    plan = load_launch(path)
    assert plan.nodes
    for node in plan.nodes:
        assert node.pkg == "mlkd_tracker"
        assert node.exec in _console_scripts(), f"{node.exec} is not a console script in setup.py"
        assert node.exec in NODE_CONFIGS, f"no config class known for {node.exec}"
        assert Path(node.command()[0]).is_file()


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_parameters_set_by_launch_are_declared_and_valid(path):
    for node in load_launch(path).nodes:
        cls = _config_class(node.exec)
        values = {}
        for param_file in node.param_files:
            doc = yaml.safe_load(param_file.read_text())
            for key, section in doc.items():
                assert key.split("/")[-1] in (node.exec, node.name, "**"), \
                    f"{param_file.name}: section '{key}' does not address {node.name}"
                values.update(section["ros__parameters"])
        values.update({k: yaml.safe_load(v) for k, v in node.params.items()})
        _assert_declared_and_valid(cls, values, f"{path.name}/{node.name}")


@pytest.mark.parametrize("path", sorted((REPO / "config").glob("*.yaml")), ids=lambda p: p.name)
def test_every_params_file_names_only_declared_parameters_with_valid_values(path):
    for key, section in yaml.safe_load(path.read_text()).items():
        node = key.split("/")[-1]
        assert node in NODE_CONFIGS, f"{path.name}: section '{key}' names no known node"
        cls = _config_class(node)
        _assert_declared_and_valid(cls, section["ros__parameters"], path.name)


def test_substitutions_nest_and_fail_clearly():
    env = {"HOME_X": "/h"}
    assert substitute("$(env NOPE $(env HOME_X)/d)/f", {}, env) == "/h/d/f"
    assert substitute("a$(var x)b", {"x": "1"}, env) == "a1b"
    with pytest.raises(LaunchError, match="no such launch argument"):
        substitute("$(var y)", {}, env)
    with pytest.raises(LaunchError, match="unsupported substitution"):
        substitute("$(command ls)", {}, env)


def test_unknown_launch_argument_is_refused():
    with pytest.raises(LaunchError, match="unknown launch arguments"):
        load_launch(REPO / "launch" / "sim_demo.launch.xml", {"sede": "1"})


def test_bad_values_in_params_are_caught_by_validation():
    cls = _config_class("tracker_node")
    with pytest.raises(ParameterError, match="score_threshold"):
        validate_config(dataclasses.replace(cls(), score_threshold=1.5))
