"""sim_node: the night UAV scene as a camera, with the target's true box.

Publishes ``image_raw``, ``camera_info`` and ``ground_truth`` (vision_msgs/Detection2D) with one
shared header per frame, and turns its gimbal by the rates on ``cmd_gimbal``
(see nodes/gimbal_command.py). A target outside the frame is published as a zero-size box: an
invalid ground-truth frame in the evaluation protocol.

Lockstep pacing, for tests and benchmarks (off by default: the simulator is a camera and runs at
``fps`` whatever its consumers do): with ``pace_topic`` set (e.g. ``tracks``), a frame is
published on a tick only while fewer than ``pace_max_in_flight`` frames await a message stamped
like them on that topic (an answer also settles every earlier frame, which a newest-frame
consumer skips); an answered frame is replaced at once if its tick has passed. The scene
advances one ``1 / fps`` step per published frame, so a slow or loaded machine sees the same
flight, just slower, and the consumer processes every frame instead of skipping to the newest.
A frame with no answer for ``pace_timeout_s`` (lost on the way, or published before the consumer
started) stops counting as in flight, so the simulator never stalls; diagnostics count those.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

from geometry_msgs.msg import Vector3Stamped
from rclpy.node import Node
from rclpy.time import Time
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header
from std_srvs.srv import Trigger
from vision_msgs.msg import Detection2D, Detection2DArray

from mlkd_tracker.nodes.camera_node import pinhole_camera_info
from mlkd_tracker.nodes.detection_conversion import make_detection
from mlkd_tracker.nodes.diagnostics import OK, WARN, DiagnosticsPublisher, Health
from mlkd_tracker.nodes.gimbal_command import msg_to_rates
from mlkd_tracker.nodes.image_conversion import array_to_image
from mlkd_tracker.nodes.node_main import run_node
from mlkd_tracker.nodes.params import ParameterError, declare_config, param
from mlkd_tracker.nodes.qos import IMAGE_QOS_CHOICES, OUTPUT_QOS, image_pub_qos
from mlkd_tracker.runtime.stats import RateMeter, RollingWindow
from mlkd_tracker.sim.lowlight import DARKNESS_LEVELS
from mlkd_tracker.sim.scene import NightScene, SimConfig


@dataclass
class SimNodeConfig:
    width: int = param(640, "Image width, px.", range=(32, 4096), read_only=True)
    height: int = param(480, "Image height, px.", range=(32, 4096), read_only=True)
    fps: float = param(30.0, "Frame rate.", range=(0.5, 240.0), read_only=True)
    seed: int = param(0, "Scene seed: the same seed gives the same flight.", range=(0, 2**31 - 1))
    darkness: str = param("night", "Low-light preset.", read_only=True)
    occluders: int = param(2, "Opaque occluders on the ground.", range=(0, 50), read_only=True)
    target_min_px: float = param(24.0, "Smallest apparent target size, px.", range=(4.0, 1024.0),
                                 read_only=True)
    target_max_px: float = param(48.0, "Largest apparent target size, px.", range=(4.0, 1024.0),
                                 read_only=True)
    frame_id: str = param("camera_optical_frame", "frame_id of every published header.")
    image_qos: str = param("sensor_data", "QoS of image_raw.", choices=IMAGE_QOS_CHOICES,
                           read_only=True)
    command_timeout_s: float = param(0.5, "A cmd_gimbal older than this is treated as zero rates.",
                                     range=(0.01, 60.0))
    textures: str = param("auto", "Ground: a folder of aerial images, 'auto' (the textures "
                          "fetched by `mlkd-tracker textures fetch` when present, else the "
                          "built-in photos) or 'none' (the photos).", read_only=True)
    pace_topic: str = param("", "Lockstep for tests and benchmarks: publish a frame only while "
                            "fewer than pace_max_in_flight frames await a vision_msgs/"
                            "Detection2DArray stamped like them on this topic (e.g. 'tracks'); "
                            "empty: free-running at fps.", read_only=True)
    pace_max_in_flight: int = param(1, "Frames published but not yet answered on pace_topic.",
                                    range=(1, 1000), read_only=True)
    pace_timeout_s: float = param(2.0, "A frame unanswered on pace_topic for this long no longer "
                                  "holds the next one back.", range=(0.01, 600.0))

    def validate(self) -> None:
        if self.darkness not in DARKNESS_LEVELS:
            raise ParameterError(f"parameter 'darkness' = {self.darkness!r} is not one of "
                                 f"{', '.join(DARKNESS_LEVELS)}")
        if self.target_min_px > self.target_max_px:
            raise ParameterError(f"target_min_px {self.target_min_px} > target_max_px "
                                 f"{self.target_max_px}")


def scene_config(cfg: SimNodeConfig) -> SimConfig:
    return SimConfig(width=cfg.width, height=cfg.height, fps=cfg.fps, seed=cfg.seed,
                     occluders=cfg.occluders, target_size_px=(cfg.target_min_px, cfg.target_max_px),
                     lowlight=DARKNESS_LEVELS[cfg.darkness], textures=cfg.textures,
                     follow_roads=True)  # roads only exist on aerial ground


class SimNode(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__("sim_node", **kwargs)
        self.cfg = declare_config(self, SimNodeConfig, on_change=self._set_cfg)
        try:
            self.scene = NightScene(scene_config(self.cfg))
        except (OSError, ValueError) as exc:  # a textures folder that is missing or unreadable
            raise ParameterError(f"parameter 'textures' = '{self.cfg.textures}': {exc}") from exc
        self.image_pub = self.create_publisher(Image, "image_raw", image_pub_qos(self.cfg.image_qos))
        self.info_pub = self.create_publisher(CameraInfo, "camera_info", 10)
        self.gt_pub = self.create_publisher(Detection2D, "ground_truth", OUTPUT_QOS)
        self.create_subscription(Vector3Stamped, "cmd_gimbal", self._on_cmd, OUTPUT_QOS)
        self.create_service(Trigger, "~/reset", self._on_reset)
        self._rates, self._rates_time = (0.0, 0.0), 0.0
        self._bad_cmds, self._bad_cmd_time = 0, -math.inf
        self._frames, self._rate, self._render_ms = 0, RateMeter(), RollingWindow()
        # lockstep pacing (pace_topic): stamp (ns) -> monotonic publish time of unanswered frames
        self._in_flight: dict[int, float] = {}
        self._due = False  # a tick passed while the frames in flight held the next one back
        self._pace_timeouts = 0
        self._pace_skipped = 0  # frames settled by the answer to a later frame
        if self.cfg.pace_topic:
            self.create_subscription(Detection2DArray, self.cfg.pace_topic, self._on_answer,
                                     OUTPUT_QOS)
        self.create_timer(1.0 / self.cfg.fps, self._tick)
        self.diagnostics = DiagnosticsPublisher(self, "simulator", self._health)

    def _set_cfg(self, cfg: SimNodeConfig) -> None:
        self.cfg = cfg

    def _on_cmd(self, msg: Vector3Stamped) -> None:
        rates = msg_to_rates(msg)
        if not all(math.isfinite(r) for r in rates):
            # A NaN rate would poison the gimbal state for the rest of the flight.
            self._bad_cmds, self._bad_cmd_time = self._bad_cmds + 1, time.monotonic()
            self.get_logger().warn(f"cmd_gimbal ignored: non-finite rates {rates}",
                                   throttle_duration_sec=1.0)
            return
        self._rates, self._rates_time = rates, time.monotonic()

    def _on_reset(self, _req, res: Trigger.Response) -> Trigger.Response:
        self.scene.reset(self.cfg.seed)
        res.success, res.message = True, f"scene reset with seed {self.cfg.seed}"
        return res

    def _tick(self) -> None:
        if self.cfg.pace_topic and not self._may_publish():
            self._due = True
            return
        self._publish_frame()

    def _on_answer(self, msg: Detection2DArray) -> None:
        try:
            stamp = Time.from_msg(msg.header.stamp).nanoseconds
        except (ValueError, OverflowError):
            return  # not an answer to any frame of ours
        if stamp not in self._in_flight:
            return
        # A newest-frame consumer skips older frames: an answer to a frame also settles every
        # frame published before it, which would otherwise wait out pace_timeout_s.
        for older in [s for s in self._in_flight if s <= stamp]:
            del self._in_flight[older]
            self._pace_skipped += older != stamp
        if self._due and self._may_publish():
            self._publish_frame()

    def _may_publish(self) -> bool:
        now = time.monotonic()
        for stamp in [s for s, t in self._in_flight.items()
                      if now - t > self.cfg.pace_timeout_s]:
            del self._in_flight[stamp]
            self._pace_timeouts += 1
        return len(self._in_flight) < self.cfg.pace_max_in_flight

    def _publish_frame(self) -> None:
        self._due = False
        fresh = time.monotonic() - self._rates_time < self.cfg.command_timeout_s
        pan, tilt = self._rates if fresh else (0.0, 0.0)
        t0 = time.perf_counter()
        frame = self.scene.step(pan, tilt)
        self._render_ms.add((time.perf_counter() - t0) * 1e3)
        now = self.get_clock().now()
        header = Header(stamp=now.to_msg(), frame_id=self.cfg.frame_id)
        if self.cfg.pace_topic:
            self._in_flight[now.nanoseconds] = time.monotonic()
        self.image_pub.publish(array_to_image(frame.image, "bgr8", header))
        fx, fy, cx, cy = self.scene.intrinsics()
        self.info_pub.publish(pinhole_camera_info(self.cfg.width, self.cfg.height,
                                                  fx, fy, cx, cy, header))
        self.gt_pub.publish(make_detection(header, frame.box, frame.visible, "target", "target"))
        self._frames += 1
        self._rate.tick(time.monotonic())

    def _health(self) -> Health:
        (render_p50,) = self._render_ms.percentiles(50)
        pan, tilt = self.scene.gimbal
        recent = time.monotonic() - self._bad_cmd_time < 5.0
        level, message = (WARN, "non-finite cmd_gimbal ignored") if recent else (OK, "publishing")
        values = {"frames": self._frames, "bad_cmds": self._bad_cmds,
                  "rate_hz": self._rate.rate(time.monotonic()), "render_p50_ms": render_p50,
                  "pan_rad": pan, "tilt_rad": tilt}
        if self.cfg.pace_topic:
            values |= {"paced_by": self.cfg.pace_topic, "in_flight": len(self._in_flight),
                       "pace_timeouts": self._pace_timeouts, "pace_skipped": self._pace_skipped}
        return Health(level, message, values)


def main(args: list[str] | None = None) -> int:
    return run_node(SimNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
