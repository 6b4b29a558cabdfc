"""Ground-truth losses of the Siamese head."""
from __future__ import annotations

import torch

from mlkd_tracker.train.datasets.targets import make_targets
from mlkd_tracker.runtime.siamese_geometry import SiameseGeometry
from mlkd_tracker.train.losses import focal_loss, ltrb_giou_loss, tracking_losses

G = SiameseGeometry(64, 160, 8)


def test_ignored_cells_do_not_count_in_the_classification_loss():
    targets = make_targets(torch.tensor([[40.0, 40.0, 120.0, 120.0]]), torch.zeros(1), G)
    ignored = targets["cls_weight"] == 0
    assert ignored.any(), "a large box must have an ignore band"
    logits = torch.full((1, 1, G.score_size, G.score_size), -6.0)
    base = focal_loss(logits, targets["cls"], weight=targets["cls_weight"])
    logits[ignored] = 6.0  # confident "target" on ignored cells: no penalty
    assert torch.isclose(focal_loss(logits, targets["cls"], weight=targets["cls_weight"]), base)
    assert focal_loss(logits, targets["cls"]) > base  # without the weight they would count


def test_perfect_boxes_have_zero_giou_loss_and_tracking_losses_use_the_ignore_band():
    targets = make_targets(torch.tensor([[60.0, 70.0, 100.0, 90.0]]), torch.zeros(1), G)
    assert ltrb_giou_loss(targets["box"], targets["box"], targets["box_mask"]).item() < 1e-6
    out = {"cls": torch.zeros(1, 1, G.score_size, G.score_size), "box": targets["box"] + 1.0}
    losses = tracking_losses(out, targets)
    expected = focal_loss(out["cls"], targets["cls"], weight=targets["cls_weight"])
    assert torch.isclose(losses["cls"], expected) and losses["box"] > 0
