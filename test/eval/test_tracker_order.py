"""`mlkd-tracker eval` gives every tracker the same start: the order of the --tracker options
changes no result file (OpenCV's MIL draws random Haar features from the C library's rand(),
which the trackers before it used to leave in another state)."""
from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
import pytest

from mlkd_tracker.eval import eval_cli

W, H, SIZE, FRAMES = 160, 120, 24, 12
SEQUENCES = {"a": ((20, 30), (3, 1)), "b": ((110, 70), (-2, -2))}  # start, px/frame
TRACKERS = ("mil", "csrt", "kcf")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    """A checker target going back and forth over noisy dark ground (GOT-10k layout)."""
    root = tmp_path_factory.mktemp("order")
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[:SIZE, :SIZE]
    target = np.where((xx // 6 + yy // 6) % 2 == 0, 250, 170).astype(np.float32)
    for name, ((x0, y0), (dx, dy)) in SEQUENCES.items():
        folder = root / name
        folder.mkdir()
        ground = cv2.GaussianBlur(rng.normal(40, 25, (H, W)).astype(np.float32), (0, 0), 1.5)
        lines = []
        for i in range(FRAMES):
            x, y = x0 + dx * (i % 10), y0 + dy * (i % 10)
            img = ground + rng.normal(0, 12, (H, W)).astype(np.float32)
            img[y:y + SIZE, x:x + SIZE] = target
            frame = np.repeat(np.clip(img, 0, 255).astype(np.uint8)[..., None], 3, axis=2)
            cv2.imwrite(str(folder / f"{i + 1:08d}.png"), frame)
            lines.append(f"{x},{y},{SIZE},{SIZE}")
        (folder / "groundtruth.txt").write_text("\n".join(lines) + "\n")
    return root


def evaluate(dataset: Path, out: Path, order: tuple[str, ...]) -> None:
    parser = argparse.ArgumentParser()
    eval_cli.add_arguments(parser)
    argv = ["--dataset", str(dataset), "--out", str(out), "--no-progress", "--threads", "1"]
    for name in order:
        argv += ["--tracker", f"opencv:{name}"]
    assert eval_cli.main(parser.parse_args(argv)) == 0


def test_the_order_of_trackers_changes_no_result_file(dataset, tmp_path):
    evaluate(dataset, tmp_path / "first", TRACKERS)
    evaluate(dataset, tmp_path / "last", tuple(reversed(TRACKERS)))
    compared = 0
    for name in TRACKERS:
        for seq in SEQUENCES:
            for suffix in ("", "_score"):  # boxes and scores; times are wall-clock measurements
                rel = Path(f"opencv-{name}") / f"{seq}{suffix}.txt"
                assert (tmp_path / "first" / rel).read_bytes() == (tmp_path / "last" / rel).read_bytes(), rel
                compared += 1
    assert compared == len(TRACKERS) * len(SEQUENCES) * 2
