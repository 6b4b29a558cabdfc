"""ONNX Runtime engine for Ultralytics YOLOv8-style detection exports: a BGR frame in, boxes in
source-image pixels out.

What an export is (Ultralytics 8.4, ``model.export(format="onnx")`` without ``nms``): one graph,
input ``images`` (1, 3, H, W) RGB in 0..1, output (1, 4 + nc, N) whose rows are box centre x,
centre y, width, height in input pixels, then the nc class scores (already through a sigmoid).
The exporter writes ``task``, ``names``, ``imgsz``, ``stride``, ``end2end`` and ``args`` into the
ONNX ``metadata_props`` as Python literals (``str(value)``); this engine reads them and refuses a
file that is not such a detection export, with the reason.

Pre- and post-processing are Ultralytics' own, step for step, so the boxes equal
``YOLO(export).predict(...)``'s: the letterbox (``LetterBox``: scale to fit keeping the aspect
ratio, sides rounded with Python's ``round``, centred grey padding of 114; for exports with
dynamic height/width the padding only reaches a multiple of the stride, as Ultralytics' ``rect``
prediction does), BGR->RGB and /255 in float32, the best class per anchor with ``score > conf``,
at most 30000 candidates, class-aware NMS (here ``cv2.dnn.NMSBoxesBatched``), the first
``max_det`` boxes, and the inverse of the letterbox with per-axis gains, clipped to the frame.
One deliberate difference: a box that the clipping leaves empty (it lay entirely in the padding)
is dropped rather than reported with zero width or height.
"""
from __future__ import annotations

import ast
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from mlkd_tracker.runtime.onnx_session import ModelError, open_session, verify_checksum
from mlkd_tracker.runtime.tracker_base import BoxXYWH

KIND_DETECTOR = "mlkd_tracker/detector"  # accepted when present; plain Ultralytics exports lack it
PAD_VALUE = 114  # Ultralytics' letterbox grey
MAX_NMS = 30000  # Ultralytics' cap on the candidates entering NMS (highest scores first)

__all__ = ["Detection", "KIND_DETECTOR", "LetterboxGeometry", "ModelError", "OnnxDetector",
           "letterbox"]


@dataclass(frozen=True)
class Detection:
    """One detected object: ``box`` is x, y, w, h in source-image pixels, inside the frame."""

    box: BoxXYWH
    score: float
    class_id: int
    class_name: str


@dataclass(frozen=True)
class LetterboxGeometry:
    """Where a source frame sits in the network input: scaled by ``gain_x``/``gain_y`` (per axis,
    after rounding the resized sides) and shifted by ``left``/``top`` pixels of padding."""

    source_shape: tuple[int, int]  # (h, w) of the frame
    input_shape: tuple[int, int]  # (h, w) of the padded network input
    gain_x: float
    gain_y: float
    left: int
    top: int

    def to_source(self, xyxy: np.ndarray) -> np.ndarray:
        """Boxes (N, 4) x1, y1, x2, y2 in input pixels -> source pixels, clipped to the frame
        (Ultralytics' ``scale_boxes``)."""
        out = np.array(xyxy, dtype=np.float64, copy=True).reshape(-1, 4)
        out[:, [0, 2]] = (out[:, [0, 2]] - self.left) / self.gain_x
        out[:, [1, 3]] = (out[:, [1, 3]] - self.top) / self.gain_y
        h, w = self.source_shape
        out[:, [0, 2]] = out[:, [0, 2]].clip(0, w)
        out[:, [1, 3]] = out[:, [1, 3]].clip(0, h)
        return out

    def to_input(self, xyxy: np.ndarray) -> np.ndarray:
        """Source pixels -> input pixels (the letterbox's forward map, for tests and drawing)."""
        out = np.array(xyxy, dtype=np.float64, copy=True).reshape(-1, 4)
        out[:, [0, 2]] = out[:, [0, 2]] * self.gain_x + self.left
        out[:, [1, 3]] = out[:, [1, 3]] * self.gain_y + self.top
        return out


