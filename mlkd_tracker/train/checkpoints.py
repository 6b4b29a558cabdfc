"""Loading a trained Siamese tracker back from a checkpoint written by the training loop."""
from __future__ import annotations

from pathlib import Path

import torch

from mlkd_tracker.nets.config import TrackerNetConfig
from mlkd_tracker.nets.siamese import SiameseTracker, build_tracker


def load_tracker(path: str | Path) -> tuple[SiameseTracker, dict]:
    """(model in eval mode, the checkpoint dict); clear error for files that are not ours."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint '{path}' does not exist")
    state = torch.load(path, map_location="cpu", weights_only=False)
    if not isinstance(state, dict) or "net_config" not in state or "model" not in state:
        raise ValueError(f"'{path}' is not a mlkd_tracker tracker checkpoint (no net_config/model)")
    model = build_tracker(TrackerNetConfig.from_dict(state["net_config"]))
    model.load_state_dict(state["model"])
    return model.eval(), state
