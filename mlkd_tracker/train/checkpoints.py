"""Loading a trained Siamese tracker back from a checkpoint written by the training loop, and
telling the three kinds of checkpoint `mlkd-tracker export` takes apart."""
from __future__ import annotations

from pathlib import Path

import torch

from mlkd_tracker.train.nets.config import TrackerNetConfig
from mlkd_tracker.train.nets.siamese import SiameseTracker, build_tracker


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


def checkpoint_kind(path: str | Path) -> str:
    """'detector' (an Ultralytics detection ``best.pt``), 'enhancer' (SLKD) or 'tracker' (anything
    else: :func:`load_tracker` then says precisely what is wrong with it). Reads the file once."""
    from mlkd_tracker.train.ultralytics_env import ensure_offline
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint '{path}' does not exist")
    ensure_offline()  # unpickling an Ultralytics checkpoint imports Ultralytics
    state = torch.load(path, map_location="cpu", weights_only=False)
    if not isinstance(state, dict):
        return "tracker"
    # exactly the class: segmentation, pose and OBB models subclass it
    if type(state.get("ema") or state.get("model")).__name__ == "DetectionModel":
        return "detector"
    return "enhancer" if "enhancer_config" in state else "tracker"
