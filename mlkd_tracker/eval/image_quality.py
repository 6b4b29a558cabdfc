"""Full-reference quality of an enhancer on (night, clean) frame pairs.

PSNR and SSIM come from scikit-image (the field's reference implementations; SSIM with the
Gaussian-free 7x7 window of skimage's default, over the three BGR channels). Frames are scored
at their full size in uint8, exactly what a node would publish.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from mlkd_tracker.data.sequences import read_dataset

Enhance = Callable[[np.ndarray], np.ndarray]


def frame_pairs(root: str | Path, step: int = 10) -> list[tuple[Path, Path]]:
    """(night, clean) paths of every ``step``-th frame of every sequence under ``root``."""
    pairs = []
    for seq in read_dataset(Path(root)):
        if seq.clean_frames is None:
            raise ValueError(f"{seq.name} has no clean/ frames: quality needs (night, clean) pairs")
        pairs += list(zip(seq.frames[::step], seq.clean_frames[::step]))
    if not pairs:
        raise ValueError(f"no frames under {root}")
    return pairs


def _read(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise OSError(f"cannot read image {path}")
    return img


def score_pair(out: np.ndarray, clean: np.ndarray) -> tuple[float, float]:
    """(PSNR dB, SSIM) of a uint8 BGR image against its clean version."""
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity
    return (float(peak_signal_noise_ratio(clean, out, data_range=255)),
            float(structural_similarity(clean, out, channel_axis=2, data_range=255)))


def evaluate_quality(enhance: Enhance | None, pairs: list[tuple[Path, Path]],
                     progress: bool = True, label: str = "quality") -> dict[str, Any]:
    """Mean PSNR/SSIM of ``enhance(night)`` against clean (``None``: the night frame itself),
    and the mean PSNR per sequence (a frame's folder): frames of one sequence share a photo and
    a darkness level, so the sequence is the unit a paired bootstrap resamples."""
    from tqdm import tqdm
    psnrs, ssims = [], []
    by_sequence: dict[str, list[float]] = {}
    for night_path, clean_path in tqdm(pairs, desc=label, unit="frame", disable=not progress):
        night, clean = _read(night_path), _read(clean_path)
        out = night if enhance is None else enhance(night)
        p, s = score_pair(out, clean)
        psnrs.append(p)
        ssims.append(s)
        by_sequence.setdefault(night_path.parent.name, []).append(p)
    return {"psnr": float(np.mean(psnrs)), "ssim": float(np.mean(ssims)), "n_frames": len(pairs),
            "psnr_by_sequence": {k: float(np.mean(v)) for k, v in by_sequence.items()}}
