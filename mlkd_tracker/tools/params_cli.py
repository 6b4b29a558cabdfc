"""``mlkd-tracker params``: ``ros2 param list / get / set / describe`` without the ``ros2`` CLI.

    mlkd-tracker params tracker_node                         # names and values
    mlkd-tracker params tracker_node get score_threshold
    mlkd-tracker params tracker_node set score_threshold 0.2  # the value is read as YAML
    mlkd-tracker params tracker_node describe score_threshold # description, range, read-only

Uses rclpy's parameter client on the node's standard parameter services, so a refused value
comes back with the node's own reason.
"""
from __future__ import annotations

import argparse
import sys

import yaml
from rcl_interfaces.msg import ParameterType
from rclpy.parameter import Parameter, parameter_value_to_python
from rclpy.parameter_client import AsyncParameterClient

from mlkd_tracker.cli_types import positive_float
from mlkd_tracker.tools.ros_client import ToolError, client_node, resolve_node_name, wait_for

_TYPE_NAMES = {v: k.lower().replace("parameter_", "") for k, v in vars(ParameterType).items()
               if k.startswith("PARAMETER_") and isinstance(v, int)}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("node", help="node name (tracker_node) or full name (/uav1/tracker_node)")
    parser.add_argument("verb", nargs="?", default="list", choices=("list", "get", "set", "describe"))
    parser.add_argument("name", nargs="?", help="parameter name (get, set, describe)")
    parser.add_argument("value", nargs="?", help="set: the new value, read as YAML")
    parser.add_argument("--timeout", type=positive_float, default=5.0)


def _call(node, future, timeout: float, what: str):
    if not wait_for(future.done, timeout, poll=0.02):
        raise ToolError(f"{what}: no answer within {timeout:g} s")
    return future.result()


def run(args: argparse.Namespace, out=print) -> int:
    if args.verb != "list" and not args.name:
        raise ToolError(f"params {args.verb} needs a parameter name")
    if args.verb == "set" and args.value is None:
        raise ToolError("params set needs a value")
    with client_node("mlkd_params") as node:
        target = resolve_node_name(node, args.node, args.timeout)
        client = AsyncParameterClient(node, target)
        if not client.wait_for_services(timeout_sec=args.timeout):
            raise ToolError(f"{target} offers no parameter services")
        if args.verb == "list":
            names = sorted(_call(node, client.list_parameters(), args.timeout, "list").result.names)
            values = _call(node, client.get_parameters(names), args.timeout, "get").values
            for name, value in zip(names, values):
                out(f"  {name}: {parameter_value_to_python(value)!r}")
        elif args.verb == "get":
            (value,) = _call(node, client.get_parameters([args.name]), args.timeout, "get").values
            if value.type == ParameterType.PARAMETER_NOT_SET:
                raise ToolError(f"{target} has no parameter '{args.name}'")
            out(f"{_TYPE_NAMES[value.type]} value is: {parameter_value_to_python(value)!r}")
        elif args.verb == "set":
            value = yaml.safe_load(args.value)
            value = "" if value is None else value
            (result,) = _call(node, client.set_parameters([Parameter(args.name, value=value)]),
                              args.timeout, "set").results
            if not result.successful:
                raise ToolError(f"setting {args.name} failed: {result.reason}")
            out("Set parameter successful")
        else:
            (desc,) = _call(node, client.describe_parameters([args.name]), args.timeout,
                            "describe").descriptors
            if desc.type == ParameterType.PARAMETER_NOT_SET:
                raise ToolError(f"{target} has no parameter '{args.name}'")
            out(f"Parameter name: {desc.name}\n  Type: {_TYPE_NAMES[desc.type]}\n"
                f"  Description: {desc.description}\n  Read only: {desc.read_only}")
            for r in desc.floating_point_range or desc.integer_range:
                out(f"  Constraints:\n    Min value: {r.from_value}\n    Max value: {r.to_value}")
            if desc.additional_constraints:
                out(f"  Additional constraints: {desc.additional_constraints}")
    return 0


def main(args: argparse.Namespace) -> int:
    try:
        return run(args)
    except ToolError as exc:
        print(f"mlkd-tracker params: {exc}", file=sys.stderr)
        return 1
