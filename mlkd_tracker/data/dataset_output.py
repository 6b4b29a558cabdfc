"""What every data-set writer here (synth, synth-detect, convert-visdrone) does with its output
folder: refuse to replace a data set unless asked, delete only what it writes, record the
config that decides the content, and report what it wrote."""
from __future__ import annotations

import dataclasses
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

RUN_ONLY = ("out", "overwrite", "progress")  # config fields that do not change the content


def prepare_output(out: Path, targets: list[Path], overwrite: bool) -> None:
    """Make ``out`` ready for a writer of ``targets``: FileExistsError if any exists and not
    ``overwrite``; otherwise delete those targets (nothing else in ``out``)."""
    existing = [p for p in targets if p.exists()]
    if existing and not overwrite:
        raise FileExistsError(f"{out} already holds a data set ({existing[0].name}); "
                              f"pass overwrite=True (--overwrite) to replace it")
    for p in existing:
        shutil.rmtree(p) if p.is_dir() else p.unlink()
    out.mkdir(parents=True, exist_ok=True)


def content_config(cfg) -> dict:
    """The fields of a generator's config dataclass that decide the content (for meta.json)."""
    return {k: v for k, v in dataclasses.asdict(cfg).items() if k not in RUN_ONLY}


@dataclass(frozen=True)
class WrittenSet:
    """A finished data set as its writer recorded it (``meta.json``'s counts)."""

    out: Path
    counts: dict
    seconds: float

    def headline(self) -> str:
        """Where, how long, and how large (walks the folder, so only when printed)."""
        size = sum(p.stat().st_size for p in self.out.rglob("*") if p.is_file())
        return f"wrote {self.out} in {self.seconds:.0f} s, {size / 1e6:.0f} MB"


def write_timed(write: Callable[[object], Path], cfg) -> WrittenSet:
    """Runs a writer (``generate``/``convert``) and reads back the counts it recorded."""
    start = time.perf_counter()
    out = write(cfg)
    counts = json.loads((out / "meta.json").read_text())["counts"]
    return WrittenSet(out, counts, time.perf_counter() - start)
