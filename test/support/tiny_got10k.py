"""A tiny GOT-10k-layout split for evaluation tests: a checkered square drifting over a dark
noisy background, so untrained and trained trackers alike have something to follow."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

W, H, SIZE = 160, 120, 24


def write_split(folder: Path, names: list[str], seed: int, frames: int) -> None:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:SIZE, :SIZE]
    target = np.where((xx // 6 + yy // 6) % 2 == 0, 240, 150).astype(np.float32)
    for k, name in enumerate(names):
        (folder / name).mkdir(parents=True)
        bg = cv2.GaussianBlur(rng.normal(40, 20, (H, W)).astype(np.float32), (0, 0), 1.5)
        lines = []
        for i in range(frames):
            x, y = 30 + (3 + k) * i, 40 + (k - 1) * i
            img = bg + rng.normal(0, 5, (H, W)).astype(np.float32)
            img[y:y + SIZE, x:x + SIZE] = target
            cv2.imwrite(str(folder / name / f"{i + 1:08d}.jpg"),
                        np.repeat(np.clip(img, 0, 255).astype(np.uint8)[..., None], 3, axis=2))
            lines.append(f"{x},{y},{SIZE},{SIZE}")
        (folder / name / "groundtruth.txt").write_text("\n".join(lines) + "\n")
