"""Turning a Siamese response map into the next box (pysot's habit: kept apart from the network).

Every neural tracker shares this: a cosine window against jumps, a penalty on sudden scale and
aspect changes, smoothing of the box size, and clipping to the frame. Its parameters are tuned
on the validation split and shipped in the model's metadata.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from mlkd_tracker.runtime.crops import context_size
from mlkd_tracker.runtime.siamese_geometry import SiameseGeometry


@dataclass(frozen=True)
class PostprocessConfig:
    window_influence: float = 0.4  # weight of the cosine window against the response
    penalty_k: float = 0.06        # how strongly scale/aspect changes are penalised
    size_lr: float = 0.4           # how fast the box size follows the prediction
    context: float = 0.5           # template context amount (must match training)
    min_size: float = 4.0          # px; the box never shrinks below this

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "PostprocessConfig":
        known = {k: float(v) for k, v in d.items() if k in cls.__dataclass_fields__}
        return cls(**known)


@dataclass
class TargetState:
    cx: float
    cy: float
    w: float
    h: float


def _change(r: np.ndarray) -> np.ndarray:
    return np.maximum(r, 1.0 / r)


def _sz(w: np.ndarray, h: np.ndarray) -> np.ndarray:
    pad = (w + h) * 0.5
    return np.sqrt((w + pad) * (h + pad))


class SiamesePostprocess:
    def __init__(self, geometry: SiameseGeometry, cfg: PostprocessConfig) -> None:
        self.geometry, self.cfg = geometry, cfg
        hann = np.hanning(geometry.score_size)
        self.window = np.outer(hann, hann)
        self.points = geometry.points()  # (S, S, 2)

    def search_side(self, state: TargetState) -> float:
        """Side (image px) of the search crop for the current target."""
        g = self.geometry
        return context_size(state.w, state.h, self.cfg.context) * g.search_size / g.template_size

    def step(self, state: TargetState, logits: np.ndarray, ltrb: np.ndarray, frame_w: int,
             frame_h: int) -> tuple[TargetState, float]:
        """New target state from one response; returns it with the raw confidence of the peak."""
        g, c = self.geometry, self.cfg
        score = 1.0 / (1.0 + np.exp(-np.nan_to_num(logits, nan=-50.0).reshape(g.score_size, -1)))
        scale = g.search_size / self.search_side(state)  # crop px per image px
        ltrb = np.nan_to_num(ltrb, nan=0.0, posinf=0.0).reshape(4, g.score_size, g.score_size)
        x1 = self.points[..., 0] - ltrb[0]
        y1 = self.points[..., 1] - ltrb[1]
        x2 = self.points[..., 0] + ltrb[2]
        y2 = self.points[..., 1] + ltrb[3]
        w = np.maximum(x2 - x1, 1e-3) / scale
        h = np.maximum(y2 - y1, 1e-3) / scale
        s_c = _change(_sz(w, h) / _sz(np.float64(state.w), np.float64(state.h)))
        r_c = _change((state.w / state.h) / (w / h))
        penalty = np.exp(-(r_c * s_c - 1.0) * c.penalty_k)
        pscore = penalty * score * (1 - c.window_influence) + self.window * c.window_influence
        best = np.unravel_index(int(np.argmax(pscore)), pscore.shape)
        half = g.search_size / 2
        cx = state.cx + (((x1[best] + x2[best]) / 2) - half) / scale
        cy = state.cy + (((y1[best] + y2[best]) / 2) - half) / scale
        lr = float(penalty[best] * score[best] * c.size_lr)
        new_w = state.w * (1 - lr) + w[best] * lr
        new_h = state.h * (1 - lr) + h[best] * lr
        return self._clip(TargetState(cx, cy, new_w, new_h), frame_w, frame_h), float(score[best])

    def _clip(self, s: TargetState, frame_w: int, frame_h: int) -> TargetState:
        m = self.cfg.min_size
        return TargetState(cx=float(np.clip(s.cx, 0, frame_w)), cy=float(np.clip(s.cy, 0, frame_h)),
                           w=float(np.clip(s.w, m, max(frame_w, m))),
                           h=float(np.clip(s.h, m, max(frame_h, m))))
