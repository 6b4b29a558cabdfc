"""Response-map training targets for an anchor-free Siamese head (score map + box edges).

Labelling rule (elliptical, as in SiamBAN), per cell point ``p`` of ``geometry.points()`` and a
target box with centre ``c``, size ``w x h`` in search-crop px:

- positive: ``p`` inside the central ellipse with semi-axes ``radius * w/2, radius * h/2``, and
  always the one cell nearest to ``c`` when it lies inside the box (so thin or small boxes that
  fall between grid points still get a positive);
- ignored (``cls_weight`` 0): inside the box's inscribed ellipse (semi-axes ``w/2, h/2``) but not
  positive. Why: such cells do look at the target, and forcing them negative would punish the
  head for a near-correct peak; forcing them positive would blur the peak;
- negative: everything else, and every cell of a negative pair.

``box`` holds the ``l, t, r, b`` distances (crop px) from each cell point to the box edges;
``box_mask`` marks where the regression loss applies (the positives).
"""

from __future__ import annotations

import torch

from mlkd_tracker.runtime.siamese_geometry import SiameseGeometry

__all__ = ["make_targets"]


def make_targets(boxes_xyxy: torch.Tensor, negative: torch.Tensor, geometry: SiameseGeometry,
                 radius: float = 0.5) -> dict[str, torch.Tensor]:
    """Targets for a batch: ``boxes_xyxy`` (B, 4) x1, y1, x2, y2 and ``negative`` (B,) 0/1.

    Returns ``cls`` (B,1,S,S) 0/1, ``cls_weight`` (B,1,S,S) 0/1, ``box`` (B,4,S,S) ltrb and
    ``box_mask`` (B,1,S,S) 0/1, all float on the device of ``boxes_xyxy``.
    """
    boxes = boxes_xyxy.float()
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"boxes_xyxy must be (B, 4), got {tuple(boxes.shape)}")
    neg = negative.to(boxes.device).float().reshape(-1, 1, 1) > 0.5
    pts = torch.as_tensor(geometry.points(), dtype=torch.float32, device=boxes.device)
    px, py = pts[..., 0][None], pts[..., 1][None]  # (1, S, S)
    x1, y1, x2, y2 = (v[:, None, None] for v in boxes.unbind(1))  # (B, 1, 1)
    ltrb = torch.stack([px - x1, py - y1, x2 - px, y2 - py], dim=1)  # (B, 4, S, S)
    inside = ltrb.amin(dim=1) > 0  # (B, S, S)

    half_w = ((x2 - x1) / 2).clamp_min(1e-6)
    half_h = ((y2 - y1) / 2).clamp_min(1e-6)
    d2 = ((px - (x1 + x2) / 2) / half_w) ** 2 + ((py - (y1 + y2) / 2) / half_h) ** 2
    pos = d2 <= radius**2
    # the cell nearest to the centre (in px), if it is inside the box
    dist = (px - (x1 + x2) / 2) ** 2 + (py - (y1 + y2) / 2) ** 2
    nearest = dist.flatten(1).argmin(dim=1)
    near = torch.zeros_like(pos).flatten(1)
    near[torch.arange(len(boxes), device=boxes.device), nearest] = True
    pos = (pos | near.view_as(pos)) & inside & ~neg
    ignore = (d2 <= 1.0) & ~pos & ~neg

    pos_f = pos[:, None].float()
    return {
        "cls": pos_f,
        "cls_weight": (~ignore)[:, None].float(),
        "box": ltrb * (~neg)[:, None].float(),
        "box_mask": pos_f,
    }
