"""Random (night, clean) patches from tracking sequences, for training low-light enhancers.

The synthetic night set stores a day version of every frame (``<seq>/clean/``); any sequence
without one (a real night recording) still serves unpaired dark patches, which SLKD's terms that
need no ground truth can learn from. Patch ``i`` depends only on (seed, i), so an epoch is
reproducible and resumable, like the tracking pairs.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from mlkd_tracker.train.datasets.recolour import recoloured_pair
from mlkd_tracker.data.sequences import Sequence


@dataclass
class PatchConfig:
    patch_size: int = 128           # the SLKD paper's training patch
    samples_per_epoch: int = 1000
    paired: bool = True             # also return the clean patch (needs <seq>/clean/)
    flip: bool = True               # random horizontal flips (same for night and clean)
    recolour: float = 0.0           # share of paired patches recoloured and re-rendered

    def __post_init__(self) -> None:
        if self.patch_size < 8 or self.samples_per_epoch < 1 or not 0 <= self.recolour <= 1:
            raise ValueError(f"invalid PatchConfig: {self}")


def _read(path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise OSError(f"cannot read image {path}")
    return img


def _tensor(img: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 BGR -> (3, H, W) float in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))).float() / 255.0


class PatchDataset(Dataset):
    """``{"dark": (3, P, P)}`` and, when paired, ``"clean"`` of the same place, both in [0, 1]."""

    def __init__(self, sequences: list[Sequence], cfg: PatchConfig, seed: int) -> None:
        self.cfg, self.seed = cfg, int(seed)
        self.seqs = [s for s in sequences if len(s.frames)]
        if not self.seqs:
            raise ValueError("no sequence with frames to cut patches from")
        if cfg.paired:
            missing = [s.name for s in self.seqs if s.clean_frames is None]
            if missing:
                raise ValueError(f"paired patches need clean frames; missing for {missing[:5]} "
                                 "(set paired: false to use them for unpaired terms only)")

    def __len__(self) -> int:
        return self.cfg.samples_per_epoch

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng([self.seed, int(index)])
        seq = self.seqs[int(rng.integers(len(self.seqs)))]
        fi = int(rng.integers(len(seq.frames)))
        dark = _read(seq.frames[fi])
        h, w = dark.shape[:2]
        p = self.cfg.patch_size
        if h < p or w < p:
            raise ValueError(f"{seq.frames[fi]}: frame {w}x{h} is smaller than patch_size {p}")
        y, x = int(rng.integers(h - p + 1)), int(rng.integers(w - p + 1))
        flip = self.cfg.flip and rng.random() < 0.5
        patches = {"dark": dark[y:y + p, x:x + p]}
        if self.cfg.paired:
            clean = _read(seq.clean_frames[fi])
            if clean.shape != dark.shape:
                raise ValueError(f"{seq.clean_frames[fi]}: clean frame {clean.shape[1::-1]} and "
                                 f"night frame {dark.shape[1::-1]} differ in size")
            patches["clean"] = clean[y:y + p, x:x + p]
            if self.cfg.recolour > 0 and rng.random() < self.cfg.recolour:
                patches["dark"], patches["clean"] = recoloured_pair(patches["clean"], rng)
        return {key: _tensor(patch[:, ::-1] if flip else patch) for key, patch in patches.items()}


def whole_frames(sequences: list[Sequence], count: int) -> list[dict[str, torch.Tensor]]:
    """``count`` whole (night, clean) frame pairs, ``{"dark", "clean"}`` of shape (1, 3, H, W),
    spread evenly over all frames of the paired sequences.

    Why whole frames: the report scores whole frames, and a network that pools statistics over
    its input (a global colour head) can do well on patches and badly on frames."""
    frames = [(s, i) for s in sequences if s.clean_frames is not None for i in range(len(s.frames))]
    if count < 1 or not frames:
        raise ValueError(f"whole-frame validation needs count >= 1 (got {count}) and sequences "
                         "with clean frames")
    picks = np.unique(np.linspace(0, len(frames) - 1, count).round().astype(int))
    out = []
    for k in picks:
        seq, i = frames[k]
        dark, clean = _read(seq.frames[i]), _read(seq.clean_frames[i])
        if clean.shape != dark.shape:
            raise ValueError(f"{seq.clean_frames[i]}: clean and night frames differ in size")
        out.append({"dark": _tensor(dark)[None], "clean": _tensor(clean)[None]})
    return out
