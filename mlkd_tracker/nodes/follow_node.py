"""follow_node: turns ``tracks`` + ``camera_info`` into ``cmd_gimbal`` rates that centre the target.

Closes the loop with the simulator (or a real gimbal driver). With no track for
``track_timeout_s`` it commands zero rates (hold still) and forgets its PID state.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

from geometry_msgs.msg import Vector3Stamped
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo
from std_msgs.msg import Header
from vision_msgs.msg import Detection2DArray

from mlkd_tracker.nodes.detection_conversion import bbox_to_box
from mlkd_tracker.nodes.diagnostics import OK, WARN, DiagnosticsPublisher, Health
from mlkd_tracker.nodes.gimbal_command import rates_to_msg
from mlkd_tracker.nodes.node_main import run_node
from mlkd_tracker.nodes.params import declare_config, param
from mlkd_tracker.nodes.qos import OUTPUT_QOS
from mlkd_tracker.runtime.follow_controller import FollowController, PidGains


@dataclass
class FollowNodeConfig:
    kp: float = param(2.0, "Proportional gain, (rad/s) per rad of angular error.", range=(0.0, 100.0))
    ki: float = param(0.2, "Integral gain.", range=(0.0, 100.0))
    kd: float = param(0.05, "Derivative gain.", range=(0.0, 100.0))
    max_rate: float = param(1.0, "Rate limit per axis, rad/s.", range=(0.0, 20.0))
    max_integral: float = param(0.3, "Anti-windup clamp of the integral state, rad*s.",
                                range=(0.0, 10.0))
    deadband: float = param(0.005, "Angular errors below this (rad) are ignored.",
                            range=(0.0, 0.5))
    track_timeout_s: float = param(0.5, "Without a track for this long, command zero rates.",
                                   range=(0.01, 60.0))
    hold_rate_hz: float = param(10.0, "Rate of zero commands while holding.", range=(0.1, 100.0),
                                read_only=True)


class FollowNode(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__("follow_node", **kwargs)
        self.cfg = declare_config(self, FollowNodeConfig, on_change=self._configure)
        self._configure(self.cfg)
        self._intrinsics: tuple[float, float, float, float] | None = None
        self._last_track: float | None = None
        self._episode = ""
        self._commands = 0
        self.pub = self.create_publisher(Vector3Stamped, "cmd_gimbal", OUTPUT_QOS)
        self.create_subscription(CameraInfo, "camera_info", self._on_info, 10)
        self.create_subscription(Detection2DArray, "tracks", self._on_tracks, OUTPUT_QOS)
        self.create_timer(1.0 / self.cfg.hold_rate_hz, self._hold_if_stale)
        self.diagnostics = DiagnosticsPublisher(self, "follow", self._health)

    def _configure(self, cfg: FollowNodeConfig) -> None:
        gains = PidGains(cfg.kp, cfg.ki, cfg.kd, cfg.max_rate, cfg.max_integral, cfg.deadband)
        self.cfg = cfg
        if hasattr(self, "controller"):  # re-tuning keeps the loop's integral and history
            self.controller.pan.gains = self.controller.tilt.gains = gains
        else:
            self.controller = FollowController(gains, gains)

    def _on_info(self, msg: CameraInfo) -> None:
        fx, fy, cx, cy = msg.k[0], msg.k[4], msg.k[2], msg.k[5]
        if fx > 0 and fy > 0 and all(math.isfinite(v) for v in (fx, fy, cx, cy)):
            self._intrinsics = (fx, fy, cx, cy)
        else:
            self.get_logger().error(f"camera_info with unusable K {list(msg.k)}",
                                    throttle_duration_sec=5.0)

    def _on_tracks(self, msg: Detection2DArray) -> None:
        if self._intrinsics is None or not msg.detections:
            return
        det = msg.detections[0]
        x, y, w, h = bbox_to_box(det.bbox)
        if not all(math.isfinite(v) for v in (x, y, w, h)):
            return
        now = time.monotonic()
        if det.id != self._episode or self._last_track is None:
            self.controller.reset()  # a new target: no derivative kick, no stale integral
            self._episode = det.id
        dt = 1.0 / 30.0 if self._last_track is None else min(now - self._last_track, 0.5)
        pan, tilt = self.controller.update(x + w / 2, y + h / 2, *self._intrinsics, dt=dt)
        self._last_track = now
        self.pub.publish(rates_to_msg(pan, tilt, msg.header))
        self._commands += 1

    def _hold_if_stale(self) -> None:
        fresh = self._last_track is not None and (
            time.monotonic() - self._last_track < self.cfg.track_timeout_s)
        if fresh:
            return
        self._last_track = None
        self.pub.publish(rates_to_msg(0.0, 0.0, Header(stamp=self.get_clock().now().to_msg())))

    def _health(self) -> Health:
        values = {"commands": self._commands, "has_camera_info": self._intrinsics is not None,
                  "following": self._last_track is not None}
        if self._intrinsics is None:
            return Health(WARN, "waiting for camera_info", values)
        return Health(OK, "following" if self._last_track is not None else "holding", values)


def main(args: list[str] | None = None) -> int:
    return run_node(FollowNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
