"""Neural Siamese tracker behind the runtime interface: any engine (ONNX Runtime here, torch in
training) plus the shared post-processing."""
from __future__ import annotations

import os
from typing import Protocol

import cv2
import numpy as np

from mlkd_tracker.runtime.crops import context_size, crop_square
from mlkd_tracker.runtime.siamese_geometry import SiameseGeometry
from mlkd_tracker.runtime.siamese_postprocess import (PostprocessConfig, SiamesePostprocess,
                                                      TargetState)
from mlkd_tracker.runtime.tracker_base import BoxXYWH, TrackResult, Tracker


class SiameseEngine(Protocol):
    geometry: SiameseGeometry
    name: str

    def template(self, crop: np.ndarray) -> object: ...

    def search(self, crop: np.ndarray, zf: object) -> tuple[np.ndarray, np.ndarray]:
        """(logits (S, S), ltrb (4, S, S) in search-crop px)."""


class SiameseTracker(Tracker):
    def __init__(self, engine: SiameseEngine | str | os.PathLike,
                 postprocess: PostprocessConfig | None = None, threads: int | None = None,
                 providers: str | None = None) -> None:
        if isinstance(engine, (str, os.PathLike)):
            from mlkd_tracker.runtime.onnx_siamese import OnnxSiameseEngine
            engine = OnnxSiameseEngine(engine, threads=threads, providers=providers)
        self.engine = engine
        if postprocess is None:
            postprocess = PostprocessConfig.from_dict(getattr(engine, "postprocess", {}) or {})
        self.post = SiamesePostprocess(engine.geometry, postprocess)
        self.name = engine.name
        self._state: TargetState | None = None
        self._zf = None
        self._pad: tuple[float, float, float] | None = None

    def init(self, frame: np.ndarray, box: BoxXYWH) -> None:
        x, y, w, h = (float(v) for v in box)
        self._state = TargetState(x + w / 2, y + h / 2, w, h)
        self._pad = tuple(float(v) for v in cv2.mean(frame)[:3])
        g = self.engine.geometry
        side = context_size(w, h, self.post.cfg.context)
        crop = crop_square(frame, self._state.cx, self._state.cy, side, g.template_size, self._pad)
        self._zf = self.engine.template(crop)

    def update(self, frame: np.ndarray) -> TrackResult:
        if self._state is None:
            raise RuntimeError(f"{self.name}: update() before init()")
        s, g = self._state, self.engine.geometry
        crop = crop_square(frame, s.cx, s.cy, self.post.search_side(s), g.search_size, self._pad)
        logits, ltrb = self.engine.search(crop, self._zf)
        self._state, score = self.post.step(s, logits, ltrb, frame.shape[1], frame.shape[0])
        n = self._state
        return TrackResult((n.cx - n.w / 2, n.cy - n.h / 2, n.w, n.h), score)
