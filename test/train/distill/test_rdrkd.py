"""RDR-KD terms: finite and positive on a realistic batch; the masks, weights and
normalisations the paper (and our reference decisions) specify, on constructed inputs; zero or
minimal where that is true; gradient into the student, adapters and generators, never the
teacher; every parameter registered; switched-off terms absent; EIoU by hand."""
from __future__ import annotations

import math

import pytest
import torch

from mlkd_tracker.train.distill.rdrkd import (
    DecoupledKD,
    RDRKDConfig,
    RDRKDLoss,
    RegeneratedKD,
    ResponsiveKD,
    area_softmax,
    attention_maps,
    box_cell_masks,
    decoupled_cell_weights,
    eiou_loss,
    gt_from_ultralytics_batch,
    key_pixel_masks,
    pad_boxes,
    soft_focal_loss,
)

IMG = 128  # network input; P3/P4/P5 = 16/8/4 cells (strides 8/16/32)
S_CH = (64, 128, 256)
T_CH = (96, 192, 384)
SIZES = (16, 8, 4)
B, NC = 2, 10
N = sum(s * s for s in SIZES)  # anchor points


def feats(channels, seed: int, requires_grad: bool = True, batch: int = B):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, c, s, s, generator=g).abs().requires_grad_(requires_grad)
            for c, s in zip(channels, SIZES)]


def gt():
    """Boxes of various sizes in input pixels: tiny (6×6, 10×12), medium, large, overlapping."""
    return [torch.tensor([[4.0, 4.0, 10.0, 10.0], [30.0, 40.0, 40.0, 52.0],
                          [60.0, 60.0, 100.0, 90.0], [70.0, 70.0, 80.0, 78.0]]),
            torch.tensor([[0.0, 0.0, 64.0, 64.0], [90.0, 10.0, 97.0, 18.0]])]


def head(seed: int, requires_grad: bool = True):
    g = torch.Generator().manual_seed(seed)
    scores = (torch.randn(B, N, NC, generator=g) * 2 - 3).requires_grad_(requires_grad)
    xy = torch.rand(B, N, 2, generator=g) * 100
    wh = torch.rand(B, N, 2, generator=g) * 30 + 2
    boxes = torch.cat([xy, xy + wh], -1).requires_grad_(requires_grad)
    return scores, boxes


FG = torch.rand(B, N, generator=torch.Generator().manual_seed(9)) < 0.1


@pytest.fixture(scope="module")
def full_loss():
    torch.manual_seed(0)
    return RDRKDLoss(S_CH, T_CH)


def run(loss, s_seed=1, t_seed=2):
    s_f, t_f = feats(S_CH, s_seed), feats(T_CH, t_seed)
    (s_sc, s_bx), (t_sc, t_bx) = head(s_seed), head(t_seed)
    total, terms = loss(s_f, t_f, gt(), (IMG, IMG), s_sc, t_sc, s_bx, t_bx, FG)
    return total, terms, (s_f, s_sc, s_bx), (t_f, t_sc, t_bx)


# ---------------------------------------------------------------- whole loss, realistic batch

def test_each_term_finite_positive_and_total_is_weighted_sum(full_loss):
    total, terms, _, _ = run(full_loss)
    assert set(terms) == {"regenerated", "decoupled", "responsive_cls", "responsive_loc"}
    for name, v in terms.items():
        assert v.shape == () and torch.isfinite(v) and v.item() > 0, name
    assert torch.allclose(total, sum(terms.values()))
    assert FG.any()


def test_config_weights_scale_the_terms():
    torch.manual_seed(0)
    a = RDRKDLoss(S_CH, T_CH, RDRKDConfig(1.0, 1.0, 1.0))
    torch.manual_seed(0)
    b = RDRKDLoss(S_CH, T_CH, RDRKDConfig(2.0, 3.0, 5.0))
    _, ta, _, _ = run(a)
    _, tb, _, _ = run(b)
    for k, w in (("regenerated", 2), ("decoupled", 3), ("responsive_cls", 5),
                 ("responsive_loc", 5)):
        assert torch.allclose(tb[k], w * ta[k], rtol=1e-5), k
    assert RDRKDConfig().regenerated_weight == 1e-5
    assert RDRKDConfig().decoupled_weight == 1e-1
    assert RDRKDConfig().responsive_weight == 1e-5


