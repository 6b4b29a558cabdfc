"""The "enhancer + tracker" pipeline: a Siamese engine whose crops are enhanced first.

The alternative to a distilled night tracker (MLKD-Track) is a day-style tracker behind a small
enhancer. Enhancing the template and search *crops* rather than the whole frame is what the
teacher does in training, and it costs (64² + 160²) / (640 · 480) ≈ 10 % of a full frame.

A spec names both models: ``ENHANCER.onnx+TRACKER`` (the tracker as a ``.template.onnx``,
``.search.onnx`` or their common stem, optionally written as the tracker spec ``onnx:<model>``),
e.g. ``models/slkd_enhancer.onnx+models/student_mobile``; the tracker factory's
``enhanced:<spec>`` builds it.
"""
from __future__ import annotations

import os
import re

import numpy as np

from mlkd_tracker.runtime.enhancer import OnnxEnhancer
from mlkd_tracker.runtime.onnx_session import ModelError
from mlkd_tracker.runtime.siamese_tracker import SiameseEngine, SiameseTracker

SEPARATOR = "+"
_TRACKER_PREFIX = "onnx:"
_OTHER_SPEC = re.compile(r"^[a-z][a-z0-9_]+:")  # another kind's spec (not a drive letter)


class EnhancedSiameseEngine:
    """A :class:`SiameseEngine` that passes every crop through ``enhancer`` first."""

    def __init__(self, engine: SiameseEngine, enhancer: OnnxEnhancer) -> None:
        self.engine, self.enhancer = engine, enhancer
        self.geometry = engine.geometry
        self.name = f"{enhancer.name}+{engine.name}"
        self.postprocess = getattr(engine, "postprocess", {})
        self.providers = getattr(engine, "providers", ("CPUExecutionProvider",))

    def template(self, crop: np.ndarray) -> object:
        return self.engine.template(self.enhancer.enhance(crop))

    def search(self, crop: np.ndarray, zf: object) -> tuple[np.ndarray, np.ndarray]:
        return self.engine.search(self.enhancer.enhance(crop), zf)


def _parts(spec: str | os.PathLike) -> tuple[str, str]:
    enhancer, sep, tracker = str(spec).partition(SEPARATOR)
    if not sep or not enhancer or not tracker:
        raise ModelError(f"'{spec}' is not ENHANCER.onnx{SEPARATOR}TRACKER (e.g. "
                         f"models/slkd_enhancer.onnx{SEPARATOR}models/student_mobile)")
    if tracker.startswith(_TRACKER_PREFIX):
        tracker = tracker[len(_TRACKER_PREFIX):]
    elif _OTHER_SPEC.match(tracker):
        raise ModelError(f"'{tracker}': the enhancer works on the crops of a Siamese export, so "
                         f"the tracker must be {_TRACKER_PREFIX}<model> or <model>")
    return enhancer, tracker


def resolve_spec(spec: str | os.PathLike) -> str:
    """Both model paths of ``"E.onnx+T"`` looked up as a node looks up ``model_path``
    (working directory, then the package share directory)."""
    from mlkd_tracker.resources import resolve_model
    enhancer, tracker = _parts(spec)
    return f"{resolve_model(enhancer)}{SEPARATOR}{resolve_model(tracker)}"


def split_spec(spec: str | os.PathLike) -> tuple[str, str]:
    """``"E.onnx+T"`` (or ``"E.onnx+onnx:T"``) -> ("E.onnx", "T"); ModelError if either part is
    missing or does not load as a file (checked cheaply, before anything runs)."""
    from mlkd_tracker.runtime.onnx_siamese import model_paths
    enhancer, tracker = _parts(spec)
    if not os.path.isfile(enhancer):
        raise ModelError(f"enhancer model '{enhancer}' does not exist")
    model_paths(tracker)
    return enhancer, tracker


def enhanced_siamese_tracker(spec: str | os.PathLike, threads: int | None = None,
                             providers: str | None = None) -> SiameseTracker:
    """A tracker for an ``ENHANCER.onnx+TRACKER`` spec (what ``enhanced:<spec>`` builds)."""
    from mlkd_tracker.runtime.onnx_siamese import OnnxSiameseEngine
    enhancer, tracker = split_spec(spec)
    engine = OnnxSiameseEngine(tracker, threads=threads, providers=providers)
    return SiameseTracker(EnhancedSiameseEngine(
        engine, OnnxEnhancer(enhancer, threads=threads, providers=providers)))
