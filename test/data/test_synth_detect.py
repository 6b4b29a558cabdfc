"""The synthetic night detection set: YOLO layout, valid labels, counts, tiny objects, darkness,
determinism, CLI."""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from mlkd_tracker.data import synth_detect_cli
from mlkd_tracker.data.synth_detect import (
    CLASSES, SIZE_BUCKETS, SPLITS, SynthDetectConfig, generate, size_bucket,
)
from mlkd_tracker.sim.lowlight import DARKNESS_LEVELS

W, H = 160, 128  # the tiny preset


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return generate(SynthDetectConfig.tiny(out=tmp_path_factory.mktemp("sd") / "a", seed=3))


def _labels(root: Path, split: str) -> dict[str, np.ndarray]:
    out = {}
    for p in sorted((root / "labels" / split).glob("*.txt")):
        rows = [line.split() for line in p.read_text().splitlines()]
        out[p.stem] = np.array(rows, dtype=np.float64).reshape(-1, 5)
    return out


def test_layout_is_yolo_with_clean_copies_and_data_yaml(tiny):
    sizes = {"train": 8, "val": 4, "test": 4}
    for split in SPLITS:
        stems = {p.stem for p in (tiny / "images" / split).glob("*.jpg")}
        assert len(stems) == sizes[split]
        assert {p.stem for p in (tiny / "labels" / split).glob("*.txt")} == stems
        assert {p.stem for p in (tiny / "clean" / split).glob("*.jpg")} == stems
        first = sorted(stems)[0]
        for kind in ("images", "clean"):
            assert cv2.imread(str(tiny / kind / split / f"{first}.jpg")).shape == (H, W, 3)
    data = yaml.safe_load((tiny / "data.yaml").read_text())
    assert Path(data["path"]) == tiny.resolve()
    assert {s: data[s] for s in SPLITS} == {s: f"images/{s}" for s in SPLITS}
    assert data["nc"] == 4 and data["names"] == dict(enumerate(CLASSES))
    assert CLASSES == ("person", "motor", "car", "truck")


def test_labels_are_normalised_boxes_of_known_classes_inside_the_image(tiny):
    n = 0
    for split in SPLITS:
        for stem, lab in _labels(tiny, split).items():
            n += len(lab)
            cls, cx, cy, w, h = lab.T
            assert np.all(cls == np.round(cls)) and np.all((cls >= 0) & (cls < len(CLASSES)))
            assert np.all((lab[:, 1:] >= 0) & (lab[:, 1:] <= 1)), stem
            assert np.all(w * W >= 3 - 1e-3) and np.all(h * H >= 3 - 1e-3), stem  # min_box_px
            assert np.all(cx - w / 2 >= -1e-5) and np.all(cx + w / 2 <= 1 + 1e-5), stem
            assert np.all(cy - h / 2 >= -1e-5) and np.all(cy + h / 2 <= 1 + 1e-5), stem
            text = (tiny / "labels" / split / f"{stem}.txt").read_text()
            assert all(len(line.split()) == 5 for line in text.splitlines())
    assert n > 0


def test_meta_counts_match_the_label_files(tiny):
    meta = json.loads((tiny / "meta.json").read_text())
    assert meta["classes"] == list(CLASSES) and meta["seed"] == 3
    assert meta["visdrone_names"] == {"person": "pedestrian", "motor": "motor", "car": "car",
                                      "truck": "truck"}
    for split in SPLITS:
        labels = _labels(tiny, split)
        counts = meta["counts"][split]
        boxes = np.concatenate(list(labels.values()))
        assert counts["images"] == len(labels) and counts["objects"] == len(boxes)
        assert counts["per_class"] == {c: int((boxes[:, 0] == i).sum())
                                       for i, c in enumerate(CLASSES)}
        buckets = [size_bucket(w * W, h * H) for w, h in boxes[:, 3:]]
        assert counts["per_size"] == {name: buckets.count(name) for name, _ in SIZE_BUCKETS}
        assert counts["per_class_size"]["person"] == {
            name: sum(b == name and c == 0 for b, c in zip(buckets, boxes[:, 0]))
            for name, _ in SIZE_BUCKETS}
        assert sum(r["objects"] for r in meta["images"][split].values()) == len(boxes)


def test_size_buckets_are_coco_style_on_box_area():
    assert size_bucket(15.9, 15.9) == "tiny" and size_bucket(4, 60) == "tiny"  # area 240
    assert size_bucket(16, 16) == "small" and size_bucket(10, 100) == "small"
    assert size_bucket(32, 32) == "medium" and size_bucket(95, 96) == "medium"
    assert size_bucket(96, 96) == "large"


def test_many_tiny_objects_of_every_class(tiny):
    meta = json.loads((tiny / "meta.json").read_text())
    total = {name: sum(meta["counts"][s]["per_size"][name] for s in SPLITS)
             for name, _ in SIZE_BUCKETS}
    assert total["tiny"] >= 0.5 * sum(total.values())
    assert all(n > 0 for n in meta["counts"]["train"]["per_class"].values())
    per_image = [len(lab) for lab in _labels(tiny, "train").values()]
    assert min(per_image) >= 3 and np.mean(per_image) >= 6
    assert sum(meta["counts"][s]["partly_hidden"] for s in SPLITS) > 0  # occlusion happens


