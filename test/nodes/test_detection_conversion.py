"""Specification of mlkd_tracker.nodes.detection_conversion: library boxes <-> vision_msgs.

Library boxes are (x, y, w, h) with a top-left origin; vision_msgs boxes are centre + size.
"""
from __future__ import annotations

import math

import pytest
from builtin_interfaces.msg import Time
from hypothesis import given
from hypothesis import strategies as st
from std_msgs.msg import Header
from vision_msgs.msg import BoundingBox2D, Detection2D, Detection2DArray

from mlkd_tracker.nodes.detection_conversion import (bbox_to_box, box_to_bbox, make_detection,
                                                   make_track_array)

HEADER = Header(stamp=Time(sec=12, nanosec=345_678_901), frame_id="camera_optical_frame")

coord = st.floats(-1e5, 1e5, allow_nan=False)
size = st.floats(0.0, 1e5, allow_nan=False)


def test_box_to_bbox_puts_the_centre_in_the_middle_of_the_box():
    bbox = box_to_bbox((10.0, 20.0, 30.0, 40.0))
    assert (bbox.center.position.x, bbox.center.position.y) == (25.0, 40.0)
    assert (bbox.size_x, bbox.size_y) == (30.0, 40.0)
    assert bbox.center.theta == 0.0


def test_bbox_to_box_puts_the_top_left_corner_half_a_size_before_the_centre():
    bbox = BoundingBox2D(size_x=4.0, size_y=6.0)
    bbox.center.position.x, bbox.center.position.y = 100.0, 50.0
    assert bbox_to_box(bbox) == (98.0, 47.0, 4.0, 6.0)


def test_box_to_bbox_accepts_integers_and_numpy_values():
    import numpy as np
    bbox = box_to_bbox((np.int64(1), np.float32(2.0), 3, 4))
    assert (bbox.center.position.x, bbox.size_y) == (2.5, 4.0)


@given(coord, coord, size, size)
def test_box_to_bbox_to_box_round_trips(x, y, w, h):
    back = bbox_to_box(box_to_bbox((x, y, w, h)))
    assert back == pytest.approx((x, y, w, h), rel=1e-12, abs=1e-9)


@given(coord, coord, size, size)
def test_bbox_to_box_to_bbox_round_trips(cx, cy, w, h):
    bbox = BoundingBox2D(size_x=w, size_y=h)
    bbox.center.position.x, bbox.center.position.y = cx, cy
    again = box_to_bbox(bbox_to_box(bbox))
    assert (again.center.position.x, again.center.position.y, again.size_x, again.size_y) == \
        pytest.approx((cx, cy, w, h), rel=1e-12, abs=1e-9)


def test_bbox_to_box_passes_nan_through_for_the_caller_to_validate():
    bbox = BoundingBox2D(size_x=math.nan, size_y=1.0)
    assert math.isnan(bbox_to_box(bbox)[2])


def test_make_detection_carries_header_box_score_class_and_id():
    det = make_detection(HEADER, (10.0, 20.0, 30.0, 40.0), score=0.75, class_id="drone",
                         det_id="7")
    assert isinstance(det, Detection2D)
    assert det.header == HEADER and det.id == "7"
    assert bbox_to_box(det.bbox) == (10.0, 20.0, 30.0, 40.0)
    (hyp,) = det.results
    assert (hyp.hypothesis.class_id, hyp.hypothesis.score) == ("drone", 0.75)


@pytest.mark.parametrize("score", [math.nan, math.inf, -math.inf])
def test_make_detection_writes_a_non_finite_score_as_zero(score):
    assert make_detection(HEADER, (0.0, 0.0, 1.0, 1.0), score=score).results[0].hypothesis.score \
        == 0.0


def test_make_detection_without_a_box_gives_a_zero_size_box():
    bbox = make_detection(HEADER, None).bbox
    assert (bbox.size_x, bbox.size_y) == (0.0, 0.0)


def test_track_array_without_a_box_has_no_detections_but_keeps_the_header():
    msg = make_track_array(HEADER, None, 0.0, episode=3)
    assert isinstance(msg, Detection2DArray)
    assert msg.detections == [] and msg.header == HEADER


def test_track_array_with_a_box_has_one_detection_whose_id_is_the_episode():
    msg = make_track_array(HEADER, (1.0, 2.0, 3.0, 4.0), 0.9, episode=12)
    (det,) = msg.detections
    assert det.id == "12"
    assert bbox_to_box(det.bbox) == (1.0, 2.0, 3.0, 4.0)
    assert det.results[0].hypothesis.score == pytest.approx(0.9)


def test_track_array_copies_the_source_header_into_the_array_and_the_detection():
    msg = make_track_array(HEADER, (1.0, 2.0, 3.0, 4.0), 0.9, episode=1)
    assert msg.header.stamp == HEADER.stamp and msg.header.frame_id == HEADER.frame_id
    assert msg.detections[0].header == HEADER


def test_track_array_default_class_is_target_and_can_be_set():
    default = make_track_array(HEADER, (1.0, 2.0, 3.0, 4.0), 0.9, episode=1)
    custom = make_track_array(HEADER, (1.0, 2.0, 3.0, 4.0), 0.9, episode=1, class_id="uav")
    assert default.detections[0].results[0].hypothesis.class_id == "target"
    assert custom.detections[0].results[0].hypothesis.class_id == "uav"


def test_track_array_with_a_nan_score_publishes_zero():
    msg = make_track_array(HEADER, (1.0, 2.0, 3.0, 4.0), math.nan, episode=1)
    assert msg.detections[0].results[0].hypothesis.score == 0.0
