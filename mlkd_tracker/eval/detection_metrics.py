"""COCO-style detection scores of an ONNX detector on a YOLO-layout split: AP (IoU .50:.95), AP50,
AP75 and AP by object size (small < 32², medium < 96², large, in source-image pixels).

pycocotools is the reference implementation of these numbers (the RDR-KD paper's Table II and the
VisDrone toolkit report them); this module only turns YOLO label files and the runtime's
detections into its format. The detections come from :class:`~mlkd_tracker.runtime.detector.
OnnxDetector`, i.e. the exact pre- and post-processing the drone runs, at the usual evaluation
settings (confidence 0.001, NMS IoU 0.7, up to 300 boxes; COCO then scores the best 100).
"""
from __future__ import annotations

import contextlib
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import yaml

__all__ = ["DetectionScores", "YoloSplit", "coco_scores", "detect_split", "matched_evaluator",
           "read_split"]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
STAT_NAMES = ("AP", "AP50", "AP75", "AP_S", "AP_M", "AP_L")  # COCOeval.stats[0:6]
SIZE_LIMITS = (32 ** 2, 96 ** 2)  # COCO's area ranges, px²


@dataclass(frozen=True)
class YoloSplit:
    """One split of a YOLO data set: images, their label files and the class names."""

    images: tuple[Path, ...]
    labels: tuple[Path, ...]  # the label file of each image (may be missing: no objects)
    names: tuple[str, ...]


def read_split(data_yaml: str | Path, split: str) -> YoloSplit:
    """The ``split`` (train, val or test) of a ``data.yaml``, with labels at Ultralytics' place
    (``images/`` -> ``labels/`` in the path, ``.txt``). A missing ``path`` means the yaml's
    folder and a relative one is taken from there, so a data set can be moved as a whole."""
    data_yaml = Path(data_yaml)
    if not data_yaml.is_file():
        raise FileNotFoundError(f"data set '{data_yaml}' does not exist")
    spec = yaml.safe_load(data_yaml.read_text()) or {}
    if split not in spec:
        raise ValueError(f"{data_yaml} has no '{split}' split (it has "
                         f"{sorted(k for k in ('train', 'val', 'test') if k in spec)})")
    root = Path(spec.get("path") or data_yaml.parent)
    if not root.is_absolute():
        root = data_yaml.parent / root
    folder = root / spec[split]
    images = tuple(sorted(p for p in folder.glob("*") if p.suffix.lower() in IMAGE_SUFFIXES))
    if not images:
        raise ValueError(f"{data_yaml}: split '{split}' ({folder}) has no images")
    names = spec.get("names")
    if isinstance(names, dict):
        names = [names[i] for i in sorted(names)]
    labels = tuple(_label_path(p) for p in images)
    return YoloSplit(images, labels, tuple(str(n) for n in names))


def _label_path(image: Path) -> Path:
    parts = list(image.parts)
    i = len(parts) - 1 - parts[::-1].index("images")  # Ultralytics replaces the last 'images'
    return Path(*parts[:i], "labels", *parts[i + 1:]).with_suffix(".txt")


def _read_labels(path: Path, width: int, height: int, n_classes: int) -> np.ndarray:
    """(N, 5) class, x, y, w, h in pixels; a missing file means no objects."""
    if not path.is_file():
        return np.zeros((0, 5))
    rows = np.loadtxt(path, ndmin=2) if path.stat().st_size else np.zeros((0, 5))
    if rows.shape[1] != 5 or not np.isfinite(rows).all():
        raise ValueError(f"{path}: expected 'class cx cy w h' rows of numbers")
    if ((rows[:, 0] < 0) | (rows[:, 0] >= n_classes) | (rows[:, 0] % 1 != 0)).any():
        raise ValueError(f"{path}: class ids must be integers in 0..{n_classes - 1}")
    cx, cy, w, h = rows[:, 1] * width, rows[:, 2] * height, rows[:, 3] * width, rows[:, 4] * height
    return np.stack([rows[:, 0], cx - w / 2, cy - h / 2, w, h], axis=1)


@dataclass
class DetectionScores:
    """COCO scores in [0, 1] (None where the split has no object of that size), the number of
    ground-truth objects per size, per-class AP and the mean precision-recall curve at IoU 0.5."""

    stats: dict[str, float | None]
    objects: dict[str, int]
    per_class_ap: dict[str, float | None] = field(default_factory=dict)
    pr_recall: list[float] = field(default_factory=list)
    pr_precision: list[float] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"stats": self.stats, "objects": self.objects, "per_class_ap": self.per_class_ap,
                "pr_recall": self.pr_recall, "pr_precision": self.pr_precision}


