"""ONNX Runtime engine for exported Siamese trackers: two graphs, checked against their metadata.

An export is a pair of files sharing a stem: ``<stem>.template.onnx`` (run once per init) and
``<stem>.search.onnx`` (run per frame). Their metadata says what they are; a file that does not
fit (wrong kind, format version, sizes, or a template/search pair from different exports) is
refused with the reason, never run.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from mlkd_tracker.runtime.onnx_session import (ModelError, open_session, read_metadata,
                                              verify_checksum)
from mlkd_tracker.runtime.siamese_geometry import SiameseGeometry

__all__ = ["ModelError", "OnnxSiameseEngine", "model_paths", "FORMAT_VERSION", "KIND_TEMPLATE",
           "KIND_SEARCH"]

FORMAT_VERSION = 1
KIND_TEMPLATE = "mlkd_tracker/siamese-template"
KIND_SEARCH = "mlkd_tracker/siamese-search"


def model_paths(model_path: str | os.PathLike) -> tuple[Path, Path]:
    """Both files of an export from either file's path or their common stem."""
    p = Path(model_path)
    name = p.name
    for suffix in (".template.onnx", ".search.onnx"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    stem = p.with_name(name)
    paths = (stem.with_name(name + ".template.onnx"), stem.with_name(name + ".search.onnx"))
    missing = [str(q) for q in paths if not q.is_file()]
    if missing:
        raise ModelError(f"model '{model_path}': missing {', '.join(missing)} (a Siamese export is "
                         "a .template.onnx and a .search.onnx file with the same stem)")
    return paths


class OnnxSiameseEngine:
    """Runs the two graphs; inputs are raw BGR crops, (T, T, 3) uint8 or float."""

    def __init__(self, model_path: str | os.PathLike, threads: int | None = None,
                 providers: str | tuple[str, ...] | None = None) -> None:
        t_path, s_path = model_paths(model_path)
        for p in (t_path, s_path):
            verify_checksum(p)
        self._t = open_session(t_path, threads, providers)
        self._s = open_session(s_path, threads, providers)
        self.providers = tuple(self._s.get_providers())
        t_meta = read_metadata(self._t, t_path, KIND_TEMPLATE, FORMAT_VERSION)
        self.meta = read_metadata(self._s, s_path, KIND_SEARCH, FORMAT_VERSION)
        if t_meta.get("export_id") != self.meta.get("export_id"):
            raise ModelError(f"{t_path.name} and {s_path.name} come from different exports")
        self.geometry = SiameseGeometry(int(self.meta["template_size"]),
                                        int(self.meta["search_size"]), int(self.meta["stride"]))
        self.name = self.meta.get("name", t_path.name.split(".")[0])
        self.postprocess = json.loads(self.meta.get("postprocess", "{}"))
        self._check_shapes(t_path, s_path)
        self._t_input = self._t.get_inputs()[0].name
        self._s_inputs = [i.name for i in self._s.get_inputs()]

    def _check_shapes(self, t_path: Path, s_path: Path) -> None:
        g = self.geometry
        shape = self._t.get_inputs()[0].shape
        if list(shape[1:]) != [3, g.template_size, g.template_size]:
            raise ModelError(f"{t_path}: input shape {shape} does not match the metadata's "
                             f"template size {g.template_size}")
        shape = self._s.get_inputs()[0].shape
        if list(shape[1:]) != [3, g.search_size, g.search_size]:
            raise ModelError(f"{s_path}: input shape {shape} does not match the metadata's "
                             f"search size {g.search_size}")

    @staticmethod
    def _blob(crop: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(crop.transpose(2, 0, 1)[None], dtype=np.float32)

    def template(self, crop: np.ndarray) -> np.ndarray:
        return self._t.run(None, {self._t_input: self._blob(crop)})[0]

    def search(self, crop: np.ndarray, zf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        cls, box = self._s.run(None, {self._s_inputs[0]: self._blob(crop), self._s_inputs[1]: zf})
        return cls[0, 0], box[0]
