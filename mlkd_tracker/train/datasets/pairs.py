"""Template/search training pairs for Siamese trackers, cropped exactly like the runtime tracker.

Why crops come from ``runtime.crops``: the template is the ``context_size(w, h)`` square around
the target resampled to ``template_size`` and the search region is that side times
``search_size / template_size``, padded with the frame's mean colour beyond the frame, so large
targets near the border give the same padded crops in training as at run time
(a train/run-time crop mismatch costs more accuracy than any loss term). The search crop is centred at the target plus a random
shift and rescaled by a random factor, so the target is neither always central nor always the
same size in the crop; ``box`` is where it really is in search-crop pixels.

Negative pairs (``negative_prob``) teach the head to say "not here": half of them crop around
the target of *another* sequence (a look-alike distractor), the rest crop background of the
search frame away from the target. Their labels are all-negative (``box`` = 0, ``negative`` = 1).

Every item is a pure function of ``(seed, index)``, so DataLoader workers reproduce it whatever
process they run in. An epoch is ``samples_per_epoch`` consecutive indices: index
``e * samples_per_epoch + i`` is pair ``i`` of epoch ``e``, and :class:`EpochSampler` (used by
:func:`make_loader`) walks epoch after epoch, so each epoch brings fresh pairs without any state
in the workers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from mlkd_tracker.data.sequences import Sequence
from mlkd_tracker.runtime.crops import context_size, crop_square, image_to_crop

__all__ = ["PairConfig", "PairDataset", "EpochSampler", "make_loader"]


@dataclass
class PairConfig:
    template_size: int = 64
    search_size: int = 160
    context: float = 0.5  # as runtime.crops.context_size
    max_gap: int = 100  # max frames between template and search
    shift: float = 0.25  # max |target offset| from the search-crop centre per axis, x crop side
    scale_jitter: float = 0.25  # search crop side x exp(U(-s, s))
    template_shift: float = 0.03  # small template jitter: the runtime's init box is not exact
    template_scale_jitter: float = 0.05
    blur_prob: float = 0.2  # Gaussian blur (sigma 0.5..2 crop px) per night crop
    colour_jitter: float = 0.2  # per-channel gain exp(U(-c, c)) per night crop
    gray_prob: float = 0.05  # both night crops to gray
    negative_prob: float = 0.2
    samples_per_epoch: int = 20000
    min_template_cover: float = 0.5  # template frames need this visible fraction (if labelled)
    use_clean_template: bool = False  # template from the clean (day) frame: teacher option
    return_clean: bool = False  # also return "template_clean" / "search_clean"

    def __post_init__(self) -> None:
        ok = (0 < self.template_size <= self.search_size and self.context >= 0
              and self.max_gap >= 0 and 0 <= self.shift < 0.5 and self.scale_jitter >= 0
              and 0 <= self.negative_prob <= 1 and self.samples_per_epoch > 0)
        if not ok:
            raise ValueError(f"invalid PairConfig: {self}")


def _read(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise OSError(f"cannot read image {path}")
    return img


def _tensor(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1), dtype=np.float32))


def _centre(box: np.ndarray) -> tuple[float, float]:
    return float(box[0] + box[2] / 2), float(box[1] + box[3] / 2)


class PairDataset(Dataset):
    """``samples_per_epoch`` random pairs from ``sequences`` (see the module docstring)."""

    def __init__(self, sequences: list[Sequence], cfg: PairConfig, seed: int) -> None:
        self.cfg, self.seed = cfg, int(seed)
        self.ratio = cfg.search_size / cfg.template_size
        self.seqs: list[Sequence] = []
        self.usable: list[np.ndarray] = []  # sorted frame indices with a usable box
        self.templates: list[np.ndarray] = []  # usable frames that are visible enough
        for s in sequences:
            idx = np.flatnonzero(s.valid)
            if idx.size == 0:
                continue
            tpl = idx if s.cover is None else idx[s.cover[idx] >= cfg.min_template_cover]
            self.seqs.append(s)
            self.usable.append(idx)
            self.templates.append(tpl if tpl.size else idx)
        if not self.seqs:
            raise ValueError("no sequence has a frame with a usable box")
        if cfg.use_clean_template or cfg.return_clean:
            missing = [s.name for s in self.seqs if s.clean_frames is None]
            if missing:
                raise ValueError(f"clean frames requested but missing for {missing[:5]}")

    def __len__(self) -> int:
        """Pairs per epoch; any index >= 0 is valid (see the module docstring)."""
        return self.cfg.samples_per_epoch

    def __iter__(self):  # one epoch; without it, iteration would never end
        return (self[i] for i in range(len(self)))

    # ------------------------------------------------------------------ crops
    def _load(self, si: int, fi: int, clean: bool) -> np.ndarray:
        seq = self.seqs[si]
        return _read(seq.clean_frames[fi] if clean else seq.frames[fi])

    def _search_side(self, box: np.ndarray, rng: np.random.Generator) -> float:
        side = context_size(box[2], box[3], self.cfg.context) * self.ratio
        return side * math.exp(rng.uniform(-self.cfg.scale_jitter, self.cfg.scale_jitter))

    def _template(self, si: int, fi: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        c, box = self.cfg, self.seqs[si].boxes[fi]
        side = context_size(box[2], box[3], c.context)
        side *= math.exp(rng.uniform(-c.template_scale_jitter, c.template_scale_jitter))
        cx, cy = np.array(_centre(box)) + rng.uniform(-c.template_shift, c.template_shift, 2) * side
        frames = {"template": self._load(si, fi, c.use_clean_template)}
        if c.return_clean:
            frames["template_clean"] = frames["template"] if c.use_clean_template \
                else self._load(si, fi, True)
        return {k: crop_square(v, cx, cy, side, c.template_size) for k, v in frames.items()}

    def _search(self, si: int, fi: int, cx: float, cy: float, side: float) -> dict[str, np.ndarray]:
        out = self.cfg.search_size
        crops = {"search": crop_square(self._load(si, fi, False), cx, cy, side, out)}
        if self.cfg.return_clean:
            crops["search_clean"] = crop_square(self._load(si, fi, True), cx, cy, side, out)
        return crops

    def _background_centre(self, box: np.ndarray, side: float, shape: tuple[int, ...],
                           rng: np.random.Generator) -> tuple[float, float]:
        """A crop centre whose ``side`` square misses the target box (with a small margin)."""
        h, w = shape[:2]
        x0, y0, x1, y1 = box[0], box[1], box[0] + box[2], box[1] + box[3]
        half = side / 2 + 0.05 * side
        for _ in range(20):
            cx, cy = rng.uniform(0, w), rng.uniform(0, h)
            if cx + half < x0 or cx - half > x1 or cy + half < y0 or cy - half > y1:
                return cx, cy
        # frame too small for a clean miss: put the crop beside the box on its roomiest side
        room = {"l": x0, "r": w - x1, "t": y0, "b": h - y1}
        side_name = max(room, key=room.get)
        bx, by = _centre(box)
        return {"l": (x0 - half, by), "r": (x1 + half, by),
                "t": (bx, y0 - half), "b": (bx, y1 + half)}[side_name]

    # ------------------------------------------------------------------ items
    def _pick_pair(self, rng: np.random.Generator) -> tuple[int, int, int]:
        si = int(rng.integers(len(self.seqs)))
        tpl, usable = self.templates[si], self.usable[si]
        ti = int(tpl[rng.integers(tpl.size)])
        lo, hi = np.searchsorted(usable, [ti - self.cfg.max_gap, ti + self.cfg.max_gap + 1])
        return si, ti, int(usable[rng.integers(lo, hi)])

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if index < 0:
            raise IndexError(index)
        c = self.cfg
        rng = np.random.default_rng([self.seed, int(index)])
        si, ti, fi = self._pick_pair(rng)
        item = self._template(si, ti, rng)
        negative = bool(rng.random() < c.negative_prob)
        box = np.zeros(4)
        if not negative:
            target = self.seqs[si].boxes[fi]
            side = self._search_side(target, rng)
            cx, cy = np.array(_centre(target)) - rng.uniform(-c.shift, c.shift, 2) * side
            item.update(self._search(si, fi, cx, cy, side))
            corners = np.array([target[:2], target[:2] + target[2:]])
            box = np.clip(image_to_crop(corners, cx, cy, side, c.search_size), 0,
                          c.search_size).reshape(4)
        elif len(self.seqs) > 1 and rng.random() < 0.5:  # another sequence's target
            oi = int(rng.integers(len(self.seqs) - 1))
            oi += oi >= si
            fi = int(self.usable[oi][rng.integers(self.usable[oi].size)])
            other = self.seqs[oi].boxes[fi]
            side = self._search_side(other, rng)
            cx, cy = np.array(_centre(other)) - rng.uniform(-c.shift, c.shift, 2) * side
            item.update(self._search(oi, fi, cx, cy, side))
        else:  # background of the search frame, away from the target
            target = self.seqs[si].boxes[fi]
            side = self._search_side(target, rng)
            frame = self._load(si, fi, False)
            cx, cy = self._background_centre(target, side, frame.shape, rng)
            item["search"] = crop_square(frame, cx, cy, side, c.search_size)
            if c.return_clean:
                item["search_clean"] = crop_square(self._load(si, fi, True), cx, cy, side,
                                                   c.search_size)
        self._augment(item, rng)
        out = {k: _tensor(v) for k, v in item.items()}
        out["box"] = torch.tensor(box, dtype=torch.float32)
        out["negative"] = torch.tensor(float(negative), dtype=torch.float32)
        return out

    def _augment(self, item: dict[str, np.ndarray], rng: np.random.Generator) -> None:
        """Photometric jitter of the night crops; clean crops stay untouched (they are targets)."""
        c = self.cfg
        gray = rng.random() < c.gray_prob
        for key in ("template", "search"):
            img = item[key].astype(np.float32)
            if c.colour_jitter > 0:
                img *= np.exp(rng.uniform(-c.colour_jitter, c.colour_jitter, 3)).astype(np.float32)
            if rng.random() < c.blur_prob:
                img = cv2.GaussianBlur(img, (0, 0), float(rng.uniform(0.5, 2.0)))
            if gray:
                img = np.repeat(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)[:, :, None], 3, axis=2)
            item[key] = np.clip(img, 0, 255)


class EpochSampler(Sampler[int]):
    """Indices of consecutive epochs: epoch ``e`` yields ``e * n ... e * n + n - 1``.

    Each pass advances the epoch by itself; :meth:`set_epoch` sets it explicitly (resume).
    With ``world_size`` > 1 (DDP), rank ``r`` takes every ``world_size``-th index from ``r``.
    """

    def __init__(self, n: int, rank: int = 0, world_size: int = 1) -> None:
        if not (n > 0 and 0 <= rank < world_size):
            raise ValueError(f"bad sampler: n={n}, rank={rank}, world_size={world_size}")
        self.n, self.rank, self.world_size, self.epoch = n, rank, world_size, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(range(self.rank, self.n, self.world_size))

    def __iter__(self):
        start = self.epoch * self.n
        self.epoch += 1
        return iter(range(start + self.rank, start + self.n, self.world_size))


def _worker_init(_: int) -> None:
    cv2.setNumThreads(1)  # workers are the parallelism; nested thread pools only contend
    torch.set_num_threads(1)


def make_loader(dataset: PairDataset, batch_size: int, workers: int, seed: int,
                rank: int = 0, world_size: int = 1) -> DataLoader:
    """A DataLoader over ``dataset`` with an :class:`EpochSampler` (fresh pairs every epoch).

    Workers are spawned, not forked, and kept across epochs: a fork after OpenCV or torch have
    started their thread pools in the parent can deadlock the child. ``seed`` seeds the
    loader's own generator only; the pairs depend on the dataset's seed and the indices.
    """
    return DataLoader(dataset, batch_size=batch_size,
                      sampler=EpochSampler(len(dataset), rank, world_size),
                      num_workers=workers, drop_last=True,
                      worker_init_fn=_worker_init if workers else None,
                      multiprocessing_context="spawn" if workers else None,
                      persistent_workers=workers > 0,
                      generator=torch.Generator().manual_seed(seed))
