"""RDR-KD (Huang et al., IEEE GRSL 2024): Regenerated, Decoupled and Responsive distillation
for detectors in drone scenes, as pure-torch losses independent of Ultralytics internals.

The three terms (paper eq. 1–10; our choices where the paper is ambiguous are
stated in each docstring):

- :class:`RegeneratedKD` (eq. 1–6) — the teacher's attention picks "key pixels" (and key
  channels); those, plus every cell of a *tiny* ground-truth box, are blanked in the adapted
  student feature, and two small generators must regenerate the teacher's feature from what is
  left (MGD-style). Tiny objects have low attention, so without the area condition they would
  never be part of the regeneration task.
- :class:`DecoupledKD` (eq. 7–8) — plain feature mimicry, split into foreground (per-object
  weights that favour small objects, each spread over the object's cells) and background
  (normalised by its cell count). It restores the original information the masking removes.
- :class:`ResponsiveKD` (eq. 9–10) — head-level: a soft-target focal loss on per-class sigmoid
  scores and a teacher-score-weighted EIoU between teacher and student boxes on foreground
  points.
- :class:`RDRKDLoss` — the weighted sum (eq. 11 without ``L_ori``), configured by
  :class:`RDRKDConfig`; each term can be switched off for the ablation (Table II).

One module per term (``rdrkd_regenerated``, ``rdrkd_decoupled``, ``rdrkd_responsive``, and
``rdrkd_common`` for what they share); this one combines them and is the public entry point.

Feature levels: the paper distils four levels at strides 4/8/16/32. YOLOv8 has no stride-4
output, so we use the neck outputs P3–P5 (strides 8/16/32) — the Detect head's inputs.

Input conventions (designed for a ``DistillationModel`` subclass to pass what it already has):

- ``s_feats`` / ``t_feats``: sequences of (B, C, H, W) maps, one per level, student and teacher
  at the same input size (so each level has the same H, W for both); C may differ — a 1×1
  adapter per level and per feature term maps student channels to teacher channels.
- ``img_size``: the network input size ``(H, W)`` (or one int), i.e. ``batch["img"].shape[2:]``;
  each level's stride is ``img_size / feature size``.
- ``gt_boxes``: one (n_i, 4) tensor per image, xyxy in network-input pixels (after letterbox);
  :func:`gt_from_ultralytics_batch` converts an Ultralytics batch (``batch_idx``, normalised
  xywh ``bboxes``, ``cls``). Classes are not used by any term: the masks and weights of the
  paper are class-agnostic, so the losses take boxes only.
- Responsive: per-anchor-point class *logits* (B, N, nc) and decoded boxes (B, N, 4, xyxy) of
  student and teacher, decoded with the same anchor points (Ultralytics' ``bbox_decode``
  output, in grid units or pixels — EIoU is scale-invariant), and the assigner's foreground
  mask (B, N). Ultralytics' head gives ``scores`` as (B, nc, N): permute first.

Reductions: every term is a sum over its elements (as the paper's eq. 6, 8, 9, 10 write it)
divided by the batch size, and summed over levels. Ultralytics' own detection loss is returned
multiplied by the batch size (so is ``DistillationModel``'s ``dis_loss``), so a wrapper adding
these terms to it should multiply :class:`RDRKDLoss`'s total by the batch size as well.

The teacher's tensors are detached inside every module.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from mlkd_tracker.train.distill.rdrkd_common import (
    box_cell_masks, gt_from_ultralytics_batch, make_adapter, pad_boxes)
from mlkd_tracker.train.distill.rdrkd_decoupled import DecoupledKD, area_softmax, decoupled_cell_weights
from mlkd_tracker.train.distill.rdrkd_regenerated import (
    RegeneratedKD, attention_maps, key_pixel_masks, procreate_module)
from mlkd_tracker.train.distill.rdrkd_responsive import (
    FOCAL_FORMS, ResponsiveKD, eiou_loss, soft_focal_loss)


@dataclass
class RDRKDConfig:
    """All RDR-KD settings (defaults: the paper's §III-A and our reference decisions).

    A term whose weight is 0 is off: its modules are not built and it returns no key — that is
    how the ablation of Table II is re-run."""

    regenerated_weight: float = 1e-5
    decoupled_weight: float = 1e-1
    responsive_weight: float = 1e-5
    # regenerated (eq. 1–4)
    tau_s: float = 1.0
    tau_c: float = 1.0
    tau_area: float = 500.0  # px², network-input pixels after letterbox
    temperature: float = 1.0
    # decoupled (eq. 7–8)
    alpha: float = 0.5
    beta: float = 0.5
    area_temperature: float = 20.0
    area_bias: float = 0.005
    # responsive (eq. 9–10)
    gamma: float = 2.0
    focal_form: str = "quality"

    def __post_init__(self) -> None:
        for name in ("regenerated_weight", "decoupled_weight", "responsive_weight"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        if self.focal_form not in FOCAL_FORMS:
            raise ValueError(f"focal_form must be one of {FOCAL_FORMS}, not {self.focal_form!r}")


class RDRKDLoss(nn.Module):
    """The three RDR-KD terms, weighted and summed (eq. 11 without the original loss).

    ``RDRKDLoss(student_channels, teacher_channels, config)`` — channels per level (P3–P5,
    e.g. YOLOv8n (64, 128, 256) → YOLOv8l (256, 512, 512)). Enabled terms are children
    ``regenerated`` / ``decoupled`` / ``responsive`` (a disabled one is ``None``), so
    ``loss.parameters()`` holds every adapter and generator: make this module a child of the
    distillation model (or add its parameters to the optimiser) and drop it at export.

    ``forward(s_feats, t_feats, gt_boxes, img_size, s_scores=None, t_scores=None,
    s_boxes=None, t_boxes=None, fg_mask=None) -> (total, terms)``: ``terms`` maps
    ``"regenerated"``, ``"decoupled"``, ``"responsive_cls"``, ``"responsive_loc"`` (enabled
    terms only) to their *weighted* values (attached to the graph; detach for logging), and
    ``total`` is their sum (a 0 scalar when all are off). The responsive inputs are needed only
    when that term is on; the feature inputs only when a feature term is on.
    """

    def __init__(self, student_channels: Sequence[int], teacher_channels: Sequence[int],
                 config: RDRKDConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or RDRKDConfig()
        self.regenerated = (RegeneratedKD(student_channels, teacher_channels, cfg.tau_s,
                                          cfg.tau_c, cfg.tau_area, cfg.temperature)
                            if cfg.regenerated_weight > 0 else None)
        self.decoupled = (DecoupledKD(student_channels, teacher_channels, cfg.alpha, cfg.beta,
                                      cfg.area_temperature, cfg.area_bias)
                          if cfg.decoupled_weight > 0 else None)
        self.responsive = (ResponsiveKD(cfg.gamma, cfg.focal_form)
                           if cfg.responsive_weight > 0 else None)

    def forward(self, s_feats: Sequence[Tensor] | None = None,
                t_feats: Sequence[Tensor] | None = None,
                gt_boxes: Sequence[Tensor] | None = None, img_size=None,
                s_scores: Tensor | None = None, t_scores: Tensor | None = None,
                s_boxes: Tensor | None = None, t_boxes: Tensor | None = None,
                fg_mask: Tensor | None = None) -> tuple[Tensor, dict[str, Tensor]]:
        cfg = self.config
        terms: dict[str, Tensor] = {}
        if self.regenerated is not None or self.decoupled is not None:
            if s_feats is None or t_feats is None or gt_boxes is None or img_size is None:
                raise ValueError("feature terms need s_feats, t_feats, gt_boxes and img_size")
            if len(gt_boxes) != t_feats[0].shape[0]:
                raise ValueError(f"{len(gt_boxes)} box sets for a batch of {t_feats[0].shape[0]}")
        if self.regenerated is not None:
            terms["regenerated"] = cfg.regenerated_weight * self.regenerated(
                s_feats, t_feats, gt_boxes, img_size)
        if self.decoupled is not None:
            terms["decoupled"] = cfg.decoupled_weight * self.decoupled(
                s_feats, t_feats, gt_boxes, img_size)
        if self.responsive is not None:
            if any(x is None for x in (s_scores, t_scores, s_boxes, t_boxes, fg_mask)):
                raise ValueError("the responsive term needs s_scores, t_scores, s_boxes, "
                                 "t_boxes and fg_mask")
            r = self.responsive(s_scores, t_scores, s_boxes, t_boxes, fg_mask)
            terms["responsive_cls"] = cfg.responsive_weight * r["cls"]
            terms["responsive_loc"] = cfg.responsive_weight * r["loc"]
        if terms:
            total = torch.stack([v.reshape(()) for v in terms.values()]).sum()
        else:
            ref = next((x for x in (s_scores, *(s_feats or ())) if x is not None), None)
            total = torch.zeros((), device=ref.device if ref is not None else None)
        return total, terms


__all__ = [
    "DecoupledKD", "FOCAL_FORMS", "RDRKDConfig", "RDRKDLoss", "RegeneratedKD", "ResponsiveKD",
    "area_softmax", "attention_maps", "box_cell_masks", "decoupled_cell_weights", "eiou_loss",
    "gt_from_ultralytics_batch", "key_pixel_masks", "make_adapter", "pad_boxes",
    "procreate_module", "soft_focal_loss",
]
