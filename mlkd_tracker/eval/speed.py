"""Speed of an exported Siamese model's per-frame (search) branch in ONNX Runtime.

Medians of many runs with a fixed thread count, measured side by side; not a timed test.
"""
from __future__ import annotations

import time

import numpy as np


def search_branch_ms(model_path, threads: int, runs: int = 300, warmup: int = 30,
                     seed: int = 0) -> dict[str, float]:
    from mlkd_tracker.runtime.onnx_siamese import OnnxSiameseEngine
    engine = OnnxSiameseEngine(model_path, threads=threads)
    g = engine.geometry
    rng = np.random.default_rng(seed)
    zf = engine.template(rng.uniform(0, 255, (g.template_size, g.template_size, 3)))
    crop = rng.uniform(0, 255, (g.search_size, g.search_size, 3)).astype(np.float32)
    times = []
    for i in range(warmup + runs):
        t0 = time.perf_counter()
        engine.search(crop, zf)
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    ms = np.array(times) * 1e3
    return {"median_ms": float(np.median(ms)), "p90_ms": float(np.percentile(ms, 90)),
            "fps": float(1e3 / np.median(ms))}
