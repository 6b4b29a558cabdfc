"""Reads ROS 2 XML launch files into process specs, with the meaning ``ros2 launch`` gives them.

``ros2 launch`` (launch / launch_ros) has no wheel, so the venv runs the package's launch files
through this reader. It accepts a subset of the XML launch format and gives each accepted
element and attribute the meaning launch / launch_ros give it:

- ``<arg name default description>``: a launch argument; a command-line ``name:=value`` or an
  including ``<include><arg name value/></include>`` wins over the default; no default and no
  value is an error. ``<let name value>`` sets one without declaring it.
- ``<set_env name value>``: an environment variable for the nodes started after it.
- ``<group scoped>`` with ``<push-ros-namespace namespace>`` (or ``push_ros_namespace``): a scoped
  group (the default) keeps the arguments, environment and namespace it sets to itself.
- ``<include file>`` with ``<arg name value>`` children: another launch file, scoped like a group;
  a relative path is taken from the working directory, as launch does (use ``$(dirname)``).
- ``<node pkg exec name namespace args output respawn respawn_delay>`` with ``<param from>``,
  ``<param name value>`` and ``<remap from to>``. A relative namespace is resolved below the
  pushed namespace and made absolute (``uav1`` -> ``/uav1``), as launch_ros does. Inline
  parameter values go to the node as YAML, like launch_ros's: ``''`` for an empty value.
- ``if`` / ``unless`` on every action: the condition must be true/false/1/0 (any case).
- Substitutions ``$(var)``, ``$(env NAME [default])``, ``$(find-pkg-share)``, ``$(dirname)``,
  nested.

Anything else (another element, attribute or substitution) is refused with the element and
attribute named, so a launch file never silently means something different here.
"""
from __future__ import annotations

import os
import re
import shlex
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from mlkd_tracker.resources import PACKAGE, executable, share_dir


class LaunchError(ValueError):
    """A launch file or argument this reader cannot run as ``ros2 launch`` would."""


@dataclass
class NodeSpec:
    pkg: str
    exec: str
    name: str = ""
    namespace: str = ""  # absolute once resolved ("" = the root namespace)
    param_files: list[Path] = field(default_factory=list)
    params: dict[str, str] = field(default_factory=dict)
    remaps: list[tuple[str, str]] = field(default_factory=list)
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)  # set_env values in scope at the node
    respawn: bool = False
    respawn_delay: float = 0.0

    @property
    def label(self) -> str:
        return self.name or self.exec

    def command(self) -> list[str]:
        cmd = [str(executable(self.pkg, self.exec)), *self.args, "--ros-args"]
        if self.name:
            cmd += ["-r", f"__node:={self.name}"]
        if self.namespace:
            cmd += ["-r", f"__ns:={self.namespace}"]
        for path in self.param_files:
            cmd += ["--params-file", str(path)]
        for key, value in self.params.items():
            # rcl reads -p values as YAML; an empty word is not YAML, so say "empty string".
            cmd += ["-p", f"{key}:={value if value != '' else chr(39) * 2}"]
        for src, dst in self.remaps:
            cmd += ["-r", f"{src}:={dst}"]
        return cmd


@dataclass
class LaunchPlan:
    env: dict[str, str] = field(default_factory=dict)
    nodes: list[NodeSpec] = field(default_factory=list)
    args: dict[str, str] = field(default_factory=dict)


@dataclass
class _Scope:
    """What launch calls the context: launch configurations, environment, ROS namespace."""
    args: dict[str, str]
    env: dict[str, str]
    set_env: dict[str, str]
    namespace: str
    file: Path

    def child(self, file: Path | None = None) -> "_Scope":
        return _Scope(dict(self.args), dict(self.env), dict(self.set_env), self.namespace,
                      file or self.file)


