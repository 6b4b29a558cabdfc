"""The aerial texture source: fetch the FlightGear terrain textures, index a folder, list it.

Why FlightGear's terrain textures: they are real aerial orthophotos (towns, city centres,
industry, ports, farmland, forest, desert) packaged by Debian and Ubuntu as
``flightgear-data-base``, so any Debian-like machine can fetch them without root through apt.
They are GPL-2+: the project uses them to train, and never commits or redistributes them.

``fetch`` runs ``apt-get download flightgear-data-base`` (or takes ``--deb PATH``), streams
``dpkg-deb --fsys-tarfile`` and keeps only ``Textures/Terrain/*`` (and reads the ground size of
each texture from ``Materials/**/*.xml``), unpacking into a staging folder that is renamed into
place when complete. It then writes, next to the images:

- ``index.json``: every colour texture (masks, overlays and normal maps left out; images OpenCV
  cannot decode skipped and listed), its split, its ground sampling distance in m/px (the
  material's ``xsize`` metres over the image width) and its street-light companion; the format is
  :mod:`mlkd_tracker.sim.texture_folder`'s, which is all the simulator reads;
- ``SHA256SUMS``: the checksum of every file taken (``sha256sum -c`` checks it).

A second run finds the index and does nothing; ``--force`` fetches again, but replaces only an
empty ``--out`` folder or one an earlier fetch wrote (never a folder of the user's own).
``index DIR`` writes the same two files for a folder of the user's own aerial images, so it gets
fixed splits and checksums too.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import cv2
from tqdm import tqdm

from mlkd_tracker.sim.texture_folder import (
    DEFAULT_DIR, INDEX_NAME, INDEX_VERSION, SPLITS, TextureFolder, assign_splits,
    is_colour_texture,
)

__all__ = ["PACKAGE", "FetchResult", "add_arguments", "fetch", "index_folder", "main"]

PACKAGE = "flightgear-data-base"
LICENCE = "GPL-2+ (Debian package flightgear-data-base); used for training, not redistributed"
_ROOT = "./usr/share/games/flightgear/"
TERRAIN = _ROOT + "Textures/Terrain/"
MATERIALS = _ROOT + "Materials/"
SUMS_NAME = "SHA256SUMS"
FLIGHTGEAR_FALLBACK_M_PER_PX = 1.0  # textures no material states a size for (median is ~1.5)
MIN_SIDE = 64  # smaller images are icons, not ground


@dataclass(frozen=True)
class FetchResult:
    out: Path
    fetched: bool  # False: already there, nothing done
    textures: int
    skipped: int


class ToolMissing(RuntimeError):
    """apt-get or dpkg-deb is not installed (not a Debian-like system)."""


def _need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise ToolMissing(f"`{tool}` not found: fetching the FlightGear textures needs apt-get "
                          f"and dpkg-deb (Debian/Ubuntu); elsewhere pass --textures DIR with "
                          f"your own aerial images")
    return path


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def material_sizes(xml_files: dict[str, bytes]) -> dict[str, float]:
    """Texture file name -> metres one tile covers (median ``xsize`` over the materials)."""
    sizes: dict[str, list[float]] = {}
    for name, data in xml_files.items():
        try:
            root = ET.fromstring(data)
        except ET.ParseError:
            continue
        for mat in root.iter("material"):
            xs = mat.findtext("xsize")
            if xs is None:
                continue
            firsts = [t.text for t in mat.findall("texture")]
            firsts += [ts.findtext("texture") for ts in mat.findall("texture-set")]
            for t in firsts:
                if t and t.startswith("Terrain/"):
                    try:
                        sizes.setdefault(Path(t).name, []).append(float(xs))
                    except ValueError:
                        pass
    return {k: statistics.median(v) for k, v in sizes.items()}


def _download(workdir: Path) -> Path:
    apt = _need("apt-get")
    print(f"downloading {PACKAGE} with apt-get (about 1.3 GB) ...", flush=True)
    subprocess.run([apt, "download", PACKAGE], cwd=workdir, check=True)
    debs = sorted(workdir.glob(f"{PACKAGE}_*.deb"))
    if not debs:
        raise RuntimeError(f"apt-get download left no {PACKAGE}_*.deb in {workdir}")
    return debs[-1]


class _Counted(io.RawIOBase):
    """A read-only stream that advances a tqdm bar by the bytes read through it."""

    def __init__(self, raw, bar: tqdm) -> None:
        self.raw, self.bar = raw, bar

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        n = self.raw.readinto(b)
        self.bar.update(n or 0)
        return n


def _unpack(deb: Path, staging: Path, progress: bool) -> dict[str, bytes]:
    """Stream the package's files: Terrain images into ``staging``; returns Materials XMLs."""
    dpkg = _need("dpkg-deb")
    size_kib = subprocess.run([dpkg, "-f", str(deb), "Installed-Size"], capture_output=True,
                              text=True, check=True).stdout.strip()
    total = int(size_kib) * 1024 if size_kib.isdigit() else None
    xmls: dict[str, bytes] = {}
    proc = subprocess.Popen([dpkg, "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE)
    bar = tqdm(total=total, unit="B", unit_scale=True, desc="unpacking", disable=not progress)
    try:
        stream = io.BufferedReader(_Counted(proc.stdout, bar), 1 << 20)
        with tarfile.open(fileobj=stream, mode="r|") as tar:
            for member in tar:
                if not member.isfile():
                    continue
                if member.name.startswith(TERRAIN) and "/" not in member.name[len(TERRAIN):]:
                    src = tar.extractfile(member)
                    with open(staging / Path(member.name).name, "wb") as dst:
                        shutil.copyfileobj(src, dst, 1 << 20)
                elif member.name.startswith(MATERIALS) and member.name.endswith(".xml"):
                    xmls[member.name] = tar.extractfile(member).read()
        for _ in iter(lambda: stream.read(1 << 20), b""):  # the padding after the archive's
            pass  # end, so dpkg-deb finishes writing instead of dying of SIGPIPE
    except BaseException:
        # the reader stopped early: dpkg-deb dies of SIGPIPE, which is not the error to report
        bar.close()
        proc.stdout.close()
        proc.wait()
        raise
    bar.close()
    proc.stdout.close()
    if proc.wait() != 0:
        raise RuntimeError(f"dpkg-deb --fsys-tarfile {deb} failed (exit {proc.returncode})")
    return xmls


def index_folder(folder: Path, tile_metres: dict[str, float] | None = None,
                 default_m_per_px: float = 0.5, source: str = "user folder",
                 progress: bool = True) -> dict:
    """Write ``index.json`` and ``SHA256SUMS`` for the images in ``folder``; returns the index.

    ``tile_metres`` maps a file name to the metres its width covers on the ground (its m/px is
    that over the width; others get ``default_m_per_px``). Images OpenCV cannot decode, tiny
    or flat ones are skipped (listed under ``skipped`` with the reason).
    """
    folder = Path(folder)
    tile_metres = tile_metres or {}
    files = sorted(p for p in folder.rglob("*") if p.is_file()
                   and p.name not in (INDEX_NAME, SUMS_NAME))
    sums = {}
    for p in tqdm(files, desc="checksums", unit="file", disable=not progress):
        sums[p.relative_to(folder).as_posix()] = _sha256(p)
    names = set(sums)
    textures, skipped = [], {}
    candidates = sorted(n for n in names if is_colour_texture(n))
    for name in tqdm(candidates, desc="checking", unit="img", disable=not progress):
        img = cv2.imread(str(folder / name), cv2.IMREAD_COLOR)
        if img is None:
            skipped[name] = "OpenCV cannot decode it"
            continue
        h, w = img.shape[:2]
        if min(h, w) < MIN_SIDE:
            skipped[name] = f"too small ({w}x{h})"
            continue
        if float(img[::4, ::4].std()) < 2.0:
            skipped[name] = "flat (no texture)"
            continue
        stem, suffix = name.rsplit(".", 1)
        light = f"{stem}-relief-light.{suffix}"
        metres = tile_metres.get(Path(name).name)
        textures.append({"name": name,
                         "m_per_px": round(metres / w if metres else default_m_per_px, 4),
                         "m_per_px_from": "materials" if metres else "default",
                         "light_mask": light if light in names else None,
                         "sha256": sums[name], "width": w, "height": h})
    splits = assign_splits([t["name"] for t in textures])
    for t in textures:
        t["split"] = splits[t["name"]]
    index = {"version": INDEX_VERSION, "source": source, "default_m_per_px": default_m_per_px,
             "counts": {s: sum(t["split"] == s for t in textures) for s in SPLITS},
             "textures": textures, "skipped": skipped}
    (folder / SUMS_NAME).write_text("".join(f"{h}  {n}\n" for n, h in sorted(sums.items())))
    (folder / INDEX_NAME).write_text(json.dumps(index, indent=1))
    return index


def _complete(out: Path) -> bool:
    index = out / INDEX_NAME
    if not index.is_file():
        return False
    try:
        data = json.loads(index.read_text())
    except ValueError:
        return False
    return all((out / t["name"]).is_file() for t in data.get("textures", ()))


def _fetched_here(out: Path) -> bool:
    """Whether ``out`` holds an index.json that ``fetch`` wrote (its source names the package)."""
    try:
        data = json.loads((out / INDEX_NAME).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and str(data.get("source", "")).startswith(f"{PACKAGE}:")


def _check_replaceable(out: Path) -> None:
    """Refuse to delete a folder ``fetch`` did not make: only an empty folder or an earlier
    fetch's may be replaced (``--out`` may name any folder, e.g. one of the user's images)."""
    if not out.exists():
        return
    if not out.is_dir():
        raise FileExistsError(f"{out} is a file, not a texture folder: pick another --out")
    if any(out.iterdir()) and not _fetched_here(out):
        raise FileExistsError(
            f"{out} is not empty and holds no {INDEX_NAME} written by `mlkd-tracker textures "
            f"fetch`: refusing to replace it; pick a new or empty --out folder")


def fetch(out: Path = DEFAULT_DIR, deb: Path | None = None, progress: bool = True,
          force: bool = False) -> FetchResult:
    """Fetch and index the FlightGear terrain textures into ``out`` (nothing if already there).

    An existing ``out`` is replaced only if it is empty or an earlier fetch made it
    (FileExistsError otherwise), so ``--force --out DIR`` cannot delete someone's folder.
    """
    out = Path(out)
    if _complete(out) and not force:
        return FetchResult(out, False, len(TextureFolder.open(out)), 0)
    _check_replaceable(out)
    _need("dpkg-deb")
    if deb is None:
        _need("apt-get")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".textures-", dir=out.parent) as tmp:
        tmp = Path(tmp)
        deb = Path(deb) if deb is not None else _download(tmp)
        if not deb.is_file():
            raise FileNotFoundError(f"no package file {deb}")
        staging = tmp / "terrain"
        staging.mkdir()
        xmls = _unpack(deb, staging, progress)
        sizes = material_sizes(xmls)
        index = index_folder(staging, sizes, FLIGHTGEAR_FALLBACK_M_PER_PX,
                             f"{PACKAGE}: {deb.name} (sha256 {_sha256(deb)}); {LICENCE}",
                             progress)
        if out.exists():
            _check_replaceable(out)  # again: the download took a while
            shutil.rmtree(out)
        staging.rename(out)
    return FetchResult(out, True, len(index["textures"]), len(index["skipped"]))


# ----------------------------------------------------------------------------- command line
def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``fetch``, ``index``, ``list`` and ``sheet`` subcommands of ``mlkd-tracker textures``."""
    sub = parser.add_subparsers(dest="textures_command", required=True)
    f = sub.add_parser("fetch", help=f"download and unpack the FlightGear terrain textures "
                                     f"(apt-get download {PACKAGE}, no root)")
    f.add_argument("--out", type=Path, default=DEFAULT_DIR, help=f"(default {DEFAULT_DIR})")
    f.add_argument("--deb", type=Path, help="use this downloaded .deb instead of apt-get")
    f.add_argument("--force", action="store_true",
                   help="fetch again even if present (replaces only an empty folder or one an "
                        "earlier fetch made)")
    f.add_argument("--no-progress", action="store_true")
    i = sub.add_parser("index", help="write index.json and SHA256SUMS for a folder of your own "
                                     "aerial images")
    i.add_argument("folder", type=Path)
    i.add_argument("--m-per-px", type=float, default=0.5,
                   help="ground sampling distance of the images, m/px (default 0.5)")
    i.add_argument("--no-progress", action="store_true")
    ls = sub.add_parser("list", help="the textures of a folder, by split")
    ls.add_argument("--textures", type=Path, default=DEFAULT_DIR, help=f"(default {DEFAULT_DIR})")
    ls.add_argument("--split", choices=SPLITS)
    from mlkd_tracker.data import texture_sheet

    texture_sheet.add_arguments(sub.add_parser(
        "sheet", help="contact sheet of sample frames (day and night) on aerial textures"))


def _list(args: argparse.Namespace) -> int:
    folder = TextureFolder.open(args.textures)
    how = "index.json" if folder.indexed else "scanned, no index.json"
    print(f"{folder.root}: {len(folder)} textures ({how})")
    for split in ([args.split] if args.split else SPLITS):
        entries = [e for e in folder.entries if e.split == split]
        print(f"{split}: {len(entries)}")
        for e in sorted(entries, key=lambda e: e.name):
            light = "  street lights" if e.light_mask else ""
            print(f"  {e.name}  {e.m_per_px:g} m/px{light}")
    return 0


def main(args: argparse.Namespace) -> int:
    cmd = args.textures_command
    try:
        if cmd == "fetch":
            r = fetch(args.out, args.deb, not args.no_progress, args.force)
            if r.fetched:
                print(f"fetched {r.textures} textures into {r.out} ({r.skipped} skipped, see "
                      f"{r.out / INDEX_NAME}; checksums in {r.out / SUMS_NAME})")
            else:
                print(f"textures already in {r.out} ({r.textures} textures): nothing to do")
            return 0
        if cmd == "index":
            index = index_folder(args.folder, default_m_per_px=args.m_per_px,
                                 progress=not args.no_progress)
            print(f"indexed {len(index['textures'])} images in {args.folder} "
                  f"({index['counts']}); {len(index['skipped'])} skipped")
            return 0
        if cmd == "list":
            return _list(args)
        from mlkd_tracker.data import texture_sheet

        return texture_sheet.main(args)
    except subprocess.CalledProcessError as exc:  # e.g. apt-get download while offline
        cmd = exc.cmd if isinstance(exc.cmd, str) else " ".join(str(c) for c in exc.cmd)
        hint = (f"; without a network, download {PACKAGE}_*.deb elsewhere and pass --deb PATH"
                if " download " in f" {cmd} " else "")
        print(f"mlkd-tracker textures: `{cmd}` failed (exit {exc.returncode}){hint}",
              file=sys.stderr)
        return 1
    except (RuntimeError, FileNotFoundError, FileExistsError) as exc:  # ToolMissing included
        print(f"mlkd-tracker textures: {exc}", file=sys.stderr)
        return 1
