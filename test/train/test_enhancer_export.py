"""Enhancer exports: one ONNX graph, any frame size, the metadata the runtime checks, and the
same pixels as torch (to a small fraction of a grey level)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from mlkd_tracker.cli import main
from mlkd_tracker.train.nets.enhancer_unet import UNetEnhancer, UNetEnhancerConfig
from mlkd_tracker.runtime.enhancer import KIND_ENHANCER, OnnxEnhancer
from mlkd_tracker.train.enhancer_export import (EnhancerGraph, export_enhancer, load_enhancer)

CFG = UNetEnhancerConfig(name="tiny", width=4, depth=1, blocks=1, stem=2)
# the overlapping head and the colour head (einsum) export too
CFG_V2 = UNetEnhancerConfig(name="tiny_v2", width=4, depth=1, blocks=1, stem=2, overlap_head=True,
                            colour_head=True)


@pytest.fixture(scope="module", params=[CFG, CFG_V2], ids=["plain", "v2"])
def checkpoint(tmp_path_factory, request):
    torch.manual_seed(0)
    cfg = request.param
    net = UNetEnhancer(cfg)
    if net.colour is not None:  # not the identity, so the export's colour path is checked
        torch.nn.init.normal_(net.colour.weight, std=0.1)
    path = tmp_path_factory.mktemp("ckpt") / "best.pt"
    torch.save({"enhancer": net.state_dict(), "enhancer_config": cfg.to_dict(), "role": "student",
                "epoch": 2, "step": 20, "train_config": {"data": "tiny synthetic"}}, path)
    return path


def test_export_matches_torch_at_any_size_and_carries_metadata(checkpoint, tmp_path):
    path = export_enhancer(checkpoint, tmp_path / "e.onnx")
    engine = OnnxEnhancer(path, threads=1)
    assert engine.meta["kind"] == KIND_ENHANCER and engine.size_multiple == 4
    assert engine.meta["training_data"] == "tiny synthetic"
    model, _ = load_enhancer(checkpoint)
    img = np.random.default_rng(0).integers(0, 256, (37, 53, 3), dtype=np.uint8)
    out = engine.enhance(img.astype(np.float32))
    padded = np.pad(img, ((0, 3), (0, 3), (0, 0)), mode="edge").astype(np.float32)
    with torch.no_grad():
        ref = EnhancerGraph(model)(torch.from_numpy(padded.transpose(2, 0, 1))[None])[0]
    ref = ref.numpy().transpose(1, 2, 0)[:37, :53]
    assert np.abs(out - ref).max() < 0.05


def test_an_overlapping_head_exports_without_a_transposed_conv(checkpoint, tmp_path):
    # ONNX Runtime runs ConvTranspose slowly; the export uses the equal conv + DepthToSpace form
    # and is still checked against the original torch model (parity above).
    import onnx
    ops = {n.op_type for n in onnx.load(str(export_enhancer(checkpoint, tmp_path / "e.onnx"))).graph.node}
    overlap = load_enhancer(checkpoint)[0].cfg.overlap_head
    assert ("ConvTranspose" in ops) != overlap and ("DepthToSpace" in ops) == overlap


def test_the_export_command_recognises_enhancer_checkpoints(checkpoint, tmp_path, capsys):
    assert main(["export", str(checkpoint), "--out", str(tmp_path / "cli")]) == 0
    assert (tmp_path / "cli.onnx").is_file()
    assert "cli.onnx" in capsys.readouterr().out


def test_a_tracker_checkpoint_is_not_an_enhancer(tmp_path):
    path = tmp_path / "t.pt"
    torch.save({"model": {}, "net_config": {}}, path)
    with pytest.raises(ValueError, match="not an SLKD enhancer checkpoint"):
        load_enhancer(path)
