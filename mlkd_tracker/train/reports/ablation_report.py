"""`mlkd-tracker report mlkd`: the MLKD ablation on the TEST split, as markdown, JSON and plots.

    mlkd-tracker report mlkd --teacher CKPT --mlkd RUN [--kd-only RUN] [--no-kd RUN]
        [--data data/synth_night/test] [--out DIR] [--threads 1] [--max-frames N]

Rows: the teacher, each student trained without KD, with single-teacher KD only, under MLKD,
the no-KD winner tuned on val like MLKD-Track (when the no-KD run went through ``select``),
MLKD-Track (the selected, tuned ONNX export) and OpenCV baselines. Columns: success AUC,
precision@20, normalised precision@0.2, parameters, MACs per tracked frame (search branch) and
FPS, plus each row's success and MACs as a percentage of the teacher's, because the paper's
claim is a ratio: most of the teacher's accuracy for a fraction of its cost. Every distilled row
is also compared with the no-KD row of the same network: the difference in success with a
paired bootstrap interval over the test sequences (``eval/paired_difference.py``), because a
dozen sequences cannot resolve every difference of a few points. Success is also broken down by
attribute (light level, low resolution, fast motion, ...; ``eval/attributes.py``).

Checkpoints of a run are the ones ``mlkd-tracker select`` found best on VAL (never picked on
test here), or ``last.pt`` for a run that was not selected. Per-entry OPE results go to
``<out>/results/<label>/`` and are reused on a re-run. Writes ``report.md``, ``report.json``,
``ope.png`` and ``attributes.png``.

Importing this module pulls in neither torch nor matplotlib; cost figures (torch's FLOP counter)
and plots import them when the report is built.
"""
from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mlkd_tracker.cli_types import positive_int
from mlkd_tracker.eval.attributes import AttributeRow, attribute_markdown, attribute_rows, dataset_attributes
from mlkd_tracker.eval.tracker_registry import TrackerSpec, parse_spec
from mlkd_tracker.train import mlkd_select

__all__ = ["ReportEntry", "build_report", "entries_from_runs", "run_checkpoints", "model_cost",
           "add_arguments", "main"]

TEACHER_GROUP = "teacher"
NO_KD_GROUP = "no KD"
NO_KD_TRACK_GROUP = "no KD, tuned"  # the no-KD run's winner with post-processing tuned on val
TRACK_GROUP = "MLKD-Track"
ATTRIBUTE_PLOT = "attributes.png"


@dataclass(frozen=True)
class ReportEntry:
    """One row: ``label`` names the row and its results folder, ``group`` the ablation arm,
    ``spec`` a tracker-registry spec (``torch:<ckpt>``, ``onnx:<stem>``, ``opencv:<name>``)."""

    label: str
    group: str
    spec: str


def _spec(entry: ReportEntry) -> TrackerSpec:
    """The entry's spec under the entry's label (a label inside ``spec`` is overridden)."""
    spec = parse_spec(entry.spec)
    return parse_spec(f"{entry.label}={spec.kind}:{spec.arg}")


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+-]+", "_", name)


def run_checkpoints(run_dir: str | Path) -> dict[str, Path]:
    """Student name -> the checkpoint that represents it: best epoch on val from the run's
    ``selection/selection.json``, else ``<student>/last.pt``. A plain (single-model) training
    run (a ``last.pt`` and no ``students`` in its ``config.yaml``) is one student named after
    its folder."""
    run_dir = Path(run_dir)
    has_config = (run_dir / "config.yaml").is_file()
    cfg = mlkd_select.read_run_config(run_dir) if has_config else {}
    if (run_dir / "last.pt").is_file() and not cfg.get("students"):
        return {run_dir.name: run_dir / "last.pt"}
    best = mlkd_select.best_checkpoints(run_dir)
    out = {}
    for student in cfg.get("students") or []:
        name = student["name"] if isinstance(student, dict) else str(student)
        path = best.get(name, run_dir / name / "last.pt")
        if not path.is_file():
            raise FileNotFoundError(f"{run_dir}: no checkpoint for student {name!r} ({path})")
        out[name] = path
    if not out:
        raise ValueError(f"{run_dir}/config.yaml lists no students")
    return out


