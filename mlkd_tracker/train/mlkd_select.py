"""`mlkd-tracker select`: pick MLKD-Track, the best student checkpoint of an MLKD run, on VAL.

    mlkd-tracker select RUN_DIR [--data ROOT] [--split val] [--threads 1] [--max-frames N]
        [--no-tune] [--out STEM]

Every ``<student>/epoch_*.pt`` of every student in ``config.yaml`` is a candidate. Each one is
evaluated by one-pass evaluation on the validation split and ranked by success AUC (ties:
precision@20). The paper selects on validation data and reports on test data; choosing on the
test split would make the reported number a maximum over noise, so a split named ``test`` is
refused. The winner's post-processing is tuned on the same split, then the winner is exported
to ONNX with that post-processing in its metadata.

Writes under ``<run_dir>/selection/``: ``results/<split>/<label>/`` (per-sequence OPE results,
reused by a re-run, so an interrupted selection resumes), ``tune.json`` (the ranked grid, reused
when nothing it depends on changed), ``selection.json``, ``selection.md`` and
``ope_<split>.png`` (best epoch of each student). Paths in ``selection.json`` are relative to
the run folder when they lie inside it, so the folder can be moved; :func:`resolve` reads them.

Torch is imported only inside functions (evaluation and export need it; ``--help`` does not).
"""
from __future__ import annotations

import argparse
import json
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from tqdm import tqdm

from mlkd_tracker.cli_types import positive_int

__all__ = ["Candidate", "select", "find_candidates", "validation_root", "rank", "read_run_config",
           "load_selection", "best_checkpoints", "export_stem", "resolve", "add_arguments", "main"]

SELECTION_DIR = "selection"
_EPOCH = re.compile(r"^epoch_(\d+)\.pt$")


@dataclass(frozen=True)
class Candidate:
    """One checkpoint that may become MLKD-Track."""

    student: str
    epoch: int
    checkpoint: Path

    @property
    def label(self) -> str:
        """Results-folder name (the registry allows letters, digits and ``. _ + -`` only)."""
        return re.sub(r"[^A-Za-z0-9._+-]+", "_", self.student) + f"-epoch_{self.epoch:03d}"


def read_run_config(run_dir: str | Path) -> dict[str, Any]:
    """The run's ``config.yaml`` as a dict (what the MLKD trainer wrote)."""
    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: is {run_dir} an MLKD run folder?")
    cfg = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(cfg, dict):
        raise ValueError(f"{path} is not a mapping")
    return cfg


def find_candidates(run_dir: str | Path, cfg: dict[str, Any]) -> list[Candidate]:
    """Every ``<student>/epoch_NNN.pt`` of the students the config lists, in config order."""
    run_dir = Path(run_dir)
    found: list[Candidate] = []
    for student in cfg.get("students") or []:
        name = student["name"] if isinstance(student, dict) else str(student)
        folder = run_dir / name
        epochs = [(int(m.group(1)), p) for p in folder.glob("epoch_*.pt") if (m := _EPOCH.match(p.name))]
        found.extend(Candidate(name, e, p) for e, p in sorted(epochs))
    if not found:
        raise ValueError(f"{run_dir} holds no <student>/epoch_*.pt checkpoints of the students "
                         "in its config.yaml")
    return found


def validation_root(cfg: dict[str, Any], data_root: str | Path | None, split: str | None) -> Path:
    """``<data>/<val_split>`` (defaults from the run config); refuses the test split."""
    split = split or cfg.get("val_split") or "val"
    folder = Path(data_root or cfg.get("data") or "") / split
    if "test" in (Path(split).name.lower(), folder.resolve().name.lower()):
        raise ValueError(f"refusing to select on the test split ({folder}): choosing a "
                         "checkpoint on test data inflates the reported result; use the val split")
    if not folder.is_dir():
        raise ValueError(f"validation split {folder} does not exist (pass --data / --split)")
    return folder


