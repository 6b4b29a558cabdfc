"""Specification of runtime.follow_controller: gimbal rates that centre the tracked target."""
from __future__ import annotations

import math

import pytest

from mlkd_tracker.runtime.follow_controller import AxisPid, FollowController, PidGains

FX = FY = 500.0
CX, CY = 320.0, 240.0
DT = 1.0 / 30.0
P_ONLY = PidGains(kp=1.0, ki=0.0, kd=0.0, max_rate=100.0, max_integral=1.0, deadband=0.0)
I_ONLY = PidGains(kp=0.0, ki=1.0, kd=0.0, max_rate=100.0, max_integral=0.3, deadband=0.0)
D_ONLY = PidGains(kp=0.0, ki=0.0, kd=1.0, max_rate=100.0, max_integral=1.0, deadband=0.0)


def controller(gains: PidGains = PidGains()) -> FollowController:
    return FollowController(gains, gains)


# ---- sign convention and error definition --------------------------------------------------------
def test_target_right_of_centre_gives_positive_pan_rate():
    pan, _ = controller().update(CX + 100, CY, FX, FY, CX, CY, DT)
    assert pan > 0


def test_target_left_of_centre_gives_negative_pan_rate():
    pan, _ = controller().update(CX - 100, CY, FX, FY, CX, CY, DT)
    assert pan < 0


def test_target_below_centre_gives_positive_tilt_rate():
    _, tilt = controller().update(CX, CY + 100, FX, FY, CX, CY, DT)
    assert tilt > 0


def test_target_above_centre_gives_negative_tilt_rate():
    _, tilt = controller().update(CX, CY - 100, FX, FY, CX, CY, DT)
    assert tilt < 0


def test_horizontal_offset_moves_only_pan_and_vertical_only_tilt():
    assert controller().update(CX + 100, CY, FX, FY, CX, CY, DT)[1] == 0.0
    assert controller().update(CX, CY + 100, FX, FY, CX, CY, DT)[0] == 0.0


def test_error_is_the_angle_off_the_optical_axis():
    pan, tilt = controller(P_ONLY).update(CX + FX, CY - FY / math.sqrt(3), FX, FY, CX, CY, DT)
    assert pan == pytest.approx(math.pi / 4)
    assert tilt == pytest.approx(-math.pi / 6)


def test_output_does_not_depend_on_resolution_for_the_same_angle():
    low = controller().update(CX + 50, CY + 20, FX, FY, CX, CY, DT)
    high = controller().update(2 * CX + 100, 2 * CY + 40, 2 * FX, 2 * FY, 2 * CX, 2 * CY, DT)
    assert high == pytest.approx(low)


def test_pan_and_tilt_use_their_own_gains():
    ctrl = FollowController(P_ONLY, PidGains(kp=3.0, ki=0.0, kd=0.0, max_rate=100.0, deadband=0.0))
    pan, tilt = ctrl.update(CX + 50, CY + 50, FX, FY, CX, CY, DT)
    assert tilt == pytest.approx(3.0 * pan)


# ---- limits --------------------------------------------------------------------------------------
def test_rate_is_limited_to_max_rate_in_both_directions():
    gains = PidGains(max_rate=0.5)
    pid = AxisPid(gains)
    assert pid.update(1.2, DT) == 0.5
    pid.reset()
    assert pid.update(-1.2, DT) == -0.5


def test_integral_state_is_clamped_to_max_integral():
    pid = AxisPid(I_ONLY)
    for _ in range(100):  # 10 s of 1 rad error would integrate to 10 rad*s unclamped
        out = pid.update(1.0, 0.1)
    assert out == pytest.approx(I_ONLY.ki * I_ONLY.max_integral)


def test_clamped_integral_unwinds_quickly_after_the_error_reverses():
    pid = AxisPid(I_ONLY)
    for _ in range(100):
        pid.update(1.0, 0.1)
    outs = [pid.update(-1.0, 0.1) for _ in range(4)]
    assert outs[-1] < 0  # unclamped, it would take ~100 steps to change sign


def test_integral_does_not_wind_up_while_the_output_is_saturated():
    pid = AxisPid(PidGains())
    for _ in range(300):  # 10 s of a 1 rad error: output pinned at max_rate
        assert pid.update(1.0, DT) == PidGains().max_rate
    pid.update(0.0, DT)  # target centred: derivative sample of the jump
    assert abs(pid.update(0.0, DT)) < 1e-9


# ---- deadband ------------------------------------------------------------------------------------
def test_target_at_the_centre_gives_zero_rates():
    assert controller().update(CX, CY, FX, FY, CX, CY, DT) == (0.0, 0.0)


def test_error_inside_the_deadband_gives_zero_rate():
    gains = PidGains(deadband=0.01)
    pid = AxisPid(gains)
    assert [pid.update(e, DT) for e in (0.009, -0.009, 0.005, 0.0)] == [0.0] * 4


