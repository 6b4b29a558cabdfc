"""The texture source: fetch from a package file, index, checksums, idempotence, CLI, sheet.

The package is a tiny .deb built here with dpkg-deb (FlightGear's layout, a few small PNGs and a
materials file), so nothing is downloaded.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import shutil
import subprocess
import tarfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from mlkd_tracker.data import texture_sheet, textures
from mlkd_tracker.sim.texture_folder import SPLITS, TextureFolder

needs_dpkg = pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb")

MATERIALS = """<?xml version="1.0"?>
<PropertyList>
  <material><name>Town</name><texture>Terrain/town.png</texture><xsize>96</xsize></material>
  <material><name>City</name>
    <texture-set><texture>Terrain/city.png</texture>
      <texture n="2">Terrain/city-relief-light.png</texture></texture-set>
    <xsize>200</xsize></material>
</PropertyList>
"""


def _png(path: Path, seed: int, size: int = 96) -> None:
    rng = np.random.default_rng(seed)
    img = cv2.resize(rng.integers(0, 255, (12, 12, 3), dtype=np.uint8), (size, size))
    cv2.imwrite(str(path), img)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    textures.add_arguments(parser)
    return parser


def _build_deb(root: Path) -> Path:
    """FlightGear's layout with a few small textures."""
    terrain = root / "usr/share/games/flightgear/Textures/Terrain"
    terrain.mkdir(parents=True)
    for i, name in enumerate(("town", "city", "forest", "crop1", "crop2", "sand")):
        _png(terrain / f"{name}.png", i)
    _png(terrain / "city-relief-light.png", 9)
    _png(terrain / "city.mask.png", 10)
    (terrain / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    (terrain / "readme.txt").write_text("not an image")
    mat = root / "usr/share/games/flightgear/Materials/regions"
    mat.mkdir(parents=True)
    (mat / "materials.xml").write_text(MATERIALS)
    (root / "usr/share/games/flightgear/Other").mkdir()
    _png(root / "usr/share/games/flightgear/Other/not-terrain.png", 11)
    (root / "DEBIAN").mkdir()
    (root / "DEBIAN/control").write_text(
        "Package: flightgear-data-base\nVersion: 1:0.1\nArchitecture: all\n"
        "Maintainer: test <t@example.org>\nInstalled-Size: 100\nDescription: test textures\n")
    out = root.parent / "flightgear-data-base_0.1_all.deb"
    subprocess.run(["dpkg-deb", "--build", "--root-owner-group", str(root), str(out)],
                   check=True, capture_output=True)
    return out


@pytest.fixture(scope="module")
def deb(tmp_path_factory) -> Path:
    if shutil.which("dpkg-deb") is None:
        pytest.skip("needs dpkg-deb")
    return _build_deb(tmp_path_factory.mktemp("pkg") / "root")


def _streaming_dpkg(folder: Path, tar_path: Path) -> str:
    """A dpkg-deb stand-in that streams ``tar_path`` as the package's file system tar and dies
    of SIGPIPE, as the real one may, when its reader stops early."""
    path = folder / "dpkg-deb"
    path.write_text('#!/bin/sh\nif [ "$1" = "-f" ]; then echo 1024; exit 0; fi\n'
                    f'exec cat {tar_path}\n')
    path.chmod(0o755)
    return str(path)


@needs_dpkg
def test_fetch_unpacks_indexes_checksums_and_is_idempotent(deb, tmp_path, capsys):
    out = tmp_path / "data/textures/flightgear"
    args = _parser().parse_args(["fetch", "--deb", str(deb), "--out", str(out), "--no-progress"])
    assert textures.main(args) == 0
    assert "fetched 6 textures" in capsys.readouterr().out
    assert not (out / "not-terrain.png").exists() and (out / "city.mask.png").is_file()
    index = json.loads((out / "index.json").read_text())
    by_name = {t["name"]: t for t in index["textures"]}
    assert sorted(by_name) == ["city.png", "crop1.png", "crop2.png", "forest.png", "sand.png",
                               "town.png"]
    assert index["skipped"] == {"broken.png": "OpenCV cannot decode it"}
    assert by_name["town.png"]["m_per_px"] == pytest.approx(1.0)  # 96 m over 96 px
    assert by_name["city.png"]["m_per_px"] == pytest.approx(200 / 96, abs=1e-3)
    assert by_name["forest.png"]["m_per_px_from"] == "default"
    assert by_name["city.png"]["light_mask"] == "city-relief-light.png"
    assert "GPL-2+" in index["source"] and deb.name in index["source"]
    assert {t["split"] for t in index["textures"]} == set(SPLITS)
    sums = dict(line.split("  ")[::-1] for line in (out / "SHA256SUMS").read_text().splitlines())
    assert set(sums) == {p.name for p in out.iterdir()} - {"index.json", "SHA256SUMS"}
    for name, digest in sums.items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == digest
    folder = TextureFolder.open(out)
    assert folder.indexed and folder.entry("city.png").m_per_px == by_name["city.png"]["m_per_px"]
    before = (out / "index.json").stat().st_mtime_ns
    assert textures.main(args) == 0
    assert "nothing to do" in capsys.readouterr().out
    assert (out / "index.json").stat().st_mtime_ns == before
    assert not list(out.parent.glob(".textures-*"))  # the staging folder is gone


def test_missing_apt_or_dpkg_is_one_clear_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(textures.shutil, "which", lambda tool: None)
    args = _parser().parse_args(["fetch", "--out", str(tmp_path / "t"), "--no-progress"])
    assert textures.main(args) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "dpkg-deb" in err and "--textures DIR" in err
    assert not (tmp_path / "t").exists()


def test_index_a_users_folder_and_list_it(tmp_path, capsys):
    folder = tmp_path / "ortho"
    (folder / "sub").mkdir(parents=True)
    for i in range(5):
        _png(folder / f"tile{i}.jpg", i)
    _png(folder / "sub/deep.png", 7)
    _png(folder / "tiny.png", 8, size=16)
    parser = _parser()
    assert textures.main(parser.parse_args(["index", str(folder), "--m-per-px", "0.3",
                                            "--no-progress"])) == 0
    index = json.loads((folder / "index.json").read_text())
    assert len(index["textures"]) == 6 and "tiny.png" in index["skipped"]
    assert all(t["m_per_px"] == 0.3 for t in index["textures"])
    assert "sub/deep.png" in {t["name"] for t in index["textures"]}
    capsys.readouterr()
    assert textures.main(parser.parse_args(["list", "--textures", str(folder)])) == 0
    out = capsys.readouterr().out
    assert "6 textures (index.json)" in out and "tile0.jpg  0.3 m/px" in out


def test_contact_sheet_of_day_and_night_frames(tmp_path):
    folder = tmp_path / "tex"
    folder.mkdir()
    for i in range(3):
        _png(folder / f"t{i}.png", i, size=128)
    out = tmp_path / "sheet.jpg"
    args = _parser().parse_args(["sheet", "--textures", str(folder), "--out", str(out),
                                 "--scenes", "3", "--tile-width", "80", "--frames", "2",
                                 "--ground-size", "640"])
    assert textures.main(args) == 0
    img = cv2.imread(str(out))
    assert img.shape == (2 * 60, 2 * 2 * 80, 3)  # 2 rows of 2 scenes, each day + night
    assert out.stat().st_size < 300 * 1024
    day, night = img[:60, :80].astype(float), img[:60, 80:160].astype(float)
    assert night[20:].mean() < day[20:].mean()  # below the labels
    with pytest.raises(FileNotFoundError):
        texture_sheet.contact_sheet(texture_sheet.SheetConfig(textures=tmp_path / "none"))


def _fake_tools(folder: Path, apt_script: str) -> dict[str, str]:
    """apt-get and dpkg-deb stand-ins: ``apt_script`` is the body of the fake apt-get."""
    folder.mkdir()
    tools = {}
    for tool, body in (("apt-get", apt_script), ("dpkg-deb", "exit 2")):
        path = folder / tool
        path.write_text(f"#!/bin/sh\n{body}\n")
        path.chmod(0o755)
        tools[tool] = str(path)
    return tools


@pytest.mark.parametrize("apt_script, words", [
    ("echo 'E: Failed to fetch (offline)' >&2; exit 100", ("failed (exit 100)", "--deb PATH")),
    ("exit 0", ("left no flightgear-data-base_*.deb",)),
])
def test_failed_download_is_one_clear_line(tmp_path, monkeypatch, capsys, apt_script, words):
    tools = _fake_tools(tmp_path / "bin", apt_script)
    monkeypatch.setattr(textures.shutil, "which", tools.get)
    out = tmp_path / "data/textures/flightgear"
    args = _parser().parse_args(["fetch", "--out", str(out), "--no-progress"])
    assert textures.main(args) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("mlkd-tracker textures: ")
    assert all(w in err for w in words), err
    assert not out.exists() and not list(out.parent.glob(".textures-*"))


@needs_dpkg
def test_a_broken_package_file_is_one_clear_line(tmp_path, capsys):
    bad = tmp_path / "flightgear-data-base_0.1_all.deb"
    bad.write_bytes(b"not a deb at all")
    args = _parser().parse_args(["fetch", "--deb", str(bad), "--out", str(tmp_path / "t"),
                                 "--no-progress"])
    assert textures.main(args) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "dpkg-deb" in err and "failed" in err


def test_an_unpacking_error_is_not_hidden_by_dpkg_dying_of_sigpipe(tmp_path, monkeypatch):
    tar_path = tmp_path / "fsys.tar"  # a texture, then more than pipe + read buffer
    with tarfile.open(tar_path, "w") as tar:
        for name, size in (("town.png", 1000), ("zz-big.bin", 1 << 23)):
            info = tarfile.TarInfo(textures.TERRAIN + name)
            info.size = size
            tar.addfile(info, io.BytesIO(np.random.default_rng(size).bytes(size)))
    dpkg = _streaming_dpkg(tmp_path, tar_path)
    monkeypatch.setattr(textures.shutil, "which", lambda tool: dpkg)
    deb = tmp_path / "flightgear-data-base_0.1_all.deb"
    with pytest.raises(FileNotFoundError):  # no staging folder: the first texture fails
        textures._unpack(deb, tmp_path / "no_such_folder", progress=False)
    staging = tmp_path / "staging"
    staging.mkdir()
    assert textures._unpack(deb, staging, progress=False) == {}
    assert (staging / "zz-big.bin").stat().st_size == 1 << 23


@needs_dpkg
def test_force_replaces_only_an_empty_folder_or_an_earlier_fetch(deb, tmp_path, capsys):
    def fetch(out: Path, *extra: str) -> int:
        return textures.main(_parser().parse_args(
            ["fetch", "--deb", str(deb), "--out", str(out), "--no-progress", *extra]))

    def refused(out: Path) -> bool:
        err = capsys.readouterr().err.strip()
        return len(err.splitlines()) == 1 and "refusing to replace" in err and str(out) in err

    mine = tmp_path / "my_photos"  # a folder of the user's own images
    mine.mkdir()
    for i in range(3):
        _png(mine / f"p{i}.png", i)
    assert fetch(mine, "--force") == 1 and refused(mine)
    textures.index_folder(mine, progress=False)  # indexed by `textures index`: still theirs
    assert fetch(mine, "--force") == 1 and refused(mine)
    (mine / "p0.png").unlink()  # its index now lists a missing file: a fetch would replace it
    assert fetch(mine) == 1 and refused(mine)
    assert sorted(p.name for p in mine.iterdir()) == ["SHA256SUMS", "index.json", "p1.png",
                                                      "p2.png"]
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    assert fetch(a_file, "--force") == 1 and a_file.read_text() == "x"

    empty = tmp_path / "empty"
    empty.mkdir()
    assert fetch(empty, "--force") == 0 and (empty / "index.json").is_file()
    (empty / "stale.png").write_bytes(b"left from before")
    assert fetch(empty, "--force") == 0  # an earlier fetch's folder: replaced
    assert not (empty / "stale.png").exists() and (empty / "town.png").is_file()
