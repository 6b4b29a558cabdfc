"""PairDataset: shapes, boxes matching the pixels, runtime crops, negatives, determinism, loader."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from mlkd_tracker.train.datasets.pairs import EpochSampler, PairConfig, PairDataset, make_loader
from mlkd_tracker.data.sequences import Sequence
from mlkd_tracker.runtime.crops import context_size, crop_square

W, H = 200, 150
BG, FG, CLEAN_BG = 40, 220, 120
# (x, y, w, h) per frame; None = target absent (not drawn, NaN box)
TRACK = [(20, 30, 16, 12), (24, 32, 16, 12), None, (30, 36, 18, 12), (150, 100, 40, 40),
         (0, 0, 90, 110), (60, 50, 20, 30), (64, 52, 20, 30)]
PLAIN = dict(blur_prob=0.0, colour_jitter=0.0, gray_prob=0.0, negative_prob=0.0,
             samples_per_epoch=64, template_shift=0.0, template_scale_jitter=0.0)


def draw(box, bg: int) -> np.ndarray:
    img = np.full((H, W, 3), bg, np.uint8)
    if box is not None:
        x, y, w, h = box
        img[y:y + h, x:x + w] = FG
    return img


@pytest.fixture(scope="module")
def seq(tmp_path_factory) -> Sequence:
    root = tmp_path_factory.mktemp("pairs")
    frames, clean = [], []
    for i, box in enumerate(TRACK):
        frames.append(root / f"{i:03d}.png")
        clean.append(root / f"clean_{i:03d}.png")
        cv2.imwrite(str(frames[-1]), draw(box, BG))
        cv2.imwrite(str(clean[-1]), draw(box, CLEAN_BG))
    boxes = np.array([b if b is not None else (np.nan,) * 4 for b in TRACK], float)
    absent = np.array([b is None for b in TRACK])
    absent[7] = True  # labelled absent although the box is known (e.g. fully occluded)
    return Sequence("squares", frames, boxes, absent, clean)


def test_item_shapes_and_types(seq):
    item = PairDataset([seq], PairConfig(samples_per_epoch=8), seed=0)[3]
    assert item["template"].shape == (3, 64, 64) and item["search"].shape == (3, 160, 160)
    assert item["box"].shape == (4,) and item["negative"].shape == ()
    assert all(v.dtype == torch.float32 for v in item.values())
    assert 0 <= item["search"].min() and item["search"].max() <= 255


def bright_bbox(crop: torch.Tensor) -> tuple[float, ...]:
    ys, xs = np.nonzero(crop.numpy().mean(0) > (BG + FG) / 2)
    return xs.min(), ys.min(), xs.max() + 1, ys.max() + 1


def test_positive_box_matches_the_target_pixels(seq):
    ds = PairDataset([seq], PairConfig(**PLAIN), seed=1)
    centres = []
    for i in range(len(ds)):
        item = ds[i]
        x1, y1, x2, y2 = item["box"].tolist()
        assert item["negative"] == 0 and 0 <= x1 < x2 <= 160 and 0 <= y1 < y2 <= 160
        bx = bright_bbox(item["search"])  # also fails if an absent frame (no square) was used
        assert np.allclose(bx, (x1, y1, x2, y2), atol=1.5), (i, bx, item["box"])
        tpl = item["template"].numpy().mean(0)
        assert tpl[28:36, 28:36].min() > (BG + FG) / 2  # template centred on the target
        centres.append(((x1 + x2) / 2, (y1 + y2) / 2))
    spread = np.ptp(np.array(centres), axis=0)
    assert (spread > 20).all()  # random shift: the target is not always at the crop centre


def test_template_is_the_runtime_crop(seq):
    ds = PairDataset([seq], PairConfig(**PLAIN), seed=2)
    item = ds[0]
    frame = cv2.imread(str(seq.frames[0]))
    sides = [context_size(*seq.boxes[i, 2:]) for i in np.flatnonzero(seq.valid)]
    centres = [(b[0] + b[2] / 2, b[1] + b[3] / 2) for b in seq.boxes[seq.valid]]
    crops = [crop_square(cv2.imread(str(seq.frames[i])), cx, cy, s, 64)
             for i, (cx, cy), s in zip(np.flatnonzero(seq.valid), centres, sides)]
    assert any(np.array_equal(item["template"].numpy().transpose(1, 2, 0), c) for c in crops)
    assert frame.shape == (H, W, 3)


def test_large_target_at_the_border_is_padded_like_the_runtime(seq):
    only_big = Sequence("big", seq.frames[5:6], seq.boxes[5:6], seq.absent[5:6])
    ds = PairDataset([only_big], PairConfig(**PLAIN), seed=3)
    item = ds[0]
    search = item["search"].numpy()
    assert np.allclose(bright_bbox(item["search"]), item["box"].numpy(), atol=1.5)
    mean = cv2.mean(cv2.imread(str(seq.frames[5])))[0]
    assert np.isclose(search[0, 0, 0], mean, atol=1)  # beyond the frame: the frame's mean colour


def test_negatives_are_labelled_and_hold_no_target(seq):
    ds = PairDataset([seq], PairConfig(**{**PLAIN, "negative_prob": 1.0}), seed=4)
    for i in range(len(ds)):
        item = ds[i]
        assert item["negative"] == 1 and torch.all(item["box"] == 0)
        assert item["search"].max() < (BG + FG) / 2, i  # background only: no square


def test_negatives_from_other_sequences_show_a_distractor(seq):
    twin = Sequence("twin", seq.frames, seq.boxes, seq.absent)
    ds = PairDataset([seq, twin], PairConfig(**{**PLAIN, "negative_prob": 1.0}), seed=5)
    with_target = sum(bool(ds[i]["search"].max() > (BG + FG) / 2) for i in range(len(ds)))
    assert 0 < with_target < len(ds)  # some crops centre another sequence's target


def test_deterministic_per_seed_index_and_epoch(seq):
    cfg = PairConfig(samples_per_epoch=16, negative_prob=0.3, blur_prob=0.5, gray_prob=0.3)
    a, b = PairDataset([seq], cfg, seed=7), PairDataset([seq], cfg, seed=7)
    for i in (0, 5, 15):
        x, y = a[i], b[i]
        assert all(torch.equal(x[k], y[k]) for k in x)
    assert not torch.equal(a[0]["search"], a[1]["search"])
    assert not torch.equal(a[0]["search"], PairDataset([seq], cfg, seed=8)[0]["search"])
    assert not torch.equal(a[0]["search"], a[16]["search"])  # index 16: pair 0 of epoch 1
    with pytest.raises(IndexError):
        a[-1]


def test_clean_crops_share_the_geometry(seq):
    cfg = PairConfig(**{**PLAIN, "return_clean": True})
    item = PairDataset([seq], cfg, seed=9)[2]
    for key in ("template", "search"):
        night, clean = item[key].numpy(), item[f"{key}_clean"].numpy()
        assert night.shape == clean.shape
        on = night.mean(0) > (BG + FG) / 2
        assert np.array_equal(on, clean.mean(0) > (CLEAN_BG + FG) / 2)  # same square, same place
        assert clean[:, ~on].mean() > night[:, ~on].mean() + 50  # but the clean background
    tpl = PairDataset([seq], PairConfig(**{**PLAIN, "use_clean_template": True}), seed=9)[2]
    assert torch.equal(tpl["template"], item["template_clean"])
    no_clean = Sequence("n", seq.frames, seq.boxes, seq.absent)
    with pytest.raises(ValueError, match="clean"):
        PairDataset([no_clean], cfg, seed=0)


def test_no_usable_frame_is_an_error(seq):
    empty = Sequence("e", seq.frames[2:3], seq.boxes[2:3], seq.absent[2:3])
    with pytest.raises(ValueError, match="usable"):
        PairDataset([empty], PairConfig(), seed=0)


def test_loader_batches_match_the_items_and_epochs_differ(seq):
    ds = PairDataset([seq], PairConfig(samples_per_epoch=8, negative_prob=0.5), seed=11)
    loader = make_loader(ds, batch_size=4, workers=2, seed=0)
    epoch0, epoch1 = list(loader), list(loader)
    assert len(epoch0) == 2 and epoch0[0]["search"].shape == (4, 3, 160, 160)
    assert torch.equal(epoch0[1]["search"][2], ds[6]["search"])
    assert torch.equal(epoch1[0]["search"][1], ds[9]["search"])  # pair 1 of epoch 1
    assert torch.equal(epoch0[0]["negative"], torch.stack([ds[i]["negative"] for i in range(4)]))
    loader.sampler.set_epoch(0)  # resume: replays epoch 0
    assert torch.equal(next(iter(loader))["search"], epoch0[0]["search"])


def test_epoch_sampler_splits_ranks():
    ranks = [list(EpochSampler(10, rank=r, world_size=3)) for r in range(3)]
    assert sorted(sum(ranks, [])) == list(range(10))
    sampler = EpochSampler(4)
    assert list(sampler) == [0, 1, 2, 3] and list(sampler) == [4, 5, 6, 7]