def entries_from_runs(teacher_ckpt: str | Path, mlkd_run: str | Path, kd_only_run: str | Path | None = None,
                      no_kd_run: str | Path | None = None,
                      baselines: Sequence[str] = ("csrt", "kcf", "mil")) -> list[ReportEntry]:
    """The ablation's rows in reading order: teacher, no KD, teacher KD only, MLKD, the no-KD
    winner tuned (when ``mlkd-tracker select`` exported one from ``no_kd_run``), MLKD-Track and
    OpenCV baselines. MLKD-Track needs ``mlkd-tracker select`` to have run on ``mlkd_run``."""
    entries = [ReportEntry("teacher", TEACHER_GROUP, f"torch:{teacher_ckpt}")]
    for run, prefix, group in ((no_kd_run, "noKD", NO_KD_GROUP), (kd_only_run, "KD", "teacher KD only"),
                               (mlkd_run, "MLKD", "MLKD")):
        if run is not None:
            entries += [ReportEntry(f"{prefix}-{_safe(name)}", group, f"torch:{path}")
                        for name, path in run_checkpoints(run).items()]
    stem = mlkd_select.export_stem(mlkd_run)
    if stem is None:
        raise ValueError(f"{mlkd_run} has no selection/selection.json with an export: "
                         f"run `mlkd-tracker select {mlkd_run}` first")
    # MLKD-Track's post-processing was tuned on val; its fair no-KD twin is tuned the same way.
    no_kd_stem = mlkd_select.export_stem(no_kd_run) if no_kd_run is not None else None
    if no_kd_stem is not None:
        entries.append(ReportEntry("noKD-Track", NO_KD_TRACK_GROUP, f"onnx:{no_kd_stem}"))
    entries.append(ReportEntry("MLKD-Track", TRACK_GROUP, f"onnx:{stem}"))
    entries += [ReportEntry(f"opencv-{name}", "OpenCV baseline", f"opencv:{name}") for name in baselines]
    return entries


def _net_config(spec: TrackerSpec) -> dict | None:
    if spec.kind == "torch":
        import torch
        return torch.load(spec.arg, map_location="cpu", weights_only=False).get("net_config")
    if spec.kind == "onnx":
        from mlkd_tracker.runtime.onnx_siamese import OnnxSiameseEngine
        text = OnnxSiameseEngine(spec.arg, threads=1).meta.get("net_config")
        return json.loads(text) if text else None
    return None  # OpenCV baselines have no network to count


_COSTS: dict[str, dict[str, int]] = {}  # net_config JSON -> cost (the FLOP count takes a second)


def model_cost(spec: TrackerSpec) -> dict[str, Any] | None:
    """``{"params", "search_macs", "network"}`` of the network behind ``spec`` (total
    parameters; MACs of the search branch, i.e. per tracked frame; the network config as JSON,
    which identifies "the same network"), or None for trackers without one."""
    cfg = _net_config(spec)
    if cfg is None:
        return None
    key = json.dumps(cfg, sort_keys=True)
    if key not in _COSTS:
        from mlkd_tracker.train.nets.config import TrackerNetConfig
        from mlkd_tracker.train.nets.summary import model_summary
        s = model_summary(TrackerNetConfig.from_dict(cfg))
        _COSTS[key] = {"params": int(s["params"]), "search_macs": int(s["search_macs"])}
    return {**_COSTS[key], "network": key}


def kd_comparisons(rows: list[dict[str, Any]], per_sequence: dict[str, dict[str, float]]
                   ) -> list[dict[str, Any]]:
    """Each distilled row against the no-KD row of the same network: success difference and its
    95 % paired bootstrap interval. MLKD-Track (tuned post-processing) is compared with the tuned
    no-KD winner when there is one, so the difference measures distillation, not tuning."""
    from mlkd_tracker.eval.paired_difference import paired_difference

    def by_network(group: str) -> dict[str, dict[str, Any]]:
        return {r["network"]: r for r in rows if r["group"] == group and r.get("network")}
    no_kd, no_kd_tuned = by_network(NO_KD_GROUP), by_network(NO_KD_TRACK_GROUP)
    out = []
    for r in rows:
        if r["group"] in (TEACHER_GROUP, NO_KD_GROUP, NO_KD_TRACK_GROUP):
            continue
        net = r.get("network")
        ref = (no_kd_tuned.get(net) if r["group"] == TRACK_GROUP else None) or no_kd.get(net)
        if ref is None:
            continue
        d = paired_difference(per_sequence[r["label"]], per_sequence[ref["label"]])
        out.append({"label": r["label"], "group": r["group"], "versus": ref["label"],
                    "delta": d.mean, "low": d.low, "high": d.high, "n_sequences": d.n_sequences,
                    "confidence": d.confidence})
    return out


