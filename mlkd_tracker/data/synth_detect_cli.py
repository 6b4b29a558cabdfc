"""Arguments and entry point of ``mlkd-tracker synth-detect`` (the CLI module wires these in).

Usage from cli.py::

    _add_delegated(sub, "synth-detect", "mlkd_tracker.data.synth_detect_cli", "...")

Options left unset take their value from the preset: :class:`SynthDetectConfig` defaults, or
:meth:`SynthDetectConfig.tiny` with ``--tiny`` (so ``--tiny --seed 3 --out x`` works). Torch-free,
so the data set can be generated on any machine with the runtime requirements.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from mlkd_tracker.data.dataset_output import write_timed
from mlkd_tracker.data.synth_detect import SIZE_BUCKETS, SPLITS, SynthDetectConfig, generate

_DEFAULTS = SynthDetectConfig()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``synth-detect`` options to ``parser`` (unset = the preset's value)."""
    d = _DEFAULTS
    parser.add_argument("--out", type=Path, help=f"output folder (default {d.out})")
    parser.add_argument("--tiny", action="store_true",
                        help="the small test preset (160x128, 8/4/4 images)")
    parser.add_argument("--seed", type=int, help=f"(default {d.seed})")
    parser.add_argument("--width", type=int, help=f"(default {d.width})")
    parser.add_argument("--height", type=int, help=f"(default {d.height})")
    for split in SPLITS:
        parser.add_argument(f"--{split}-images", type=int,
                            help=f"(default {d.split_size(split)})")
    parser.add_argument("--min-objects", type=int, help=f"per image (default {d.min_objects})")
    parser.add_argument("--max-objects", type=int, help=f"per image (default {d.max_objects})")
    parser.add_argument("--px-per-m", type=float, nargs=2, metavar=("LO", "HI"),
                        help=f"object scale range, image px per metre (default {d.px_per_m})")
    parser.add_argument("--jpeg-quality", type=int, help=f"(default {d.jpeg_quality})")
    parser.add_argument("--textures",
                        help="folder of aerial images for the ground, 'auto' (the fetched "
                             "FlightGear set if present, else the built-in photos) or 'none' "
                             f"(photo mosaic); default {d.textures}")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing data set")
    parser.add_argument("--no-progress", action="store_true")


def config_from_args(args: argparse.Namespace) -> SynthDetectConfig:
    """The preset (default or ``--tiny``) with every option that was given applied on top."""
    fields = {f.name for f in dataclasses.fields(SynthDetectConfig)} - {"progress", "overwrite"}
    given = {k: v for k, v in vars(args).items() if k in fields and v is not None}
    run = dict(overwrite=args.overwrite, progress=not args.no_progress)
    if args.tiny:
        return SynthDetectConfig.tiny(**given, **run)
    return SynthDetectConfig(**given, **run)


def main(args: argparse.Namespace) -> int:
    """Generate the data set and print where it went and what it holds."""
    written = write_timed(generate, config_from_args(args))
    print(f"{written.headline()}; train with data={written.out / 'data.yaml'}")
    for split in SPLITS:
        c = written.counts[split]
        sizes = ", ".join(f"{c['per_size'][name]} {name}" for name, _ in SIZE_BUCKETS)
        print(f"  {split}: {c['images']} images, {c['objects']} objects ({sizes})")
    return 0
