"""Arguments and entry point of ``mlkd-tracker synth`` (the CLI module wires these in).

Usage from cli.py::

    synth = sub.add_parser("synth", help="render the synthetic night tracking set")
    synth_cli.add_arguments(synth)
    synth.set_defaults(func=synth_cli.main)

Torch-free, so the data set can be generated on any machine with the runtime requirements.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from mlkd_tracker.data.dataset_output import write_timed
from mlkd_tracker.data.synth import SPLITS, SynthConfig, generate

_DEFAULTS = SynthConfig()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``synth`` options to ``parser`` (defaults from :class:`SynthConfig`)."""
    d = _DEFAULTS
    parser.add_argument("--out", type=Path, default=d.out, help=f"output folder (default {d.out})")
    parser.add_argument("--seed", type=int, default=d.seed)
    parser.add_argument("--width", type=int, default=d.width)
    parser.add_argument("--height", type=int, default=d.height)
    for split in SPLITS:
        n_seq, n_frames = d.split_size(split)
        parser.add_argument(f"--{split}-sequences", type=int, default=n_seq)
        parser.add_argument(f"--{split}-frames", type=int, default=n_frames,
                            help=f"frames per {split} sequence")
    parser.add_argument("--jpeg-quality", type=int, default=d.jpeg_quality)
    parser.add_argument("--clean-jpeg-quality", type=int, default=d.clean_jpeg_quality)
    parser.add_argument("--ground-size", type=int, default=d.ground_size,
                        help="ground mosaic side in ground px")
    parser.add_argument("--textures", default=d.textures,
                        help="folder of aerial images for the ground, 'auto' (the fetched "
                             "FlightGear set if present, else the built-in photos) or 'none' "
                             "(photo mosaic)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing data set")
    parser.add_argument("--no-progress", action="store_true")


def config_from_args(args: argparse.Namespace) -> SynthConfig:
    fields = {f.name for f in dataclasses.fields(SynthConfig)}
    values = {k: v for k, v in vars(args).items() if k in fields}
    return SynthConfig(**values, progress=not args.no_progress)


def main(args: argparse.Namespace) -> int:
    """Generate the data set and print where it went and what it holds."""
    written = write_timed(generate, config_from_args(args))
    print(written.headline())
    for split, c in written.counts.items():
        print(f"  {split}: {c['sequences']} sequences, {c['frames']} frames, "
              f"{c['absent_frames']} absent")
    return 0