def letterbox(image: np.ndarray, new_shape: tuple[int, int], stride: int = 32,
              auto: bool = False) -> tuple[np.ndarray, LetterboxGeometry]:
    """Ultralytics' ``LetterBox(new_shape, auto, stride=stride)`` (centred, scale-up allowed,
    bilinear, padding 114): the padded image and where the frame sits in it."""
    h0, w0 = image.shape[:2]
    r = min(new_shape[0] / h0, new_shape[1] / w0)
    new_w, new_h = max(round(w0 * r), 1), max(round(h0 * r), 1)  # Python round, as Ultralytics
    dw, dh = new_shape[1] - new_w, new_shape[0] - new_h
    if auto:  # minimum rectangle: pad only to a multiple of the stride
        dw, dh = dw % stride, dh % stride
    dw, dh = dw / 2, dh / 2
    top, bottom = round(dh - 0.1), round(dh + 0.1)
    left, right = round(dw - 0.1), round(dw + 0.1)
    if (h0, w0) != (new_h, new_w):
        image = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    padded = cv2.copyMakeBorder(image, top, bottom, left, right, cv2.BORDER_CONSTANT,
                                value=(PAD_VALUE,) * 3)
    geometry = LetterboxGeometry((h0, w0), padded.shape[:2], new_w / w0, new_h / h0, left, top)
    return padded, geometry


def _literal(meta: dict[str, str], key: str, path: Path):
    try:
        return ast.literal_eval(meta[key])
    except KeyError as exc:
        raise ModelError(f"{path}: metadata has no '{key}'; export the model with Ultralytics "
                         "(model.export(format='onnx'))") from exc
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as exc:
        raise ModelError(f"{path}: metadata '{key}' = {meta[key]!r} is not readable") from exc


def _read_names(meta: dict[str, str], path: Path) -> tuple[str, ...]:
    names = _literal(meta, "names", path)
    if isinstance(names, (list, tuple)):
        names = dict(enumerate(names))
    if not isinstance(names, dict) or not names \
            or sorted(names) != list(range(len(names))) \
            or not all(isinstance(v, str) and v for v in names.values()):
        raise ModelError(f"{path}: metadata 'names' = {meta['names']!r} is not a class list "
                         "{0: 'name', 1: ...}")
    return tuple(names[i] for i in range(len(names)))


def _read_imgsz(meta: dict[str, str], path: Path) -> tuple[int, int]:
    imgsz = _literal(meta, "imgsz", path)
    if isinstance(imgsz, int):
        imgsz = (imgsz, imgsz)
    if not (isinstance(imgsz, (list, tuple)) and len(imgsz) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in imgsz)):
        raise ModelError(f"{path}: metadata 'imgsz' = {meta['imgsz']!r} is not [height, width]")
    return int(imgsz[0]), int(imgsz[1])


def _read_stride(meta: dict[str, str], path: Path) -> int:
    try:
        stride = int(meta["stride"])
    except (KeyError, ValueError) as exc:
        raise ModelError(f"{path}: metadata has no valid 'stride' "
                         f"({meta.get('stride')!r})") from exc
    if stride < 1:
        raise ModelError(f"{path}: metadata 'stride' = {stride} is not positive")
    return stride


def _check_detection_export(meta: dict[str, str], path: Path) -> None:
    kind = meta.get("kind")
    if kind is not None and kind != KIND_DETECTOR:
        raise ModelError(f"{path}: metadata kind is {kind!r}, expected an Ultralytics detection "
                         f"export (task 'detect') or kind {KIND_DETECTOR!r}")
    if "task" not in meta:
        raise ModelError(f"{path}: not an Ultralytics export (its metadata has no 'task'); "
                         "export the detector with Ultralytics: model.export(format='onnx')")
    if meta["task"] != "detect":
        raise ModelError(f"{path}: Ultralytics task is {meta['task']!r}, not 'detect'; this "
                         "runtime runs detection exports only")
    args = _literal(meta, "args", path) if "args" in meta else {}
    end2end = str(meta.get("end2end", "False")).strip().lower() == "true"
    if end2end or (isinstance(args, dict) and args.get("nms")):
        raise ModelError(f"{path}: exported end-to-end / with NMS (output (1, N, 6)); this runtime "
                         "reads raw YOLOv8-style outputs (1, 4 + classes, anchors): export a "
                         "YOLOv8-style model with format='onnx', nms=False")
    if "channels" in meta and meta["channels"] != "3":
        raise ModelError(f"{path}: the model takes {meta['channels']} channels, not 3 (BGR frames)")


