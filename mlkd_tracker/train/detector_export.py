"""`mlkd-tracker export` for detectors: an Ultralytics checkpoint as the ONNX file the drone runs.

Ultralytics' own exporter writes the graph and its metadata (task, class names, imgsz, stride);
this adds the project's kind, a description of the training data and the source checkpoint, so
``runtime/detector.py`` and the model card can tell where a shipped detector came from. The
export has dynamic height and width: detector_node runs it at the training size by default and
at any multiple of the stride with ``input_size`` (e.g. 640 for small objects), from one file.
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import onnx

from mlkd_tracker.runtime.detector import KIND_DETECTOR

__all__ = ["export_detector"]


def export_detector(checkpoint: str | Path, out_path: str | Path, imgsz: int | None = None,
                    training_data: str | None = None) -> Path:
    """Exports ``checkpoint`` to ``out_path`` (dynamic axes, opset chosen by Ultralytics) and
    checks that the runtime loads it; ``imgsz`` defaults to the training size."""
    from mlkd_tracker.train.ultralytics_env import import_ultralytics
    checkpoint, out_path = Path(checkpoint), Path(out_path)
    if not checkpoint.is_file():
        raise FileNotFoundError(f"detector checkpoint '{checkpoint}' does not exist")
    yolo = import_ultralytics().YOLO
    with tempfile.TemporaryDirectory() as tmp:  # Ultralytics writes beside its input
        work = Path(tmp) / checkpoint.name
        shutil.copy(checkpoint, work)
        model = yolo(str(work))
        size = int(imgsz or model.ckpt.get("train_args", {}).get("imgsz", 640))
        exported = Path(model.export(format="onnx", imgsz=size, dynamic=True, simplify=True,
                                     device="cpu", verbose=False))
        graph = onnx.load(str(exported))
        meta = {e.key: e.value for e in graph.metadata_props}
        meta.update(kind=KIND_DETECTOR, source_checkpoint=checkpoint.name,
                    training_data=training_data or "unspecified")
        del graph.metadata_props[:]
        for key, value in meta.items():
            entry = graph.metadata_props.add()
            entry.key, entry.value = key, str(value)
        out_path.parent.mkdir(parents=True, exist_ok=True)
        onnx.save(graph, str(out_path))
    from mlkd_tracker.runtime.detector import OnnxDetector
    OnnxDetector(out_path, threads=1)  # refuses anything the runtime could not run
    return out_path