def _per_sequence_success(runs: dict[str, Any]) -> dict[str, dict[str, float]]:
    return {label: {name: q.auc for name, q in run.per_sequence.items()} for label, run in runs.items()}


def _pct(value: float | None, ref: float | None) -> float | None:
    if value is None or not ref:
        return None
    return 100.0 * value / ref


def _fmt(v: float | None, spec: str, scale: float = 1.0, unit: str = "") -> str:
    return "—" if v is None or not math.isfinite(v) else f"{v * scale:{spec}}{unit}"


def _markdown(report: dict[str, Any]) -> str:
    lines = [f"# MLKD ablation on {report['dataset_name']}", "",
             f"{report['n_sequences']} sequences, {report['n_frames']} frames"
             + (f" (first {report['max_frames']} per sequence)" if report["max_frames"] else "")
             + f"; {report['threads']} thread(s); {report['machine']}.",
             "Success = AUC of the success plot, precision at 20 px, normalised precision at 0.2 (×100, "
             "means over sequences). Params = whole network; GMAC = search branch, i.e. per tracked "
             "frame. FPS = frames / tracker time. \"vs teacher\" = success and MACs as % of the "
             "teacher's. Student checkpoints were selected on the validation split.", "",
             "| group | tracker | success | precision | norm. precision | params (M) | GMAC/frame | FPS "
             "| success vs teacher | MACs vs teacher |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for group in report["groups"]:
        for r in (r for r in report["entries"] if r["group"] == group):
            lines.append(
                f"| {group} | {r['label']} | {_fmt(r['success'], '.1f', 100)} | "
                f"{_fmt(r['precision'], '.1f', 100)} | {_fmt(r['norm_precision'], '.1f', 100)} | "
                f"{_fmt(r['params'], '.3f', 1e-6)} | {_fmt(r['search_macs'], '.3f', 1e-9)} | "
                f"{_fmt(r['fps'], '.1f')} | {_fmt(r['success_vs_teacher'], '.0f', 1, ' %')} | "
                f"{_fmt(r['macs_vs_teacher'], '.1f', 1, ' %')} |")
    lines += ["", f"![success and precision plots]({report['plot']})", ""]
    return "\n".join(lines + _comparison_lines(report.get("kd_comparisons") or [])
                     + _attribute_lines(report))


def _attribute_lines(report: dict[str, Any]) -> list[str]:
    rows = [AttributeRow(**r) for r in report.get("attributes") or []]
    if not rows:
        return []
    return ["## Success by attribute", "",
            "Mean success (×100) over the sequences that have each attribute (UAV123's definitions "
            "where they apply; `eval/attributes.py`). A sequence can have several.", "",
            attribute_markdown(rows), f"![success by attribute]({report['attribute_plot']})", ""]


def _comparison_lines(comparisons: list[dict[str, Any]]) -> list[str]:
    if not comparisons:
        return []
    c0 = comparisons[0]
    lines = ["## Distillation against the same network without it", "",
             f"Success difference (×100) over the {c0['n_sequences']} sequences, with its "
             f"{c0['confidence']:.0%} paired bootstrap interval (sequences resampled, each keeping "
             "both trackers' scores). An interval that contains 0: this split cannot tell them apart.",
             "", "| tracker | versus | Δ success | interval |", "|---|---|---:|---:|"]
    for c in comparisons:
        lines.append(f"| {c['label']} | {c['versus']} | {100 * c['delta']:+.1f} | "
                     f"[{100 * c['low']:+.1f}, {100 * c['high']:+.1f}] |")
    return lines + [""]


def build_report(entries: list[ReportEntry], data_root: str | Path, out_dir: str | Path, threads: int = 1,
                 max_frames: int | None = None, *, progress: bool = True) -> Path:
    """Evaluate every entry on ``data_root`` (one split) and write the report; returns
    ``<out_dir>/report.md``. Raises ValueError for duplicate labels or a spec that cannot load."""
    import os
    import platform

    from tqdm import tqdm

    from mlkd_tracker.data.sequences import read_dataset
    from mlkd_tracker.eval.eval_cli import thread_limit
    from mlkd_tracker.eval.ope_runner import run_dataset
    from mlkd_tracker.eval.plots import plot_attributes, plot_ope

    labels = [e.label for e in entries]
    dupes = sorted({x for x in labels if labels.count(x) > 1})
    if dupes:
        raise ValueError(f"report rows share the label(s) {', '.join(dupes)}")
    if not entries:
        raise ValueError("a report needs at least one entry")
    specs = [_spec(e) for e in entries]  # every model file checked before anything runs
    sequences = read_dataset(Path(data_root))
    out = Path(out_dir)
    results = out / "results"
    runs, rows = {}, []
    with thread_limit(threads):
        for entry, spec in tqdm(list(zip(entries, specs)), desc="report", unit="tracker",
                                disable=not progress):
            runs[entry.label] = s = run_dataset(spec, sequences, results, progress=False,
                                                max_frames=max_frames)
            cost = model_cost(spec) or {}
            rows.append({**asdict(entry), "success": s.auc, "precision": s.precision_20,
                         "norm_precision": s.norm_precision_20,
                         "fps": s.fps if math.isfinite(s.fps) else None,
                         "params": cost.get("params"), "search_macs": cost.get("search_macs"),
                         "network": cost.get("network"), "n_frames": s.n_frames,
                         "resumed_sequences": list(s.resumed)})
    teacher = next((r for r in rows if r["group"] == TEACHER_GROUP), None)
    for r in rows:
        r["success_vs_teacher"] = _pct(r["success"], teacher and teacher["success"])
        r["macs_vs_teacher"] = _pct(r["search_macs"], teacher and teacher["search_macs"])
    root = Path(data_root).resolve()
    plot = plot_ope(runs, out / "ope.png", title=f"{root.parent.name}/{root.name}")
    per_sequence = _per_sequence_success(runs)
    by_attribute = attribute_rows(per_sequence, dataset_attributes(sequences, root, max_frames))
    plot_attributes(by_attribute, out / ATTRIBUTE_PLOT, title=f"{root.parent.name}/{root.name}")
    report = {"dataset": str(root), "dataset_name": f"{root.parent.name}/{root.name}",
              "n_sequences": len(sequences), "n_frames": rows[0]["n_frames"], "max_frames": max_frames,
              "threads": threads, "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
              "teacher": teacher and teacher["label"], "groups": list(dict.fromkeys(r["group"] for r in rows)),
              "entries": rows, "plot": Path(plot.path).name,
              "kd_comparisons": kd_comparisons(rows, per_sequence),
              "attributes": [asdict(r) for r in by_attribute], "attribute_plot": ATTRIBUTE_PLOT}
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    md = out / "report.md"
    md.write_text(_markdown(report), encoding="utf-8")
    return md


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``mlkd-tracker report`` (the top-level CLI registers this module)."""
    parser.add_argument("--teacher", required=True, type=Path, help="teacher checkpoint (.pt)")
    parser.add_argument("--mlkd", required=True, type=Path,
                        help="MLKD run folder, already through `mlkd-tracker select`")
    parser.add_argument("--kd-only", type=Path, default=None, help="run whose students had teacher KD only")
    parser.add_argument("--no-kd", type=Path, default=None, help="run whose students had no KD")
    parser.add_argument("--data", type=Path, default=Path("data/synth_night/test"),
                        help="the TEST split to report on (default: data/synth_night/test)")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: MLKD_RUN/report)")
    parser.add_argument("--baselines", default="csrt,kcf,mil",
                        help="comma-separated OpenCV baselines ('' for none)")
    parser.add_argument("--threads", type=positive_int, default=1, help="threads for evaluation (FPS)")
    parser.add_argument("--max-frames", type=positive_int, default=None, metavar="N",
                        help="evaluate only the first N frames of each sequence (quick checks)")


def main(args: argparse.Namespace) -> int:
    """Build the report; 0 on success, 2 on bad input (missing run/selection/model/data)."""
    try:
        baselines = tuple(b.strip() for b in args.baselines.split(",") if b.strip())
        entries = entries_from_runs(args.teacher, args.mlkd, args.kd_only, args.no_kd, baselines)
        md = build_report(entries, args.data, args.out or Path(args.mlkd) / "report",
                          threads=args.threads, max_frames=args.max_frames)
    except (ValueError, FileNotFoundError) as exc:
        print(f"mlkd-tracker report: error: {exc}", file=sys.stderr)
        return 2
    print(md.read_text(encoding="utf-8"))
    print(f"written: {md}, {md.with_name('report.json')}, {md.with_name('ope.png')}, "
          f"{md.with_name(ATTRIBUTE_PLOT)}")
    return 0


if __name__ == "__main__":
    _parser = argparse.ArgumentParser(prog="python -m mlkd_tracker.train.reports.ablation_report",
                                      description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(_parser)
    sys.exit(main(_parser.parse_args()))