class OnnxDetector:
    """``detect(image_bgr, ...)`` -> a list of :class:`Detection`, best score first."""

    def __init__(self, model_path: str | os.PathLike, threads: int | None = None,
                 input_size: int | Sequence[int] | None = None,
                 providers: str | Sequence[str] | None = None) -> None:
        path = Path(model_path)
        if not path.is_file():
            raise ModelError(f"detector model '{model_path}' does not exist")
        verify_checksum(path)
        self._session = open_session(path, threads, providers)
        self.providers = tuple(self._session.get_providers())
        self.meta = dict(self._session.get_modelmeta().custom_metadata_map)
        _check_detection_export(self.meta, path)
        self.names = _read_names(self.meta, path)
        self.stride = _read_stride(self.meta, path)
        model_size = _read_imgsz(self.meta, path)
        self.name = self.meta.get("name", path.stem)

        inputs, outputs = self._session.get_inputs(), self._session.get_outputs()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ModelError(f"{path}: {len(inputs)} inputs and {len(outputs)} outputs; a "
                             "detection export has one of each")
        inp, out = inputs[0], outputs[0]
        if len(inp.shape) != 4 or inp.shape[1] != 3:
            raise ModelError(f"{path}: input shape {inp.shape} is not (1, 3, H, W)")
        if inp.type not in ("tensor(float)", "tensor(float16)"):
            raise ModelError(f"{path}: input type {inp.type} is not float")
        self._input = inp.name
        self._dtype = np.float16 if inp.type == "tensor(float16)" else np.float32
        expected_rows = 4 + len(self.names)
        if len(out.shape) != 3 or (isinstance(out.shape[1], int) and out.shape[1] != expected_rows):
            raise ModelError(f"{path}: output shape {out.shape} is not (1, 4 + {len(self.names)} "
                             f"classes = {expected_rows}, anchors)")

        static = isinstance(inp.shape[2], int) and isinstance(inp.shape[3], int)
        self.dynamic = not static
        if static:
            graph_size = (int(inp.shape[2]), int(inp.shape[3]))
            if graph_size != model_size:
                raise ModelError(f"{path}: metadata imgsz {list(model_size)} does not match the "
                                 f"graph's input {list(graph_size)}")
        self.input_size = model_size
        if input_size:  # None or 0: the size the model was exported at
            size = _size_pair(input_size)
            if static and size != model_size:
                raise ValueError(f"input_size {list(size)}: the model has a fixed input of "
                                 f"{list(model_size)}; only an export with dynamic axes "
                                 "(dynamic=True) runs at another size")
            if any(v % self.stride for v in size):
                raise ValueError(f"input_size {list(size)} is not a multiple of the model's "
                                 f"stride {self.stride}")
            self.input_size = size

    # ---- public -------------------------------------------------------------------------------
    @property
    def num_classes(self) -> int:
        return len(self.names)

    def class_ids(self, names: Iterable[str]) -> list[int]:
        """Class ids of ``names``; ValueError naming the unknown ones and the model's classes."""
        names = list(names)
        unknown = [n for n in names if n not in self.names]
        if unknown:
            raise ValueError(f"unknown class name(s) {', '.join(map(repr, unknown))}; this "
                             f"model's classes are {', '.join(self.names)}")
        return sorted({self.names.index(n) for n in names})

    def detect(self, image_bgr: np.ndarray, conf: float = 0.25, iou: float = 0.45,
               max_det: int = 300, classes: Iterable[int] | None = None) -> list[Detection]:
        """Detections in ``image_bgr`` ((H, W, 3) uint8 BGR) with score > ``conf`` after
        class-aware NMS at IoU ``iou``, at most ``max_det``, best first; ``classes`` keeps only
        those class ids (None: all)."""
        _check_image(image_bgr)
        conf, iou, max_det = _check_settings(conf, iou, max_det)
        class_set = None if classes is None else self._check_classes(classes)
        blob, geometry = self.preprocess(image_bgr)
        raw = self._session.run(None, {self._input: blob})[0]
        if raw.ndim != 3 or raw.shape[1] != 4 + self.num_classes:
            raise ModelError(f"model output shape {raw.shape} is not (1, {4 + self.num_classes}, "
                             "anchors)")
        return self.postprocess(raw[0], geometry, conf, iou, max_det, class_set)

    # ---- steps (public for tests) -------------------------------------------------------------
    def preprocess(self, image_bgr: np.ndarray) -> tuple[np.ndarray, LetterboxGeometry]:
        padded, geometry = letterbox(image_bgr, self.input_size, self.stride, auto=self.dynamic)
        # BGR->RGB, HWC->CHW, then /255 in float32 (bit-identical to Ultralytics' preprocess)
        blob = padded[..., ::-1].transpose(2, 0, 1)[None].astype(np.float32)
        blob /= np.float32(255.0)
        return np.ascontiguousarray(blob, dtype=self._dtype), geometry

    def postprocess(self, pred: np.ndarray, geometry: LetterboxGeometry, conf: float, iou: float,
                    max_det: int, classes: set[int] | None = None) -> list[Detection]:
        """``pred`` (4 + nc, N) as the graph returns it -> detections in source pixels."""
        pred = np.asarray(pred, dtype=np.float32)
        scores_all = pred[4:4 + self.num_classes]
        if pred.shape[1] == 0:
            return []
        cls = scores_all.argmax(0)
        score = scores_all[cls, np.arange(pred.shape[1])]
        keep = score > conf
        if classes is not None:
            keep &= np.isin(cls, sorted(classes))
        idx = np.flatnonzero(keep)
        if idx.size == 0:
            return []
        if idx.size > MAX_NMS:
            idx = idx[np.argsort(-score[idx], kind="stable")[:MAX_NMS]]
        cx, cy, w, h = pred[0, idx], pred[1, idx], pred[2, idx], pred[3, idx]
        half_w, half_h = w / np.float32(2), h / np.float32(2)  # float32, as Ultralytics' xywh2xyxy
        xyxy = np.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], 1)
        rects = np.stack([xyxy[:, 0], xyxy[:, 1], xyxy[:, 2] - xyxy[:, 0],
                          xyxy[:, 3] - xyxy[:, 1]], 1).astype(np.float64)
        kept = cv2.dnn.NMSBoxesBatched(rects, score[idx].astype(np.float32),
                                       cls[idx].astype(np.int32), float(conf), float(iou))
        kept = np.asarray(kept, dtype=np.int64).reshape(-1)[:max_det]
        boxes = geometry.to_source(xyxy[kept])
        out = []
        for (x1, y1, x2, y2), i in zip(boxes, kept):
            if x2 <= x1 or y2 <= y1:
                continue  # entirely in the padding: nothing of it is in the frame
            c = int(cls[idx[i]])
            out.append(Detection((float(x1), float(y1), float(x2 - x1), float(y2 - y1)),
                                 float(score[idx[i]]), c, self.names[c]))
        return out

    def _check_classes(self, classes: Iterable[int]) -> set[int]:
        out = set()
        for c in classes:
            if isinstance(c, bool) or not isinstance(c, (int, np.integer)) \
                    or not 0 <= c < self.num_classes:
                raise ValueError(f"class id {c!r} is not one of this model's "
                                 f"0..{self.num_classes - 1} ({', '.join(self.names)})")
            out.add(int(c))
        return out


