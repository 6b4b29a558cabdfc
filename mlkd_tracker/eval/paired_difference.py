"""How sure is a difference in success between two trackers on the same sequences?

A test split of a dozen sequences gives each tracker one mean score; two trackers' means can
differ by a few points through which sequences happen to suit whom. Both trackers ran on the
same sequences, so the honest interval for the difference comes from resampling the
*sequences* and keeping each sequence's pair of scores together (a paired bootstrap; scipy's
``stats.bootstrap`` with ``paired=True``). An interval that contains 0 means the split cannot
tell the two apart.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

__all__ = ["PairedDifference", "paired_difference"]


@dataclass(frozen=True)
class PairedDifference:
    """``mean`` of ``a - b`` over the shared sequences and its ``confidence`` interval."""

    mean: float
    low: float
    high: float
    n_sequences: int
    confidence: float

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0


def paired_difference(a: Mapping[str, float], b: Mapping[str, float], confidence: float = 0.95,
                      resamples: int = 10_000, seed: int = 0) -> PairedDifference:
    """Mean of ``a[s] - b[s]`` over the sequences ``s`` both score, with a percentile paired
    bootstrap interval. Seeded, so a report is reproducible. Raises ValueError when fewer than
    two sequences are shared or a score is not finite."""
    from scipy import stats  # only reports need it

    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), not {confidence}")
    shared = sorted(set(a) & set(b))
    if len(shared) < 2:
        raise ValueError(f"a paired difference needs >= 2 shared sequences, got {len(shared)}")
    x = np.array([a[s] for s in shared], dtype=float)
    y = np.array([b[s] for s in shared], dtype=float)
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("per-sequence scores must be finite")
    diff = x - y
    if np.ptp(diff) == 0:  # every resample gives the same mean: the interval is that point
        return PairedDifference(float(diff[0]), float(diff[0]), float(diff[0]), len(shared),
                                confidence)
    res = stats.bootstrap((x, y), lambda u, v, axis=-1: np.mean(u - v, axis=axis), paired=True,
                          confidence_level=confidence, n_resamples=resamples, method="percentile",
                          rng=np.random.default_rng(seed))
    low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError("the bootstrap interval is not finite")
    return PairedDifference(float(diff.mean()), low, high, len(shared), confidence)
