"""Attribute-based evaluation: UAV123's ground-truth attributes, the simulator's recipe
attributes, and success averaged over the sequences that have each attribute."""

import json
from types import SimpleNamespace

import numpy as np
import pytest

from mlkd_tracker.eval.attributes import (
    attribute_markdown,
    attribute_rows,
    dataset_attributes,
    gt_attributes,
    recipe_attributes,
)

STILL = np.tile([100.0, 100.0, 40.0, 30.0], (10, 1))  # 1200 px², fixed


def moved(boxes: np.ndarray, frame: int, **change: float) -> np.ndarray:
    out = boxes.copy()
    for key, value in change.items():
        out[frame, "xywh".index(key)] = value
    return out


def test_a_still_large_target_has_no_attribute():
    assert gt_attributes(STILL) == set()


SHAPE = {"scale variation", "aspect-ratio change"}


@pytest.mark.parametrize("w, h, expected", [
    (60.0, 45.0, {"scale variation"}),  # area × 2.25, same aspect
    (60.0, 20.0, {"aspect-ratio change"}),  # same area, aspect × 2.25
    (90.0, 30.0, SHAPE),  # area × 2.25, aspect × 2.25
    (20.0, 30.0, set()),  # area × 0.5 and aspect × 0.5: the range is closed
    (40.0, 14.0, SHAPE),  # area × 0.47, aspect × 2.14
    (50.0, 40.0, set()),  # area × 1.67, aspect × 0.94: inside [0.5, 2]
])
def test_scale_and_aspect_are_relative_to_the_first_frame(w, h, expected):
    assert gt_attributes(moved(STILL, 5, w=w, h=h)) & SHAPE == expected


def test_low_resolution_is_any_box_under_400_square_pixels():
    assert "low resolution" in gt_attributes(moved(STILL, 3, w=19.0, h=20.0))  # 380 px²
    assert "low resolution" not in gt_attributes(moved(STILL, 3, w=20.0, h=20.0))  # 400 px²


def test_fast_motion_is_a_centre_step_over_20_px_between_visible_frames():
    assert "fast motion" in gt_attributes(moved(STILL, 4, x=121.0))  # 21 px
    assert "fast motion" not in gt_attributes(moved(STILL, 4, x=119.0))
    # A jump across a frame where the target is absent is a re-appearance, not motion.
    jump = STILL.copy()
    jump[5:, 0] += 200.0
    absent = np.zeros(10, bool)
    absent[4] = True
    assert gt_attributes(jump, absent) == {"target absent"}
    jump[4] = np.nan
    assert gt_attributes(jump) == {"target absent"}


def test_no_first_box_means_no_reference_for_scale_or_aspect():
    boxes = moved(STILL, 0, w=0.0)
    boxes[5] = [20.0, 110.0, 200.0, 10.0]  # same centre; area and aspect far off, but no reference
    assert gt_attributes(boxes) == {"target absent"}
    assert gt_attributes(np.full((4, 4), np.nan)) == {"target absent"}


def test_recipe_attributes_name_the_light_level_and_the_look_away():
    assert recipe_attributes({"level": "very_dark", "look_away": True}) == {"light: very_dark",
                                                                           "camera looks away"}
    assert recipe_attributes({"level": "dusk", "look_away": False}) == {"light: dusk"}
    assert recipe_attributes({}) == set()
    assert recipe_attributes("not a recipe") == set()


def seq(name: str, boxes: np.ndarray) -> SimpleNamespace:
    return SimpleNamespace(name=name, boxes=boxes, absent=np.zeros(len(boxes), bool))


