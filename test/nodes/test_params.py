"""Specification of mlkd_tracker.nodes.params: node parameters declared from one dataclass.

Each field becomes a documented ROS parameter; bad values are refused at start-up (ParameterError)
and at run time (the set_parameters call fails with a reason, the old value stays).
"""
from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass
from pathlib import Path

import pytest
import rclpy
from rcl_interfaces.msg import ParameterType
from rclpy.parameter import Parameter

from mlkd_tracker.nodes.camera_node import CameraNodeConfig
from mlkd_tracker.nodes.follow_node import FollowNodeConfig
from mlkd_tracker.nodes.params import (ParameterError, config_parameter_names, declare_config, param,
                                     validate_config)
from mlkd_tracker.nodes.tracker_node import TrackerNodeConfig

REPO = Path(__file__).resolve().parents[2]


@dataclass
class DemoConfig:
    rate: float = param(10.0, "Loop rate in Hz.", range=(0.1, 100.0))
    count: int = param(3, "How many to keep.", range=(1, 10))
    mode: str = param("fast", "Processing mode.", choices=("fast", "slow"))
    frozen: str = param("a", "Fixed at start-up.", read_only=True)
    source: str = param("0", "Device index or path.", any_type=True, read_only=True)
    label: str = param("any", "Free text, changeable at run time.", any_type=True)
    verbose: bool = param(False, "Log more.")

    def validate(self) -> None:
        if self.mode == "slow" and self.rate > 50.0:
            raise ParameterError(f"parameter 'rate' = {self.rate} is too fast for mode 'slow'")


DESCRIPTIONS = {f.name: f.metadata["description"] for f in dataclasses.fields(DemoConfig)}
_names = itertools.count()


