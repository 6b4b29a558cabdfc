"""`mlkd-tracker report detector`: the RDR-KD ablation (the paper's Table II) on a test split.

    mlkd-tracker report detector --teacher runs/detect/teacher --baseline runs/detect/student \\
        --student runs/detect/rdrkd --student runs/detect/rdrkd_r ... \\
        [--data data/synth_detect/data.yaml] [--split test] [--out runs/detect/report]

Every run (an Ultralytics run folder, or its ``weights/best.pt``) is exported to ONNX as it would
ship (``train/detector_export``) and scored through the drone's runtime (``OnnxDetector``) with
COCO's AP, AP50, AP75 and AP by size (``eval/detection_metrics``). A student's distillation terms
come from the ``rdrkd.yaml`` that ``train rdrkd`` writes into its run, so the R / D / Rs columns
cannot disagree with what was trained. Params and GFLOPs (2 x MACs, Ultralytics' convention) are
counted with torch's FLOP counter at the training size. Speed is not measured here: it belongs
to ``mlkd-tracker bench detectors``, side by side on an idle machine. Each student's ΔAP gets
a paired bootstrap interval over the test images (``eval/detection_bootstrap``), because one
point of AP on a few dozen images is within what the draw of images explains.
Writes ``report.md``, ``report.json``, ``training_curves.png`` and ``pr_curves.png``.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from mlkd_tracker.cli_types import non_negative_int, positive_int

__all__ = ["add_arguments", "build_detector_report", "main"]

TERMS = (("R", "regenerated_weight"), ("D", "decoupled_weight"), ("Rs", "responsive_weight"))


def _checkpoint(run: Path) -> Path:
    path = run / "weights" / "best.pt" if run.is_dir() else run
    if not path.is_file():
        raise FileNotFoundError(f"run '{run}' has no checkpoint ({path} does not exist)")
    return path


def _run_dir(checkpoint: Path) -> Path:
    return checkpoint.parent.parent if checkpoint.parent.name == "weights" else checkpoint.parent


def _terms(run_dir: Path) -> dict[str, bool] | None:
    """Which RDR-KD terms a run used (None: not a distillation run)."""
    import yaml
    from mlkd_tracker.train.detector import RDRKD_RECORD
    record = run_dir / RDRKD_RECORD
    if not record.is_file():
        return None
    values = yaml.safe_load(record.read_text()) or {}
    return {short: float(values.get(key, 0)) > 0 for short, key in TERMS}


def _cost(checkpoint: Path, imgsz: int) -> dict[str, float]:
    import torch
    from mlkd_tracker.train.nets.summary import count_macs, count_params
    from mlkd_tracker.train.ultralytics_env import import_ultralytics
    model = import_ultralytics().YOLO(str(checkpoint)).model.float().eval()
    macs = count_macs(model, torch.zeros(1, 3, imgsz, imgsz))
    return {"params": count_params(model), "gflops": 2 * macs / 1e9}


def _score_run(role: str, run: Path, split, out: Path, threads: int, progress: bool) -> dict:
    from mlkd_tracker.eval.detection_metrics import coco_scores, detect_split
    from mlkd_tracker.eval.detector_plots import read_results_csv
    from mlkd_tracker.runtime.detector import OnnxDetector
    from mlkd_tracker.train.detector_export import export_detector
    checkpoint = _checkpoint(run)
    run_dir = _run_dir(checkpoint)
    name = run_dir.name
    onnx_path = export_detector(checkpoint, out / "onnx" / f"{name}.onnx")
    detector = OnnxDetector(onnx_path, threads=threads)
    if tuple(detector.names) != tuple(split.names):
        raise ValueError(f"{name}: classes {detector.names} differ from the data set's {split.names}")
    imgsz = detector.input_size[0]
    gt, detections = detect_split(detector, split, progress=progress)
    scores = coco_scores(gt, detections)
    row = {"role": role, "name": name, "checkpoint": str(checkpoint), "onnx": str(onnx_path),
           "imgsz": imgsz, "terms": _terms(run_dir), **scores.to_dict(),
           **_cost(checkpoint, imgsz), "history": read_results_csv(run_dir / "results.csv")}
    return row, gt, detections


def _ap_interval(gt: dict, baseline: list[dict], student: list[dict], resamples: int,
                 progress: bool) -> dict | None:
    """ΔAP against the baseline with its paired image-bootstrap interval; None when there is
    nothing to resample (no detections or no ground truth), e.g. for barely trained models."""
    from mlkd_tracker.eval.detection_bootstrap import paired_ap_difference
    if not (resamples and baseline and student and gt["annotations"] and len(gt["images"]) > 1):
        return None
    return asdict(paired_ap_difference(gt, baseline, student, resamples=resamples, progress=progress))


def build_detector_report(teacher: str | Path | None, baseline: str | Path,
                          students: list[str | Path], data: str | Path, split: str,
                          out: str | Path, threads: int = 2,
                          progress: bool = True, bootstrap: int = 500) -> Path:
    from mlkd_tracker.eval.detection_metrics import read_split
    from mlkd_tracker.eval.detector_plots import plot_pr_curves, plot_training_curves
    test = read_split(data, split)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    runs = [("baseline", Path(baseline)), *(("student", Path(s)) for s in students)]
    if teacher is not None:
        runs.append(("teacher", Path(teacher)))
    names = [_run_dir(_checkpoint(run)).name for _, run in runs]
    if len(set(names)) != len(names):
        raise ValueError(f"run folder names must be unique (they label the table): {names}")
    scored = [_score_run(role, run, test, out, threads, progress) for role, run in runs]
    rows = [row for row, _, _ in scored]
    _, gt, base_detections = scored[0]
    for row, _, detections in scored[1:]:
        if row["role"] == "student":
            row["ap_delta"] = _ap_interval(gt, base_detections, detections, bootstrap, progress)
    plot_training_curves({r["name"]: r["history"] for r in rows}, out / "training_curves.png")
    plot_pr_curves({r["name"]: (r["pr_recall"], r["pr_precision"]) for r in rows},
                   out / "pr_curves.png", f"precision-recall at IoU 0.5 — {split}")
    report = {"data": str(data), "split": split, "objects": rows[0]["objects"], "runs": rows}
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    md = out / "report.md"
    md.write_text(_markdown(report))
    return md


def _pct(v: float | None) -> str:
    return "—" if v is None or not math.isfinite(v) else f"{100 * v:.1f}"


def _interval(row: dict[str, Any]) -> str:
    d = row.get("ap_delta")
    return "—" if not d else f"[{100 * d['low']:+.1f}, {100 * d['high']:+.1f}]"


def _markdown(r: dict[str, Any]) -> str:
    base = next(x for x in r["runs"] if x["role"] == "baseline")
    o = r["objects"]
    lines = [f"# Detector ablation on `{r['data']}` ({r['split']} split)", "",
             f"{len(base['per_class_ap'])} classes, {o['all']} objects: {o['small']} small "
             f"(< 32² px), {o['medium']} medium, {o['large']} large. COCO AP ×100 "
             "(pycocotools, up to 100 detections per image) of each run's ONNX export through "
             "the drone runtime (confidence 0.001, NMS IoU 0.7). ΔAP is against the baseline "
             "student, trained with the same schedule, with its 95 % paired bootstrap interval "
             "over the test images (`eval/detection_bootstrap.py`): an interval that contains 0 "
             "means this split cannot tell the two apart. GFLOPs = 2 × MACs at the input size.", "",
             "| run | R | D | Rs | AP | ΔAP | ΔAP interval | AP50 | AP75 | AP_S | AP_M | AP_L | "
             "params (M) | GFLOPs | input |",
             "|---|:-:|:-:|:-:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for x in r["runs"]:
        terms = x["terms"] or {}
        marks = " | ".join("✓" if terms.get(t) else "" for t, _ in TERMS)
        s = x["stats"]
        delta = "—" if x is base or x["role"] == "teacher" else \
            f"{100 * (s['AP'] - base['stats']['AP']):+.1f}"
        label = f"{x['name']} ({x['role']})" if x["role"] != "student" else x["name"]
        lines.append(f"| {label} | {marks} | {_pct(s['AP'])} | {delta} | {_interval(x)} | {_pct(s['AP50'])} | "
                     f"{_pct(s['AP75'])} | {_pct(s['AP_S'])} | {_pct(s['AP_M'])} | "
                     f"{_pct(s['AP_L'])} | {x['params'] / 1e6:.2f} | {x['gflops']:.2f} | "
                     f"{x['imgsz']} |")
    classes = list(base["per_class_ap"])
    lines += ["", "AP ×100 per class:", "", "| run | " + " | ".join(classes) + " |",
              "|---|" + "---:|" * len(classes)]
    for x in r["runs"]:
        lines.append(f"| {x['name']} | " + " | ".join(_pct(x["per_class_ap"].get(c))
                                                      for c in classes) + " |")
    lines += ["", "![training curves](training_curves.png)", "", "![PR curves](pr_curves.png)", ""]
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--baseline", type=Path, required=True,
                        help="the student trained without distillation (run folder or best.pt)")
    parser.add_argument("--student", type=Path, action="append", default=[],
                        help="a `train rdrkd` run (repeat for the ablation arms)")
    parser.add_argument("--teacher", type=Path, help="the teacher's run")
    parser.add_argument("--data", type=Path, default=Path("data/synth_detect/data.yaml"))
    parser.add_argument("--split", default="test")
    parser.add_argument("--out", type=Path, default=Path("runs/detect/report"))
    parser.add_argument("--threads", type=positive_int, default=2)
    parser.add_argument("--bootstrap", type=non_negative_int, default=500, metavar="N",
                        help="image resamples for each student's ΔAP interval (0: none)")


def main(args: argparse.Namespace) -> int:
    try:
        md = build_detector_report(args.teacher, args.baseline, args.student, args.data,
                                   args.split, args.out, args.threads, bootstrap=args.bootstrap)
    except (ValueError, FileNotFoundError, OSError) as exc:
        print(f"mlkd-tracker report detector: error: {exc}", file=sys.stderr)
        return 2
    print(md.read_text())
    print(f"written: {md}, report.json, training_curves.png, pr_curves.png in {md.parent}")
    return 0
