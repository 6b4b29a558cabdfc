"""make_targets: elliptical positives at the box centre, ignore ring, ltrb distances, negatives."""
from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mlkd_tracker.train.datasets.targets import make_targets
from mlkd_tracker.runtime.siamese_geometry import SiameseGeometry

GEO = SiameseGeometry(64, 160, 8)  # 13 x 13 map, cell points at 32, 40, ..., 128 crop px


def targets(*boxes, negative=None):
    b = torch.tensor(boxes, dtype=torch.float32)
    neg = torch.zeros(len(b)) if negative is None else torch.tensor(negative, dtype=torch.float32)
    return make_targets(b, neg, GEO)


def test_shapes_and_types():
    t = targets([64, 64, 96, 96], [10, 20, 60, 50])
    assert t["cls"].shape == t["cls_weight"].shape == t["box_mask"].shape == (2, 1, 13, 13)
    assert t["box"].shape == (2, 4, 13, 13)
    assert all(v.dtype == torch.float32 for v in t.values())
    assert set(t["cls"].unique().tolist()) <= {0.0, 1.0}


def test_positives_are_centred_inside_the_box():
    t = targets([64, 64, 96, 96])  # 32 px square centred on the crop centre (cell 6, 6)
    pos = t["cls"][0, 0].nonzero().tolist()
    assert sorted(pos) == [[5, 6], [6, 5], [6, 6], [6, 7], [7, 6]]  # within 8 px of the centre
    assert torch.equal(t["box_mask"], t["cls"])
    pts = torch.as_tensor(GEO.points())
    for r, c in pos:
        x, y = pts[r, c].tolist()
        assert 64 < x < 96 and 64 < y < 96
    # off-centre box: positives move with it and surround its centre
    t = targets([90, 40, 130, 80])  # centre (110, 60)
    rows, cols = t["cls"][0, 0].nonzero().unbind(1)
    xs, ys = 32 + 8 * cols.float(), 32 + 8 * rows.float()
    assert abs(xs.mean() - 110) <= 4 and abs(ys.mean() - 60) <= 4


def test_ignore_ring_between_positives_and_background():
    t = targets([48, 48, 112, 112])  # 64 px square: inscribed ellipse radius 32
    w, cls = t["cls_weight"][0, 0], t["cls"][0, 0]
    assert w[6, 6] == 1 and cls[6, 6] == 1  # centre: positive, weighted
    assert w[6, 9] == 0 and cls[6, 9] == 0  # 24 px from the centre: inside the box, ignored
    assert w[6, 12] == 1 and cls[6, 12] == 0  # 48 px away, outside the box: negative
    assert w[3, 3] == 1 and cls[3, 3] == 0  # (56, 56): in the box corner, outside the ellipse


def test_ltrb_distances_at_a_hand_computed_cell():
    t = targets([50, 60, 110, 100])
    # row 5, col 4 looks at (32 + 4 * 8, 32 + 5 * 8) = (64, 72)
    assert t["box"][0, :, 5, 4].tolist() == [14.0, 12.0, 46.0, 28.0]


def test_thin_box_between_grid_rows_still_gets_its_nearest_cell():
    t = targets([64, 78, 104, 90])  # centre (84, 84), inner ellipse 10 x 3 px misses every cell
    assert t["cls"].sum() == 1 and t["cls"][0, 0, 6, 6] == 1  # the nearest cell, (80, 80)


def test_negatives_are_all_background():
    t = targets([64, 64, 96, 96], [64, 64, 96, 96], negative=[1.0, 0.0])
    assert t["cls"][0].sum() == 0 and t["box_mask"][0].sum() == 0 and t["box"][0].abs().sum() == 0
    assert torch.all(t["cls_weight"][0] == 1)
    assert t["cls"][1].sum() == 5  # the positive twin is unaffected


@settings(max_examples=60, deadline=None)
@given(st.floats(20, 140), st.floats(20, 140), st.floats(4, 120), st.floats(4, 120))
def test_positives_always_lie_inside_their_box(cx, cy, w, h):
    box = [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]
    t = targets(box)
    pos = t["cls"][0, 0] > 0
    ltrb = t["box"][0][:, pos]
    assert (ltrb > 0).all()  # every positive regresses to edges around it
    assert torch.allclose(ltrb[0] + ltrb[2], torch.tensor(w), atol=1e-3)  # l + r = w
    assert torch.allclose(ltrb[1] + ltrb[3], torch.tensor(h), atol=1e-3)
    assert torch.equal(t["box_mask"], t["cls"]) and not (t["cls_weight"][0, 0][pos] == 0).any()
    if w >= 16 and h >= 16 and 32 <= min(cx, cy) and max(cx, cy) <= 128:
        assert pos.any()  # a box two cells across, centred within the map, gets a positive
