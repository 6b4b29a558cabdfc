"""The paired image bootstrap of an AP difference: it re-accumulates pycocotools' own per-image
matching, so every resample's AP equals a full COCO evaluation of the resampled images."""

import numpy as np
import pytest

pytest.importorskip("pycocotools")

from mlkd_tracker.eval.detection_bootstrap import _ap, _per_image, paired_ap_difference  # noqa: E402
from mlkd_tracker.eval.detection_metrics import coco_scores, matched_evaluator  # noqa: E402

CATEGORIES = [{"id": 0, "name": "car"}, {"id": 1, "name": "truck"}]


def ground_truth(rng, n_images: int = 24) -> dict:
    gt = {"images": [], "annotations": [], "categories": CATEGORIES}
    for i in range(n_images):
        gt["images"].append({"id": i, "file_name": f"{i}.jpg", "width": 640, "height": 480})
        for _ in range(rng.integers(1, 5)):
            x, y, w, h = rng.uniform(0, 500), rng.uniform(0, 400), rng.uniform(6, 90), rng.uniform(6, 90)
            gt["annotations"].append({"id": len(gt["annotations"]) + 1, "image_id": i,
                                      "category_id": int(rng.integers(2)), "bbox": [x, y, w, h],
                                      "area": w * h, "iscrowd": 0})
    return gt


def detections(rng, gt: dict, noise_px: float) -> list[dict]:
    """One noisy box per object (some missed) with a random score."""
    out = []
    for a in gt["annotations"]:
        if rng.random() < 0.85:
            box = np.asarray(a["bbox"]) + rng.normal(0, noise_px, 4)
            box[2:] = np.abs(box[2:]) + 1
            out.append({"image_id": a["image_id"], "category_id": a["category_id"],
                        "bbox": [float(v) for v in box], "score": float(rng.random())})
    return out


@pytest.fixture
def split():
    rng = np.random.default_rng(3)
    gt = ground_truth(rng)
    return gt, detections(rng, gt, 2.0), detections(rng, gt, 7.0)


def test_a_resample_scores_like_a_full_evaluation_of_the_duplicated_images(split):
    gt, good, _ = split
    evaluator = matched_evaluator(gt, good)
    cells, ids = _per_image(evaluator)
    order = np.random.default_rng(0).integers(0, len(ids), len(ids))
    assert len(set(order.tolist())) < len(order)  # duplicates are the point of the check
    copy = {"images": [], "annotations": [], "categories": CATEGORIES}
    results = []
    for new_id, i in enumerate(order):
        copy["images"].append({**gt["images"][i], "id": new_id})
        copy["annotations"] += [{**a, "id": len(copy["annotations"]) + 1 + k, "image_id": new_id}
                                for k, a in enumerate(a for a in gt["annotations"] if a["image_id"] == i)]
        results += [{**r, "image_id": new_id} for r in good if r["image_id"] == i]
    assert _ap(evaluator, order, cells, ids) == pytest.approx(coco_scores(copy, results).stats["AP"])
    everything = np.arange(len(ids))
    assert _ap(evaluator, everything, cells, ids) == pytest.approx(coco_scores(gt, good).stats["AP"])


def test_the_difference_is_b_minus_a_and_a_clear_gap_excludes_zero(split):
    gt, good, poor = split
    d = paired_ap_difference(gt, good, poor, resamples=200)
    assert d.delta == pytest.approx(coco_scores(gt, poor).stats["AP"] - coco_scores(gt, good).stats["AP"])
    assert d.low <= d.delta <= d.high and d.high < 0 and d.excludes_zero
    assert (d.n_images, d.resamples, d.confidence) == (24, 200, 0.95)
    assert paired_ap_difference(gt, good, poor, resamples=200) == d  # seeded


def test_the_same_detector_twice_differs_by_exactly_zero(split):
    gt, good, _ = split
    d = paired_ap_difference(gt, good, good, resamples=50)
    assert (d.delta, d.low, d.high) == (0.0, 0.0, 0.0) and not d.excludes_zero


def test_a_wider_confidence_gives_a_wider_interval(split):
    gt, good, poor = split
    narrow = paired_ap_difference(gt, good, poor, confidence=0.5, resamples=200)
    wide = paired_ap_difference(gt, good, poor, confidence=0.99, resamples=200)
    assert wide.low <= narrow.low and narrow.high <= wide.high


@pytest.mark.parametrize("change, message", [
    (dict(confidence=1.0), "confidence"),
    (dict(results_a=[]), "at least one detection"),
    (dict(gt={"images": [{"id": 0}], "annotations": [{}], "categories": []}), ">= 2 images"),
])
def test_bad_input_is_a_clear_error(split, change, message):
    gt, good, poor = split
    args = dict(gt=gt, results_a=good, results_b=poor, resamples=10) | change
    with pytest.raises(ValueError, match=message):
        paired_ap_difference(**args)
