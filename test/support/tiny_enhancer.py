"""A tiny exported enhancer (2 channels, one level, untrained) and ways to spoil one, for runtime
and node tests that need a real enhancer ONNX file without shipping or training one.

Exporting imports torch and takes a few seconds: export once per test module (module-scoped
fixture) and copy or modify the file for each variant.
"""
from __future__ import annotations

from pathlib import Path

import onnx


def export_tiny_enhancer(out_path: str | Path, seed: int = 0) -> Path:
    """Write a valid enhancer export (size_multiple 4) to ``out_path``; returns the path."""
    import torch

    from mlkd_tracker.train.nets.enhancer_unet import UNetEnhancer, UNetEnhancerConfig
    from mlkd_tracker.train.enhancer_export import export_enhancer_model

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny graph: fair to the rest of a loaded machine
    try:
        torch.manual_seed(seed)
        model = UNetEnhancer(UNetEnhancerConfig(name="tiny", width=2, depth=1, blocks=0, stem=2))
        return export_enhancer_model(model, out_path)
    finally:
        torch.set_num_threads(threads)


def with_metadata(src: str | Path, dst: str | Path, **changes: str | None) -> Path:
    """Copy of the model at ``src`` with metadata entries changed (None removes one)."""
    model = onnx.load(str(src))
    meta = {p.key: p.value for p in model.metadata_props}
    for key, value in changes.items():
        if value is None:
            meta.pop(key, None)
        else:
            meta[key] = str(value)
    del model.metadata_props[:]
    for key, value in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(dst))
    return Path(dst)
