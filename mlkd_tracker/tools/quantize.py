"""``mlkd-tracker quantize``: static INT8 (QDQ) quantisation of the tracker's search branch, the
detector and the enhancer with ONNX Runtime, calibrated on a val split.

    mlkd-tracker quantize tracker models/mlkd_track --calib data/synth_night/val \\
        --out runs/int8/mlkd_track_int8
    mlkd-tracker quantize detector models/detector.onnx --calib data/synth_detect/val --out ...
    mlkd-tracker quantize enhancer models/slkd_enhancer.onnx --calib data/synth_night/val --out ...

Why static QDQ: the activation ranges are fixed from calibration inputs (no per-frame range
computation), and a QDQ graph is still a plain ONNX file that every execution provider reads
(the CPU fuses the QuantizeLinear/DequantizeLinear pairs into integer kernels, TensorRT builds
INT8 engines from them). The calibration inputs are captured from the runtime classes running the
float model (see :mod:`mlkd_tracker.tools.quantize_calibration`), so they are cut, letterboxed
and padded exactly as in service.

Only a tracker's search branch is quantised: it runs every frame, while the template branch runs
once per init and its features are the search branch's second input. ``<out>.template.onnx`` is a
byte copy of the float template and ``<out>.search.onnx`` the quantised search branch, so both
keep the export id that pairs them. Every quantised file keeps the float model's metadata (kind,
format version, names, sizes, post-processing...) plus a ``quantization`` entry saying how it was
made, and loads in the runtime exactly like the float model; the output folder's SHA256SUMS, when
it has one, gets the new files' lines. After writing, the file is loaded in its runtime class and
compared with the float model on calibration inputs.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mlkd_tracker.cli_types import positive_int

__all__ = ["QuantizeConfig", "add_arguments", "main", "quantize_detector", "quantize_enhancer",
           "quantize_model", "quantize_tracker", "update_checksums"]

KINDS = ("tracker", "detector", "enhancer")
METHODS = ("minmax", "entropy", "percentile")
CHECK_SAMPLES = 16  # calibration inputs the float/INT8 comparison runs on


@dataclass(frozen=True)
class QuantizeConfig:
    """How to quantise. Defaults: MinMax ranges of 128 calibration inputs, uint8 activations
    (asymmetric: post-ReLU activations use the whole range) and int8 weights per output channel
    (a channel with small weights keeps its precision; per-tensor scales are set by the largest
    channel)."""

    samples: int = 128
    method: str = "minmax"
    per_channel: bool = True
    activations: str = "uint8"
    threads: int | None = None
    progress: bool = True
    exclude: tuple[str, ...] = ()  # regular expressions over node names: nodes kept float

    def __post_init__(self) -> None:
        if self.samples < 1 or self.method not in METHODS \
                or self.activations not in ("uint8", "int8"):
            raise ValueError(f"invalid QuantizeConfig: {self}")

    def describe(self, calib: Path, n_feeds: int) -> dict:
        return {"format": "QDQ", "activations": self.activations, "weights": "int8",
                "per_channel": self.per_channel, "calibration": self.method,
                "calibration_data": str(calib), "calibration_samples": n_feeds,
                "tool": "mlkd-tracker quantize (onnxruntime.quantization.quantize_static)"}


def _reader(feeds):
    """A CalibrationDataReader over ``feeds`` (built here: importing this module stays cheap)."""
    from onnxruntime.quantization import CalibrationDataReader

    from mlkd_tracker.tools.quantize_calibration import FeedReader

    class Reader(FeedReader, CalibrationDataReader):
        pass
    return Reader(feeds)


def matching_nodes(model_path: Path, patterns: tuple[str, ...]) -> list[str]:
    """Names of the nodes whose name matches one of the regular expressions ``patterns``."""
    import onnx
    regexes = [re.compile(p) for p in patterns]
    graph = onnx.load(str(model_path), load_external_data=False).graph
    return [n.name for n in graph.node if any(r.search(n.name) for r in regexes)]


def detector_decode_nodes(model_path: Path) -> list[str]:
    """The nodes of an Ultralytics Detect head that decode boxes, i.e. everything in the module
    that writes the output except its learned convolutions (not the DFL's fixed one). They stay
    float, as in Ultralytics' own INT8 exports: the output concatenates box coordinates in input
    pixels (0..640) with class scores (0..1), and one INT8 scale for both rounds every score to
    0 (AP 0)."""
    import onnx
    graph = onnx.load(str(model_path), load_external_data=False).graph
    out = graph.output[0].name
    producer = next((n for n in graph.node if out in n.output), None)
    if producer is None or not producer.name.startswith("/"):
        return []
    head = "/".join(producer.name.split("/")[:2]) + "/"  # e.g. /model.22/
    return [n.name for n in graph.node if n.name.startswith(head)
            and (n.op_type != "Conv" or "/dfl/" in n.name)]


def quantize_model(float_path: Path, out_path: Path, feeds: list[dict], cfg: QuantizeConfig,
                   calib: Path, float_nodes: list[str] | None = None) -> None:
    """Quantise ``float_path`` to ``out_path`` (QDQ, calibrated on ``feeds``; ``float_nodes``
    and the nodes matching ``cfg.exclude`` stay float) and give it the float model's metadata
    plus a ``quantization`` entry."""
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    method = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
              "percentile": CalibrationMethod.Percentile}[cfg.method]
    act = QuantType.QUInt8 if cfg.activations == "uint8" else QuantType.QInt8
    excluded = sorted(set(float_nodes or []) | set(matching_nodes(float_path, cfg.exclude)))
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_path.parent, prefix=".quantize-") as tmp:
        tmp_out = Path(tmp) / out_path.name
        # No CalibMaxIntermediateOutputs: MinMax keeps only per-tensor min/max scalars anyway,
        # and onnxruntime 1.31 drops (does not reduce) the samples collected before each flush.
        quantize_static(str(float_path), str(tmp_out), _reader(feeds), quant_format=QuantFormat.QDQ,
                        per_channel=cfg.per_channel, activation_type=act,
                        weight_type=QuantType.QInt8, calibrate_method=method,
                        nodes_to_exclude=excluded)
        model = onnx.load(str(tmp_out))
    meta = {p.key: p.value for p in onnx.load(str(float_path),
                                              load_external_data=False).metadata_props}
    meta["quantization"] = json.dumps({**cfg.describe(calib, len(feeds)),
                                       "float_nodes": len(excluded)})
    del model.metadata_props[:]
    for key, value in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(out_path))


def update_checksums(folder: Path, files: list[Path]) -> bool:
    """Replace or append the lines of ``files`` in ``folder/SHA256SUMS`` when the folder has one
    (what the runtime checks a model against); returns whether it did."""
    sums = folder / "SHA256SUMS"
    if not sums.is_file():
        return False
    names = {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in files}
    lines = []
    for line in sums.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("*") in names:
            continue
        lines.append(line)
    lines += [f"{digest}  {name}" for name, digest in names.items()]
    sums.write_text("\n".join(lines) + "\n")
    return True


def _max_difference(run_float, run_int8, feeds: list[dict]) -> tuple[list[dict], int]:
    """Per output: max |float - int8| and the float output's range, on the first feeds."""
    stats: list[dict] = []
    for feed in feeds[:CHECK_SAMPLES]:
        for k, (a, b) in enumerate(zip(run_float(feed), run_int8(feed))):
            if k == len(stats):
                stats.append({"max_abs": 0.0, "mean_abs": 0.0, "range": 0.0, "n": 0})
            s = stats[k]
            s["max_abs"] = max(s["max_abs"], float(np.abs(a - b).max()))
            s["mean_abs"] += float(np.abs(a - b).mean())
            s["range"] = max(s["range"], float(a.max() - a.min()))
            s["n"] += 1
    n = min(len(feeds), CHECK_SAMPLES)
    for s in stats:
        s["mean_abs"] /= max(s.pop("n"), 1)
    return stats, n


def _session_runner(session):
    return lambda feed: session.run(None, feed)


def _report(what: str, out: Path, compared: tuple[list[dict], int],
            output_names: list[str]) -> dict:
    stats, n = compared
    for name, s in zip(output_names, stats):
        print(f"  {what} {name}: max |float - int8| {s['max_abs']:.4g}, mean {s['mean_abs']:.4g} "
              f"(float output range {s['range']:.4g}) on {n} calibration inputs")
    return {"out": str(out), "outputs": dict(zip(output_names, stats))}


def _split_tracker_out(out: Path) -> Path:
    name = out.name
    for suffix in (".template.onnx", ".search.onnx"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return out.with_name(name)


def quantize_tracker(model: Path, calib: Path, out: Path, cfg: QuantizeConfig) -> dict:
    """``<out>.template.onnx`` (the float template) + ``<out>.search.onnx`` (INT8)."""
    from mlkd_tracker.runtime.onnx_siamese import ModelError, OnnxSiameseEngine, model_paths
    from mlkd_tracker.tools.quantize_calibration import tracker_feeds
    t_path, s_path = model_paths(model)
    engine = OnnxSiameseEngine(model, threads=cfg.threads)
    feeds = tracker_feeds(engine, calib, cfg.samples, cfg.progress)
    print(f"quantize tracker: {len(feeds)} search inputs from {calib}; quantising {s_path.name}")
    stem = _split_tracker_out(out)
    if stem.with_name(stem.name + ".search.onnx").resolve() == s_path.resolve():
        raise ModelError(f"--out {out} would overwrite the float model")
    out_t, out_s = (stem.with_name(stem.name + ".template.onnx"),
                    stem.with_name(stem.name + ".search.onnx"))
    quantize_model(s_path, out_s, feeds, cfg, calib)
    shutil.copyfile(t_path, out_t)
    update_checksums(stem.parent, [out_t, out_s])
    int8 = OnnxSiameseEngine(stem, threads=cfg.threads)  # loads as the runtime does
    names = [o.name for o in engine._s.get_outputs()]
    stats = _max_difference(_session_runner(engine._s), _session_runner(int8._s), feeds)
    return {**_report("search", out_s, stats, names), "files": [str(out_t), str(out_s)]}


def quantize_detector(model: Path, calib: Path, out: Path, cfg: QuantizeConfig) -> dict:
    from mlkd_tracker.runtime.detector import OnnxDetector
    from mlkd_tracker.tools.quantize_calibration import detector_feeds
    detector = OnnxDetector(model, threads=cfg.threads)
    feeds = detector_feeds(detector, calib, cfg.samples, cfg.progress)
    print(f"quantize detector: {len(feeds)} letterboxed images from {calib}; quantising "
          f"{Path(model).name}")
    quantize_model(Path(model), out, feeds, cfg, calib, detector_decode_nodes(Path(model)))
    update_checksums(out.parent, [out])
    int8 = OnnxDetector(out, threads=cfg.threads)
    names = [o.name for o in detector._session.get_outputs()]
    stats = _max_difference(_session_runner(detector._session), _session_runner(int8._session),
                            feeds)
    return _report("detector", out, stats, names)


def quantize_enhancer(model: Path, calib: Path, out: Path, cfg: QuantizeConfig) -> dict:
    from mlkd_tracker.runtime.enhancer import OnnxEnhancer
    from mlkd_tracker.tools.quantize_calibration import enhancer_feeds
    enhancer = OnnxEnhancer(model, threads=cfg.threads)
    feeds = enhancer_feeds(enhancer, calib, cfg.samples, cfg.progress)
    print(f"quantize enhancer: {len(feeds)} frames from {calib}; quantising {Path(model).name}")
    quantize_model(Path(model), out, feeds, cfg, calib)
    update_checksums(out.parent, [out])
    int8 = OnnxEnhancer(out, threads=cfg.threads)
    names = [o.name for o in enhancer._session.get_outputs()]
    stats = _max_difference(_session_runner(enhancer._session), _session_runner(int8._session),
                            feeds)
    return _report("enhancer", out, stats, names)


def _default_out(kind: str, model: Path) -> Path:
    name = model.name
    for suffix in (".template.onnx", ".search.onnx", ".onnx"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return Path("runs/int8") / (f"{name}_int8" if kind == "tracker" else f"{name}_int8.onnx")


def _regex(text: str) -> str:
    try:
        re.compile(text)
    except re.error as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a regular expression: {exc}") from None
    return text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("kind", choices=KINDS, help="what the model is")
    parser.add_argument("model", type=Path, help="float export: a tracker's stem (or either of "
                        "its files), a detector or an enhancer .onnx")
    parser.add_argument("--calib", type=Path, required=True,
                        help="val data: a tracking split (tracker, enhancer: its frames), or a "
                        "folder of images / a YOLO data set root (detector: images/val)")
    parser.add_argument("--out", type=Path, help="tracker: output stem; detector, enhancer: "
                        ".onnx file (default runs/int8/<name>_int8[.onnx])")
    parser.add_argument("--samples", type=positive_int, default=QuantizeConfig.samples,
                        help=f"calibration inputs (default {QuantizeConfig.samples})")
    parser.add_argument("--method", choices=METHODS, default=QuantizeConfig.method,
                        help="activation range calibration (default minmax)")
    parser.add_argument("--per-tensor", action="store_true",
                        help="one weight scale per tensor instead of per output channel")
    parser.add_argument("--activations", choices=("uint8", "int8"),
                        default=QuantizeConfig.activations, help="activation type (default uint8)")
    parser.add_argument("--exclude", action="append", type=_regex, default=[], metavar="REGEX",
                        help="keep the nodes whose name matches REGEX float (repeat); a "
                        "detector's box decoding always stays float")
    parser.add_argument("--threads", type=positive_int, help="ONNX Runtime threads for "
                        "calibration (default: ONNX Runtime's)")
    parser.add_argument("--no-progress", action="store_true")


def main(args: argparse.Namespace) -> int:
    from mlkd_tracker.runtime.onnx_session import ModelError
    from mlkd_tracker.tools.quantize_calibration import CalibrationError
    cfg = QuantizeConfig(samples=args.samples, method=args.method, per_channel=not args.per_tensor,
                         activations=args.activations, threads=args.threads,
                         exclude=tuple(args.exclude),
                         progress=not args.no_progress)
    out = args.out or _default_out(args.kind, args.model)
    if args.kind != "tracker" and out.suffix != ".onnx":
        print(f"mlkd-tracker quantize: error: --out {out} must be an .onnx file", file=sys.stderr)
        return 2
    if args.kind != "tracker" and out.resolve() == args.model.resolve():
        print(f"mlkd-tracker quantize: error: --out {out} would overwrite the float model",
              file=sys.stderr)
        return 2
    run = {"tracker": quantize_tracker, "detector": quantize_detector,
           "enhancer": quantize_enhancer}[args.kind]
    try:
        if not args.calib.is_dir():
            raise CalibrationError(f"calibration folder '{args.calib}' does not exist")
        result = run(args.model, args.calib, out, cfg)
    except (ModelError, CalibrationError) as exc:
        print(f"mlkd-tracker quantize: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {', '.join(result.get('files', [result['out']]))}")
    return 0
