"""Motion of the target on the ground and of the drone in the air.

Why Ornstein-Uhlenbeck processes: they give smooth, bounded, mean-reverting random motion with
an intuitive std and correlation time, exactly discretised for any time step, so a vehicle turns
smoothly, a hovering drone drifts slowly and vibrates quickly, and everything is reproducible
from one ``rng``. Both movers are steered back from the mosaic borders so the target never
leaves the ground texture.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np


def ou_step(x: float, std: float, tau: float, dt: float, rng: np.random.Generator) -> float:
    """Exact OU update with stationary ``std`` and correlation time ``tau``."""
    a = math.exp(-dt / tau)
    return x * a + std * math.sqrt(1.0 - a * a) * float(rng.standard_normal())


def wrap(a: float) -> float:
    return (a + math.pi) % (2.0 * math.pi) - math.pi


def border_steer(x: float, y: float, heading: float, lo: float, hi: float) -> float:
    """Turn rate (rad/s) pulling a mover that is outside [lo, hi]^2 back towards the centre."""
    if lo <= x <= hi and lo <= y <= hi:
        return 0.0
    mid = (lo + hi) / 2.0
    return 2.0 * wrap(math.atan2(mid - y, mid - x) - heading)


@dataclass
class TargetMotion:
    """A ground vehicle: speed (ground px/s) and heading with smooth random turns and bursts."""

    x: float
    y: float
    heading: float  # rad, 0 = +X (east), pi/2 = +Y (south)
    speed: float  # nominal speed
    turn_std: float  # std of the random turn rate, rad/s
    bounds: tuple[float, float]  # the target stays in [lo, hi]^2
    fast_prob: float = 0.0  # bursts per second
    fast_gain: float = 4.0  # speed multiplier during a burst
    turn_rate: float = 0.0
    speed_var: float = 0.0  # slow relative speed variation
    burst_left: float = 0.0  # seconds of burst remaining
    stop_prob: float = 0.0  # stops per second (1..4 s standing, braking and accelerating)
    uturn_prob: float = 0.0  # U-turns per second (half a turn in about 2 s)
    steer: Callable[[float, float, float], float] | None = field(default=None, repr=False)
    # ``steer(x, y, heading)``: extra turn rate (rad/s), e.g. to follow a road
    stop_left: float = 0.0
    uturn_left: float = 0.0  # rad of U-turn still to turn (signed)
    drive: float = 1.0  # speed factor: 0 while standing, eases in and out
    stops: int = 0  # events so far
    uturns: int = 0

    @property
    def current_speed(self) -> float:
        gain = self.fast_gain if self.burst_left > 0 else 1.0
        return self.speed * (1.0 + self.speed_var) * gain * self.drive

    def _events(self, dt: float, rng: np.random.Generator) -> float:
        """Stops and U-turns (only drawn when enabled, so other streams stay as they were);
        returns the U-turn's turn rate for this step."""
        if self.stop_prob > 0:
            self.stop_left = max(self.stop_left - dt, 0.0)
            if self.stop_left == 0 and self.drive > 0.9 and rng.random() < self.stop_prob * dt:
                self.stop_left = rng.uniform(1.0, 4.0)
                self.stops += 1
            goal = 0.0 if self.stop_left > 0 else 1.0
            self.drive += (goal - self.drive) * (1.0 - math.exp(-dt / 0.6))
        if self.uturn_prob > 0 and self.uturn_left == 0 and rng.random() < self.uturn_prob * dt:
            self.uturn_left = math.pi if rng.random() < 0.5 else -math.pi
            self.uturns += 1
        if self.uturn_left == 0:
            return 0.0
        rate = math.copysign(math.pi / 2.0, self.uturn_left)
        turn = rate * dt
        if abs(turn) >= abs(self.uturn_left):
            turn, self.uturn_left = self.uturn_left, 0.0
        else:
            self.uturn_left -= turn
        return turn / dt

    def step(self, dt: float, rng: np.random.Generator) -> None:
        self.turn_rate = ou_step(self.turn_rate, self.turn_std, 2.0, dt, rng)
        self.speed_var = ou_step(self.speed_var, 0.15, 3.0, dt, rng)
        self.burst_left = max(self.burst_left - dt, 0.0)
        if self.fast_prob > 0 and rng.random() < self.fast_prob * dt:
            self.burst_left = rng.uniform(0.5, 1.5)
        uturn = self._events(dt, rng)
        lo, hi = self.bounds
        margin = 0.1 * (hi - lo)
        steer = border_steer(self.x, self.y, self.heading, lo + margin, hi - margin)
        if self.steer is not None and uturn == 0 and steer == 0:
            steer = self.steer(self.x, self.y, self.heading)
        self.heading = wrap(self.heading + (self.turn_rate + steer + uturn) * dt)
        v = self.current_speed
        self.x = min(max(self.x + v * math.cos(self.heading) * dt, lo), hi)
        self.y = min(max(self.y + v * math.sin(self.heading) * dt, lo), hi)


@dataclass
class DroneMotion:
    """A hovering multirotor: slow horizontal drift and yaw, altitude breathing, vibration.

    Drift velocity, yaw rate and altitude are slow OU processes; roll/pitch vibration is a fast
    one. Wind gusts (when ``gust_prob`` > 0) kick the drift velocity, for fast camera motion.
    """

    x: float
    y: float
    altitude0: float  # nominal altitude, ground px
    drift_std: float  # std of the horizontal drift speed, ground px/s
    yaw_rate_std: float  # rad/s
    vibration_std: float  # rad
    altitude_jitter: float  # relative std of altitude
    bounds: tuple[float, float]
    gust_prob: float = 0.0  # gusts per second
    gust_speed: float = 0.0  # ground px/s added by a gust
    vx: float = 0.0
    vy: float = 0.0
    yaw: float = 0.0
    yaw_rate: float = 0.0
    roll: float = 0.0
    pitch: float = 0.0
    alt_var: float = 0.0

    @property
    def altitude(self) -> float:
        return self.altitude0 * (1.0 + self.alt_var)

    def step(self, dt: float, rng: np.random.Generator) -> None:
        self.vx = ou_step(self.vx, self.drift_std, 4.0, dt, rng)
        self.vy = ou_step(self.vy, self.drift_std, 4.0, dt, rng)
        if self.gust_prob > 0 and rng.random() < self.gust_prob * dt:
            ang = rng.uniform(-math.pi, math.pi)
            self.vx += self.gust_speed * math.cos(ang)
            self.vy += self.gust_speed * math.sin(ang)
        lo, hi = self.bounds
        mid = (lo + hi) / 2.0
        for axis in ("x", "y"):  # soft pull back over the mosaic
            pos = getattr(self, axis)
            if not lo <= pos <= hi:
                setattr(self, "v" + axis, getattr(self, "v" + axis) + 0.5 * (mid - pos) * dt)
        self.x += self.vx * dt
        self.y += self.vy * dt
        self.yaw_rate = ou_step(self.yaw_rate, self.yaw_rate_std, 5.0, dt, rng)
        self.yaw = wrap(self.yaw + self.yaw_rate * dt)
        self.roll = ou_step(self.roll, self.vibration_std, 0.08, dt, rng)
        self.pitch = ou_step(self.pitch, self.vibration_std, 0.08, dt, rng)
        self.alt_var = ou_step(self.alt_var, self.altitude_jitter, 6.0, dt, rng)