_TOKEN = re.compile(r"\$\(|\)")
_ATTRIBUTES = {
    "launch": {"version"},
    "arg": {"name", "default", "description", "if", "unless"},
    "let": {"name", "value", "if", "unless"},
    "set_env": {"name", "value", "if", "unless"},
    "group": {"scoped", "if", "unless"},
    "push-ros-namespace": {"namespace", "if", "unless"},
    "include": {"file", "if", "unless"},
    "node": {"pkg", "exec", "name", "namespace", "args", "output", "respawn", "respawn_delay",
             "if", "unless"},
    "param": {"name", "value", "from"},
    "remap": {"from", "to"},
    "include/arg": {"name", "value"},
}


def substitute(text: str, args: dict[str, str], env: dict[str, str],
               file: Path | None = None) -> str:
    """Expand ``$(...)`` substitutions, innermost first."""
    out, stack = [], []
    pos = 0
    for m in _TOKEN.finditer(text):
        (stack[-1] if stack else out).append(text[pos:m.start()])
        pos = m.end()
        if m.group() == "$(":
            stack.append([])
        elif stack:
            value = _evaluate("".join(stack.pop()), args, env, file)
            (stack[-1] if stack else out).append(value)
        else:
            out.append(")")  # a lone ")" is plain text
    if stack:
        raise LaunchError(f"unbalanced '$(' in {text!r}")
    out.append(text[pos:])
    return "".join(out)


def _evaluate(expr: str, args: dict[str, str], env: dict[str, str], file: Path | None) -> str:
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
    if kind == "dirname" and file is not None:
        return str(file.parent)
    raise LaunchError(f"unsupported substitution $({kind} ...)")


def _condition(value: str, where: str) -> bool:
    """launch's condition expression: true/false/1/0, any case; anything else is an error."""
    word = value.strip().lower()
    if word in ("true", "1"):
        return True
    if word in ("false", "0"):
        return False
    raise LaunchError(f"{where}: condition {value!r} is not true/false/1/0")


def _find(path: str | Path) -> Path:
    path = Path(path)
    if path.is_file():
        return path
    candidate = share_dir() / "launch" / path.name
    if candidate.is_file():
        return candidate
    raise LaunchError(f"launch file '{path}' not found (also looked in {candidate.parent})")


def load_launch(path: str | Path, overrides: dict[str, str] | None = None,
                environ: dict[str, str] | None = None) -> LaunchPlan:
    """The processes ``ros2 launch <path> name:=value ...`` would start, with their arguments."""
    path = _find(path)
    env = dict(os.environ if environ is None else environ)
    scope = _Scope(args={}, env=env, set_env={}, namespace="", file=path)
    overrides = dict(overrides or {})
    plan = LaunchPlan()
    _run_file(path, scope, overrides, plan, top=True)
    if overrides:
        raise LaunchError(f"{path.name}: unknown launch arguments {sorted(overrides)}; "
                          f"known: {sorted(plan.args)}")
    plan.env = dict(scope.set_env)
    return plan


def _run_file(path: Path, scope: _Scope, given: dict[str, str], plan: LaunchPlan,
              top: bool = False) -> None:
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise LaunchError(f"{path.name}: not valid XML ({exc})") from None
    if root.tag != "launch":
        raise LaunchError(f"{path.name}: root element is <{root.tag}>, expected <launch>")
    _check_attributes(root, "launch", path)
    scope.file = path
    _run_children(root, scope, given, plan, path, top)


def _check_attributes(el: ET.Element, kind: str, path: Path) -> None:
    unknown = sorted(set(el.attrib) - _ATTRIBUTES[kind])
    if unknown:
        raise LaunchError(f"{path.name}: <{el.tag}> attribute '{unknown[0]}' is not supported "
                          f"by this reader (supported: {sorted(_ATTRIBUTES[kind])})")


