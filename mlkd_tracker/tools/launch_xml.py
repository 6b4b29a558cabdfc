"""Reads the package's ROS 2 XML launch files into process specs.

``ros2 launch`` (launch_ros) has no wheel, so the venv runs the same launch files through this
reader: the subset of the XML format the package uses — ``<arg>``, ``<set_env>``, ``<node>``
with ``<param from=...>``, ``<param name= value=>`` and ``<remap>``, and the substitutions
``$(var)``, ``$(env NAME [default])`` and ``$(find-pkg-share)`` (nesting allowed). Anything else
is refused with the element's name, so a launch file never silently means something different
here than under ``ros2 launch``.
"""
from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from mlkd_tracker.resources import PACKAGE, executable, share_dir


class LaunchError(ValueError):
    pass


@dataclass
class NodeSpec:
    pkg: str
    exec: str
    name: str = ""
    namespace: str = ""
    param_files: list[Path] = field(default_factory=list)
    params: dict[str, str] = field(default_factory=dict)
    remaps: list[tuple[str, str]] = field(default_factory=list)
    args: list[str] = field(default_factory=list)

    def command(self) -> list[str]:
        cmd = [str(executable(self.pkg, self.exec)), *self.args, "--ros-args"]
        if self.name:
            cmd += ["-r", f"__node:={self.name}"]
        if self.namespace:
            cmd += ["-r", f"__ns:={self.namespace}"]
        for path in self.param_files:
            cmd += ["--params-file", str(path)]
        for key, value in self.params.items():
            cmd += ["-p", f"{key}:={value}"]
        for src, dst in self.remaps:
            cmd += ["-r", f"{src}:={dst}"]
        return cmd


@dataclass
class LaunchPlan:
    env: dict[str, str] = field(default_factory=dict)
    nodes: list[NodeSpec] = field(default_factory=list)
    args: dict[str, str] = field(default_factory=dict)


_TOKEN = re.compile(r"\$\(|\)")


def substitute(text: str, args: dict[str, str], env: dict[str, str]) -> str:
    """Expand ``$(...)`` substitutions, innermost first."""
    out, stack = [], []
    pos = 0
    for m in _TOKEN.finditer(text):
        (stack[-1] if stack else out).append(text[pos:m.start()])
        pos = m.end()
        if m.group() == "$(":
            stack.append([])
        elif stack:
            value = _evaluate("".join(stack.pop()), args, env)
            (stack[-1] if stack else out).append(value)
        else:
            out.append(")")  # a lone ")" is plain text
    if stack:
        raise LaunchError(f"unbalanced '$(' in {text!r}")
    out.append(text[pos:])
    return "".join(out)


def _evaluate(expr: str, args: dict[str, str], env: dict[str, str]) -> str:
    kind, _, rest = expr.strip().partition(" ")
    rest = rest.strip()
    if kind == "var":
        if rest not in args:
            raise LaunchError(f"$(var {rest}): no such launch argument")
        return args[rest]
    if kind == "env":
        name, _, default = rest.partition(" ")
        if name in env:
            return env[name]
        if default:
            return default
        raise LaunchError(f"$(env {name}): environment variable not set and no default")
    if kind == "find-pkg-share":
        if rest != PACKAGE:
            raise LaunchError(f"$(find-pkg-share {rest}): only {PACKAGE} is known to this reader")
        return str(share_dir())
    raise LaunchError(f"unsupported substitution $({kind} ...)")


def load_launch(path: str | Path, overrides: dict[str, str] | None = None,
                environ: dict[str, str] | None = None) -> LaunchPlan:
    path = Path(path)
    if not path.is_file():
        candidate = share_dir() / "launch" / path.name
        if not candidate.is_file():
            raise LaunchError(f"launch file '{path}' not found (also looked in {candidate.parent})")
        path = candidate
    root = ET.parse(path).getroot()
    if root.tag != "launch":
        raise LaunchError(f"{path}: root element is <{root.tag}>, expected <launch>")
    overrides = dict(overrides or {})
    env = dict(os.environ if environ is None else environ)
    plan = LaunchPlan()
    for el in root:
        if el.tag == "arg":
            name = el.attrib["name"]
            value = overrides.pop(name, None)
            if value is None:
                if "default" not in el.attrib:
                    raise LaunchError(f"{path}: launch argument '{name}' is required")
                value = substitute(el.attrib["default"], plan.args, env)
            plan.args[name] = value
        elif el.tag == "set_env":
            value = substitute(el.attrib["value"], plan.args, env)
            plan.env[el.attrib["name"]] = env[el.attrib["name"]] = value
        elif el.tag == "node":
            plan.nodes.append(_node(el, plan.args, env, path))
        else:
            raise LaunchError(f"{path}: element <{el.tag}> is not supported by this reader")
    if overrides:
        raise LaunchError(f"{path}: unknown launch arguments {sorted(overrides)}; "
                          f"known: {sorted(plan.args)}")
    return plan


def _node(el: ET.Element, args: dict[str, str], env: dict[str, str], path: Path) -> NodeSpec:
    sub = lambda key, default="": substitute(el.attrib.get(key, default), args, env)  # noqa: E731
    spec = NodeSpec(pkg=sub("pkg"), exec=sub("exec"), name=sub("name"), namespace=sub("namespace"),
                    args=sub("args").split())
    for child in el:
        if child.tag == "param" and "from" in child.attrib:
            spec.param_files.append(Path(substitute(child.attrib["from"], args, env)))
        elif child.tag == "param":
            spec.params[child.attrib["name"]] = substitute(child.attrib["value"], args, env)
        elif child.tag == "remap":
            spec.remaps.append((substitute(child.attrib["from"], args, env),
                                substitute(child.attrib["to"], args, env)))
        else:
            raise LaunchError(f"{path}: <node> child <{child.tag}> is not supported by this reader")
    return spec
