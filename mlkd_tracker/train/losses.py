"""Ground-truth losses of the anchor-free Siamese head: focal classification + GIoU boxes."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def focal_loss(logits: torch.Tensor, labels: torch.Tensor, alpha: float = 0.25,
               gamma: float = 2.0, weight: torch.Tensor | None = None) -> torch.Tensor:
    """Sigmoid focal loss summed over cells, normalised by the number of positives (>= 1).

    Most cells are background; the focal term keeps them from drowning the few positives.
    ``weight`` (0/1, like ``labels``) leaves out the ignore band around a target.
    """
    p = torch.sigmoid(logits)
    ce = F.binary_cross_entropy_with_logits(logits, labels, reduction="none")
    p_t = p * labels + (1 - p) * (1 - labels)
    a_t = alpha * labels + (1 - alpha) * (1 - labels)
    loss = a_t * ce * (1 - p_t) ** gamma
    if weight is not None:
        loss = loss * weight
    return loss.sum() / labels.sum().clamp(min=1.0)


def ltrb_giou_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean (1 - GIoU) over masked cells; boxes as l,t,r,b distances from the same point."""
    m = mask.squeeze(1) > 0
    if not m.any():
        return pred.sum() * 0.0
    p = pred.permute(0, 2, 3, 1)[m]
    t = target.permute(0, 2, 3, 1)[m]
    area_p = (p[:, 0] + p[:, 2]) * (p[:, 1] + p[:, 3])
    area_t = (t[:, 0] + t[:, 2]) * (t[:, 1] + t[:, 3])
    iw = torch.minimum(p[:, 0], t[:, 0]) + torch.minimum(p[:, 2], t[:, 2])
    ih = torch.minimum(p[:, 1], t[:, 1]) + torch.minimum(p[:, 3], t[:, 3])
    inter = iw.clamp(min=0) * ih.clamp(min=0)
    union = area_p + area_t - inter
    iou = inter / union.clamp(min=1e-6)
    ew = torch.maximum(p[:, 0], t[:, 0]) + torch.maximum(p[:, 2], t[:, 2])
    eh = torch.maximum(p[:, 1], t[:, 1]) + torch.maximum(p[:, 3], t[:, 3])
    enclose = (ew * eh).clamp(min=1e-6)
    giou = iou - (enclose - union) / enclose
    return (1 - giou).mean()


def tracking_losses(out: dict, targets: dict, cls_weight: float = 1.0,
                    box_weight: float = 1.0) -> dict[str, torch.Tensor]:
    """``{"total", "cls", "box"}`` for a batch; targets from data.targets.make_targets."""
    cls = focal_loss(out["cls"], targets["cls"], weight=targets.get("cls_weight"))
    box = ltrb_giou_loss(out["box"], targets["box"], targets["box_mask"])
    return {"total": cls_weight * cls + box_weight * box, "cls": cls, "box": box}
