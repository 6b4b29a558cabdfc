"""Parameter and MAC counts per model and branch: the numbers that decide whether a student fits
the drone's budget (search branch = per-frame cost) and whether the teacher is strong enough.

MACs come from ``torch.utils.flop_counter.FlopCounterMode`` (FLOPs / 2); it counts convolutions
and matrix products only, so elementwise work (BN, activations, the enhancer's curve steps) is
excluded, which is the usual convention for published MAC figures.

Run ``python -m mlkd_tracker.train.nets`` to print the table of all presets.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from mlkd_tracker.train.nets.config import TrackerNetConfig
from mlkd_tracker.train.nets.presets import PRESETS, STUDENT_PRESETS, get_preset
from mlkd_tracker.train.nets.siamese import SearchBranch, TemplateBranch, build_tracker

__all__ = ["count_params", "count_macs", "model_summary", "format_summary_table",
           "summarize_presets", "PRESETS", "STUDENT_PRESETS", "get_preset"]


def count_params(module: nn.Module) -> int:
    """Number of parameters (shared tensors counted once; buffers excluded)."""
    return sum(p.numel() for p in module.parameters())


def count_macs(fn: Callable[..., Any], *inputs: Any) -> int:
    """Multiply-accumulates of one call ``fn(*inputs)`` (no grad), from torch's FLOP counter."""
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        fn(*inputs)
    return counter.get_total_flops() // 2


def model_summary(cfg: TrackerNetConfig) -> dict[str, Any]:
    """Params and MACs (batch 1, the configured crop sizes) of the tracker built from ``cfg``.

    ``params_template`` / ``params_search`` count what each exported branch holds (both include
    the backbone, and the enhancer if any); ``search_macs`` is the cost per tracked frame.
    """
    model = build_tracker(cfg).eval()
    template, search = TemplateBranch(model), SearchBranch(model)
    z = torch.zeros(1, 3, cfg.template_size, cfg.template_size)
    x = torch.zeros(1, 3, cfg.search_size, cfg.search_size)
    with torch.no_grad():
        zf = template(z)
    return {
        "name": cfg.name,
        "backbone": cfg.backbone,
        "width_mult": cfg.width_mult,
        "enhancer": cfg.enhancer is not None,
        "template_size": cfg.template_size,
        "search_size": cfg.search_size,
        "score_size": cfg.geometry().score_size,
        "params": count_params(model),
        "params_template": count_params(template),
        "params_search": count_params(search),
        "template_macs": count_macs(template, z),
        "search_macs": count_macs(search, x, zf),
    }


def format_summary_table(rows: Sequence[dict[str, Any]]) -> str:
    """Markdown table of :func:`model_summary` rows (params in M, MACs in G)."""
    lines = ["| model | backbone | enhancer | params (M) | template params (M) | "
             "search params (M) | template GMAC | search GMAC |",
             "|---|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        backbone = r["backbone"] + ("" if r["width_mult"] == 1.0 else f" ×{r['width_mult']:g}")
        lines.append(f"| {r['name']} | {backbone} | {'yes' if r['enhancer'] else 'no'} | "
                     f"{r['params'] / 1e6:.3f} | {r['params_template'] / 1e6:.3f} | "
                     f"{r['params_search'] / 1e6:.3f} | "
                     f"{r['template_macs'] / 1e9:.3f} | {r['search_macs'] / 1e9:.3f} |")
    return "\n".join(lines)


def summarize_presets(names: Sequence[str] | None = None) -> list[dict[str, Any]]:
    return [model_summary(get_preset(n)) for n in (names or list(PRESETS))]


def main() -> None:
    torch.set_num_threads(1)
    rows = summarize_presets()
    print(format_summary_table(rows))
    print(f"\ncrops: template {rows[0]['template_size']} px, search {rows[0]['search_size']} px, "
          f"score map {rows[0]['score_size']}x{rows[0]['score_size']}")

