"""The torch-free Siamese runtime: crops, response-map geometry, post-processing, and the ONNX
engine's refusal of models that do not fit. ONNX graphs are built by hand here, so these tests
need neither torch nor a trained model."""
from __future__ import annotations

import hashlib

import numpy as np
import onnx
import pytest

from mlkd_tracker.runtime.crops import context_size, crop_square, crop_to_image, image_to_crop
from mlkd_tracker.runtime.onnx_siamese import ModelError, OnnxSiameseEngine
from mlkd_tracker.runtime.siamese_geometry import SiameseGeometry
from mlkd_tracker.runtime.siamese_postprocess import (PostprocessConfig, SiamesePostprocess,
                                                      TargetState)
from mlkd_tracker.runtime.siamese_tracker import SiameseTracker
from fake_siamese_onnx import S, fake_export, response

G = SiameseGeometry(64, 160, 8)


# ---- crops --------------------------------------------------------------------------------------
def test_crop_maps_image_points_to_where_image_to_crop_says():
    img = np.zeros((480, 640, 3), np.uint8)
    img[200, 300] = 255
    for side in (50.0, 130.0, 400.0):  # upscale, mild and strong (pyramid) downscale
        crop = crop_square(img, 310.0, 190.0, side, 64)
        expected = image_to_crop(np.array([300.5, 200.5]), 310.0, 190.0, side, 64)
        ys, xs = np.nonzero(crop[..., 0] > 0)
        centroid = np.array([np.average(xs + 0.5, weights=crop[ys, xs, 0]),
                             np.average(ys + 0.5, weights=crop[ys, xs, 0])])
        assert np.abs(centroid - expected).max() < 1.0, side


def test_crop_outside_the_frame_is_padded_with_the_given_colour():
    img = np.full((100, 100, 3), 50, np.uint8)
    crop = crop_square(img, 0.0, 0.0, 100.0, 32, pad_value=(7, 8, 9))
    assert tuple(crop[0, 0]) == (7, 8, 9) and tuple(crop[-1, -1]) == (50, 50, 50)


def test_crop_and_back_are_inverse_and_context_grows_with_the_target():
    pts = np.array([[10.0, 20.0], [33.0, 1.0]])
    back = crop_to_image(image_to_crop(pts, 50, 60, 80, 64), 50, 60, 80, 64)
    assert np.allclose(back, pts)
    assert context_size(20, 20) == pytest.approx(40.0)
    with pytest.raises(ValueError, match="bad crop"):
        crop_square(np.zeros((10, 10, 3), np.uint8), float("nan"), 1, 5, 8)


def test_geometry_centre_cell_looks_at_the_crop_centre():
    assert S == 13 and tuple(G.points()[6, 6]) == (80.0, 80.0)
    assert tuple(G.points()[6, 7]) == (88.0, 80.0)  # x grows along columns
    with pytest.raises(ValueError, match="multiple of the stride"):
        SiameseGeometry(64, 165, 8)


# ---- post-processing ----------------------------------------------------------------------------
def test_centre_peak_with_the_current_size_keeps_the_target_still():
    post = SiamesePostprocess(G, PostprocessConfig())
    state = TargetState(320, 240, 40, 20)
    scale = G.search_size / post.search_side(state)
    new, score = post.step(state, *response((6, 6), 20 * scale, 10 * scale), 640, 480)
    assert (new.cx, new.cy) == pytest.approx((320, 240))
    assert (new.w, new.h) == pytest.approx((40, 20))
    assert score > 0.99


def test_off_centre_peak_moves_the_target_by_the_cell_offset():
    post = SiamesePostprocess(G, PostprocessConfig(window_influence=0.0))
    state = TargetState(320, 240, 40, 20)
    scale = G.search_size / post.search_side(state)
    new, _ = post.step(state, *response((6, 8), 20 * scale, 10 * scale), 640, 480)
    assert new.cx == pytest.approx(320 + 2 * G.stride / scale)
    assert new.cy == pytest.approx(240)