def _run_children(parent: ET.Element, scope: _Scope, given: dict[str, str], plan: LaunchPlan,
                  path: Path, top: bool) -> None:
    for el in parent:
        tag = "push-ros-namespace" if el.tag == "push_ros_namespace" else el.tag
        if tag not in _ATTRIBUTES or tag in ("launch", "param", "remap"):
            raise LaunchError(f"{path.name}: element <{el.tag}> is not supported by this reader")
        _check_attributes(el, tag, path)
        sub = lambda key, default="", e=el: substitute(  # noqa: E731
            e.attrib.get(key, default), scope.args, scope.env, path)
        if "if" in el.attrib and not _condition(sub("if"), f"{path.name}: <{el.tag} if>"):
            continue
        if "unless" in el.attrib and _condition(sub("unless"), f"{path.name}: <{el.tag} unless>"):
            continue
        if tag == "arg":
            name = el.attrib["name"]
            value = given.pop(name, None)
            if value is None and name not in scope.args:
                if "default" not in el.attrib:
                    raise LaunchError(f"{path.name}: launch argument '{name}' is required")
                value = sub("default")
            if value is not None:
                scope.args[name] = value
            if top:
                plan.args[name] = scope.args[name]
        elif tag == "let":
            scope.args[el.attrib["name"]] = sub("value")
        elif tag == "set_env":
            scope.env[el.attrib["name"]] = scope.set_env[el.attrib["name"]] = sub("value")
        elif tag == "push-ros-namespace":
            scope.namespace = _resolve_namespace(scope.namespace, sub("namespace"))
        elif tag == "group":
            inner = scope.child() if _condition(sub("scoped", "true"), f"{path.name}: <group scoped>") else scope
            _run_children(el, inner, given, plan, path, top)
        elif tag == "include":
            _include(el, scope, given, plan, path, sub("file"))
        elif tag == "node":
            plan.nodes.append(_node(el, scope, path, sub))


def _include(el: ET.Element, scope: _Scope, given: dict[str, str], plan: LaunchPlan, path: Path,
             file: str) -> None:
    inner_given: dict[str, str] = {}
    for child in el:
        if child.tag != "arg":
            raise LaunchError(f"{path.name}: <include> child <{child.tag}> is not supported")
        _check_attributes(child, "include/arg", path)
        inner_given[child.attrib["name"]] = substitute(child.attrib.get("value", ""),
                                                       scope.args, scope.env, path)
    target = Path(file)
    if not target.is_file():
        raise LaunchError(f"{path.name}: included launch file '{file}' not found")
    inner = scope.child(target)
    inner.args.update(inner_given)  # an include's args are launch configurations in its scope
    # Command-line arguments are global launch configurations: the included file's <arg>s see
    # them too, except where the <include> sets the argument itself.
    passed = {k: v for k, v in given.items() if k not in inner_given}
    _run_file(target, inner, passed, plan)
    for name in set(given) - set(inner_given) - set(passed):
        del given[name]  # taken by the included file
    scope.file = path


def _resolve_namespace(base: str, ns: str) -> str:
    """launch_ros: an absolute namespace stands alone, a relative one goes below ``base``; the
    result is absolute and has no trailing slash ("" for the root)."""
    ns = ns.strip()
    if not ns:
        return base
    full = ns if ns.startswith("/") else f"{base.rstrip('/')}/{ns}"
    full = "/" + full.strip("/")
    return "" if full == "/" else full


def _node(el: ET.Element, scope: _Scope, path: Path, sub) -> NodeSpec:
    spec = NodeSpec(pkg=sub("pkg"), exec=sub("exec"), name=sub("name"),
                    namespace=_resolve_namespace(scope.namespace, sub("namespace")),
                    args=shlex.split(sub("args")), env=dict(scope.set_env),
                    respawn=_condition(sub("respawn", "false"), f"{path.name}: <node respawn>"))
    try:
        spec.respawn_delay = float(sub("respawn_delay", "0"))
    except ValueError:
        raise LaunchError(f"{path.name}: <node respawn_delay> must be a number of seconds") from None
    for child in el:
        if child.tag not in ("param", "remap"):
            raise LaunchError(f"{path.name}: <node> child <{child.tag}> is not supported by this reader")
        _check_attributes(child, child.tag, path)
        val = lambda key, c=child: substitute(c.attrib[key], scope.args, scope.env, path)  # noqa: E731
        if child.tag == "param" and "from" in child.attrib:
            spec.param_files.append(Path(val("from")))
        elif child.tag == "param":
            spec.params[child.attrib["name"]] = val("value")
        else:
            spec.remaps.append((val("from"), val("to")))
    return spec
