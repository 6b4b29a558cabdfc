"""Enhancer training patches: deterministic per index, night and clean cut from the same place."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from mlkd_tracker.train.datasets.enhance_patches import PatchConfig, PatchDataset, whole_frames
from mlkd_tracker.data.sequences import Sequence


def _seq(tmp: Path, name: str, clean: bool, size=(40, 60)) -> Sequence:
    rng = np.random.default_rng(len(name))
    folder = tmp / name
    (folder / "clean").mkdir(parents=True)
    frames, cleans = [], []
    for i in range(3):
        day = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
        frames.append(folder / f"{i:08d}.png")
        cleans.append(folder / "clean" / f"{i:08d}.png")
        cv2.imwrite(str(frames[-1]), day // 4)   # "night": a quarter of the light
        cv2.imwrite(str(cleans[-1]), day)
    return Sequence(name=name, frames=frames, boxes=np.ones((3, 4)), absent=np.zeros(3, bool),
                    clean_frames=cleans if clean else None)


def test_patches_are_deterministic_per_index_and_paired_in_place(tmp_path):
    ds = PatchDataset([_seq(tmp_path, "a", True)], PatchConfig(patch_size=16, samples_per_epoch=5), 3)
    a, b = ds[2], ds[2]
    assert torch.equal(a["dark"], b["dark"]) and torch.equal(a["clean"], b["clean"])
    assert a["dark"].shape == (3, 16, 16) and float(a["clean"].max()) <= 1.0
    # Same place (and same flip): the night patch is the clean one at a quarter of the light.
    assert torch.allclose(a["dark"], torch.floor(a["clean"] * 255 / 4) / 255, atol=1.5 / 255)
    assert not torch.equal(ds[0]["dark"], ds[1]["dark"])


def test_paired_patches_need_clean_frames_and_unpaired_ones_do_not(tmp_path):
    seq = _seq(tmp_path, "b", clean=False)
    with pytest.raises(ValueError, match="clean frames"):
        PatchDataset([seq], PatchConfig(patch_size=16), 0)
    item = PatchDataset([seq], PatchConfig(patch_size=16, paired=False), 0)[0]
    assert set(item) == {"dark"}


def test_a_patch_larger_than_the_frame_is_a_clear_error(tmp_path):
    ds = PatchDataset([_seq(tmp_path, "c", True)], PatchConfig(patch_size=64), 0)
    with pytest.raises(ValueError, match="smaller than patch_size"):
        ds[0]


def test_whole_frames_are_spread_evenly_and_keep_their_size(tmp_path):
    seqs = [_seq(tmp_path, "d", True), _seq(tmp_path, "e", True), _seq(tmp_path, "f", False)]
    frames = whole_frames(seqs, 3)   # 6 paired frames (d0 d1 d2 e0 e1 e2) -> d0, e0 (or d2), e2
    assert len(frames) == 3
    assert all(f["dark"].shape == f["clean"].shape == (1, 3, 40, 60) for f in frames)
    first = torch.from_numpy(cv2.imread(str(seqs[0].clean_frames[0]))).permute(2, 0, 1) / 255.0
    last = torch.from_numpy(cv2.imread(str(seqs[1].clean_frames[2]))).permute(2, 0, 1) / 255.0
    assert torch.equal(frames[0]["clean"][0], first) and torch.equal(frames[-1]["clean"][0], last)
    assert len(whole_frames(seqs, 100)) == 6      # never the same frame twice


def test_whole_frames_need_paired_sequences(tmp_path):
    with pytest.raises(ValueError, match="clean frames"):
        whole_frames([_seq(tmp_path, "g", False)], 2)
