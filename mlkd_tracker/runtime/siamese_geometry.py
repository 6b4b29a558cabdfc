"""Where each cell of a Siamese tracker's response map lies in the search crop.

Shared by the training targets (nets/train) and the runtime's decoding, so both agree exactly.
A depthwise cross-correlation of a ``t``-px template with an ``s``-px search crop at total
stride ``k`` gives an ``(s - t) / k + 1`` square map whose middle cell looks at the crop centre.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SiameseGeometry:
    template_size: int = 64
    search_size: int = 160
    stride: int = 8

    def __post_init__(self) -> None:
        span = self.search_size - self.template_size
        if span < 0 or span % self.stride:
            raise ValueError(f"search {self.search_size} - template {self.template_size} must be a "
                             f"non-negative multiple of the stride {self.stride}")

    @property
    def score_size(self) -> int:
        return (self.search_size - self.template_size) // self.stride + 1

    def points(self) -> np.ndarray:
        """(S, S, 2) array of (x, y) crop coordinates of each cell, row-major like the map."""
        offsets = (np.arange(self.score_size) - (self.score_size - 1) / 2) * self.stride
        coords = self.search_size / 2 + offsets
        xs, ys = np.meshgrid(coords, coords)
        return np.stack([xs, ys], axis=-1)
