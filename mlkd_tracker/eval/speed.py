"""Per-frame speed of exported models in ONNX Runtime: a Siamese search branch, or any
frame-in callable (an enhancer, a detector).

Medians of many runs with a fixed thread count, measured side by side; not a timed test.
"""
from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np


def _times_ms(call: Callable[[], object], runs: int, warmup: int) -> np.ndarray:
    """Milliseconds of each of ``runs`` calls, after ``warmup`` untimed ones."""
    for _ in range(warmup):
        call()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    return np.array(times) * 1e3


def search_branch_ms(model_path, threads: int, runs: int = 300, warmup: int = 30,
                     seed: int = 0) -> dict[str, float]:
    from mlkd_tracker.runtime.onnx_siamese import OnnxSiameseEngine
    engine = OnnxSiameseEngine(model_path, threads=threads)
    g = engine.geometry
    rng = np.random.default_rng(seed)
    zf = engine.template(rng.uniform(0, 255, (g.template_size, g.template_size, 3)))
    crop = rng.uniform(0, 255, (g.search_size, g.search_size, 3)).astype(np.float32)
    ms = _times_ms(lambda: engine.search(crop, zf), runs, warmup)
    return {"median_ms": float(np.median(ms)), "p90_ms": float(np.percentile(ms, 90)),
            "fps": float(1e3 / np.median(ms))}


def time_per_frame(fn: Callable[[np.ndarray], object], frame: np.ndarray | None = None,
                   height: int = 480, width: int = 640, runs: int = 30, warmup: int = 5,
                   seed: int = 0) -> dict[str, float]:
    """Median and p90 milliseconds of ``fn(frame)``; by default on a noisy dark frame."""
    if frame is None:
        frame = np.random.default_rng(seed).integers(0, 60, (height, width, 3), dtype=np.uint8)
    times = _times_ms(lambda: fn(frame), runs, warmup)
    median = float(np.median(times))
    return {"ms_median": median, "ms_p90": float(np.percentile(times, 90)), "fps": 1e3 / median}
