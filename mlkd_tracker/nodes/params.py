"""Node parameters from one dataclass: declared with descriptions, validated, updated atomically.

Each field of a node's config dataclass becomes a ROS parameter. Field metadata gives the
description and the constraints (``range`` or ``choices``, ``read_only``); a config's
``validate()`` may add cross-field checks. Bad values are refused with a message naming the
parameter, the value and what is allowed — at start-up (the node exits) and at run time (the
``set_parameters`` call fails, the old value stays).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

from rcl_interfaces.msg import (FloatingPointRange, IntegerRange, ParameterDescriptor,
                                SetParametersResult)
from rclpy.node import Node
from rclpy.parameter import Parameter

from mlkd_tracker.runtime.onnx_session import ProviderError

C = TypeVar("C")


class ParameterError(ValueError):
    """A parameter value the node cannot run with."""


def param(default: Any, description: str, *, range: tuple[float, float] | None = None,
          choices: tuple[str, ...] | None = None, read_only: bool = False,
          any_type: bool = False) -> Any:
    """A dataclass field that documents and constrains a ROS parameter.

    ``any_type`` accepts any parameter type and converts it to the default's type; for values
    like a camera ``source`` that a launch file or ``-p source:=0`` turns into an integer.
    """
    meta = {"description": description, "range": range, "choices": choices,
            "read_only": read_only, "any_type": any_type}
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def check_value(field: dataclasses.Field, value: Any) -> None:
    meta = field.metadata
    if meta.get("range") is not None:
        lo, hi = meta["range"]
        if not (lo <= value <= hi):  # also refuses NaN
            raise ParameterError(f"parameter '{field.name}' = {value!r} is outside [{lo}, {hi}]")
    if meta.get("choices") is not None and value not in meta["choices"]:
        raise ParameterError(f"parameter '{field.name}' = {value!r} is not one of "
                             f"{', '.join(map(repr, meta['choices']))}")


def validate_config(cfg: Any) -> None:
    for field in dataclasses.fields(cfg):
        check_value(field, getattr(cfg, field.name))
    if hasattr(cfg, "validate"):
        cfg.validate()


def _coerce(field: dataclasses.Field, default: Any, value: Any) -> Any:
    return type(default)(value) if field.metadata.get("any_type") else value


def _descriptor(field: dataclasses.Field) -> ParameterDescriptor:
    meta = field.metadata
    extra = f" One of: {', '.join(meta['choices'])}." if meta.get("choices") else ""
    desc = ParameterDescriptor(description=meta.get("description", "") + extra,
                               read_only=bool(meta.get("read_only")),
                               dynamic_typing=bool(meta.get("any_type")))
    rng = meta.get("range")
    if rng is not None and isinstance(field.default, float):
        desc.floating_point_range = [FloatingPointRange(from_value=float(rng[0]),
                                                        to_value=float(rng[1]), step=0.0)]
    elif rng is not None and isinstance(field.default, int) and not isinstance(field.default, bool):
        desc.integer_range = [IntegerRange(from_value=int(rng[0]), to_value=int(rng[1]), step=0)]
    return desc


def declare_config(node: Node, cls: type[C],
                   on_change: Callable[[C], None] | None = None) -> C:
    """Declare every field of ``cls`` on ``node`` and return the validated config.

    Raises ParameterError at start-up for bad values. With ``on_change``, later
    ``set_parameters`` calls are validated as a whole and passed to it as a new config.
    """
    defaults = cls()
    values = {}
    for field in dataclasses.fields(cls):
        default = getattr(defaults, field.name)
        try:
            p = node.declare_parameter(field.name, default, _descriptor(field))
        except Exception as exc:  # rclpy raises its own types for type/range violations
            raise ParameterError(f"parameter '{field.name}': {exc}") from exc
        values[field.name] = _coerce(field, default, p.value)
    cfg = cls(**values)
    validate_config(cfg)
    state = {"cfg": cfg}

    def _on_set(params: list[Parameter]) -> SetParametersResult:
        names = {f.name for f in dataclasses.fields(cls)}
        fields = {f.name: f for f in dataclasses.fields(cls)}
        changes = {p.name: _coerce(fields[p.name], getattr(defaults, p.name), p.value)
                   for p in params if p.name in names}
        if not changes:  # e.g. use_sim_time: not ours, nothing to re-apply
            return SetParametersResult(successful=True)
        try:
            new = dataclasses.replace(state["cfg"], **changes)
            validate_config(new)
        except (ParameterError, TypeError, ValueError) as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        state["cfg"] = new
        if on_change is not None:
            on_change(new)
        return SetParametersResult(successful=True)

    node.add_on_set_parameters_callback(_on_set)
    return cfg


def config_parameter_names(cls: type) -> set[str]:
    """Names a params file may set for a node configured by ``cls``."""
    return {f.name for f in dataclasses.fields(cls)}


def providers_param() -> Any:
    """The ``providers`` parameter of the ONNX nodes (checked when the model loads; the
    tracker takes it for its onnx: and enhanced: trackers)."""
    return param("cpu", "ONNX Runtime execution providers in order of preference, comma-"
                 "separated: cpu, cuda, tensorrt, openvino, ... or full provider names; one the "
                 "installed onnxruntime does not offer is refused. CPU is the last fall-back.",
                 read_only=True)


def model_parameter_error(cfg: Any, exc: Exception) -> ParameterError:
    """A model that failed to load, blamed on the parameter behind it: ``providers`` when the
    execution provider was refused, else ``model_path``."""
    what = "providers" if isinstance(exc, ProviderError) else "model_path"
    return ParameterError(f"parameter '{what}' = '{getattr(cfg, what)}': {exc}")