def detect_split(detector, split: YoloSplit, conf: float = 0.001, iou: float = 0.7,
                 max_det: int = 300, progress: bool = True) -> tuple[dict, list[dict]]:
    """Runs ``detector`` (``detect(image_bgr, conf, iou, max_det)``) on every image; returns the
    COCO ground truth and the detections in COCO result format."""
    from tqdm import tqdm
    gt = {"images": [], "annotations": [],
          "categories": [{"id": i, "name": n} for i, n in enumerate(split.names)]}
    results: list[dict] = []
    for image_id, (image_path, label_path) in enumerate(
            tqdm(list(zip(split.images, split.labels)), desc="detect", disable=not progress)):
        image = cv2.imread(str(image_path), cv2.IMREAD_COLOR)
        if image is None:
            raise ValueError(f"{image_path}: not a readable image")
        h, w = image.shape[:2]
        gt["images"].append({"id": image_id, "file_name": image_path.name, "width": w, "height": h})
        for cls, x, y, bw, bh in _read_labels(label_path, w, h, len(split.names)):
            gt["annotations"].append({"id": len(gt["annotations"]) + 1, "image_id": image_id,
                                      "category_id": int(cls), "bbox": [x, y, bw, bh],
                                      "area": bw * bh, "iscrowd": 0})
        for d in detector.detect(image, conf=conf, iou=iou, max_det=max_det):
            results.append({"image_id": image_id, "category_id": d.class_id,
                            "bbox": [float(v) for v in d.box], "score": d.score})
    return gt, results


def _size_counts(annotations: Iterable[dict]) -> dict[str, int]:
    areas = np.array([a["area"] for a in annotations], dtype=float)
    small, medium = SIZE_LIMITS
    return {"all": int(areas.size), "small": int((areas < small).sum()),
            "medium": int(((areas >= small) & (areas < medium)).sum()),
            "large": int((areas >= medium).sum())}


def matched_evaluator(gt: dict, results: list[dict]):
    """A bbox ``COCOeval`` of ``results`` (non-empty) against ``gt`` after its per-image
    matching (``evaluate``), ready to ``accumulate``."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress
        coco_gt = COCO()
        coco_gt.dataset = gt
        coco_gt.createIndex()
        evaluator = COCOeval(coco_gt, coco_gt.loadRes(results), "bbox")
        evaluator.evaluate()
    return evaluator


def coco_scores(gt: dict, results: list[dict]) -> DetectionScores:
    """COCOeval (bbox) of ``results`` against ``gt``; no detections at all scores 0."""
    objects = _size_counts(gt["annotations"])
    present = {"AP": objects["all"], "AP50": objects["all"], "AP75": objects["all"],
               "AP_S": objects["small"], "AP_M": objects["medium"], "AP_L": objects["large"]}
    names = {c["id"]: c["name"] for c in gt["categories"]}
    if not results or not objects["all"]:
        stats = {k: (0.0 if present[k] else None) for k in STAT_NAMES}
        return DetectionScores(stats, objects, {n: (0.0 if objects["all"] else None)
                                                for n in names.values()})
    evaluator = matched_evaluator(gt, results)
    with contextlib.redirect_stdout(io.StringIO()):
        evaluator.accumulate()
        evaluator.summarize()
    stats = {k: (float(v) if v >= 0 and present[k] else None)
             for k, v in zip(STAT_NAMES, evaluator.stats[:6])}
    # precision[T, R, K, A, M]: IoU thresholds x 101 recall points x classes x areas x maxDets
    precision = evaluator.eval["precision"]
    per_class = {}
    for k, cat in enumerate(evaluator.params.catIds):
        p = precision[:, :, k, 0, -1]
        per_class[names[cat]] = float(p[p > -1].mean()) if (p > -1).any() else None
    at50 = precision[0, :, :, 0, -1]
    mean50 = np.array([row[row > -1].mean() if (row > -1).any() else 0.0 for row in at50])
    return DetectionScores(stats, objects, per_class, [float(r) for r in evaluator.params.recThrs],
                           [float(p) for p in mean50])