def test_gradient_reaches_student_adapters_generators_never_teacher(full_loss):
    full_loss.zero_grad()
    total, _, (s_f, s_sc, s_bx), (t_f, t_sc, t_bx) = run(full_loss, 3, 4)
    total.backward()
    for x in (*s_f, s_sc, s_bx):
        assert x.grad is not None and x.grad.abs().sum() > 0
    for x in (*t_f, t_sc, t_bx):  # teacher leaves require grad: the modules must detach them
        assert x.grad is None
    for name, p in full_loss.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_all_parameters_registered(full_loss):
    params = {id(p) for p in full_loss.parameters()}
    expected = []
    for term in (full_loss.regenerated, full_loss.decoupled):
        for lvl in range(3):
            expected += list(term.adapters[lvl].parameters())
    for lvl in range(3):
        expected += list(full_loss.regenerated.spatial_generators[lvl].parameters())
        expected += list(full_loss.regenerated.channel_generators[lvl].parameters())
    assert {id(p) for p in expected} == params
    # shapes: 1×1 adapters student -> teacher, generators at teacher width
    for lvl, (cs, ct) in enumerate(zip(S_CH, T_CH)):
        assert full_loss.decoupled.adapters[lvl].weight.shape == (ct, cs, 1, 1)
        assert full_loss.regenerated.spatial_generators[lvl][0].weight.shape == (ct, ct, 3, 3)
    opt = torch.optim.SGD(full_loss.parameters(), lr=0.1)
    assert sum(len(g["params"]) for g in opt.param_groups) == len(params)


@pytest.mark.parametrize("off", ["regenerated", "decoupled", "responsive"])
def test_switched_off_term_builds_nothing_and_returns_no_key(off):
    cfg = RDRKDConfig(**{f"{off}_weight": 0.0})
    loss = RDRKDLoss(S_CH, T_CH, cfg)
    assert getattr(loss, off) is None
    assert not any(n.startswith(off) for n, _ in loss.named_modules() if n)
    _, terms, _, _ = run(loss)
    assert not any(k.startswith(off) for k in terms) and terms


def test_all_terms_off_and_missing_inputs():
    loss = RDRKDLoss(S_CH, T_CH, RDRKDConfig(0.0, 0.0, 0.0))
    assert list(loss.parameters()) == [] and list(loss.children()) == []
    total, terms = loss(feats(S_CH, 1), feats(T_CH, 2), gt(), IMG)
    assert terms == {} and total.item() == 0.0
    # responsive alone needs no features; the feature terms alone need no head outputs
    (s_sc, s_bx), (t_sc, t_bx) = head(1), head(2)
    _, terms = RDRKDLoss(S_CH, T_CH, RDRKDConfig(0.0, 0.0, 1.0))(
        s_scores=s_sc, t_scores=t_sc, s_boxes=s_bx, t_boxes=t_bx, fg_mask=FG)
    assert set(terms) == {"responsive_cls", "responsive_loc"}
    with pytest.raises(ValueError):
        RDRKDLoss(S_CH, T_CH)(feats(S_CH, 1), feats(T_CH, 2), gt(), IMG)  # no head outputs
    with pytest.raises(ValueError):
        RDRKDLoss(S_CH, T_CH, RDRKDConfig(responsive_weight=0))(
            feats(S_CH, 1)[:2], feats(T_CH, 2)[:2], gt(), IMG)  # two levels for three
    with pytest.raises(ValueError):
        RDRKDConfig(focal_form="hard")


# ---------------------------------------------------------------- box -> cell geometry

