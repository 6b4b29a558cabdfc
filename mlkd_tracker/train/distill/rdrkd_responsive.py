"""RDR-KD's responsive term (paper eq. 9-10); see ``distill/rdrkd.py`` for the conventions."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

_EPS = 1e-7
FOCAL_FORMS = ("quality", "standard")


def soft_focal_loss(s_logits: Tensor, t_logits: Tensor, gamma: float = 2.0,
                    form: str = "quality") -> Tensor:
    """Element-wise focal loss of student sigmoid scores against the teacher's sigmoid scores
    as soft targets (eq. 9, before the sum). ``y = σ(t)``, ``p = σ(s)``.

    ``"quality"`` (default): ``BCE(p, y) · |y − p|^γ`` — GFL's Quality Focal Loss, also the
    form of BCKD's binary classification distillation, which the paper names as its
    inspiration. For hard targets y ∈ {0, 1} it *is* Lin et al.'s focal loss (without α);
    for soft targets its minimum over p is at p = y, where it is 0.

    ``"standard"``: the hard-label formula applied to soft labels,
    ``BCE(p, y) · (1 − p_t)^γ`` with ``p_t = p·y + (1−p)(1−y)`` (torchvision / Ultralytics
    ``FocalLoss``). It is not 0 at p = y and its minimum lies beyond the teacher (for y = 0.9
    near p ≈ 0.99): it teaches over-confidence. Offered for comparison, not the default.
    """
    if form not in FOCAL_FORMS:
        raise ValueError(f"focal form must be one of {FOCAL_FORMS}, not {form!r}")
    s_logits = s_logits.float()
    y = torch.sigmoid(t_logits.detach().float())
    p = torch.sigmoid(s_logits)
    bce = F.binary_cross_entropy_with_logits(s_logits, y, reduction="none")
    if form == "quality":
        return bce * (y - p).abs().pow(gamma)
    p_t = p * y + (1 - p) * (1 - y)
    return bce * (1 - p_t).pow(gamma)


def eiou_loss(box1: Tensor, box2: Tensor, eps: float = _EPS) -> Tensor:
    """EIoU loss (Zhang et al. 2021) of xyxy boxes (…, 4) -> (…):
    ``1 − IoU + ρ²(centres)/c² + (w₁ − w₂)²/C_w² + (h₁ − h₂)²/C_h²`` with ``C_w, C_h`` the
    smallest enclosing box's width and height and ``c² = C_w² + C_h²``. Symmetric and
    scale-invariant, 0 for identical boxes.

    Hand-written: ``torchvision`` here is a plain-torch shim without ``ops.*_box_iou`` losses,
    and Ultralytics 8.4's ``bbox_iou`` offers IoU/GIoU/DIoU/CIoU only (no EIoU)."""
    b1x1, b1y1, b1x2, b1y2 = box1.float().unbind(-1)
    b2x1, b2y1, b2x2, b2y2 = box2.float().unbind(-1)
    w1, h1 = (b1x2 - b1x1).clamp_min(0), (b1y2 - b1y1).clamp_min(0)
    w2, h2 = (b2x2 - b2x1).clamp_min(0), (b2y2 - b2y1).clamp_min(0)
    inter = ((torch.minimum(b1x2, b2x2) - torch.maximum(b1x1, b2x1)).clamp_min(0)
             * (torch.minimum(b1y2, b2y2) - torch.maximum(b1y1, b2y1)).clamp_min(0))
    iou = inter / (w1 * h1 + w2 * h2 - inter + eps)
    cw = torch.maximum(b1x2, b2x2) - torch.minimum(b1x1, b2x1)
    ch = torch.maximum(b1y2, b2y2) - torch.minimum(b1y1, b2y1)
    cw2, ch2 = cw.pow(2) + eps, ch.pow(2) + eps
    rho2 = ((b1x1 + b1x2 - b2x1 - b2x2).pow(2) + (b1y1 + b1y2 - b2y1 - b2y2).pow(2)) / 4
    return 1 - iou + rho2 / (cw2 + ch2) + (w1 - w2).pow(2) / cw2 + (h1 - h2).pow(2) / ch2


class ResponsiveKD(nn.Module):
    """Responsive distillation (eq. 9–10); no parameters.

    ``forward(s_scores, t_scores, s_boxes, t_boxes, fg_mask) -> {"cls": …, "loc": …}``:

    - ``cls`` (eq. 9): :func:`soft_focal_loss` (γ = 2, ``form="quality"`` by default) summed
      over all anchor points and classes, / B. Over *all* points, not only foreground: the
      per-class binary view is how the paper handles VisDrone's class imbalance, and the
      |y − p|^γ factor already silences the many points where student and teacher agree.
    - ``loc`` (eq. 10): :func:`eiou_loss` between student and teacher boxes at the points the
      label assigner marks foreground, each weighted by the teacher's max class score
      ``max_j σ(t_j)`` (a confident teacher box is worth copying, a doubtful one less), summed,
      / B. (The paper's "PEIoU" in eq. 10 reads as the EIoU loss.)

    Shapes: scores (B, N, nc) logits, boxes (B, N, 4) xyxy decoded from the same anchor points
    (any common unit), ``fg_mask`` (B, N) bool.
    """

    def __init__(self, gamma: float = 2.0, focal_form: str = "quality") -> None:
        super().__init__()
        if focal_form not in FOCAL_FORMS:
            raise ValueError(f"focal_form must be one of {FOCAL_FORMS}, not {focal_form!r}")
        self.gamma = float(gamma)
        self.focal_form = focal_form

    def forward(self, s_scores: Tensor, t_scores: Tensor, s_boxes: Tensor, t_boxes: Tensor,
                fg_mask: Tensor) -> dict[str, Tensor]:
        t_scores, t_boxes = t_scores.detach(), t_boxes.detach()
        if s_scores.shape != t_scores.shape or s_boxes.shape != t_boxes.shape:
            raise ValueError(f"student/teacher shapes differ: scores {tuple(s_scores.shape)} vs "
                             f"{tuple(t_scores.shape)}, boxes {tuple(s_boxes.shape)} vs "
                             f"{tuple(t_boxes.shape)}")
        if fg_mask.shape != s_boxes.shape[:-1]:
            raise ValueError(f"fg_mask {tuple(fg_mask.shape)} must be {tuple(s_boxes.shape[:-1])}")
        b = s_scores.shape[0]
        cls = soft_focal_loss(s_scores, t_scores, self.gamma, self.focal_form).sum() / b
        fg = fg_mask.bool()
        weight = torch.sigmoid(t_scores.float()).amax(-1)[fg]
        loc = (eiou_loss(s_boxes[fg], t_boxes[fg]) * weight).sum() / b
        return {"cls": cls, "loc": loc}
