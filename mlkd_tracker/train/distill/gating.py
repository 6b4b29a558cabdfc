"""Teacher-conditional gating: learn from the teacher only where the teacher is actually better.

The teacher's and the student's ground-truth losses (``tracking_losses`` of both on the same
batch) are compared term by term:

==========================  =====================  =====================
student worse than teacher  weight on ``kd_cls``   weight on ``kd_box``
==========================  =====================  =====================
on neither                  0                      0
on classification only      1                      0
on box regression only      0                      1
on both                     ``boost``              ``boost``
==========================  =====================  =====================

Why: once a student beats the teacher on a term, imitating the teacher on that term pulls it
back towards the teacher's mistakes; distillation then only spends gradient where the teacher
has something to teach.

``boost`` — the published method used 10⁴. Its KD losses were already scaled by T² = 100, so a
batch where the student is worse on both terms weighed KD ~10⁶ times the GT loss: every such
step is pure imitation, momentum SGD sees loss magnitudes jump by four orders between
neighbouring batches, and gradient clipping (at 10) silently turns it into a fixed-size step.
A default of 10 keeps the intended emphasis ("far behind the teacher → follow it harder")
within an order of magnitude of the GT loss. It stays configurable for reproduction.

"Worse" is strict (``student > teacher + margin``): a student equal to the teacher gets no KD.
"""
from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from mlkd_tracker.train.losses import focal_loss, ltrb_giou_loss

DEFAULT_BOOST = 10.0


def _value(x: float | Tensor) -> float:
    return float(x.detach()) if isinstance(x, Tensor) else float(x)


def _weights(worse_cls, worse_box, boost: float):
    """The table above, elementwise (works on bools and on bool tensors)."""
    both = worse_cls & worse_box
    w_cls = worse_cls * 1.0 + both * (boost - 1.0)
    w_box = worse_box * 1.0 + both * (boost - 1.0)
    return w_cls, w_box


@torch.no_grad()
def gate(student_gt: Mapping[str, float | Tensor], teacher_gt: Mapping[str, float | Tensor],
         boost: float = DEFAULT_BOOST, margin: float = 0.0) -> tuple[float, float]:
    """Batch-level KD weights ``(w_kd_cls, w_kd_box)`` from GT loss dicts with ``"cls"`` and
    ``"box"`` (tensors or floats, as returned by ``tracking_losses``). Plain floats: the
    decision is not differentiable and must not carry gradient into the trainer's graph."""
    worse_cls = _value(student_gt["cls"]) > _value(teacher_gt["cls"]) + margin
    worse_box = _value(student_gt["box"]) > _value(teacher_gt["box"]) + margin
    w_cls, w_box = _weights(worse_cls, worse_box, float(boost))
    return float(w_cls), float(w_box)


@torch.no_grad()
def per_sample_tracking_losses(out: Mapping[str, Tensor],
                               targets: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """(B,) ``{"cls", "box"}`` GT losses, one per sample, with the exact batch loss functions
    applied to each sample (so the per-sample and batch criteria agree at B = 1).

    Cheap: no backward, and a Python loop of B tiny reductions next to a forward pass."""
    cls, box = out["cls"].detach(), out["box"].detach()
    per_cls, per_box = [], []
    for i in range(cls.shape[0]):
        sl = slice(i, i + 1)
        weight = targets["cls_weight"][sl] if "cls_weight" in targets else None
        per_cls.append(focal_loss(cls[sl], targets["cls"][sl], weight=weight))
        # no positives (negative pair) -> 0 for both models -> never "worse" -> no box KD
        per_box.append(ltrb_giou_loss(box[sl], targets["box"][sl], targets["box_mask"][sl]))
    return {"cls": torch.stack(per_cls), "box": torch.stack(per_box)}


@torch.no_grad()
def gate_per_sample(student_gt: Mapping[str, Tensor], teacher_gt: Mapping[str, Tensor],
                    boost: float = DEFAULT_BOOST,
                    margin: float = 0.0) -> tuple[Tensor, Tensor]:
    """(B,) float weights for ``kd_cls`` / ``kd_box`` from per-sample GT losses
    (:func:`per_sample_tracking_losses`); pass them to ``ResponseKD(..., sample_weights=...)``.

    Finer than the batch gate: a batch where the student is better on average still
    distils the samples (e.g. the darkest ones) where the teacher is better."""
    worse_cls = student_gt["cls"].detach() > teacher_gt["cls"].detach() + margin
    worse_box = student_gt["box"].detach() > teacher_gt["box"].detach() + margin
    w_cls, w_box = _weights(worse_cls, worse_box, float(boost))
    return w_cls.float(), w_box.float()