def test_night_images_are_darker_than_their_clean_day_view(tiny):
    meta = json.loads((tiny / "meta.json").read_text())
    ratios: dict[str, list[float]] = {level: [] for level in DARKNESS_LEVELS}
    for split in SPLITS:
        for p in sorted((tiny / "images" / split).glob("*.jpg")):
            night = cv2.imread(str(p)).astype(np.float64).mean()
            clean = cv2.imread(str(tiny / "clean" / split / p.name)).astype(np.float64).mean()
            ratios[meta["images"][split][p.stem]["level"]].append(night / clean)
    everything = sum(ratios.values(), [])
    assert max(everything) < 0.9 and np.mean(everything) < 0.6
    assert np.mean(ratios["very_dark"]) < np.mean(ratios["night"]) < np.mean(ratios["dusk"])


def test_darkness_presets_cycle_and_splits_share_no_photo(tiny):
    meta = json.loads((tiny / "meta.json").read_text())
    assert meta["counts"]["train"]["levels"] == {k: 2 for k in sorted(DARKNESS_LEVELS)}
    photos = meta["photos"]
    for a in SPLITS:
        for b in SPLITS:
            if a < b:
                assert set(photos[a]).isdisjoint(photos[b])


def _digests(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.name != "data.yaml"}


def test_same_seed_same_bytes_other_seed_differs(tiny, tmp_path):
    again = generate(SynthDetectConfig.tiny(out=tmp_path / "b", seed=3))
    other = generate(SynthDetectConfig.tiny(out=tmp_path / "c", seed=4))
    assert _digests(again) == _digests(tiny)  # labels, night and clean images, meta.json
    first = sorted((tiny / "labels" / "train").glob("*.txt"))[0].name
    assert (other / "labels/train" / first).read_bytes() != (tiny / "labels/train" / first).read_bytes()
    # an image depends only on (seed, split, index): a smaller set is a prefix of a larger one
    part = generate(SynthDetectConfig.tiny(out=tmp_path / "d", seed=3, train_images=2,
                                           val_images=0, test_images=0))
    assert (part / "labels/train/train_00002.txt").read_bytes() == \
        (tiny / "labels/train/train_00002.txt").read_bytes()


def test_refuses_to_overwrite_unless_asked_and_rejects_bad_configs(tmp_path):
    cfg = SynthDetectConfig.tiny(out=tmp_path / "o", train_images=1, val_images=0, test_images=0)
    generate(cfg)
    with pytest.raises(FileExistsError, match="overwrite"):
        generate(cfg)
    cfg.overwrite = True
    generate(cfg)
    for bad in (dict(width=8), dict(min_objects=5, max_objects=2), dict(px_per_m=(5.0, 2.0)),
                dict(class_weights=(1.0, 1.0)), dict(min_visible=1.5)):
        with pytest.raises(ValueError, match="invalid SynthDetectConfig"):
            SynthDetectConfig(**bad)


def test_cli_tiny_preset_with_overrides(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    synth_detect_cli.add_arguments(parser)
    args = parser.parse_args(["--tiny", "--out", str(tmp_path / "cli"), "--seed", "5",
                              "--train-images", "2", "--val-images", "1", "--test-images", "1",
                              "--no-progress"])
    cfg = synth_detect_cli.config_from_args(args)
    assert (cfg.width, cfg.seed, cfg.train_images, cfg.progress) == (W, 5, 2, False)
    assert synth_detect_cli.config_from_args(parser.parse_args([])) == SynthDetectConfig()
    assert synth_detect_cli.main(args) == 0
    out = capsys.readouterr().out
    assert "train: 2 images" in out and "tiny" in out and "data.yaml" in out


def test_aerial_textures_ground_from_disjoint_texture_splits_deterministically(tmp_path):
    tex = tmp_path / "tex"
    tex.mkdir()
    for i in range(5):
        img = np.full((96, 96, 3), (50, 120, 60), np.uint8)
        img[:, 30:40] = img[50:60, :] = (95, 95, 95)  # a grey street cross
        cv2.imwrite(str(tex / f"t{i}.png"), img)
    cfg = SynthDetectConfig.tiny(out=tmp_path / "a", seed=2, textures=str(tex), train_images=3,
                                 val_images=2, test_images=2)
    meta = json.loads((generate(cfg) / "meta.json").read_text())
    assert meta["ground"] == "aerial"
    assert meta["textures"]["root"] == tex.name  # outside the working directory: no path
    for split in SPLITS:
        names = meta["textures"][split]
        assert names and all(set(names).isdisjoint(meta["textures"][s]) for s in SPLITS
                             if s != split)
        for stem, recipe in meta["images"][split].items():
            assert recipe["texture"] in names and recipe["street_from"] == "road_like"
            night = cv2.imread(str(cfg.out / "images" / split / f"{stem}.jpg"))
            clean = cv2.imread(str(cfg.out / "clean" / split / f"{stem}.jpg"))
            assert night.shape == clean.shape == (128, 160, 3)
            assert night.mean() < clean.mean()
    assert sum(c["objects"] for c in meta["counts"].values()) > 0
    again = generate(dataclasses.replace(cfg, out=tmp_path / "b"))
    for p in (cfg.out / "labels").rglob("*.txt"):
        assert p.read_bytes() == (again / p.relative_to(cfg.out)).read_bytes()