def test_box_cells_any_overlap_and_never_empty():
    boxes, valid = pad_boxes([torch.tensor([[5.0, 5.0, 12.0, 9.0],     # straddles cells 0,1 in x
                                            [40.0, 40.0, 41.0, 41.0],  # 1×1 px
                                            [16.0, 0.0, 32.0, 8.0],    # exactly cells 2,3 / 0
                                            [120.0, 120.0, 140.0, 140.0],  # leaves image
                                            [16.0, 16.0, 16.0, 16.0]])])  # degenerate
    m = box_cell_masks(boxes, 16, 16, IMG)[0]
    assert m[0].nonzero().tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]]
    assert m[1].nonzero().tolist() == [[5, 5]]
    assert m[2].nonzero().tolist() == [[0, 2], [0, 3]]
    assert m[3].nonzero().tolist() == [[15, 15]]
    assert m[4].nonzero().tolist() == [[2, 2]]
    m5 = box_cell_masks(boxes, 4, 4, IMG)[0]  # stride 32: every box still covers a cell
    assert (m5.flatten(1).sum(1) >= 1).all()


def test_gt_from_ultralytics_batch():
    batch_idx = torch.tensor([0.0, 1.0, 1.0])
    bboxes = torch.tensor([[0.5, 0.5, 0.25, 0.5], [0.1, 0.2, 0.1, 0.1], [0.9, 0.9, 0.2, 0.2]])
    cls = torch.tensor([[3.0], [1.0], [7.0]])
    boxes, classes = gt_from_ultralytics_batch(batch_idx, bboxes, cls, 3, (100, 200))
    assert torch.allclose(boxes[0], torch.tensor([[75.0, 25.0, 125.0, 75.0]]))
    assert torch.allclose(boxes[1][0], torch.tensor([10.0, 15.0, 30.0, 25.0]))
    assert classes[1].tolist() == [1.0, 7.0] and len(boxes[2]) == 0


# ---------------------------------------------------------------- regenerated: masks

def peaked_teacher(c=8, h=8, w=8, peak=(2, 5), channel=3):
    """Uniform |F| = 1 except one hot cell and one hot channel."""
    t = torch.ones(1, c, h, w)
    t[:, :, peak[0], peak[1]] = 6.0
    t[:, channel] *= 4.0
    return t


def test_attention_is_normalised_and_from_abs_teacher():
    t = torch.randn(2, 8, 6, 6)
    a_s, a_c = attention_maps(t)
    assert a_s.shape == (2, 1, 6, 6) and a_c.shape == (2, 8, 1, 1)
    assert torch.allclose(a_s.mean((1, 2, 3)), torch.ones(2))
    assert torch.allclose(a_c.mean((1, 2, 3)), torch.ones(2))
    b_s, b_c = attention_maps(-t)
    assert torch.equal(a_s, b_s) and torch.equal(a_c, b_c)


def test_high_attention_cell_is_masked_low_cells_kept():
    t = peaked_teacher()
    boxes, valid = pad_boxes([torch.zeros(0, 4)])
    m_s, _ = key_pixel_masks(t, boxes, valid, 64)
    assert m_s[0, 0, 2, 5] == 0
    assert m_s.sum() == 8 * 8 - 1


def test_tiny_box_cells_masked_even_where_attention_is_low():
    t = peaked_teacher()  # 8×8 level of a 64 px input: stride 8
    tiny = [40.0, 40.0, 52.0, 50.0]   # 12×10 = 120 px² < 500: cells rows 5-6, cols 5-6
    large = [0.0, 40.0, 32.0, 64.0]   # 32×24 = 768 px² >= 500
    boxes, valid = pad_boxes([torch.tensor([tiny, large])])
    a_s, _ = attention_maps(t)
    assert (a_s[0, 0, 5:7, 5:7] < 1).all()  # low attention there
    m_s, _ = key_pixel_masks(t, boxes, valid, 64)
    assert (m_s[0, 0, 5:7, 5:7] == 0).all()
    assert (m_s[0, 0, 5:8, 0:4] == 1).all()  # large box, low attention: kept
    assert m_s.sum() == 64 - 1 - 4
    # τ_area is in input pixels: at a smaller threshold the 120 px² box is no longer "tiny"
    m_s2, _ = key_pixel_masks(t, boxes, valid, 64, tau_area=100.0)
    assert (m_s2[0, 0, 5:7, 5:7] == 1).all()


