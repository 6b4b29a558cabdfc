"""camera_node: frames from a V4L2 device, a video file or a stream URL (through OpenCV).

A source that cannot be opened (or stops delivering) is reported clearly and retried every
``reopen_interval_s``, so a camera plugged in late or a stream that comes back is picked up
without restarting the node.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import cv2
import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header

from mlkd_tracker.nodes.diagnostics import ERROR, OK, DiagnosticsPublisher, Health
from mlkd_tracker.nodes.image_conversion import array_to_image
from mlkd_tracker.nodes.node_main import run_node
from mlkd_tracker.nodes.params import declare_config, param
from mlkd_tracker.nodes.qos import IMAGE_QOS_CHOICES, image_pub_qos
from mlkd_tracker.runtime.stats import RateMeter


@dataclass
class CameraNodeConfig:
    source: str = param("0", "V4L2 device index or path (/dev/video0), video file, or stream URL.",
                        read_only=True, any_type=True)
    fps: float = param(30.0, "Publish rate (and requested device rate).", range=(0.1, 1000.0),
                       read_only=True)
    width: int = param(640, "Output width in pixels (frames are resized if the source differs); "
                       "0 keeps the source size.", range=(0, 16384), read_only=True)
    height: int = param(480, "Output height in pixels; 0 keeps the source size.",
                        range=(0, 16384), read_only=True)
    frame_id: str = param("camera_optical_frame", "frame_id of published headers.")
    loop: bool = param(True, "Restart a video file at its end.")
    hfov_deg: float = param(60.0, "Horizontal field of view for the approximate camera_info "
                            "(pinhole, no distortion) when no calibration is available.",
                            range=(1.0, 179.0))
    image_qos: str = param("sensor_data", "QoS of image_raw.", choices=IMAGE_QOS_CHOICES,
                           read_only=True)
    reopen_interval_s: float = param(2.0, "Retry period for a source that cannot be opened.",
                                     range=(0.1, 3600.0))


def parse_source(source: str) -> int | str:
    """Device index for a bare integer, else the path/URL as given."""
    return int(source) if source.strip().isdigit() else source


def pinhole_camera_info(width: int, height: int, fx: float, fy: float, cx: float, cy: float,
                        header: Header) -> CameraInfo:
    """CameraInfo of an ideal pinhole camera (no distortion)."""
    info = CameraInfo(header=header, width=width, height=height, distortion_model="plumb_bob")
    info.k = [fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0]
    info.d = [0.0] * 5
    info.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    info.p = [fx, 0.0, cx, 0.0, 0.0, fy, cy, 0.0, 0.0, 0.0, 1.0, 0.0]
    return info


def approximate_camera_info(width: int, height: int, hfov_deg: float, header: Header) -> CameraInfo:
    """Square pixels and a centred principal point from the field of view: enough for a gimbal
    controller when the camera is not calibrated."""
    fx = width / (2.0 * np.tan(np.radians(hfov_deg) / 2.0))
    return pinhole_camera_info(width, height, fx, fx, (width - 1) / 2.0, (height - 1) / 2.0, header)


class CameraNode(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__("camera_node", **kwargs)
        self.cfg = declare_config(self, CameraNodeConfig, on_change=self._set_cfg)
        self.image_pub = self.create_publisher(Image, "image_raw", image_pub_qos(self.cfg.image_qos))
        self.info_pub = self.create_publisher(CameraInfo, "camera_info", 10)
        self._cap: cv2.VideoCapture | None = None
        self._next_open = 0.0
        self._error = ""
        self._frames = 0
        self._rate = RateMeter()
        self.create_timer(1.0 / self.cfg.fps, self._tick)
        self.diagnostics = DiagnosticsPublisher(self, "camera", self._health)
        self._open()

    def _set_cfg(self, cfg: CameraNodeConfig) -> None:
        self.cfg = cfg

    def _open(self) -> None:
        self._next_open = time.monotonic() + self.cfg.reopen_interval_s
        src = parse_source(self.cfg.source)
        cap = cv2.VideoCapture(src)
        if not cap.isOpened():
            cap.release()
            self._fail(f"cannot open camera source '{self.cfg.source}' "
                       f"(no such device, file or reachable stream); retrying every "
                       f"{self.cfg.reopen_interval_s:.1f} s")
            return
        if isinstance(src, int):
            for prop, value in ((cv2.CAP_PROP_FRAME_WIDTH, self.cfg.width),
                                (cv2.CAP_PROP_FRAME_HEIGHT, self.cfg.height),
                                (cv2.CAP_PROP_FPS, self.cfg.fps)):
                if value:
                    cap.set(prop, value)
        self._cap, self._error = cap, ""
        self.get_logger().info(f"opened camera source '{self.cfg.source}'")

    def _fail(self, message: str) -> None:
        self._error = message
        self.get_logger().error(message, throttle_duration_sec=10.0)

    def _read(self) -> np.ndarray | None:
        ok, frame = self._cap.read()
        if not ok and self.cfg.loop and self._cap.get(cv2.CAP_PROP_FRAME_COUNT) > 0:
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)  # a file at its end: start over
            ok, frame = self._cap.read()
        if not ok or frame is None or frame.size == 0:
            return None
        if frame.ndim == 2:
            frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
        if self.cfg.width and self.cfg.height and frame.shape[:2] != (self.cfg.height, self.cfg.width):
            frame = cv2.resize(frame, (self.cfg.width, self.cfg.height), interpolation=cv2.INTER_AREA)
        return frame

    def _tick(self) -> None:
        if self._cap is None:
            if time.monotonic() >= self._next_open:
                self._open()
            return
        frame = self._read()
        if frame is None:
            self._cap.release()
            self._cap = None
            self._fail(f"camera source '{self.cfg.source}' stopped delivering frames; reopening")
            return
        header = Header(stamp=self.get_clock().now().to_msg(), frame_id=self.cfg.frame_id)
        self.image_pub.publish(array_to_image(frame, "bgr8", header))
        h, w = frame.shape[:2]
        self.info_pub.publish(approximate_camera_info(w, h, self.cfg.hfov_deg, header))
        self._frames += 1
        self._rate.tick(time.monotonic())

    def _health(self) -> Health:
        values = {"source": self.cfg.source, "frames": self._frames,
                  "rate_hz": self._rate.rate(time.monotonic())}
        if self._cap is None:
            return Health(ERROR, self._error or "source closed", values)
        return Health(OK, "streaming", values)

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()


def main(args: list[str] | None = None) -> int:
    return run_node(CameraNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
