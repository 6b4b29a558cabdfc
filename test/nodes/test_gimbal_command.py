"""Specification of the ``cmd_gimbal`` convention (mlkd_tracker.nodes.gimbal_command).

geometry_msgs/Vector3Stamped of body rates in rad/s on REP-103 axes (x forward, y left, z up):
vector.z is yaw (positive turns the view LEFT), vector.y is pitch (positive tilts the view DOWN),
vector.x (roll) is unused. The library's pan is positive to the RIGHT, its tilt positive DOWN.
"""
from __future__ import annotations

import pytest
from builtin_interfaces.msg import Time
from geometry_msgs.msg import Vector3Stamped
from hypothesis import given
from hypothesis import strategies as st
from std_msgs.msg import Header

from mlkd_tracker.nodes.gimbal_command import msg_to_rates, rates_to_msg

HEADER = Header(stamp=Time(sec=5, nanosec=6), frame_id="gimbal")
rate = st.floats(-1e3, 1e3, allow_nan=False)


def test_message_is_a_stamped_vector_with_the_given_header():
    msg = rates_to_msg(0.1, 0.2, HEADER)
    assert isinstance(msg, Vector3Stamped)
    assert msg.header == HEADER


def test_pan_right_is_a_negative_yaw_rate_about_z_up():
    msg = rates_to_msg(0.5, 0.0, HEADER)
    assert msg.vector.z == -0.5  # REP-103: positive yaw about z (up) turns the view left


def test_pan_left_is_a_positive_yaw_rate():
    assert rates_to_msg(-0.25, 0.0, HEADER).vector.z == 0.25


def test_tilt_down_is_a_positive_pitch_rate_about_y_left():
    msg = rates_to_msg(0.0, 0.3, HEADER)
    assert msg.vector.y == 0.3  # REP-103: positive pitch about y (left) tips the nose down


def test_roll_is_always_zero():
    assert rates_to_msg(0.7, -0.4, HEADER).vector.x == 0.0


def test_pan_only_leaves_pitch_zero_and_tilt_only_leaves_yaw_zero():
    assert rates_to_msg(0.5, 0.0, HEADER).vector.y == 0.0
    assert rates_to_msg(0.0, 0.5, HEADER).vector.z == 0.0


def test_msg_to_rates_reads_a_hand_built_message_in_image_axes():
    msg = Vector3Stamped(header=HEADER)
    msg.vector.z, msg.vector.y = 0.2, -0.1  # view turns left and tilts up
    assert msg_to_rates(msg) == (-0.2, -0.1)


@given(rate, rate)
def test_rates_round_trip_through_the_message(pan, tilt):
    assert msg_to_rates(rates_to_msg(pan, tilt, HEADER)) == pytest.approx((pan, tilt))


def test_rates_are_plain_floats():
    pan, tilt = msg_to_rates(rates_to_msg(1, 2, HEADER))
    assert type(pan) is float and type(tilt) is float