def test_dataset_attributes_read_the_recipe_of_their_split(tmp_path):
    (tmp_path / "test").mkdir()
    recipes = {"a": {"level": "night", "look_away": False}, "b": {"level": "dark", "look_away": True}}
    meta = {"sequences": {"test": recipes, "val": {"a": {"level": "dusk"}}}}
    (tmp_path / "meta.json").write_text(json.dumps(meta))
    found = dataset_attributes([seq("a", STILL), seq("b", moved(STILL, 9, x=150.0))], tmp_path / "test")
    assert found == {"a": {"light: night"}, "b": {"light: dark", "camera looks away", "fast motion"}}
    # Only the evaluated frames count: the jump is in frame 9.
    assert dataset_attributes([seq("b", moved(STILL, 9, x=150.0))], tmp_path / "test",
                              max_frames=8)["b"] == {"light: dark", "camera looks away"}


def test_the_aerial_simulators_event_record_becomes_attribute_rows():
    recipe = {"level": "night", "look_away": False, "fast_motion_prob": 0.0, "camera_tilt_deg": 20.0,
              "target_class": "motor",
              "attributes": {"partly_hidden_frames": 3, "hidden_frames": 0, "out_of_view_frames": 0,
                             "reentries": 1, "distractor_frames": 5, "stops": 0, "uturns": 1,
                             "on_road": True}}
    assert recipe_attributes(recipe) == {"light: night", "partly occluded", "re-entry",
                                         "look-alike nearby", "U-turn", "on road", "oblique view",
                                         "class: motor"}
    recipe["attributes"] = {"from": "another version"}
    assert recipe_attributes(recipe) == {"light: night", "class: motor"}


@pytest.mark.parametrize("meta", ["not json", json.dumps(["a list"]), json.dumps({"sequences": 3}),
                                  json.dumps({"sequences": {"test": {"a": "not a recipe"}}})])
def test_a_foreign_or_broken_meta_json_only_loses_the_recipe_attributes(tmp_path, meta):
    (tmp_path / "test").mkdir()
    (tmp_path / "meta.json").write_text(meta)
    small = STILL * [1, 1, 0.5, 0.5]  # 300 px² throughout
    assert dataset_attributes([seq("a", small)], tmp_path / "test") == {"a": {"low resolution"}}


def test_rows_average_each_attribute_over_its_sequences_in_a_fixed_order():
    attrs = {"s1": {"light: very_dark", "fast motion"}, "s2": {"light: dusk"},
             "s3": {"light: very_dark", "low resolution"}}
    scores = {"csrt": {"s1": 0.2, "s2": 0.8, "s3": 0.5}, "ours": {"s1": 0.6, "s2": 0.4, "s3": 0.3}}
    rows = attribute_rows(scores, attrs)
    assert [r.attribute for r in rows] == ["all", "light: dusk", "light: very_dark", "low resolution",
                                           "fast motion"]
    by_name = {r.attribute: r for r in rows}
    assert by_name["all"].n == 3 and by_name["all"].success["ours"] == pytest.approx(1.3 / 3)
    assert by_name["light: very_dark"].n == 2
    assert by_name["light: very_dark"].success == pytest.approx({"csrt": 0.35, "ours": 0.45})
    assert by_name["fast motion"].success == {"csrt": 0.2, "ours": 0.6}


def test_a_tracker_without_a_score_for_some_sequence_is_an_error():
    with pytest.raises(ValueError, match="ours: no score for sequence.*s2"):
        attribute_rows({"ours": {"s1": 0.5}}, {"s1": set(), "s2": {"fast motion"}})


def test_markdown_has_one_column_per_tracker_and_bolds_the_best():
    rows = attribute_rows({"csrt": {"s1": 0.2, "s2": 0.8}, "ours": {"s1": 0.6, "s2": 0.4}},
                          {"s1": {"light: night"}, "s2": {"fast motion"}})
    md = attribute_markdown(rows, ["ours", "csrt"])
    assert "| attribute | sequences | ours | csrt |" in md
    assert "| all | 2 | **50.0** | **50.0** |" in md  # a tie bolds both
    assert "| light: night | 1 | **60.0** | 20.0 |" in md
    assert "| fast motion | 1 | 40.0 | **80.0** |" in md
    assert "*fast motion*: box centre moves > 20 px" in md and "*light: …*" in md
