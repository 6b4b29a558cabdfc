"""Shared parts of the RDR-KD terms (``distill/rdrkd.py``): image size, ground-truth boxes
and their cell masks, the 1x1 student-to-teacher adapters, and the per-level sum the two
feature terms share."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn


def image_hw(img_size: int | Sequence[int] | Tensor) -> tuple[float, float]:
    if isinstance(img_size, Tensor):
        img_size = img_size.tolist()
    if isinstance(img_size, (int, float)):
        return float(img_size), float(img_size)
    h, w = img_size
    return float(h), float(w)


def pad_boxes(gt_boxes: Sequence[Tensor], device=None, dtype=torch.float32
              ) -> tuple[Tensor, Tensor]:
    """Per-image (n_i, 4) boxes -> padded (B, M, 4) boxes and a (B, M) validity mask (M ≥ 1,
    so images without objects still give well-formed tensors)."""
    b = len(gt_boxes)
    m = max([len(x) for x in gt_boxes] + [1])
    boxes = torch.zeros(b, m, 4, device=device, dtype=dtype)
    valid = torch.zeros(b, m, dtype=torch.bool, device=device)
    for i, x in enumerate(gt_boxes):
        if len(x):
            boxes[i, :len(x)] = x.detach().reshape(-1, 4).to(device=device, dtype=dtype)
            valid[i, :len(x)] = True
    return boxes, valid


def gt_from_ultralytics_batch(batch_idx: Tensor, bboxes: Tensor, cls: Tensor, batch_size: int,
                              img_size: int | Sequence[int]) -> tuple[list[Tensor], list[Tensor]]:
    """Ultralytics labels (``batch_idx`` (n,), ``bboxes`` (n, 4) xywh normalised to the network
    input, ``cls`` (n, 1)) -> per-image xyxy boxes in input pixels and per-image classes."""
    h, w = image_hw(img_size)
    idx = batch_idx.view(-1).long()
    xywh = bboxes.view(-1, 4).float() * bboxes.new_tensor([w, h, w, h]).float()
    xyxy = torch.cat([xywh[:, :2] - xywh[:, 2:] / 2, xywh[:, :2] + xywh[:, 2:] / 2], 1)
    cls = cls.view(-1)
    return ([xyxy[idx == i] for i in range(batch_size)], [cls[idx == i] for i in range(batch_size)])


def box_cell_masks(boxes: Tensor, h: int, w: int, img_size: int | Sequence[int]) -> Tensor:
    """(B, M, 4) xyxy input-pixel boxes -> (B, M, h, w) bool: the cells of an h×w level whose
    rectangle overlaps the box.

    "Any overlap" rather than "cell centre inside": a 10×10 px object at stride 32 contains no
    cell centre half the time, and then the tiny-object mask (eq. 3) and the foreground mask
    (eq. 8) would lose exactly the objects the method is about. Every box therefore covers at
    least one cell (also degenerate ones: the cell holding x1/y1)."""
    img_h, img_w = image_hw(img_size)
    sx, sy = img_w / w, img_h / h
    x1 = boxes[..., 0].clamp(0, img_w) / sx
    x2 = boxes[..., 2].clamp(0, img_w) / sx
    y1 = boxes[..., 1].clamp(0, img_h) / sy
    y2 = boxes[..., 3].clamp(0, img_h) / sy
    c0 = x1.floor().clamp(0, w - 1)
    c1 = torch.maximum(x2.ceil() - 1, c0).clamp(max=w - 1)
    r0 = y1.floor().clamp(0, h - 1)
    r1 = torch.maximum(y2.ceil() - 1, r0).clamp(max=h - 1)
    cols = torch.arange(w, device=boxes.device, dtype=boxes.dtype)
    rows = torch.arange(h, device=boxes.device, dtype=boxes.dtype)
    in_x = (cols >= c0[..., None]) & (cols <= c1[..., None])  # (B, M, w)
    in_y = (rows >= r0[..., None]) & (rows <= r1[..., None])  # (B, M, h)
    return in_y[..., :, None] & in_x[..., None, :]


def box_areas(boxes: Tensor, img_size) -> Tensor:
    """(…, 4) xyxy -> area in input pixels², boxes clipped to the image."""
    img_h, img_w = image_hw(img_size)
    bw = boxes[..., 2].clamp(0, img_w) - boxes[..., 0].clamp(0, img_w)
    bh = boxes[..., 3].clamp(0, img_h) - boxes[..., 1].clamp(0, img_h)
    return bw.clamp_min(0) * bh.clamp_min(0)


def make_adapter(s_channels: int, t_channels: int) -> nn.Conv2d:
    """1×1 conv student → teacher channels. Identity-initialised when the widths are equal, so
    an equal-width pair starts as plain feature mimicry (and identical features give 0)."""
    conv = nn.Conv2d(s_channels, t_channels, 1)
    if s_channels == t_channels:
        with torch.no_grad():
            conv.weight.copy_(torch.eye(t_channels).view(t_channels, t_channels, 1, 1))
            conv.bias.zero_()
    return conv


def _check_levels(s_feats: Sequence[Tensor], t_feats: Sequence[Tensor], n_levels: int) -> None:
    if len(s_feats) != n_levels or len(t_feats) != n_levels:
        raise ValueError(f"expected {n_levels} levels, got {len(s_feats)} student and "
                         f"{len(t_feats)} teacher maps")
    for i, (s, t) in enumerate(zip(s_feats, t_feats)):
        if s.shape[0] != t.shape[0] or s.shape[-2:] != t.shape[-2:]:
            raise ValueError(f"level {i}: student {tuple(s.shape)} and teacher {tuple(t.shape)} "
                             "differ in batch or spatial size (same input size required)")


class PerLevelKD(nn.Module):
    """A feature term summed over the P3-P5 levels; subclasses own ``adapters`` (one per level)
    and define ``level_loss`` for one level."""

    adapters: nn.ModuleList

    def level_loss(self, i: int, s_feat: Tensor, t_feat: Tensor, boxes: Tensor, valid: Tensor,
                   img_size) -> Tensor:
        raise NotImplementedError

    def forward(self, s_feats: Sequence[Tensor], t_feats: Sequence[Tensor],
                gt_boxes: Sequence[Tensor], img_size) -> Tensor:
        _check_levels(s_feats, t_feats, len(self.adapters))
        boxes, valid = pad_boxes(gt_boxes, device=t_feats[0].device)
        return sum(self.level_loss(i, s, t, boxes, valid, img_size)
                   for i, (s, t) in enumerate(zip(s_feats, t_feats)))