def _size_pair(size: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        pair = (int(size), int(size))
    else:
        try:
            pair = tuple(int(v) for v in size)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"input_size {size!r} is not a size or (height, width)") from exc
    if len(pair) != 2 or min(pair) < 1:
        raise ValueError(f"input_size {size!r} is not a positive size or (height, width)")
    return pair


def _check_image(image) -> None:
    if not isinstance(image, np.ndarray):
        raise ValueError(f"detector input must be a numpy (H, W, 3) uint8 BGR image, got "
                         f"{type(image).__name__}")
    if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"detector input must be a non-empty (H, W, 3) uint8 BGR image, got "
                         f"shape {image.shape}")
    if image.dtype != np.uint8:
        raise ValueError(f"detector input must be a (H, W, 3) uint8 BGR image, got dtype "
                         f"{image.dtype}")


def _check_settings(conf: float, iou: float, max_det: int) -> tuple[float, float, int]:
    conf, iou = float(conf), float(iou)
    if not (math.isfinite(conf) and 0.0 <= conf <= 1.0):
        raise ValueError(f"conf {conf} is outside [0, 1]")
    if not (math.isfinite(iou) and 0.0 <= iou <= 1.0):
        raise ValueError(f"iou {iou} is outside [0, 1]")
    if isinstance(max_det, bool) or int(max_det) != max_det or max_det < 1:
        raise ValueError(f"max_det {max_det!r} is not a positive integer")
    return conf, iou, int(max_det)
