"""Scores a live run whose ground truth and tracker outputs are keyed by frame stamp.

A real-time tracker may skip frames (it always takes the newest). Such a frame is scored with the
most recent box the tracker had published before it, which is what a consumer of ``tracks``
would have used; a published "no target" (LOST) counts as a failure until a box comes back.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from mlkd_tracker.eval.ope import SequenceScore, score_sequence

Box = tuple[float, float, float, float]
NO_BOX = (np.nan, np.nan, np.nan, np.nan)


@dataclass(frozen=True)
class AlignedRun:
    stamps: np.ndarray     # (N,) int64 ns, ground-truth frames from the init frame on
    gt: np.ndarray         # (N, 4)
    pred: np.ndarray       # (N, 4); NaN rows = no box
    processed: np.ndarray  # (N,) bool: the tracker published for exactly this frame


def align(gt: Mapping[int, Box], tracks: Mapping[int, Box | None], init_stamp: int) -> AlignedRun:
    stamps = np.array(sorted(s for s in gt if s >= init_stamp), dtype=np.int64)
    if stamps.size == 0:
        raise ValueError("no ground truth at or after the init frame")
    pred, processed = [], []
    last: Box = NO_BOX
    for i, stamp in enumerate(stamps):
        if int(stamp) in tracks:
            box = tracks[int(stamp)]
            last = NO_BOX if box is None else box
        pred.append(gt[int(stamp)] if i == 0 else last)
        processed.append(int(stamp) in tracks)
    return AlignedRun(stamps, np.array([gt[int(s)] for s in stamps], dtype=float),
                      np.array(pred, dtype=float), np.array(processed, dtype=bool))


def score_run(run: AlignedRun) -> SequenceScore:
    return score_sequence(run.pred, run.gt)
