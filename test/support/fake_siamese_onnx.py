"""A hand-built Siamese ONNX export (no torch, no training): the template graph returns the
crop's mean colour, the search graph a fixed response. Lets runtime and node tests exercise the
ONNX path with a model whose behaviour is known exactly."""
from __future__ import annotations

import json

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from mlkd_tracker.runtime.onnx_siamese import FORMAT_VERSION, KIND_SEARCH, KIND_TEMPLATE
from mlkd_tracker.runtime.siamese_geometry import SiameseGeometry

G = SiameseGeometry(64, 160, 8)
S = G.score_size


def response(peak: tuple[int, int], half_w: float, half_h: float):
    logits = np.full((S, S), -8.0)
    logits[peak] = 8.0
    ltrb = np.empty((4, S, S))
    ltrb[0] = ltrb[2] = half_w
    ltrb[1] = ltrb[3] = half_h
    return logits, ltrb


def _save(graph, path, meta: dict):
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for k, v in meta.items():
        p = model.metadata_props.add()
        p.key, p.value = k, str(v)
    onnx.save(model, str(path))


def fake_export(stem, peak=(6, 6), half=(10.0, 10.0), meta_overrides=None, t_size=64):
    """Write ``<stem>.template.onnx`` and ``<stem>.search.onnx``; returns ``stem``."""
    logits, ltrb = response(peak, *half)
    t_graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["template"], ["zf"], axes=[2, 3], keepdims=1)], "t",
        [helper.make_tensor_value_info("template", TensorProto.FLOAT, [1, 3, t_size, t_size])],
        [helper.make_tensor_value_info("zf", TensorProto.FLOAT, [1, 3, 1, 1])])
    s_graph = helper.make_graph(
        [helper.make_node("Identity", ["cls_c"], ["cls"]),
         helper.make_node("Identity", ["box_c"], ["box"])],
        "s",
        [helper.make_tensor_value_info("search", TensorProto.FLOAT, [1, 3, 160, 160]),
         helper.make_tensor_value_info("zf", TensorProto.FLOAT, [1, 3, 1, 1])],
        [helper.make_tensor_value_info("cls", TensorProto.FLOAT, [1, 1, S, S]),
         helper.make_tensor_value_info("box", TensorProto.FLOAT, [1, 4, S, S])],
        initializer=[numpy_helper.from_array(logits[None, None].astype(np.float32), "cls_c"),
                     numpy_helper.from_array(ltrb[None].astype(np.float32), "box_c")])
    meta = {"format_version": FORMAT_VERSION, "template_size": 64, "search_size": 160,
            "stride": 8, "name": "fake", "export_id": "abc",
            "postprocess": json.dumps({"window_influence": 0.4})}
    meta.update(meta_overrides or {})
    _save(t_graph, f"{stem}.template.onnx", {**meta, "kind": KIND_TEMPLATE})
    _save(s_graph, f"{stem}.search.onnx", {**meta, "kind": KIND_SEARCH})
    return stem
