"""ONNX export smoke test: template and search branches of a student and the teacher export at
opset 17 and ONNX Runtime reproduces PyTorch."""
from __future__ import annotations

import warnings

import numpy as np
import onnx  # the export's dependency (requirements/train.txt): a broken install must fail here
import onnxruntime as ort  # the runtime's hard dependency: never skipped
import pytest
import torch

from mlkd_tracker.train.nets import (SearchBranch, TemplateBranch, build_tracker, get_preset,
                               recalibrate_batchnorm)


def _session(path) -> "ort.InferenceSession":
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("name", ["student_shuffle", "teacher"])
def test_exported_branches_match_torch(name, tmp_path):
    torch.set_num_threads(1)
    cfg = get_preset(name)
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    z = torch.rand(3, 3, cfg.template_size, cfg.template_size, generator=g) * 255
    x = torch.rand(3, 3, cfg.search_size, cfg.search_size, generator=g) * 255
    # trained-like BN statistics, so parity also covers the BN arithmetic ORT folds into convs
    model = recalibrate_batchnorm(build_tracker(cfg), [(z[:2], x[:2])])
    template, search = TemplateBranch(model).eval(), SearchBranch(model).eval()
    z, x = z[2:], x[2:]
    with torch.no_grad():
        zf = template(z)
        cls, box = search(x, zf)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(template, (z,), tmp_path / "t.onnx", opset_version=17, dynamo=False,
                          input_names=["z"], output_names=["zf"])
        torch.onnx.export(search, (x, zf), tmp_path / "s.onnx", opset_version=17, dynamo=False,
                          input_names=["x", "zf"], output_names=["cls", "box"])
    proto = onnx.load(str(tmp_path / "s.onnx"))
    onnx.checker.check_model(proto)
    assert proto.opset_import[0].version == 17
    assert [o.name for o in proto.graph.output] == ["cls", "box"]

    zf_ort = _session(tmp_path / "t.onnx").run(None, {"z": z.numpy()})[0]
    np.testing.assert_allclose(zf_ort, zf.numpy(), rtol=1e-4, atol=1e-4)
    cls_ort, box_ort = _session(tmp_path / "s.onnx").run(None, {"x": x.numpy(), "zf": zf_ort})
    assert cls_ort.shape == (1, 1, 13, 13) and box_ort.shape == (1, 4, 13, 13)
    np.testing.assert_allclose(cls_ort, cls.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(box_ort, box.numpy(), rtol=1e-4, atol=1e-4)
