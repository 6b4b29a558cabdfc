"""``cmd_gimbal`` message convention, in one place for the follower and the simulator.

``geometry_msgs/Vector3Stamped`` of gimbal body rates in rad/s, REP-103 axes (x forward, y left,
z up): ``vector.z`` = yaw rate (positive turns the view LEFT), ``vector.y`` = pitch rate
(positive tilts the view DOWN), ``vector.x`` (roll) unused. Inside the library pan is positive to
the right and tilt positive down (image axes), hence the sign flip on pan.
"""
from __future__ import annotations

from geometry_msgs.msg import Vector3Stamped
from std_msgs.msg import Header


def rates_to_msg(pan_rate: float, tilt_rate: float, header: Header) -> Vector3Stamped:
    msg = Vector3Stamped(header=header)
    msg.vector.z = -float(pan_rate)
    msg.vector.y = float(tilt_rate)
    return msg


def msg_to_rates(msg: Vector3Stamped) -> tuple[float, float]:
    """(pan_rate, tilt_rate) in image-axis convention."""
    return -float(msg.vector.z), float(msg.vector.y)