def test_channel_mask_follows_channel_attention():
    t = torch.rand(2, 16, 5, 5) + 0.5
    t[0, [1, 7]] *= 3.0
    _, a_c = attention_maps(t)
    _, m_c = key_pixel_masks(t, *pad_boxes([torch.zeros(0, 4)] * 2), 40, tau_c=1.0)
    assert torch.equal(m_c, (a_c <= 1.0).float())
    assert m_c[0, 1] == 0 and m_c[0, 7] == 0 and m_c[0].sum() == 14
    _, m_c2 = key_pixel_masks(t, *pad_boxes([torch.zeros(0, 4)] * 2), 40, tau_c=1e9)
    assert (m_c2 == 1).all()


def test_regenerated_is_eq6_summed_over_levels_per_batch():
    torch.manual_seed(0)
    kd = RegeneratedKD((4, 6), (8, 8))
    s = [torch.randn(1, 4, 8, 8), torch.randn(1, 6, 4, 4)]
    t = [torch.randn(1, 8, 8, 8), torch.randn(1, 8, 4, 4)]
    boxes = [torch.tensor([[3.0, 3.0, 9.0, 9.0]])]
    levels = []
    bx, vd = pad_boxes(boxes)
    for i in range(2):  # eq. 5-6 by hand from the module's own children
        m_s, m_c = key_pixel_masks(t[i], bx, vd, 64)
        a = kd.adapters[i](s[i])
        new = kd.spatial_generators[i](a * m_s) + kd.channel_generators[i](a * m_c)
        levels.append(((new - t[i]) ** 2).sum())
    one = kd(s, t, boxes, 64)
    assert torch.allclose(one, levels[0] + levels[1], rtol=1e-5)
    two = kd([x.repeat(2, 1, 1, 1) for x in s], [x.repeat(2, 1, 1, 1) for x in t],
             boxes * 2, 64)
    assert torch.allclose(two, one, rtol=1e-5)  # divided by the batch size


# ---------------------------------------------------------------- decoupled: weights

def test_area_softmax_sums_to_one_smaller_object_heavier():
    areas = torch.tensor([[0.001, 0.5, 0.05, 0.0], [0.2, 0.0, 0.0, 0.0], [0.0] * 4])
    valid = torch.tensor([[True, True, True, False], [True, False, False, False], [False] * 4])
    w = area_softmax(areas, valid, 20.0, 0.005)
    assert torch.allclose(w.sum(1), torch.tensor([1.0, 1.0, 0.0]))
    assert w[0, 0] > w[0, 2] > w[0, 1] and w[0, 3] == 0 and w[1, 0] == 1
    expected = torch.softmax((1 - areas[0, :3] - 0.005) / 20.0, 0)
    assert torch.allclose(w[0, :3], expected)
    # the bias cancels; with T_s = 20 the weights are within e^(-1/20) of each other
    assert torch.allclose(area_softmax(areas, valid, 20.0, 0.3), w)
    assert w[0, 1] / w[0, 0] > math.exp(-1 / 20)


