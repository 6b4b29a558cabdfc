"""Specification of runtime.boxes: clip what a tracker can use, refuse what it cannot."""
from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlkd_tracker.runtime.boxes import InvalidBoxError, clip_box, validate_init_box

W, H = 160, 120
EPS = 1e-9 * max(W, H)  # x + w may differ from the frame edge by a rounding step


# ---- clip_box ----------------------------------------------------------------------------------
def test_clip_box_keeps_a_box_inside_the_frame_unchanged():
    assert clip_box((10.0, 20.0, 30.0, 40.0), W, H) == (10.0, 20.0, 30.0, 40.0)


def test_clip_box_cuts_the_part_left_of_and_above_the_frame():
    assert clip_box((-5.0, -10.0, 20.0, 30.0), W, H) == (0.0, 0.0, 15.0, 20.0)


def test_clip_box_cuts_the_part_right_of_and_below_the_frame():
    assert clip_box((150.0, 110.0, 20.0, 30.0), W, H) == (150.0, 110.0, 10.0, 10.0)


def test_clip_box_of_a_box_larger_than_the_frame_is_the_frame():
    assert clip_box((-100.0, -100.0, 1000.0, 1000.0), W, H) == (0.0, 0.0, W, H)


def test_clip_box_of_a_box_entirely_outside_is_empty():
    x, y, w, h = clip_box((W + 10.0, 5.0, 20.0, 20.0), W, H)
    assert w == 0.0 and 0.0 <= x <= W


def test_clip_box_of_a_box_touching_the_edge_from_outside_is_empty():
    assert clip_box((-20.0, 10.0, 20.0, 20.0), W, H)[2] == 0.0


finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)


@given(finite, finite, finite, finite)
def test_clip_box_result_is_always_inside_the_frame_with_non_negative_size(x, y, w, h):
    cx, cy, cw, ch = clip_box((x, y, w, h), W, H)
    assert 0.0 <= cx <= W and 0.0 <= cy <= H
    assert cw >= 0.0 and ch >= 0.0
    assert cx + cw <= W + EPS and cy + ch <= H + EPS


# ---- validate_init_box -------------------------------------------------------------------------
def test_validate_returns_a_box_inside_the_frame_unchanged():
    assert validate_init_box((10.0, 20.0, 30.0, 40.0), W, H) == (10.0, 20.0, 30.0, 40.0)


def test_validate_clips_a_box_drawn_past_the_border():
    assert validate_init_box((-10.0, 100.0, 30.0, 40.0), W, H) == (0.0, 100.0, 20.0, 20.0)


def test_validate_accepts_integers_and_returns_floats():
    box = validate_init_box((1, 2, 3, 4), W, H)
    assert box == (1.0, 2.0, 3.0, 4.0)
    assert all(isinstance(v, float) for v in box)


def test_validate_accepts_a_box_of_exactly_min_size():
    assert validate_init_box((5.0, 5.0, 2.0, 2.0), W, H, min_size=2.0) == (5.0, 5.0, 2.0, 2.0)


REFUSED = {
    "nan-x": (math.nan, 10.0, 20.0, 20.0),
    "nan-h": (10.0, 10.0, 20.0, math.nan),
    "inf-w": (10.0, 10.0, math.inf, 20.0),
    "minus-inf-y": (10.0, -math.inf, 20.0, 20.0),
    "zero-width": (10.0, 10.0, 0.0, 20.0),
    "negative-height": (10.0, 10.0, 20.0, -20.0),
    "smaller-than-min-size": (10.0, 10.0, 1.5, 20.0),
    "entirely-left": (-50.0, 10.0, 20.0, 20.0),
    "entirely-below": (10.0, H + 1.0, 20.0, 20.0),
    "in-frame-part-too-thin": (W - 1.0, 10.0, 20.0, 20.0),
    "three-numbers": (1.0, 2.0, 3.0),
    "five-numbers": (1.0, 2.0, 3.0, 4.0, 5.0),
    "not-numbers": ("a", "b", "c", "d"),
    "none": None,
}


@pytest.mark.parametrize("box", REFUSED.values(), ids=REFUSED.keys())
def test_validate_refuses_unusable_boxes_with_invalid_box_error(box):
    with pytest.raises(InvalidBoxError):
        validate_init_box(box, W, H)


def test_invalid_box_error_is_a_value_error():
    assert issubclass(InvalidBoxError, ValueError)


def test_refusal_message_names_the_frame_size_for_an_outside_box():
    with pytest.raises(InvalidBoxError, match=f"{W}x{H}"):
        validate_init_box((-50.0, 10.0, 20.0, 20.0), W, H)


def test_validate_refuses_everything_in_an_empty_frame():
    with pytest.raises(InvalidBoxError):
        validate_init_box((0.0, 0.0, 10.0, 10.0), 0, 0)


any_float = st.floats(allow_nan=True, allow_infinity=True)


@given(any_float, any_float, any_float, any_float,
       st.integers(0, 4000), st.integers(0, 4000), st.floats(0.5, 50.0))
def test_validate_on_any_floats_returns_an_in_frame_box_of_min_size_or_raises_invalid_box(
        x, y, w, h, width, height, min_size):
    try:
        bx, by, bw, bh = validate_init_box((x, y, w, h), width, height, min_size=min_size)
    except InvalidBoxError:
        return
    assert all(math.isfinite(v) for v in (bx, by, bw, bh))
    assert bw >= min_size and bh >= min_size
    assert 0.0 <= bx and 0.0 <= by
    eps = 1e-9 * max(width, height, 1)
    assert bx + bw <= width + eps and by + bh <= height + eps


@given(st.floats(0.0, W - 2.0), st.floats(0.0, H - 2.0), st.floats(2.0, 1e4), st.floats(2.0, 1e4))
def test_validate_accepts_every_box_whose_top_left_is_well_inside(x, y, w, h):
    bx, by, bw, bh = validate_init_box((x, y, w, h), W, H)
    assert (bx, by) == (x, y)
    assert bw == pytest.approx(min(w, W - x)) and bh == pytest.approx(min(h, H - y))
