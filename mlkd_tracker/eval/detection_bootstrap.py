"""How sure is a difference in COCO AP between two detectors on the same test images?

AP is not a mean of per-image scores: it pools every detection of the split into one ranked
precision-recall curve, so the per-sequence bootstrap of ``paired_difference`` does not apply.
The paired bootstrap here resamples *images* with replacement, keeps each image's ground truth
and both detectors' detections together, and recomputes both APs on every resample; the
percentile interval of their difference says whether the split can tell the two apart. On a
test split of 80 images a difference of one AP point can well be which images were drawn.

pycocotools is the reference for AP, and re-running its per-image matching for every resample
would cost minutes per pair. The matching of an image does not depend on the other images,
so each detector is matched once (``COCOeval.evaluate``) and every resample only re-accumulates
the matched images in the drawn order, duplicates included. That relies on the layout of
``COCOeval.evalImgs`` (category-major, then area range, then image; unchanged in pycocotools
since 2015), which a test checks against a full re-evaluation of a duplicated data set.
"""
from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from mlkd_tracker.eval.detection_metrics import matched_evaluator

__all__ = ["ApDifference", "paired_ap_difference"]


@dataclass(frozen=True)
class ApDifference:
    """AP(b) − AP(a) on the whole split and its ``confidence`` percentile interval."""

    delta: float
    low: float
    high: float
    n_images: int
    resamples: int
    confidence: float

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0


def _ap(evaluator, order: np.ndarray, per_image: np.ndarray, image_ids: list[int]) -> float:
    """AP (IoU .50:.95, all areas, 100 detections) over the images ``order`` indexes; sets the
    evaluator's image list to them, so it is only good for further resamples afterwards."""
    evaluator.evalImgs = list(per_image[:, :, order].reshape(-1))
    evaluator.params.imgIds = evaluator._paramsEval.imgIds = [image_ids[i] for i in order]
    with contextlib.redirect_stdout(io.StringIO()):
        evaluator.accumulate()
    p = evaluator.eval["precision"][:, :, :, 0, -1]  # area "all", 100 detections
    return float(p[p > -1].mean()) if (p > -1).any() else 0.0


def _per_image(evaluator) -> tuple[np.ndarray, list[int]]:
    """The matched images as a (category, area range, image) grid, ``evalImgs``' layout; and
    the evaluator narrowed to what AP needs (all areas, 100 detections), which makes each
    resample's ``accumulate`` about ten times cheaper than the full one."""
    layout = evaluator._paramsEval  # what evalImgs was built with
    image_ids = list(layout.imgIds)
    cells = np.empty(len(evaluator.evalImgs), dtype=object)
    cells[:] = evaluator.evalImgs
    p = evaluator.params
    p.areaRng, p.areaRngLbl, p.maxDets = [layout.areaRng[0]], ["all"], [max(layout.maxDets)]
    return cells.reshape(len(layout.catIds), len(layout.areaRng), len(image_ids)), image_ids


def paired_ap_difference(gt: dict, results_a: list[dict], results_b: list[dict],
                         confidence: float = 0.95, resamples: int = 1000,
                         seed: int = 0, progress: bool = False) -> ApDifference:
    """AP of ``results_b`` minus AP of ``results_a`` (COCO result lists on the same COCO ground
    truth ``gt``), with a paired bootstrap interval over the images. Seeded: reproducible."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), not {confidence}")
    if len(gt.get("images", [])) < 2 or not gt.get("annotations"):
        raise ValueError("a bootstrap over images needs >= 2 images and some ground truth")
    if not results_a or not results_b:
        raise ValueError("both detectors need at least one detection")
    ev_a, ev_b = matched_evaluator(gt, results_a), matched_evaluator(gt, results_b)
    (cells_a, ids), (cells_b, ids_b) = _per_image(ev_a), _per_image(ev_b)
    if ids != ids_b:
        raise ValueError("the two evaluations cover different images")
    everything = np.arange(len(ids))
    delta = _ap(ev_b, everything, cells_b, ids) - _ap(ev_a, everything, cells_a, ids)
    rng = np.random.default_rng(seed)
    diffs = np.empty(resamples)
    for k in tqdm(range(resamples), desc="ΔAP bootstrap", unit="resample", disable=not progress):
        order = rng.integers(0, len(ids), len(ids))
        diffs[k] = _ap(ev_b, order, cells_b, ids) - _ap(ev_a, order, cells_a, ids)
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(diffs, [tail, 100 - tail])
    return ApDifference(float(delta), float(low), float(high), len(ids), resamples, confidence)
