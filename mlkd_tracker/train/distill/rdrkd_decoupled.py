"""RDR-KD's decoupled term (paper eq. 7-8); see ``distill/rdrkd.py`` for the conventions."""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mlkd_tracker.train.distill.rdrkd_common import (
    PerLevelKD, box_areas, box_cell_masks, image_hw, make_adapter)


def area_softmax(areas: Tensor, valid: Tensor, temperature: float = 20.0,
                 bias: float = 0.005) -> Tensor:
    """Eq. 7 per image over its valid objects: ``W_q = e^{(1−x_q−b)/T_s} / Σ_j e^{(1−x_j−b)/T_s}``
    with ``x`` the area normalised by the image area (x ∈ [0, 1]). (B, M) -> (B, M); padded
    entries and images without objects get 0.

    Two properties of the formula as written: ``b`` cancels (a constant shift of every logit),
    kept only to mirror the paper; and with T_s = 20 and x ∈ [0, 1] the weights stay within
    e^{-1/20} ≈ 0.95 of each other — nearly 1/Q. The strong small-object emphasis of eq. 8 comes
    from the per-cell ``W_q / S_q``: a small object spreads its share over few cells."""
    logits = ((1.0 - areas - bias) / temperature).masked_fill(~valid, float("-inf"))
    has_obj = valid.any(1, keepdim=True)
    logits = torch.where(has_obj, logits, torch.zeros_like(logits))  # no all -inf rows
    return F.softmax(logits, dim=1) * valid


def decoupled_cell_weights(boxes: Tensor, valid: Tensor, h: int, w: int, img_size,
                           temperature: float = 20.0, bias: float = 0.005
                           ) -> tuple[Tensor, Tensor]:
    """Foreground per-cell weights (B, h, w) and background mask (B, h, w, bool) of eq. 8.

    Object q's cells (those overlapping its box, :func:`box_cell_masks`) each get ``W_q / S_q``
    with ``S_q`` its cell count at this level, so each object contributes exactly ``W_q`` and
    the foreground weights of an image sum to 1 (the paper's Σ_q (W_q/S_q)·S_q = 1).
    **Overlaps: the weights add** — eq. 8 is then literally Σ_q W_q · (mean error over q's
    cells), so a small object inside a large one keeps its full weight and the identity above
    holds exactly (FGD takes the maximum instead, which loses mass). Background = cells in no
    box."""
    img_h, img_w = image_hw(img_size)
    cells = box_cell_masks(boxes, h, w, img_size) & valid[..., None, None]  # (B, M, h, w)
    x = box_areas(boxes, img_size) / (img_h * img_w)
    w_q = area_softmax(x, valid, temperature, bias)  # (B, M)
    s_q = cells.flatten(2).sum(2).clamp_min(1)  # (B, M)
    fg = torch.einsum("bm,bmhw->bhw", w_q / s_q, cells.to(w_q.dtype))
    return fg, ~cells.any(1)


class DecoupledKD(PerLevelKD):
    """Decoupled distillation (eq. 7–8): feature mimicry between the adapted student feature and
    the teacher feature, foreground and background separated.

    Per image and level, with ``d = Σ_c (F_s' − F_t)²`` per cell:
    ``α · Σ_cells (Σ_q W_q/S_q · [cell ∈ q]) · d  +  β · Σ_bg-cells d / N_bg``
    (:func:`decoupled_cell_weights`; ``W_q`` the area-softmax of eq. 7 with T_s = 20, b = 0.005
    on areas / image area; ``N_bg`` the background cell count, so the background term does not
    grow with the map size or shrink with crowded images). Summed over images / B and summed
    over levels. α = β = 0.5.

    The adapter is this term's own (``adapters[i]``, 1×1): the terms are switched on and off
    independently for the ablation, and each adapter learns what its own objective needs
    (MGD and FGD, the methods these two terms derive from, each own theirs).
    """

    def __init__(self, student_channels: Sequence[int], teacher_channels: Sequence[int],
                 alpha: float = 0.5, beta: float = 0.5, area_temperature: float = 20.0,
                 area_bias: float = 0.005) -> None:
        super().__init__()
        if len(student_channels) != len(teacher_channels):
            raise ValueError("student and teacher need the same number of levels")
        self.alpha, self.beta = float(alpha), float(beta)
        self.area_temperature, self.area_bias = float(area_temperature), float(area_bias)
        self.adapters = nn.ModuleList(make_adapter(s, t)
                                      for s, t in zip(student_channels, teacher_channels))

    def level_loss(self, i: int, s_feat: Tensor, t_feat: Tensor, boxes: Tensor, valid: Tensor,
                   img_size) -> Tensor:
        t_feat = t_feat.detach()
        b, _, h, w = t_feat.shape
        d = (self.adapters[i](s_feat).float() - t_feat.float()).pow(2).sum(1)  # (B, h, w)
        fg_w, bg = decoupled_cell_weights(boxes, valid, h, w, img_size, self.area_temperature,
                                          self.area_bias)
        fg = (d * fg_w).flatten(1).sum(1)
        bgl = (d * bg).flatten(1).sum(1) / bg.flatten(1).sum(1).clamp_min(1)
        return (self.alpha * fg + self.beta * bgl).sum() / b
