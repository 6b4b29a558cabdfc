"""COCO detection scores of a detector on a YOLO split: perfect, partial, loose and empty
detectors on a hand-made split give the AP values COCO defines; bad data sets are refused."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from mlkd_tracker.eval.detection_metrics import coco_scores, detect_split, read_split
from mlkd_tracker.runtime.detector import Detection

NAMES = ("person", "car")
# per image: (class, x, y, w, h) in pixels of a 200x100 image
OBJECTS = [
    [(0, 10, 10, 8, 16), (1, 50, 20, 40, 30)],     # small person, medium car (1200 px²)
    [(1, 20, 5, 120, 90)],                         # large car (10800 px²)
    [(0, 150, 60, 6, 12), (1, 100, 40, 20, 10)],   # two small objects
]


def _write_split(root: Path) -> Path:
    for split in ("val", "test"):
        (root / "images" / split).mkdir(parents=True)
        (root / "labels" / split).mkdir(parents=True)
    for i, objs in enumerate(OBJECTS):
        cv2.imwrite(str(root / "images" / "test" / f"{i:03d}.jpg"), np.full((100, 200, 3), i * 40,
                                                                            np.uint8))
        lines = [f"{c} {(x + w / 2) / 200} {(y + h / 2) / 100} {w / 200} {h / 100}"
                 for c, x, y, w, h in objs]
        (root / "labels" / "test" / f"{i:03d}.txt").write_text("\n".join(lines))
    data = root / "data.yaml"
    data.write_text(f"train: images/val\nval: images/val\ntest: images/test\n"
                    "names:\n  0: person\n  1: car\n")
    return data


class FromLabels:
    """A detector that returns each image's objects (keyed by the image's grey level), with a
    chosen transformation: proves the scores, not the network."""

    def __init__(self, keep=lambda i, j: True, shift: float = 0.0, score=lambda i, j: 0.9):
        self.keep, self.shift, self.score = keep, shift, score

    def detect(self, image, conf, iou, max_det):
        i = int(round(image[0, 0, 0] / 40))
        return [Detection((x + self.shift * w, y, w, h), self.score(i, j), c, NAMES[c])
                for j, (c, x, y, w, h) in enumerate(OBJECTS[i]) if self.keep(i, j)]


@pytest.fixture
def split(tmp_path):
    return read_split(_write_split(tmp_path / "set"), "test")


def test_the_split_is_read_with_labels_in_ultralytics_place(split):
    assert split.names == NAMES
    assert [p.name for p in split.images] == ["000.jpg", "001.jpg", "002.jpg"]
    assert all(lbl.parent.name == "test" and lbl.parent.parent.name == "labels"
               for lbl in split.labels)


def test_perfect_detections_score_one_everywhere(split):
    scores = coco_scores(*detect_split(FromLabels(), split, progress=False))
    assert scores.objects == {"all": 5, "small": 3, "medium": 1, "large": 1}
    assert scores.stats == pytest.approx({k: 1.0 for k in scores.stats})
    assert scores.per_class_ap == pytest.approx({"person": 1.0, "car": 1.0})
    assert len(scores.pr_recall) == len(scores.pr_precision) == 101


def test_missing_objects_lower_recall_and_the_size_that_lost_them(split):
    no_large = FromLabels(keep=lambda i, j: i != 1)
    scores = coco_scores(*detect_split(no_large, split, progress=False))
    assert scores.stats["AP_L"] == 0.0
    assert scores.stats["AP_S"] == pytest.approx(1.0) and scores.stats["AP_M"] == pytest.approx(1.0)
    assert 0.3 < scores.stats["AP"] < 1.0


def test_loose_boxes_count_at_iou_half_but_not_at_three_quarters(split):
    # shifted by 20 % of their width: IoU = 0.8 / 1.2 = 0.67
    scores = coco_scores(*detect_split(FromLabels(shift=0.2), split, progress=False))
    assert scores.stats["AP50"] == pytest.approx(1.0)
    assert scores.stats["AP75"] == pytest.approx(0.0)


def test_no_detections_scores_zero_and_absent_sizes_are_none(split, tmp_path):
    scores = coco_scores(*detect_split(FromLabels(keep=lambda i, j: False), split, progress=False))
    assert scores.stats["AP"] == 0.0 and scores.stats["AP_L"] == 0.0
    gt, results = detect_split(FromLabels(keep=lambda i, j: i != 1), split, progress=False)
    gt["annotations"] = [a for a in gt["annotations"] if a["image_id"] != 1]
    assert coco_scores(gt, results).stats["AP_L"] is None  # no large object in the split


def test_bad_data_sets_are_refused_with_the_reason(tmp_path):
    data = _write_split(tmp_path / "set")
    with pytest.raises(ValueError, match="no 'train2' split"):
        read_split(data, "train2")
    with pytest.raises(ValueError, match="has no images"):
        read_split(data, "val")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_split(tmp_path / "none.yaml", "test")
    (tmp_path / "set" / "labels" / "test" / "001.txt").write_text("7 0.5 0.5 0.1 0.1")
    with pytest.raises(ValueError, match="class ids"):
        detect_split(FromLabels(), read_split(data, "test"), progress=False)
    (tmp_path / "set" / "labels" / "test" / "001.txt").write_text("1 0.5 nan 0.1 0.1")
    with pytest.raises(ValueError, match="rows of numbers"):
        detect_split(FromLabels(), read_split(data, "test"), progress=False)