def test_decoupled_cell_weights_per_object_overlap_and_background():
    big = [0.0, 0.0, 32.0, 32.0]       # 4×4 cells at stride 8
    small = [8.0, 8.0, 16.0, 16.0]     # 1 cell, inside big
    boxes, valid = pad_boxes([torch.tensor([big, small]), torch.zeros(0, 4)])
    fg, bg = decoupled_cell_weights(boxes, valid, 8, 8, 64)
    x = torch.tensor([32.0 * 32, 8.0 * 8]) / 64 ** 2
    w = torch.softmax((1 - x) / 20, 0)
    assert torch.isclose(fg[0].sum(), torch.tensor(1.0))
    assert torch.isclose(fg[0, 0, 0], w[0] / 16)
    assert torch.isclose(fg[0, 1, 1], w[0] / 16 + w[1])  # overlap: weights add
    assert fg[0, 1, 1] > fg[0, 0, 0] * 16  # per cell, the small object dominates
    assert bg[0].sum() == 64 - 16 and not bg[0, :4, :4].any()
    assert fg[1].sum() == 0 and bg[1].all()  # no objects: all background


def test_decoupled_background_normalised_by_cell_count():
    """No objects, student - teacher = 1 everywhere: β·C per level, whatever the map size."""
    kd = DecoupledKD((4, 4), (4, 4), alpha=0.5, beta=0.5)
    for size in (4, 16):
        t = [torch.zeros(2, 4, size, size), torch.zeros(2, 4, size * 2, size)]
        s = [x + 1 for x in t]
        assert torch.isclose(kd(s, t, [torch.zeros(0, 4)] * 2, (size * 8, size * 8)),
                             torch.tensor(2 * 0.5 * 4.0))


def test_decoupled_hand_value_one_object():
    kd = DecoupledKD((2,), (2,), alpha=0.5, beta=0.5)  # identity adapter
    t = [torch.zeros(1, 2, 4, 4)]
    s = [torch.zeros(1, 2, 4, 4)]
    s[0][:, :, :2, :2] = 3.0   # object cells: per-cell error 2·9 = 18
    s[0][:, :, 3, 3] = 1.0     # one background cell: error 2
    out = kd(s, t, [torch.tensor([[0.0, 0.0, 16.0, 16.0]])], 32)  # stride 8: cells 0-1
    assert torch.isclose(out, torch.tensor(0.5 * 18.0 + 0.5 * 2.0 / 12))


def test_decoupled_zero_for_identical_features_with_identity_adapter():
    kd = DecoupledKD((8, 16), (8, 16))
    f = [torch.randn(2, 8, 8, 8), torch.randn(2, 16, 4, 4)]
    out = kd(f, [x.clone() for x in f], gt()[:1] * 2, 64)
    assert out.abs().item() < 1e-10
    assert kd(f, [x + 0.1 for x in f], gt()[:1] * 2, 64).item() > 0


# ---------------------------------------------------------------- responsive

def test_responsive_identical_loc_zero_cls_zero_and_minimal():
    kd = ResponsiveKD()
    scores, boxes = head(5)
    out = kd(scores, scores.detach().clone(), boxes, boxes.detach().clone(), FG)
    assert out["loc"].abs().item() < 1e-5
    assert out["cls"].abs().item() < 1e-10  # quality focal: 0 at p = y
    (out["cls"] + out["loc"]).backward()
    assert scores.grad.abs().max().item() < 1e-6  # a stationary point ...
    for delta in (0.5, -0.5):  # ... and the minimum: moving the student either way costs
        moved = kd(scores.detach() + delta, scores.detach(), boxes, boxes.detach(), FG)
        assert moved["cls"].item() > 1e-3


def test_standard_focal_form_is_not_minimal_at_the_teacher():
    """Why "quality" is the default: the hard-label focal formula on soft labels is > 0 at
    p = y and lower for a student sharper than the teacher."""
    y = torch.tensor([0.9, 0.2]).logit()
    at_teacher = soft_focal_loss(y, y, 2.0, "standard")
    sharper = soft_focal_loss(torch.tensor([0.99, 0.05]).logit(), y, 2.0, "standard")
    assert (at_teacher > 0.005).all() and (sharper < at_teacher).all()
    q_sharper = soft_focal_loss(torch.tensor([0.99, 0.05]).logit(), y, 2.0, "quality")
    assert (q_sharper > soft_focal_loss(y, y, 2.0, "quality")).all()


