"""Gimbal rate controller that centres a tracked target (a PID per axis with limits).

The error is the target's angular offset from the optical axis, ``atan((u - cx) / fx)``, so gains
do not depend on resolution or zoom. Output rates follow the view convention of the simulator:
positive pan turns the view right, positive tilt turns it down.
"""
from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class PidGains:
    kp: float = 2.0
    ki: float = 0.2
    kd: float = 0.05
    max_rate: float = 1.0        # rad/s output limit
    max_integral: float = 0.3    # rad*s, anti-windup clamp on the integral term's state
    deadband: float = 0.005      # rad; errors below this count as zero, larger ones are reduced
                                 # by it (no jitter at centre)


class AxisPid:
    """PID with anti-windup; call ``reset`` on a new target so the derivative does not kick."""

    def __init__(self, gains: PidGains) -> None:
        self.gains = gains
        self.reset()

    def reset(self) -> None:
        self._integral = 0.0
        self._last_error: float | None = None

    def update(self, error: float, dt: float) -> float:
        """Rate command for ``error`` (rad) after ``dt`` seconds; 0 for a non-finite input."""
        g = self.gains
        if not (math.isfinite(error) and math.isfinite(dt) and dt > 0):
            return 0.0  # and leave the state alone: one bad sample must not poison the integral
        # Continuous deadband: zero inside, offset outside. A hard cut-off would step the output
        # (and kick the derivative) at the band's edge, which chatters around the centre.
        error = math.copysign(max(abs(error) - g.deadband, 0.0), error)
        derivative = 0.0 if self._last_error is None else (error - self._last_error) / dt
        self._last_error = error
        out = g.kp * error + g.ki * self._integral + g.kd * derivative
        if abs(out) < g.max_rate or out * error < 0:  # anti-windup: no integrating into the limit
            self._integral = max(-g.max_integral,
                                 min(g.max_integral, self._integral + error * dt))
            out = g.kp * error + g.ki * self._integral + g.kd * derivative
        return max(-g.max_rate, min(g.max_rate, out))


class FollowController:
    """Turns a box centre in pixels into (pan_rate, tilt_rate) in rad/s."""

    def __init__(self, pan: PidGains, tilt: PidGains) -> None:
        self.pan = AxisPid(pan)
        self.tilt = AxisPid(tilt)

    def reset(self) -> None:
        self.pan.reset()
        self.tilt.reset()

    def update(self, u: float, v: float, fx: float, fy: float, cx: float, cy: float,
               dt: float) -> tuple[float, float]:
        pan_error = math.atan2(u - cx, fx)   # target right of centre -> turn right (positive pan)
        tilt_error = math.atan2(v - cy, fy)  # target below centre -> turn down (positive tilt)
        return self.pan.update(pan_error, dt), self.tilt.update(tilt_error, dt)
