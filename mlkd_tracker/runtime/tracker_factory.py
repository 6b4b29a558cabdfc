"""The one tracker factory: a spec string ``kind:arg`` -> a fresh :class:`Tracker`.

The tracker node (its ``tracker`` parameter), ``mlkd-tracker eval``, ``bench trackers`` and bag
replay (through the node) all build trackers here, so a tracker that evaluates is a tracker that
runs on the drone. Spec forms of the kinds registered here::

    opencv:csrt|kcf|mil|mosse   an OpenCV baseline (runtime/opencv_trackers)
    onnx:<model>                an exported Siamese student: <stem>.template.onnx and
                                <stem>.search.onnx, named by their common stem or either file
    enhanced:<enhancer.onnx>+<model>   the enhancer run on the crops of an exported student;
                                <model> as for onnx:, optionally written onnx:<model>

A relative model path is looked up from the working directory first, then in the package share
directory (``mlkd_tracker.resources.resolve_model``), so ``onnx:models/student_mobile`` works
from a source checkout and from an installed package alike.

More kinds plug in by prefix, once, and then work everywhere: :func:`register_kind` in code, or
an entry point in the ``mlkd_tracker.trackers`` group of an installed distribution
(``mykind = my_package.module:build``, a callable taking the spec's argument), which every
process finds without importing the plug-in until a tracker of that kind is built.

Backends are named by module path and imported only when a tracker of their kind is built, so
this module stays cheap to import (the OpenCV node never loads ONNX Runtime) and free of torch
and ROS.
"""
from __future__ import annotations

import importlib
import importlib.metadata
import re
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mlkd_tracker.runtime.tracker_base import Tracker

__all__ = ["ENTRY_POINT_GROUP", "TrackerKind", "TrackerSpec", "kinds", "register_kind",
           "parse_spec", "build", "spec_forms", "describe_spec_forms", "spec_from_parameters",
           "create_tracker", "BACKENDS"]

#: entry-point group where installed distributions register more tracker kinds
ENTRY_POINT_GROUP = "mlkd_tracker.trackers"

#: the node's legacy ``backend`` parameter values (``tracker`` spec strings supersede them)
BACKENDS = ("opencv", "onnx")

Target = str | Callable


@dataclass(frozen=True)
class TrackerKind:
    """How to build one kind of tracker from the argument of its spec.

    ``target`` builds the tracker from the argument string (``"package.module:Attr[.attr]"``,
    imported when first needed, or a callable). ``check`` (same forms) validates an argument
    cheaply, before anything runs, raising ValueError with the reason; it may return the
    argument normalised (e.g. lower-cased). ``models`` says the argument names model files:
    relative paths are then resolved (``resolve``, default
    ``mlkd_tracker.resources:resolve_model``) and, without a ``check``, must exist.
    ``threads_kwarg`` / ``threads_setter`` say how the backend takes a thread count (a keyword
    of ``target`` / a process-wide setter); ``providers_kwarg`` the keyword that takes ONNX
    Runtime execution providers (kinds without one run on the CPU only). ``arg`` and ``help``
    describe the spec form.
    """

    target: Target
    arg: str
    help: str
    check: Target | None = None
    models: bool = False
    resolve: Target | None = None
    threads_kwarg: str | None = None
    threads_setter: Target | None = None
    providers_kwarg: str | None = None


@dataclass(frozen=True)
class TrackerSpec:
    """A parsed ``kind:arg`` (``arg`` with model paths resolved)."""

    kind: str
    arg: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.arg}"


