"""Evaluation's names on top of the runtime tracker factory (``runtime/tracker_factory.py``).

Trackers are built by the one factory the tracker node uses; this module adds only what
evaluation needs beyond it:

* a label per tracker, ``LABEL=kind:arg`` (e.g. ``teacher=torch:runs/t/best.pt``), which names
  the results folder and the row in tables and plots; without one a label is derived from the
  spec (``opencv-csrt``, an export's stem, ...);
* :func:`spec_identity`, what makes stored results reusable (resume);
* the thread count from ``THREADS_ENV``, which the evaluation CLI's ``--threads N`` sets together
  with ``OMP_NUM_THREADS``, handed to backends that take one (ONNX Runtime's intra-op threads) or
  to their process-wide setter (``torch.set_num_threads`` for ``torch:``, not restored
  afterwards); OpenCV trackers use ``cv2.setNumThreads``, which the CLI sets;
* the ``torch:<checkpoint>`` kind: a training-side model evaluated without exporting it. It is
  registered here, not in the runtime, because the drone side never imports torch; the module
  that builds it is imported only when such a tracker is built.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from mlkd_tracker.runtime import tracker_factory
from mlkd_tracker.runtime.tracker_base import Tracker
from mlkd_tracker.runtime.tracker_factory import TrackerKind, describe_spec_forms, register_kind

__all__ = ["THREADS_ENV", "TrackerSpec", "spec_identity", "parse_spec", "make", "spec_help"]

#: environment variable with the intra-op thread count trackers should use (unset = library default)
THREADS_ENV = "MLKD_TRACKER_THREADS"

register_kind("torch", TrackerKind(
    "mlkd_tracker.train.torch_tracker:TorchTracker.from_checkpoint", arg="<checkpoint.pt>",
    help="PyTorch checkpoint, evaluation only (needs the training dependencies)", models=True,
    threads_setter="torch:set_num_threads"))

_ONNX_SUFFIXES = (".template.onnx", ".search.onnx", ".onnx")
_LABEL_OK = re.compile(r"[A-Za-z0-9._+-]+")
# "LABEL=kind:arg": the label part may hold neither ':' nor a path separator, so an '=' inside a
# path ("onnx:runs/a=b.onnx") is never mistaken for a label.
_LABELLED = re.compile(r"^([^:=/\\]+)=(.+)$")


@dataclass(frozen=True)
class TrackerSpec:
    """A parsed ``kind:arg`` with its ``label``, which names the results folder, so it is
    filesystem-safe."""

    kind: str
    arg: str
    label: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.arg}"


def spec_help() -> str:
    """Every spec form the factory knows, for ``--help`` (generated from the registry)."""
    return ("tracker specs, [LABEL=]kind:arg (LABEL names the results folder and the table "
            "row):\n" + describe_spec_forms())


def _sanitize(text: str) -> str:
    """Make a file stem usable as a folder name and a markdown table cell."""
    return re.sub(r"[^A-Za-z0-9._+-]+", "_", text).strip("._") or "tracker"


def _onnx_stem(path: Path) -> Path:
    """``m.template.onnx``, ``m.search.onnx`` and ``m`` all name the export ``m``."""
    for suffix in _ONNX_SUFFIXES:
        if path.name.endswith(suffix):
            return path.with_name(path.name[: -len(suffix)])
    return path


def _default_label(kind: str, arg: str) -> str:
    if kind == "opencv":
        return f"opencv-{arg}"
    if kind == "onnx":
        return _sanitize(_onnx_stem(Path(arg)).name)  # students are named by their export
    if kind == "enhanced":
        enhancer, _, tracker = arg.partition("+")
        return _sanitize(f"{Path(enhancer).stem}+{_onnx_stem(Path(tracker)).name}")
    # torch checkpoints are often "best.pt"/"last.pt": prefix the kind so that a checkpoint and
    # the ONNX export of the same model never share a results folder.
    return _sanitize(f"{kind}-{Path(arg).stem}")


def parse_spec(text: str) -> TrackerSpec:
    """Parse ``[LABEL=]kind:arg``; the factory checks what it can without building the
    tracker (known kind, OpenCV algorithm available, model files present), so a long
    evaluation fails before it starts rather than after the first tracker has run for an hour."""
    raw = text.strip()
    label: str | None = None
    m = _LABELLED.match(raw)
    if m:
        label, raw = m.group(1).strip(), m.group(2).strip()
        if not _LABEL_OK.fullmatch(label) or label in {".", ".."}:
            raise ValueError(f"tracker label {label!r} in {text!r} may only use letters, digits and . _ + -")
    spec = tracker_factory.parse_spec(raw)
    return TrackerSpec(spec.kind, spec.arg, label or _default_label(spec.kind, spec.arg))


def spec_identity(spec: TrackerSpec) -> str:
    """What makes two specs the same tracker (used to decide whether stored results may be
    reused): the kind and, for model files, the resolved path (an ONNX export by its stem)."""
    kind = tracker_factory.kinds().get(spec.kind)
    if kind is None or not kind.models:
        return str(spec)
    if spec.kind == "enhanced":
        enhancer, _, tracker = spec.arg.partition("+")
        return f"enhanced:{Path(enhancer).resolve()}+{_onnx_stem(Path(tracker).resolve())}"
    path = Path(spec.arg).resolve()
    return f"{spec.kind}:{_onnx_stem(path) if spec.kind == 'onnx' else path}"


def _threads_from_env() -> int | None:
    value = os.environ.get(THREADS_ENV, "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{THREADS_ENV}={value!r} is not a positive integer")
    return int(value)


def make(spec: TrackerSpec, threads: int | None = None) -> Tracker:
    """A new tracker for ``spec`` from the runtime factory. Call once per sequence: OPE must not
    carry state (or a warmed-up model cache) from one sequence into the next.

    ``threads`` (default: ``THREADS_ENV`` if set) goes to backends that take a thread count.
    Raises ValueError as :func:`mlkd_tracker.runtime.tracker_factory.build` does.
    """
    if threads is None:
        threads = _threads_from_env()
    return tracker_factory.build(tracker_factory.TrackerSpec(spec.kind, spec.arg), threads)
