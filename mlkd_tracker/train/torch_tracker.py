"""A torch checkpoint as a runtime tracker (teachers are evaluated without exporting them),
using exactly the runtime's crops and post-processing."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from mlkd_tracker.runtime.siamese_postprocess import PostprocessConfig
from mlkd_tracker.runtime.siamese_tracker import SiameseTracker as RuntimeSiameseTracker
from mlkd_tracker.train.checkpoints import load_tracker


class TorchSiameseEngine:
    def __init__(self, model, name: str) -> None:
        self.model, self.name = model.eval(), name
        self.geometry = model.cfg.geometry()

    @staticmethod
    def _blob(crop: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(crop.transpose(2, 0, 1))).float()[None]

    @torch.no_grad()
    def template(self, crop: np.ndarray) -> torch.Tensor:
        return self.model.template(self._blob(crop))

    @torch.no_grad()
    def search(self, crop: np.ndarray, zf: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        out = self.model.search(self._blob(crop), zf)
        return out["cls"][0, 0].numpy(), out["box"][0].numpy()


class TorchTracker(RuntimeSiameseTracker):
    @classmethod
    def from_checkpoint(cls, path: str | Path,
                        postprocess: PostprocessConfig | None = None) -> "TorchTracker":
        model, state = load_tracker(path)
        name = f"torch-{state['net_config'].get('name', Path(path).stem)}"
        return cls(TorchSiameseEngine(model, name), postprocess)