def test_quality_focal_is_lin_focal_for_hard_targets():
    s = torch.tensor([-2.0, 0.3, 1.5])
    p = torch.sigmoid(s)
    pos = soft_focal_loss(s, torch.full_like(s, 40.0), 2.0)  # σ(40) = 1
    neg = soft_focal_loss(s, torch.full_like(s, -40.0), 2.0)
    assert torch.allclose(pos, -(1 - p) ** 2 * torch.log(p), rtol=1e-5)
    assert torch.allclose(neg, -(p ** 2) * torch.log(1 - p), rtol=1e-5)


def test_responsive_cls_sums_all_points_and_classes_per_image():
    kd = ResponsiveKD()
    s, t = torch.randn(1, 7, 3), torch.randn(1, 7, 3)
    boxes = torch.tensor([[0.0, 0.0, 1.0, 1.0]]).expand(1, 7, 4)
    fg = torch.zeros(1, 7, dtype=torch.bool)
    one = kd(s, t, boxes, boxes, fg)
    assert torch.isclose(one["cls"], soft_focal_loss(s, t).sum())
    two = kd(s.repeat(2, 1, 1), t.repeat(2, 1, 1), boxes.repeat(2, 1, 1),
             boxes.repeat(2, 1, 1), fg.repeat(2, 1))
    assert torch.isclose(two["cls"], one["cls"]) and one["loc"] == 0  # / B; no fg: 0


def test_responsive_loc_foreground_only_weighted_by_teacher_max_score():
    kd = ResponsiveKD()
    t_box = torch.tensor([[[0.0, 0.0, 2.0, 2.0]] * 3])
    s_box = torch.tensor([[[1.0, 0.0, 4.0, 1.0], [1.0, 0.0, 4.0, 1.0], [50.0, 50.0, 60.0, 70.0]]])
    t_sc = torch.tensor([[[0.0, 2.0], [-1.0, -3.0], [5.0, 5.0]]])
    fg = torch.tensor([[True, True, False]])
    out = kd(torch.zeros(1, 3, 2), t_sc, s_box, t_box, fg)
    e = eiou_loss(s_box[0, 0], t_box[0, 0])
    expected = e * (torch.sigmoid(torch.tensor(2.0)) + torch.sigmoid(torch.tensor(-1.0)))
    assert torch.isclose(out["loc"], expected)
    s_box2 = s_box.clone()
    s_box2[0, 2] = torch.tensor([0.0, 0.0, 100.0, 100.0])  # background point: ignored
    assert torch.isclose(kd(torch.zeros(1, 3, 2), t_sc, s_box2, t_box, fg)["loc"], out["loc"])


# ---------------------------------------------------------------- EIoU

def test_eiou_zero_for_identical_boxes():
    b = torch.tensor([[0.0, 0.0, 2.0, 2.0], [10.0, 5.0, 40.0, 9.0], [3.0, 3.0, 3.5, 100.0]])
    assert eiou_loss(b, b.clone()).abs().max().item() < 1e-6


def test_eiou_hand_computed():
    # (0,0,2,2) vs (1,0,4,1): inter 1, union 4 + 3 - 1 = 6; enclosing 4×2 (c² = 20);
    # centres (1,1) vs (2.5,0.5): ρ² = 2.5; Δw = 1 over C_w² = 16; Δh = 1 over C_h² = 4
    a, b = torch.tensor([0.0, 0.0, 2.0, 2.0]), torch.tensor([1.0, 0.0, 4.0, 1.0])
    expected = 1 - 1 / 6 + 2.5 / 20 + 1 / 16 + 1 / 4
    assert math.isclose(eiou_loss(a, b).item(), expected, rel_tol=1e-5)
    assert math.isclose(eiou_loss(b, a).item(), expected, rel_tol=1e-5)  # symmetric
    assert math.isclose(eiou_loss(a * 8, b * 8).item(), expected, rel_tol=1e-5)  # scale-free
    # disjoint boxes: IoU 0, loss > 1
    assert eiou_loss(a, a + 10).item() > 1
