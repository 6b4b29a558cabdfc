"""`mlkd-tracker export-enhancer`: a trained SLKD enhancer as one ONNX graph with metadata.

The graph takes raw BGR 0..255 (like the tracker exports) and returns BGR 0..255, so the runtime
can put it in front of any tracker crop or camera frame without knowing its normalisation.
Height and width are dynamic; every export is checked against torch at two sizes.
"""
from __future__ import annotations

import datetime
import json
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from mlkd_tracker import __version__
from mlkd_tracker.train.nets.enhancer_unet import UNetEnhancer, UNetEnhancerConfig, for_export
from mlkd_tracker.runtime.enhancer import FORMAT_VERSION, KIND_ENHANCER
from mlkd_tracker.train.export import OPSET, _add_metadata, _export_id

PARITY_ATOL = 0.05  # on the 0..255 scale: far below one grey level


class EnhancerGraph(nn.Module):
    """0..255 in, 0..255 out, clamped: the network itself works in [0, 1]."""

    def __init__(self, net: UNetEnhancer) -> None:
        super().__init__()
        self.net = net

    def forward(self, image: Tensor) -> Tensor:
        return self.net(image / 255.0).clamp(0.0, 1.0) * 255.0


def _load(path: Path) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint '{path}' does not exist")
    return torch.load(path, map_location="cpu", weights_only=False)


def load_enhancer(path: str | Path) -> tuple[UNetEnhancer, dict]:
    """(model in eval mode, checkpoint dict) from an SLKD enhancer checkpoint."""
    path = Path(path)
    state = _load(path)
    if not isinstance(state, dict) or "enhancer_config" not in state:
        raise ValueError(f"'{path}' is not an SLKD enhancer checkpoint (no enhancer_config)")
    model = UNetEnhancer(UNetEnhancerConfig.from_dict(state["enhancer_config"]))
    model.load_state_dict(state["enhancer"])
    return model.eval(), state


def export_enhancer(checkpoint: str | Path, out_path: str | Path,
                    training_data: str | None = None, check: bool = True) -> Path:
    model, state = load_enhancer(checkpoint)
    return export_enhancer_model(model, out_path, {
        "training_data": training_data or str(state.get("train_config", {}).get("data", "unknown")),
        "training_run": json.dumps({"role": state.get("role"), "epoch": state.get("epoch"),
                                    "step": state.get("step")})}, check=check)


def export_enhancer_model(model: UNetEnhancer, out_path: str | Path,
                          extra_meta: dict[str, str] | None = None, check: bool = True) -> Path:
    model = model.eval()
    cfg = model.cfg
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    graph = EnhancerGraph(model).eval()  # the reference the export is checked against
    fast = EnhancerGraph(for_export(model)).eval()  # the same function, faster operators
    m = cfg.size_multiple
    example = torch.rand(1, 3, 4 * m, 5 * m) * 255
    with torch.no_grad():
        torch.onnx.export(fast, (example,), str(out_path), input_names=["image"],
                          output_names=["enhanced"], opset_version=OPSET, dynamo=False,
                          dynamic_axes={"image": {2: "height", 3: "width"},
                                        "enhanced": {2: "height", 3: "width"}})
    meta = {
        "kind": KIND_ENHANCER, "format_version": FORMAT_VERSION, "name": cfg.name,
        "package_version": __version__, "size_multiple": m,
        "input": "BGR float32 NCHW, raw pixel values 0..255; height and width multiples of "
                 "size_multiple",
        "output": "BGR float32 NCHW, 0..255",
        "net_config": json.dumps(cfg.to_dict()),
        "export_id": _export_id(model.state_dict()),
        "exported": datetime.date.today().isoformat(),
        **(extra_meta or {}),
    }
    _add_metadata(out_path, meta)
    if check:
        check_enhancer_parity(graph, out_path)
    return out_path


def check_enhancer_parity(graph: EnhancerGraph, path: Path, seed: int = 0) -> float:
    """Largest |torch - ONNX Runtime| at two frame sizes; raises above PARITY_ATOL."""
    from mlkd_tracker.runtime.enhancer import OnnxEnhancer
    engine = OnnxEnhancer(path)
    m = engine.size_multiple
    rng = np.random.default_rng(seed)
    worst = 0.0
    for h, w in ((2 * m, 3 * m), (6 * m, 4 * m)):
        img = rng.uniform(0, 255, (h, w, 3)).astype(np.float32)
        with torch.no_grad():
            ref = graph(torch.from_numpy(img.transpose(2, 0, 1))[None])[0].numpy()
        worst = max(worst, float(np.abs(engine.enhance(img) - ref.transpose(1, 2, 0)).max()))
    if worst > PARITY_ATOL:
        raise RuntimeError(f"enhancer ONNX export differs from torch by {worst:.3g} grey levels "
                           f"(> {PARITY_ATOL})")
    return worst
