"""The synthetic night set: layout, read-back, split hygiene, determinism, valid boxes, CLI."""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from mlkd_tracker.data import synth, synth_cli
from mlkd_tracker.data.sequences import read_dataset, read_got10k
from mlkd_tracker.data.synth import SPLITS, SynthConfig, generate, photo_split
from mlkd_tracker.data.textures import index_folder
from mlkd_tracker.sim.lowlight import DARKNESS_LEVELS
from mlkd_tracker.sim.photos import available_photos
from mlkd_tracker.sim.texture_folder import TextureFolder

TINY = dict(width=160, height=120, train_sequences=2, train_frames=6, val_sequences=2,
            val_frames=6, test_sequences=2, test_frames=6, ground_size=1024, progress=False)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return generate(SynthConfig(out=tmp_path_factory.mktemp("synth") / "a", seed=3, **TINY))


def test_layout_is_got10k_with_clean_copies(tiny):
    meta = json.loads((tiny / "meta.json").read_text())
    assert meta["version"] == synth.VERSION and meta["seed"] == 3
    for split in SPLITS:
        names = (tiny / split / "list.txt").read_text().split()
        assert len(names) == 2 and meta["counts"][split]["frames"] == 12
        for name in names:
            seq = tiny / split / name
            frames = sorted(seq.glob("*.jpg"))
            assert [f.name for f in frames] == [f"{i:08d}.jpg" for i in range(1, 7)]
            assert sorted(f.name for f in (seq / "clean").glob("*.jpg")) == [f.name for f in frames]
            for label in ("groundtruth.txt", "absence.label", "cover.label"):
                assert len((seq / label).read_text().splitlines()) == 6
            assert cv2.imread(str(frames[0])).shape == (120, 160, 3)


def test_reads_back_with_valid_boxes_inside_the_frame(tiny):
    for split in SPLITS:
        seqs = read_got10k(tiny / split)
        assert len(seqs) == 2
        for s in seqs:
            assert s.clean_frames is not None and len(s.clean_frames) == len(s) == 6
            assert s.valid[0]  # the first frame always shows the target (OPE initialisation)
            b = s.boxes[s.valid]
            assert (b[:, :2] >= 0).all() and (b[:, 2:] > 0).all()
            assert (b[:, 0] + b[:, 2] <= 160 + 1e-3).all()
            assert (b[:, 1] + b[:, 3] <= 120 + 1e-3).all()
            gt = (tiny / split / s.name / "groundtruth.txt").read_text().splitlines()
            absent = (tiny / split / s.name / "absence.label").read_text().split()
            for line, a in zip(gt, absent):  # out of view = 0,0,0,0 and absent
                if line.startswith("0.0000,0.0000,0.0000,0.0000"):
                    assert a == "1"
    with pytest.raises(ValueError, match="train"):
        read_dataset(tiny)  # the root holds splits: the error names them


def test_splits_share_no_source_photo(tiny):
    meta = json.loads((tiny / "meta.json").read_text())
    photos = meta["photos"]
    for a in SPLITS:
        assert len(photos[a]) >= 2
        for b in SPLITS:
            if a < b:
                assert set(photos[a]).isdisjoint(photos[b])
        for recipe in meta["sequences"][a].values():  # what the scenes really used
            assert set(recipe["sources"]) <= set(photos[a])
    assert sorted(sum(photos.values(), [])) == available_photos()
    assert photo_split(3) == photos and photo_split(4) != photos