_KINDS: dict[str, TrackerKind] = {
    "opencv": TrackerKind("mlkd_tracker.runtime.opencv_trackers:OpenCVTracker",
                          arg="csrt|kcf|mil|mosse",
                          help="OpenCV baseline (those available in this OpenCV build)",
                          check="mlkd_tracker.runtime.opencv_trackers:check_algorithm"),
    "onnx": TrackerKind("mlkd_tracker.runtime.siamese_tracker:SiameseTracker", arg="<model>",
                        help="exported Siamese student on ONNX Runtime: <model> is the common "
                             "stem of <stem>.template.onnx + <stem>.search.onnx, or either file",
                        check="mlkd_tracker.runtime.onnx_siamese:model_paths", models=True,
                        threads_kwarg="threads", providers_kwarg="providers"),
    "enhanced": TrackerKind("mlkd_tracker.runtime.enhanced_tracker:enhanced_siamese_tracker",
                            arg="<enhancer.onnx>+<model>",
                            help="low-light enhancer run on the crops of an exported student "
                                 "(<model> as for onnx:, or written onnx:<model>)",
                            check="mlkd_tracker.runtime.enhanced_tracker:split_spec", models=True,
                            resolve="mlkd_tracker.runtime.enhanced_tracker:resolve_spec",
                            threads_kwarg="threads", providers_kwarg="providers"),
}
_entry_points_loaded = False
_KIND_NAME = re.compile(r"[a-z][a-z0-9_]*")


def register_kind(prefix: str, kind: TrackerKind) -> None:
    """Add (or replace) the tracker kind written ``prefix:arg``, e.g. from a plug-in package."""
    if not _KIND_NAME.fullmatch(prefix):
        raise ValueError(f"tracker kind must be lower-case letters, digits and '_', got {prefix!r}")
    for target in (kind.target, kind.check, kind.resolve, kind.threads_setter):
        if isinstance(target, str) and ":" not in target:
            raise ValueError(f"backend target must look like 'package.module:Attr', got {target!r}")
    _KINDS[prefix] = kind


def _load_entry_points() -> None:
    """Kinds that installed distributions declare (once per process; built-ins win)."""
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in _KINDS or not _KIND_NAME.fullmatch(ep.name):
            continue
        dist = getattr(ep.dist, "name", None) or "an installed package"
        _KINDS[ep.name] = TrackerKind(ep.value, arg="<arg>", help=f"plug-in from {dist}")


def kinds() -> dict[str, TrackerKind]:
    """Every registered kind by prefix (built-in, :func:`register_kind`, entry points)."""
    _load_entry_points()
    return dict(_KINDS)


def spec_forms() -> list[tuple[str, str]]:
    """``(form, help)`` for every kind, e.g. ``("opencv:csrt|kcf|mil|mosse", "OpenCV ...")``."""
    return [(f"{prefix}:{kind.arg}", kind.help) for prefix, kind in kinds().items()]


def describe_spec_forms(indent: str = "  ", width: int = 100) -> str:
    """The spec forms as a two-column text for ``--help``, wrapped to ``width`` columns."""
    forms = spec_forms()
    column = max(len(form) for form, _ in forms)
    pad = " " * (len(indent) + column + 2)
    return "\n".join(textwrap.fill(text, width, initial_indent=f"{indent}{form.ljust(column)}  ",
                                    subsequent_indent=pad) for form, text in forms)


def _known() -> str:
    return ", ".join(form for form, _ in spec_forms())


def _resolve_target(prefix: str, target: Target) -> Callable:
    if callable(target):
        return target
    module_name, _, attr_path = target.partition(":")
    try:
        obj = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"cannot load the {prefix!r} tracker backend ({module_name}): {exc}") from exc
    for attr in attr_path.split("."):
        try:
            obj = getattr(obj, attr)
        except AttributeError as exc:
            raise ValueError(f"{prefix!r} tracker backend: {target} not found") from exc
    return obj


def _kind(prefix: str, text: str) -> TrackerKind:
    kind = kinds().get(prefix)
    if kind is None:
        raise ValueError(f"unknown tracker kind {prefix!r} in {text!r}; known: {_known()}")
    return kind


def _checked_arg(prefix: str, kind: TrackerKind, arg: str) -> str:
    """``arg`` with model paths resolved and checked by the kind (ValueError with the reason)."""
    try:
        if kind.models:
            arg = _resolve_target(prefix, kind.resolve or "mlkd_tracker.resources:resolve_model")(arg)
        if kind.check is not None:
            checked = _resolve_target(prefix, kind.check)(arg)
            return checked if isinstance(checked, str) else arg
    except ValueError as exc:
        raise ValueError(f"{prefix} tracker: {exc}") from exc
    if kind.models and not Path(arg).is_file():
        raise ValueError(f"{prefix} tracker: model file {arg!r} does not exist")
    return arg