def test_output_has_no_step_at_the_deadband_edge():
    gains = PidGains(kp=2.0, ki=0.0, kd=0.0, deadband=0.01)
    just_inside = AxisPid(gains).update(0.0099, DT)
    just_outside = AxisPid(gains).update(0.0101, DT)
    assert just_inside == 0.0
    assert 0.0 < just_outside < 1e-3  # continuous: not kp * 0.01 = 0.02


def test_crossing_the_deadband_edge_does_not_kick_the_derivative():
    pid = AxisPid(PidGains(kp=0.0, ki=0.0, kd=1.0, deadband=0.01))
    pid.update(0.0101, DT)
    assert abs(pid.update(0.0099, DT)) < 0.01  # hard cut-off: (0 - 0.0101) / DT = -0.3


# ---- derivative and reset ------------------------------------------------------------------------
def test_derivative_is_the_error_change_per_second():
    pid = AxisPid(D_ONLY)
    assert pid.update(0.1, 0.1) == 0.0  # first sample: no history, no kick
    assert pid.update(0.2, 0.1) == pytest.approx(1.0)


def test_reset_clears_the_derivative_history():
    pid = AxisPid(D_ONLY)
    pid.update(0.5, DT)
    pid.reset()
    assert pid.update(-0.5, DT) == 0.0


def test_reset_clears_the_integral():
    pid = AxisPid(I_ONLY)
    for _ in range(10):
        pid.update(1.0, 0.1)
    pid.reset()
    assert pid.update(0.0, 0.1) == 0.0


def test_follow_controller_reset_resets_both_axes():
    ctrl = controller(D_ONLY)
    ctrl.update(CX + 100, CY + 100, FX, FY, CX, CY, DT)
    ctrl.reset()
    assert ctrl.update(CX - 100, CY - 100, FX, FY, CX, CY, DT) == (0.0, 0.0)


# ---- bad input -----------------------------------------------------------------------------------
@pytest.mark.parametrize("error, dt", [(math.nan, DT), (math.inf, DT), (0.1, math.nan),
                                       (0.1, math.inf), (0.1, 0.0), (0.1, -DT)])
def test_non_finite_or_non_positive_input_gives_zero_and_leaves_the_state_alone(error, dt):
    pid, fresh = AxisPid(PidGains()), AxisPid(PidGains())
    pid.update(0.2, DT)
    fresh.update(0.2, DT)
    assert pid.update(error, dt) == 0.0
    assert pid.update(0.3, DT) == fresh.update(0.3, DT)


# ---- closed loop ---------------------------------------------------------------------------------
def simulate(target: float, steps: int, gains: PidGains = PidGains(), target_rate: float = 0.0):
    """Integrator plant: the gimbal angle moves by the commanded rate times dt each frame."""
    pid, angle, errors, rates = AxisPid(gains), 0.0, [], []
    for k in range(steps):
        error = target + target_rate * k * DT - angle
        rate = pid.update(error, DT)
        angle += rate * DT
        errors.append(target + target_rate * (k + 1) * DT - angle)
        rates.append(rate)
    return errors, rates


G = PidGains()
OVERSHOOT_BOUND = G.ki * G.max_integral / G.kp + G.deadband  # what the clamped integral can push


@pytest.mark.parametrize("offset", [0.05, 0.3, -0.3, 0.5])
def test_closed_loop_overshoot_stays_within_what_the_clamped_integral_allows(offset):
    errors, _ = simulate(offset, 900)
    overshoot = max(0.0, max(-math.copysign(1.0, offset) * e for e in errors))
    assert overshoot <= OVERSHOOT_BOUND


@pytest.mark.parametrize("offset", [0.05, 0.3, -0.3, 0.5])
def test_closed_loop_is_near_centre_within_two_seconds_and_stays(offset):
    errors, _ = simulate(offset, 900)
    assert max(abs(e) for e in errors[60:]) <= OVERSHOOT_BOUND


@pytest.mark.parametrize("offset", [0.3, -0.5])
def test_closed_loop_settles_within_two_deadbands_in_thirty_seconds(offset):
    errors, _ = simulate(offset, 900)
    assert abs(errors[-1]) <= 2 * G.deadband


@pytest.mark.parametrize("offset", [0.02, 0.3, 0.5])
def test_closed_loop_comes_to_rest_instead_of_chattering_around_the_centre(offset):
    _, rates = simulate(offset, 900)
    assert max(abs(r) for r in rates[-300:]) < 2e-3


def test_closed_loop_follows_a_slowly_moving_target_without_lag():
    errors, _ = simulate(0.0, 900, target_rate=0.04)  # 0.04 rad/s ~ 2.3 deg/s
    assert max(abs(e) for e in errors[-300:]) <= 2 * G.deadband