def rank(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Best first: success AUC, then precision@20, then student and epoch (deterministic)."""
    return sorted(rows, key=lambda r: (-r["success"], -r["precision"], r["student"], r["epoch"]))


def resolve(run_dir: str | Path, path: str) -> Path:
    """A path stored in ``selection.json`` (relative to the run folder unless absolute)."""
    p = Path(path)
    return p if p.is_absolute() else Path(run_dir) / p


def _stored(path: Path, run_dir: Path) -> str:
    try:
        return str(path.resolve().relative_to(run_dir.resolve()))
    except ValueError:
        return str(path.resolve())


def load_selection(run_dir: str | Path) -> dict[str, Any] | None:
    """``<run_dir>/selection/selection.json``, or None if the run was never selected."""
    path = Path(run_dir) / SELECTION_DIR / "selection.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def best_checkpoints(run_dir: str | Path) -> dict[str, Path]:
    """Best epoch per student on val, from ``selection.json`` ({} if there is none)."""
    sel = load_selection(run_dir)
    if not sel:
        return {}
    return {s: resolve(run_dir, row["checkpoint"]) for s, row in sel["best_per_student"].items()}


def export_stem(run_dir: str | Path) -> Path | None:
    """The ONNX stem of MLKD-Track written by :func:`select`, or None."""
    sel = load_selection(run_dir)
    return resolve(run_dir, sel["export"]["stem"]) if sel and sel.get("export") else None


def _tuned(ckpt: Path, label: str, sequences: list, cache: Path, key: dict, grid: dict | None,
           max_frames: int | None, threads: int, progress: bool) -> list[dict]:
    """The ranked post-processing grid for ``ckpt``, reused from ``cache`` when ``key`` matches.

    Tunes on the torch model: the export is checked against it to 1e-4, so the ONNX Runtime
    tracker makes the same decisions, and no throw-away export is needed."""
    import torch

    from mlkd_tracker.eval.tune_postprocess import DEFAULT_GRID, tune as tune_grid
    from mlkd_tracker.train.checkpoints import load_tracker
    from mlkd_tracker.train.torch_tracker import TorchSiameseEngine

    key = {**key, "grid": grid or DEFAULT_GRID}
    if cache.is_file():
        stored = json.loads(cache.read_text(encoding="utf-8"))
        if stored.get("key") == key:
            return stored["rows"]
    torch.set_num_threads(threads)
    model, _ = load_tracker(ckpt)
    rows = tune_grid(TorchSiameseEngine(model, label), sequences, key["grid"], max_frames=max_frames,
                     progress=progress)
    cache.write_text(json.dumps({"key": key, "rows": rows}, indent=2) + "\n", encoding="utf-8")
    return rows


def _markdown(sel: dict[str, Any]) -> str:
    win = sel["winner"]
    lines = [f"# MLKD-Track selection on {sel['split']}", "",
             f"{len(sel['candidates'])} candidates on {sel['dataset']}"
             + (f" (first {sel['max_frames']} frames per sequence)" if sel["max_frames"] else "")
             + f", {sel['threads']} thread(s). Ranked by success AUC, ties by precision@20; ×100.",
             "", "| rank | student | epoch | checkpoint | success | precision | norm. precision | FPS |",
             "|---:|---|---:|---|---:|---:|---:|---:|"]
    for i, r in enumerate(sel["candidates"], 1):
        cells = [str(i), r["student"], str(r["epoch"]), f"`{r['checkpoint']}`", f"{100 * r['success']:.1f}",
                 f"{100 * r['precision']:.1f}", f"{100 * r['norm_precision']:.1f}",
                 "–" if r["fps"] is None else f"{r['fps']:.1f}"]
        if r["checkpoint"] == win["checkpoint"]:
            cells = [f"**{c}**" for c in cells]
        lines.append("| " + " | ".join(cells) + " |")
    post = sel["postprocess"]
    lines += ["", f"Winner: **{win['student']} epoch {win['epoch']}**. Post-processing "
              + ("tuned on the same split" if sel["tuned"] else "not tuned (defaults)") + ": "
              + ", ".join(f"{k}={v:g}" for k, v in post.items()) + ".",
              f"Export: `{sel['export']['template']}`, `{sel['export']['search']}`.",
              "", f"![best epoch per student]({sel['plot']})", ""]
    return "\n".join(lines)


def select(run_dir: str | Path, data_root: str | Path | None = None, split: str | None = None,
           threads: int = 1, max_frames: int | None = None, tune: bool = True,
           out_stem: str | Path | None = None, *, grid: dict[str, list[float]] | None = None,
           progress: bool = True) -> dict[str, Any]:
    """Evaluate, rank, tune and export; returns what ``selection.json`` holds.

    ``grid`` overrides the post-processing grid (default ``tune_postprocess.DEFAULT_GRID``).
    """
    import torch

    from mlkd_tracker.data.sequences import read_dataset
    from mlkd_tracker.eval.eval_cli import thread_limit
    from mlkd_tracker.eval.ope_runner import run_dataset
    from mlkd_tracker.eval.plots import plot_ope
    from mlkd_tracker.eval.tracker_registry import parse_spec
    from mlkd_tracker.runtime.siamese_postprocess import PostprocessConfig
    from mlkd_tracker.train.export import export_tracker

    run_dir = Path(run_dir)
    cfg = read_run_config(run_dir)
    folder = validation_root(cfg, data_root, split)
    candidates = find_candidates(run_dir, cfg)
    sequences = read_dataset(folder)
    sel_dir = run_dir / SELECTION_DIR
    results_dir = sel_dir / "results" / folder.name
    results_dir.mkdir(parents=True, exist_ok=True)
    stamp = results_dir / "dataset.json"
    if stamp.is_file() and json.loads(stamp.read_text())["dataset"] != str(folder.resolve()):
        raise ValueError(f"{results_dir} holds results on {json.loads(stamp.read_text())['dataset']}, "
                         f"not {folder.resolve()}: remove it to select on another data set")
    stamp.write_text(json.dumps({"dataset": str(folder.resolve())}) + "\n")

    torch_threads = torch.get_num_threads()
    scores, rows = {}, []
    try:
        with thread_limit(threads):
            for c in tqdm(candidates, desc="candidates", unit="ckpt", disable=not progress):
                spec = parse_spec(f"{c.label}=torch:{c.checkpoint}")
                scores[c] = s = run_dataset(spec, sequences, results_dir, progress=False,
                                            max_frames=max_frames)
                rows.append({"student": c.student, "epoch": c.epoch, "label": c.label,
                             "checkpoint": _stored(c.checkpoint, run_dir), "success": s.auc,
                             "precision": s.precision_20, "norm_precision": s.norm_precision_20,
                             "fps": s.fps if math.isfinite(s.fps) else None})
            rows = rank(rows)
            winner = rows[0]
            ckpt = resolve(run_dir, winner["checkpoint"])
            post, grid_rows = PostprocessConfig(), []
            if tune:
                key = {"checkpoint": winner["checkpoint"], "dataset": str(folder.resolve()),
                       "max_frames": max_frames}
                grid_rows = _tuned(ckpt, winner["label"], sequences, sel_dir / "tune.json", key, grid,
                                   max_frames, threads, progress)
                post = PostprocessConfig.from_dict(grid_rows[0])
            stem = Path(out_stem) if out_stem else run_dir / "export" / "mlkd_track"
            data = cfg.get("data", "unknown")
            t_path, s_path = export_tracker(
                ckpt, stem, postprocess=post,
                training_data=f"{data} ({cfg.get('train_split', 'train')} split; checkpoint and "
                              f"post-processing selected on {folder.name})")
    finally:
        torch.set_num_threads(torch_threads)

    best: dict[str, dict] = {}
    for r in rows:  # ranked, so the first row of a student is its best epoch
        best.setdefault(r["student"], r)
    by_label = {c.label: s for c, s in scores.items()}
    plot = plot_ope({s: by_label[r["label"]] for s, r in best.items()}, sel_dir / f"ope_{folder.name}.png",
                    title=f"best epoch per student, {folder.name}")
    sel = {"run_dir": str(run_dir.resolve()), "dataset": str(folder.resolve()), "split": folder.name,
           "max_frames": max_frames, "threads": threads, "candidates": rows, "best_per_student": best,
           "winner": winner, "tuned": bool(tune), "postprocess": post.to_dict(),
           "tuning_top": grid_rows[:5],
           "export": {"stem": _stored(stem, run_dir), "template": _stored(t_path, run_dir),
                      "search": _stored(s_path, run_dir)},
           "plot": Path(plot.path).name}
    (sel_dir / "selection.json").write_text(json.dumps(sel, indent=2) + "\n", encoding="utf-8")
    (sel_dir / "selection.md").write_text(_markdown(sel), encoding="utf-8")
    return sel


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``mlkd-tracker select`` (the top-level CLI registers this module)."""
    parser.add_argument("run_dir", type=Path, help="MLKD run folder (config.yaml + <student>/epoch_*.pt)")
    parser.add_argument("--data", type=Path, default=None,
                        help="data set root holding the split folders (default: config.yaml's data)")
    parser.add_argument("--split", default=None,
                        help="validation split folder (default: config.yaml's val_split); never test")
    parser.add_argument("--threads", type=positive_int, default=1, help="threads for evaluation (FPS)")
    parser.add_argument("--max-frames", type=positive_int, default=None, metavar="N",
                        help="evaluate only the first N frames of each sequence (quick checks)")
    parser.add_argument("--no-tune", dest="tune", action="store_false",
                        help="export with the default post-processing instead of tuning it")
    parser.add_argument("--out", type=Path, default=None, metavar="STEM",
                        help="ONNX export stem (default: RUN_DIR/export/mlkd_track)")


def main(args: argparse.Namespace) -> int:
    """Run :func:`select`; 0 on success, 2 on bad input (missing run, no checkpoints, test split)."""
    try:
        sel = select(args.run_dir, args.data, args.split, threads=args.threads,
                     max_frames=args.max_frames, tune=args.tune, out_stem=args.out)
    except (ValueError, FileNotFoundError) as exc:
        print(f"mlkd-tracker select: error: {exc}", file=sys.stderr)
        return 2
    sel_dir = Path(args.run_dir) / SELECTION_DIR
    print((sel_dir / "selection.md").read_text(encoding="utf-8"))
    print(f"written: {sel_dir / 'selection.json'}, {sel_dir / 'selection.md'}, {sel_dir / sel['plot']}")
    return 0


if __name__ == "__main__":
    _parser = argparse.ArgumentParser(prog="python -m mlkd_tracker.train.mlkd_select", description=__doc__,
                                      formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(_parser)
    sys.exit(main(_parser.parse_args()))
