"""`mlkd-tracker export`: a trained Siamese tracker as two ONNX graphs with metadata.

The template branch runs once per initialisation, the search branch once per frame. Both carry
the metadata the runtime checks (kind, format, sizes, normalisation, post-processing, training
data, a shared export id). Every export is verified against torch on random crops.
"""
from __future__ import annotations

import datetime
import hashlib
import json
from pathlib import Path

import numpy as np
import onnx
import torch

from mlkd_tracker import __version__
from mlkd_tracker.train.nets.siamese import SearchBranch, TemplateBranch
from mlkd_tracker.runtime.onnx_siamese import FORMAT_VERSION, KIND_SEARCH, KIND_TEMPLATE
from mlkd_tracker.runtime.siamese_postprocess import PostprocessConfig
from mlkd_tracker.train.checkpoints import load_tracker

OPSET = 17
PARITY_ATOL = 1e-4


def _export_id(state_dict: dict) -> str:
    h = hashlib.sha256()
    for key in sorted(state_dict):
        h.update(key.encode())
        h.update(state_dict[key].detach().cpu().numpy().tobytes())
    return h.hexdigest()[:16]


def _add_metadata(path: Path, meta: dict[str, str]) -> None:
    model = onnx.load(str(path))
    del model.metadata_props[:]
    for key, value in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, str(value)
    onnx.save(model, str(path))


def export_tracker(checkpoint: str | Path, out_stem: str | Path,
                   postprocess: PostprocessConfig | None = None,
                   training_data: str | None = None, check: bool = True) -> tuple[Path, Path]:
    """``check=False`` only for speed-only exports of untrained weights, whose BatchNorm
    statistics give activations large enough for float32 rounding to exceed 1e-4."""
    model, state = load_tracker(checkpoint)
    cfg = model.cfg
    out_stem = Path(out_stem)
    out_stem.parent.mkdir(parents=True, exist_ok=True)
    t_path = out_stem.with_name(out_stem.name + ".template.onnx")
    s_path = out_stem.with_name(out_stem.name + ".search.onnx")
    z = torch.rand(1, 3, cfg.template_size, cfg.template_size) * 255
    x = torch.rand(1, 3, cfg.search_size, cfg.search_size) * 255
    with torch.no_grad():
        zf = model.template(z)
        # Wrappers are built in train mode and the exporter restores that mode afterwards, which
        # would flip the shared submodules to train mode (BatchNorm batch statistics): eval first.
        torch.onnx.export(TemplateBranch(model).eval(), (z,), str(t_path),
                          input_names=["template"], output_names=["zf"], opset_version=OPSET,
                          dynamo=False)
        torch.onnx.export(SearchBranch(model).eval(), (x, zf), str(s_path),
                          input_names=["search", "zf"], output_names=["cls", "box"],
                          opset_version=OPSET, dynamo=False)
    model.eval()
    train_cfg = state.get("train_config", {})
    meta = {
        "format_version": FORMAT_VERSION, "name": cfg.name, "package_version": __version__,
        "template_size": cfg.template_size, "search_size": cfg.search_size, "stride": cfg.stride,
        "input": "BGR float32 NCHW, raw pixel values 0..255 (normalised inside the graph)",
        "normalisation": json.dumps({"mean_bgr": list(cfg.mean_bgr), "std_bgr": list(cfg.std_bgr),
                                     "enhancer": cfg.enhancer is not None}),
        "net_config": json.dumps(cfg.to_dict()),
        "postprocess": json.dumps((postprocess or PostprocessConfig()).to_dict()),
        "training_data": training_data or str(train_cfg.get("data", "unknown")),
        "training_run": json.dumps({"kind": state.get("kind"), "epoch": state.get("epoch"),
                                    "step": state.get("step")}),
        "export_id": _export_id(model.state_dict()),
        "exported": datetime.date.today().isoformat(),
    }
    _add_metadata(t_path, meta | {"kind": KIND_TEMPLATE})
    _add_metadata(s_path, meta | {"kind": KIND_SEARCH})
    if check:
        check_parity(model, t_path)
    return t_path, s_path


def check_parity(model, template_path: Path, trials: int = 3, seed: int = 0) -> float:
    """Largest |torch - ONNX Runtime| over the outputs on random crops; raises above 1e-4."""
    from mlkd_tracker.runtime.onnx_siamese import OnnxSiameseEngine
    engine = OnnxSiameseEngine(template_path)
    g = engine.geometry
    rng = np.random.default_rng(seed)
    worst = 0.0
    for _ in range(trials):
        z = rng.uniform(0, 255, (g.template_size, g.template_size, 3)).astype(np.float32)
        x = rng.uniform(0, 255, (g.search_size, g.search_size, 3)).astype(np.float32)
        with torch.no_grad():
            zf_t = model.template(torch.from_numpy(z.transpose(2, 0, 1))[None])
            out = model.search(torch.from_numpy(x.transpose(2, 0, 1))[None], zf_t)
        zf_o = engine.template(z)
        cls_o, box_o = engine.search(x, zf_o)
        worst = max(worst, float(np.abs(zf_o - zf_t.numpy()).max()),
                    float(np.abs(cls_o - out["cls"][0, 0].numpy()).max()),
                    float(np.abs(box_o - out["box"][0].numpy()).max()))
    if worst > PARITY_ATOL:
        raise RuntimeError(f"ONNX export differs from torch by {worst:.2e} (> {PARITY_ATOL})")
    return worst