def test_size_follows_the_prediction_at_the_smoothing_rate_and_is_clipped():
    cfg = PostprocessConfig(window_influence=0.0, penalty_k=0.0, size_lr=0.5)
    post = SiamesePostprocess(G, cfg)
    state = TargetState(320, 240, 40, 40)
    scale = G.search_size / post.search_side(state)
    new, _ = post.step(state, *response((6, 6), 30 * scale, 30 * scale), 640, 480)
    assert new.w == pytest.approx(40 * 0.5 + 60 * 0.5, rel=1e-3)
    edge, _ = post.step(TargetState(2, 2, 3, 3), *response((0, 0), 1, 1), 640, 480)
    assert edge.cx >= 0 and edge.cy >= 0 and edge.w >= cfg.min_size


def test_nan_outputs_do_not_produce_nan_boxes():
    post = SiamesePostprocess(G, PostprocessConfig())
    logits, ltrb = response((6, 6), 10, 10)
    logits[:] = np.nan
    ltrb[:] = np.nan
    new, score = post.step(TargetState(100, 100, 20, 20), logits, ltrb, 640, 480)
    assert np.isfinite([new.cx, new.cy, new.w, new.h, score]).all()


# ---- ONNX engine (hand-built exports from test/support) ------------------------------------
def test_engine_runs_a_fitting_export_and_reads_its_postprocess(tmp_path):
    engine = OnnxSiameseEngine(fake_export(tmp_path / "m"))
    assert engine.geometry == G and engine.name == "fake"
    assert engine.postprocess == {"window_influence": 0.4}
    zf = engine.template(np.full((64, 64, 3), 10, np.uint8))
    assert zf.shape == (1, 3, 1, 1) and np.allclose(zf, 10)
    cls, box = engine.search(np.zeros((160, 160, 3), np.uint8), zf)
    assert cls.shape == (S, S) and box.shape == (4, S, S)


def test_tracker_on_the_engine_follows_the_response(tmp_path):
    stem = fake_export(tmp_path / "m", peak=(6, 6))
    tracker = SiameseTracker(str(stem) + ".search.onnx")
    frame = np.zeros((480, 640, 3), np.uint8)
    tracker.init(frame, (300, 200, 40, 40))
    result = tracker.update(frame)
    assert result.box[0] + result.box[2] / 2 == pytest.approx(320)
    assert result.score > 0.99


@pytest.mark.parametrize("overrides, words", [
    ({"kind": "something-else"}, "metadata kind"),
    ({"format_version": 99}, "export format 99"),
    ({"search_size": 168}, "search size"),
])
def test_engine_refuses_models_that_do_not_fit(tmp_path, overrides, words):
    stem = tmp_path / "m"
    fake_export(stem)
    # rewrite only the search graph's metadata
    model = onnx.load(f"{stem}.search.onnx")
    for p in model.metadata_props:
        if p.key in overrides:
            p.value = str(overrides[p.key])
    onnx.save(model, f"{stem}.search.onnx")
    with pytest.raises(ModelError, match=words):
        OnnxSiameseEngine(stem)


def test_engine_refuses_a_pair_from_different_exports(tmp_path):
    fake_export(tmp_path / "a")
    fake_export(tmp_path / "b", meta_overrides={"export_id": "other"})
    (tmp_path / "b.template.onnx").replace(tmp_path / "c.template.onnx")
    (tmp_path / "a.search.onnx").replace(tmp_path / "c.search.onnx")
    with pytest.raises(ModelError, match="different exports"):
        OnnxSiameseEngine(tmp_path / "c")


def test_engine_refuses_missing_corrupt_and_tampered_files(tmp_path):
    with pytest.raises(ModelError, match="missing"):
        OnnxSiameseEngine(tmp_path / "nothing")
    stem = fake_export(tmp_path / "m")
    (tmp_path / "m.search.onnx").write_bytes(b"not onnx")
    with pytest.raises(ModelError, match="cannot load"):
        OnnxSiameseEngine(stem)
    stem = fake_export(tmp_path / "k")
    digest = hashlib.sha256(b"something else").hexdigest()
    (tmp_path / "SHA256SUMS").write_text(f"{digest}  k.template.onnx\n")
    with pytest.raises(ModelError, match="SHA256SUMS"):
        OnnxSiameseEngine(stem)