def parse_spec(text: str) -> TrackerSpec:
    """Parse ``kind:arg`` and check what can be checked without building the tracker (known
    kind, OpenCV algorithm in this build, model files present), so a node refuses a bad
    parameter at start-up and a long evaluation fails before it starts."""
    prefix, sep, arg = text.strip().partition(":")
    prefix, arg = prefix.strip().lower(), arg.strip()
    if not sep or not prefix or not arg:
        raise ValueError(f"tracker spec {text!r} must look like kind:arg; known: {_known()}")
    kind = _kind(prefix, text)
    return TrackerSpec(prefix, _checked_arg(prefix, kind, arg))


def build(spec: TrackerSpec | str, threads: int | None = None,
          providers: str | None = None) -> Tracker:
    """A new tracker for ``spec``; build one per sequence or per node, never share one.

    ``threads`` (None: library defaults) goes to backends that take a thread count;
    ``providers`` (ONNX Runtime execution providers, e.g. ``"cuda,cpu"``; None or ``"cpu"``: the
    CPU) to the ONNX kinds, and asking a CPU-only kind for another provider is refused. Raises
    ValueError for an unknown kind, a missing or unfit model file (the backends' own errors,
    e.g. ``ModelError``, are ValueErrors) or a backend that cannot be imported here.
    """
    if isinstance(spec, str):
        spec = parse_spec(spec)
    kind = _kind(spec.kind, str(spec))
    arg = _checked_arg(spec.kind, kind, spec.arg)  # files may have gone since parsing
    kwargs = {}
    if threads is not None and kind.threads_kwarg:
        kwargs[kind.threads_kwarg] = threads
    if threads is not None and kind.threads_setter:
        _resolve_target(spec.kind, kind.threads_setter)(threads)
    if providers is not None and kind.providers_kwarg:
        kwargs[kind.providers_kwarg] = providers
    elif providers and providers.strip().lower() not in ("cpu", "cpuexecutionprovider"):
        raise ValueError(f"'{spec.kind}:' trackers run on the CPU only; providers "
                         f"'{providers}' needs an onnx: or enhanced: tracker")
    tracker = _resolve_target(spec.kind, kind.target)(arg, **kwargs)
    if not (callable(getattr(tracker, "init", None)) and callable(getattr(tracker, "update", None))):
        raise TypeError(f"{kind.target} returned {type(tracker).__name__}, which is not a Tracker "
                        "(needs init(frame, box) and update(frame))")
    return tracker


def spec_from_parameters(backend: str = "opencv", opencv_algorithm: str = "csrt",
                         model_path: str = "", enhancer_path: str = "") -> str:
    """The spec the node's older ``backend`` / ``opencv_algorithm`` / ``model_path`` /
    ``enhancer_path`` parameters describe; ValueError for combinations that cannot work."""
    if enhancer_path and backend != "onnx":
        raise ValueError(f"enhancer_path works with the onnx backend only, not '{backend}'")
    if backend == "opencv":
        return f"opencv:{opencv_algorithm}"
    if backend == "onnx":
        if not model_path:
            raise ValueError("backend 'onnx' needs model_path (a .template.onnx/.search.onnx "
                             "pair or their common stem)")
        return f"enhanced:{enhancer_path}+{model_path}" if enhancer_path else f"onnx:{model_path}"
    raise ValueError(f"unknown tracker backend '{backend}'; known: {', '.join(BACKENDS)}")


def create_tracker(backend: str = "opencv", opencv_algorithm: str = "csrt",
                   model_path: str = "", enhancer_path: str = "") -> Tracker:
    """A tracker from the node's older parameters (see :func:`spec_from_parameters`)."""
    return build(spec_from_parameters(backend, opencv_algorithm, model_path, enhancer_path))
