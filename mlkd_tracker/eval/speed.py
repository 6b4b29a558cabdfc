"""Per-frame speed of exported models in ONNX Runtime: a Siamese search branch, or any
frame-in callable (an enhancer, a detector).

Medians of many runs with a fixed thread count, measured side by side (interleaved when several
models are compared); not a timed test.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence

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


def _dark_frame(height: int, width: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 60, (height, width, 3), dtype=np.uint8)


def _stats(times: np.ndarray) -> dict[str, float]:
    median = float(np.median(times))
    return {"ms_median": median, "ms_p90": float(np.percentile(times, 90)), "fps": 1e3 / median}


def time_per_frame(fn: Callable[[np.ndarray], object], frame: np.ndarray | None = None,
                   height: int = 480, width: int = 640, runs: int = 30, warmup: int = 5,
                   seed: int = 0) -> dict[str, float]:
    """Median and p90 milliseconds of ``fn(frame)``; by default on a noisy dark frame."""
    frame = _dark_frame(height, width, seed) if frame is None else frame
    return _stats(_times_ms(lambda: fn(frame), runs, warmup))


def time_side_by_side(fns: Sequence[Callable[[np.ndarray], object]], frame: np.ndarray | None = None,
                      height: int = 480, width: int = 640, runs: int = 30, warmup: int = 5,
                      seed: int = 0) -> list[dict[str, float]]:
    """``time_per_frame`` of several models, interleaved: round k times every model once, in
    an order that alternates between rounds. Why: a shared machine's speed drifts (by up to 2x
    within minutes here), and timing one model after the other turns that drift into a
    difference between the models; interleaved, every model sees the same conditions."""
    frame = _dark_frame(height, width, seed) if frame is None else frame
    for fn in fns:
        for _ in range(warmup):
            fn(frame)
    times: list[list[float]] = [[] for _ in fns]
    order = list(range(len(fns)))
    for k in range(runs):
        for i in (order if k % 2 == 0 else order[::-1]):
            t0 = time.perf_counter()
            fns[i](frame)
            times[i].append((time.perf_counter() - t0) * 1e3)
    return [_stats(np.array(t)) for t in times]