def test_same_seed_same_bytes_other_seed_differs(tiny, tmp_path):
    again = generate(SynthConfig(out=tmp_path / "b", seed=3, **TINY))
    other = generate(SynthConfig(out=tmp_path / "c", seed=4, **TINY))
    files = sorted(p.relative_to(tiny) for p in tiny.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    for rel in files:
        assert (tiny / rel).read_bytes() == (again / rel).read_bytes(), rel
    gt = Path("train/night_train_0001/groundtruth.txt")
    assert (tiny / gt).read_text() != (other / gt).read_text()


def test_sequences_vary_darkness_size_and_motion(tmp_path):
    cfg = SynthConfig(out=tmp_path / "v", **{**TINY, "train_sequences": 8, "train_frames": 1,
                                              "val_sequences": 0, "test_sequences": 0})
    meta = json.loads((generate(cfg) / "meta.json").read_text())
    recipes = list(meta["sequences"]["train"].values())
    assert {r["level"] for r in recipes} == set(DARKNESS_LEVELS)
    sizes = [r["target_size_px"] for r in recipes]
    assert min(sizes) >= 12 and max(sizes) <= 0.35 * 120 + 1e-6 and max(sizes) > 1.5 * min(sizes)
    assert len({r["occluders"] for r in recipes}) > 1 and len({r["sim_seed"] for r in recipes}) == 8
    counts = meta["counts"]["train"]["attributes"]
    assert counts["fast_motion"] == sum(r["fast_motion_prob"] > 0 for r in recipes) > 0
    assert counts["target_class"] == {"vehicle_or_ellipse": 8}  # photo ground: the plain target


def test_refuses_to_overwrite_unless_asked(tiny, tmp_path):
    cfg = SynthConfig(out=tmp_path / "o", **{**TINY, "val_sequences": 0, "test_sequences": 0})
    generate(cfg)
    with pytest.raises(FileExistsError, match="overwrite"):
        generate(cfg)
    cfg.overwrite = True
    generate(cfg)
    with pytest.raises(ValueError, match="invalid SynthConfig"):
        SynthConfig(width=0)


def test_cli_helpers(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    synth_cli.add_arguments(parser)
    args = parser.parse_args(["--out", str(tmp_path / "cli"), "--width", "160", "--height", "120",
                              "--train-sequences", "1", "--train-frames", "2",
                              "--val-sequences", "0", "--test-sequences", "0",
                              "--ground-size", "512", "--no-progress"])
    cfg = synth_cli.config_from_args(args)
    assert cfg.train_frames == 2 and cfg.test_frames == SynthConfig().test_frames
    assert synth_cli.main(args) == 0
    assert "train: 1 sequences, 2 frames" in capsys.readouterr().out
    assert len(read_got10k(tmp_path / "cli" / "train")) == 1


def _aerial_textures(folder: Path, n: int = 6) -> Path:
    """Small town textures (grass, a grey street grid, roofs) written as PNGs."""
    folder.mkdir(parents=True)
    for i in range(n):
        rng = np.random.default_rng(i)
        img = np.full((128, 128, 3), (50, 120, 60), np.uint8)
        img[:, 10 + 4 * i:16 + 4 * i] = img[60:66, :] = (95, 95, 95)
        for x, y in rng.integers(20, 110, (10, 2)):
            cv2.rectangle(img, (int(x), int(y)), (int(x) + 8, int(y) + 6), (40, 40, 170), -1)
        cv2.imwrite(str(folder / f"town{i}.png"), img)
    return folder


def test_aerial_textures_physical_scale_and_disjoint_texture_splits(tmp_path):
    tex = _aerial_textures(tmp_path / "tex")
    cfg = SynthConfig(out=tmp_path / "aerial", seed=1, textures=str(tex), oblique_frac=0.5,
                      **{**TINY, "train_frames": 3, "val_frames": 3, "test_frames": 3})
    meta = json.loads((generate(cfg) / "meta.json").read_text())
    assert meta["ground"] == "aerial"
    # tmp_path is outside the working directory: only the folder's name, no machine path
    assert meta["textures"]["root"] == "tex" and meta["textures"]["index_sha256"] is None
    splits = {s: meta["textures"][s] for s in SPLITS}
    assert sorted(sum(splits.values(), [])) == [f"town{i}.png" for i in range(6)]
    assert all(splits[a] and set(splits[a]).isdisjoint(splits[b])
               for a in SPLITS for b in SPLITS if a < b)
    tilts = []
    for split in SPLITS:
        for recipe in meta["sequences"][split].values():
            g = recipe["ground"]
            assert g["kind"] == "aerial" and g["texture"] in splits[split]
            assert set(recipe["sources"]) <= set(meta["photos"][split])  # sprites: photos
            # the car's pixel length is its length in metres over the altitude's GSD
            gsd = recipe["altitude_m"] * 2 * np.tan(np.radians(30)) / 160
            assert g["image_m_per_px"] == pytest.approx(gsd, rel=5e-3)
            assert recipe["target_size_px"] == pytest.approx(recipe["target_length_m"] / gsd,
                                                             rel=5e-3)  # rounded in meta
            assert 12 <= recipe["altitude_m"] <= 250
            tilts.append(recipe["camera_tilt_deg"])
            assert recipe["target_class"] in ("car", "truck", "motor", "person")
            attrs = recipe["attributes"]
            assert attrs["out_of_view_frames"] == recipe["out_of_view_frames"]
            assert set(synth.sequence_attributes(recipe)) <= set(synth.ATTRIBUTES)
        counts = meta["counts"][split]["attributes"]
        assert sum(counts["target_class"].values()) == 2
        assert counts["oblique"] == sum(r["camera_tilt_deg"] > 0
                                        for r in meta["sequences"][split].values())
    assert sum(t > 0 for t in tilts) == 3 and all(t == 0 or 10 <= t <= 35 for t in tilts)
    again = generate(dataclasses.replace(cfg, out=tmp_path / "again"))
    frame = Path("test/night_test_0001/00000003.jpg")
    assert (cfg.out / frame).read_bytes() == (again / frame).read_bytes()


def test_texture_source_is_relative_to_the_working_directory_and_pins_the_index(
        tmp_path, monkeypatch):
    tex = _aerial_textures(tmp_path / "work/data/tex")
    monkeypatch.chdir(tmp_path / "work")
    assert synth.texture_source(TextureFolder.open(tex)) == {
        "root": "data/tex", "indexed": False, "index_sha256": None}
    assert index_folder(tex, progress=False)["textures"]
    digest = hashlib.sha256((tex / "index.json").read_bytes()).hexdigest()
    source = synth.texture_source(TextureFolder.open(Path("data/tex")))
    assert source == {"root": "data/tex", "indexed": True, "index_sha256": digest}
    monkeypatch.chdir(tmp_path / "work/data/tex")  # the folder itself: "."
    assert synth.texture_source(TextureFolder.open(tex))["root"] == "."
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert synth.texture_source(TextureFolder.open(tex))["root"] == "tex"


def test_cli_takes_a_texture_folder(tmp_path):
    parser = argparse.ArgumentParser()
    synth_cli.add_arguments(parser)
    assert synth_cli.config_from_args(parser.parse_args([])).textures == "auto"
    args = parser.parse_args(["--textures", str(tmp_path / "t"), "--out", str(tmp_path / "o")])
    assert synth_cli.config_from_args(args).textures == str(tmp_path / "t")