@pytest.fixture(scope="module")
def ros_context(ros_domain_id, tmp_path_factory):
    """One rclpy context for the module, in this run's own ROS domain on localhost."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ROS_DOMAIN_ID", str(ros_domain_id))
        mp.setenv("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
        mp.setenv("ROS_LOG_DIR", str(tmp_path_factory.mktemp("ros_log")))
        mp.setenv("FASTDDS_DEFAULT_PROFILES_FILE", str(REPO / "config" / "fastdds.xml"))
        context = rclpy.Context()
        rclpy.init(context=context)
        try:
            yield context
        finally:
            rclpy.try_shutdown(context=context)


@pytest.fixture
def make_node(ros_context):
    nodes = []

    def make(**overrides):
        node = rclpy.create_node(f"params_probe_{next(_names)}", context=ros_context,
                                 parameter_overrides=[Parameter(k, value=v)
                                                      for k, v in overrides.items()])
        nodes.append(node)
        return node

    yield make
    for node in nodes:
        node.destroy_node()


@pytest.fixture
def demo(make_node):
    """A node configured by DemoConfig, recording every on_change call."""
    node = make_node()
    changes: list[DemoConfig] = []
    cfg = declare_config(node, DemoConfig, on_change=changes.append)
    return node, cfg, changes


# ---- declaration ---------------------------------------------------------------------------------
def test_every_field_is_declared(demo):
    node, _, _ = demo
    assert all(node.has_parameter(name) for name in DESCRIPTIONS)


def test_every_parameter_carries_its_field_description(demo):
    node, _, _ = demo
    for name, text in DESCRIPTIONS.items():
        assert node.describe_parameter(name).description.startswith(text), name


def test_choices_are_listed_in_the_description(demo):
    node, _, _ = demo
    assert node.describe_parameter("mode").description.endswith("One of: fast, slow.")


def test_float_range_is_published_in_the_descriptor(demo):
    node, _, _ = demo
    (rng,) = node.describe_parameter("rate").floating_point_range
    assert (rng.from_value, rng.to_value) == (0.1, 100.0)


def test_integer_range_is_published_in_the_descriptor(demo):
    node, _, _ = demo
    (rng,) = node.describe_parameter("count").integer_range
    assert (rng.from_value, rng.to_value) == (1, 10)


def test_read_only_and_dynamic_typing_flags_are_published(demo):
    node, _, _ = demo
    assert node.describe_parameter("frozen").read_only
    assert not node.describe_parameter("mode").read_only
    assert node.describe_parameter("source").dynamic_typing
    assert not node.describe_parameter("rate").dynamic_typing


def test_parameter_types_follow_the_defaults(demo):
    node, _, _ = demo
    types = {n: node.get_parameter(n).type_ for n in ("rate", "count", "mode", "verbose")}
    assert types == {"rate": Parameter.Type.DOUBLE, "count": Parameter.Type.INTEGER,
                     "mode": Parameter.Type.STRING, "verbose": Parameter.Type.BOOL}


def test_without_overrides_the_config_is_the_dataclass_default(demo):
    _, cfg, _ = demo
    assert cfg == DemoConfig()


def test_config_parameter_names_are_the_field_names():
    assert config_parameter_names(DemoConfig) == set(DESCRIPTIONS)


# ---- start-up values -----------------------------------------------------------------------------
def test_startup_overrides_are_applied(make_node):
    cfg = declare_config(make_node(rate=20.0, count=7, mode="slow", frozen="b"), DemoConfig)
    assert (cfg.rate, cfg.count, cfg.mode, cfg.frozen) == (20.0, 7, "slow", "b")


def test_range_edges_are_accepted_at_startup(make_node):
    cfg = declare_config(make_node(rate=100.0, count=1), DemoConfig)
    assert (cfg.rate, cfg.count) == (100.0, 1)


@pytest.mark.parametrize("name, value", [("rate", 500.0), ("rate", 0.0), ("count", 0),
                                         ("count", 11), ("rate", float("nan"))])
def test_out_of_range_startup_value_raises_parameter_error_naming_the_parameter(
        make_node, name, value):
    with pytest.raises(ParameterError, match=f"'{name}'"):
        declare_config(make_node(**{name: value}), DemoConfig)


def test_startup_value_not_among_the_choices_raises_parameter_error_listing_them(make_node):
    with pytest.raises(ParameterError, match="'mode' = 'medium'") as err:
        declare_config(make_node(mode="medium"), DemoConfig)
    assert "'fast'" in str(err.value) and "'slow'" in str(err.value)


def test_startup_value_of_the_wrong_type_raises_parameter_error(make_node):
    with pytest.raises(ParameterError, match="'count'"):
        declare_config(make_node(count="three"), DemoConfig)


def test_startup_cross_field_check_raises_parameter_error(make_node):
    with pytest.raises(ParameterError, match="too fast for mode 'slow'"):
        declare_config(make_node(mode="slow", rate=80.0), DemoConfig)


def test_any_type_field_converts_an_integer_override_to_str(make_node):
    cfg = declare_config(make_node(source=2), DemoConfig)
    assert cfg.source == "2" and isinstance(cfg.source, str)


def test_any_type_field_keeps_a_string_override(make_node):
    assert declare_config(make_node(source="/dev/video3"), DemoConfig).source == "/dev/video3"


# ---- run-time changes ----------------------------------------------------------------------------
def test_good_runtime_value_is_set_and_passed_to_on_change_as_a_new_config(demo):
    node, cfg, changes = demo
    (result,) = node.set_parameters([Parameter("rate", value=20.0)])
    assert result.successful
    assert node.get_parameter("rate").value == 20.0
    assert changes == [dataclasses.replace(cfg, rate=20.0)]


def test_successive_runtime_changes_accumulate(demo):
    node, cfg, changes = demo
    node.set_parameters([Parameter("rate", value=20.0)])
    node.set_parameters([Parameter("mode", value="slow")])
    assert changes[-1] == dataclasses.replace(cfg, rate=20.0, mode="slow")


@pytest.mark.parametrize("name, value", [("rate", 500.0), ("rate", float("nan")), ("count", 0),
                                         ("mode", "medium")])
def test_bad_runtime_value_fails_with_a_reason_naming_it_and_keeps_the_old_value(
        demo, name, value):
    node, cfg, changes = demo
    (result,) = node.set_parameters([Parameter(name, value=value)])
    assert not result.successful
    assert name in result.reason
    assert node.get_parameter(name).value == getattr(cfg, name)
    assert changes == []


def test_runtime_value_of_the_wrong_type_fails_and_keeps_the_old_value(demo):
    node, _, changes = demo
    (result,) = node.set_parameters([Parameter("count", value="three")])
    assert not result.successful and "type" in result.reason
    assert node.get_parameter("count").value == 3
    assert changes == []


def test_runtime_cross_field_violation_fails_with_the_validate_message(demo):
    node, _, changes = demo
    node.set_parameters([Parameter("rate", value=80.0)])
    (result,) = node.set_parameters([Parameter("mode", value="slow")])
    assert not result.successful and "too fast for mode 'slow'" in result.reason
    assert node.get_parameter("mode").value == "fast"
    assert len(changes) == 1  # only the good rate change


def test_atomic_change_with_one_bad_value_applies_none_of_them(demo):
    node, cfg, changes = demo
    result = node.set_parameters_atomically([Parameter("rate", value=20.0),
                                             Parameter("mode", value="medium")])
    assert not result.successful
    assert node.get_parameter("rate").value == cfg.rate
    assert changes == []


def test_atomic_change_of_two_fields_is_validated_as_a_whole(demo):
    node, cfg, changes = demo
    # each change alone is fine; together they break the cross-field rule
    result = node.set_parameters_atomically([Parameter("rate", value=80.0),
                                             Parameter("mode", value="slow")])
    assert not result.successful
    assert changes == []


def test_read_only_parameter_cannot_be_changed_at_runtime(demo):
    node, _, changes = demo
    (result,) = node.set_parameters([Parameter("frozen", value="b")])
    assert not result.successful and "read-only" in result.reason
    assert node.get_parameter("frozen").value == "a"
    assert changes == []


def test_any_type_field_coerces_a_runtime_integer_to_str(demo):
    node, _, changes = demo
    (result,) = node.set_parameters([Parameter("label", value=5)])
    assert result.successful
    assert changes[-1].label == "5"


def test_changes_to_parameters_outside_the_config_do_not_call_on_change(demo):
    node, _, changes = demo
    node.declare_parameter("unrelated", 1)
    (result,) = node.set_parameters([Parameter("unrelated", value=2)])
    assert result.successful and changes == []


# ---- the shipped node configurations ------------------------------------------------------------
NODE_CONFIGS = [TrackerNodeConfig, FollowNodeConfig, CameraNodeConfig]


@pytest.mark.parametrize("cls", NODE_CONFIGS, ids=lambda c: c.__name__)
def test_every_node_config_field_has_a_non_empty_description(cls):
    for field in dataclasses.fields(cls):
        assert field.metadata.get("description", "").strip(), f"{cls.__name__}.{field.name}"


@pytest.mark.parametrize("cls", NODE_CONFIGS, ids=lambda c: c.__name__)
def test_node_config_defaults_pass_validation(cls):
    validate_config(cls())


@pytest.mark.parametrize("cls", NODE_CONFIGS, ids=lambda c: c.__name__)
def test_node_config_defaults_declare_cleanly_on_a_node(make_node, cls):
    node = make_node()
    assert declare_config(node, cls) == cls()
    for field in dataclasses.fields(cls):
        assert node.describe_parameter(field.name).type in (
            ParameterType.PARAMETER_DOUBLE, ParameterType.PARAMETER_INTEGER,
            ParameterType.PARAMETER_STRING, ParameterType.PARAMETER_BOOL), field.name


@pytest.mark.parametrize("cls", NODE_CONFIGS, ids=lambda c: c.__name__)
def test_node_config_ranges_contain_their_defaults(cls):
    for field in dataclasses.fields(cls):
        rng = field.metadata.get("range")
        if rng is not None:
            assert rng[0] <= getattr(cls(), field.name) <= rng[1], field.name
        choices = field.metadata.get("choices")
        if choices is not None:
            assert getattr(cls(), field.name) in choices, field.name
