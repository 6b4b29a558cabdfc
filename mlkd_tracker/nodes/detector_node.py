"""detector_node: runs the ONNX detector (an Ultralytics YOLOv8-style export) on the newest frame.

``image_raw`` (or ``image_raw/compressed``) in, ``detections`` (vision_msgs/Detection2DArray)
out: one message per processed frame, with that frame's header, boxes (centre/size) in its
pixels, ``results[0].hypothesis.class_id`` = the class *name* and ``score`` its confidence. A frame
without detections still gets an (empty) array, so a consumer can tell "nothing there" from "not
processed". The callback only stores the newest frame; one worker thread converts, detects and
publishes it, so a slow frame makes the node skip frames rather than fall behind.

``~/enable`` (std_srvs/SetBool) switches detection off and on: while off, frames are neither
processed nor answered. ``~/debug_image`` shows the boxes, drawn only while someone subscribes.

A managed node (nodes/managed.py): configure loads the detector and checks ``class_filter``
against its classes, activate subscribes and starts the worker; with ``autostart`` (the
default) both happen at start-up.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import cv2
import numpy as np
from rclpy.parameter import Parameter
from rcl_interfaces.msg import SetParametersResult
from sensor_msgs.msg import Image
from std_srvs.srv import SetBool
from vision_msgs.msg import Detection2DArray

from mlkd_tracker.resources import resolve_model
from mlkd_tracker.nodes.detection_conversion import make_detection
from mlkd_tracker.nodes.diagnostics import OK, WARN, DiagnosticsPublisher, Health
from mlkd_tracker.nodes.image_conversion import array_to_image
from mlkd_tracker.nodes.managed import ManagedNode, autostart_param
from mlkd_tracker.nodes.image_input import (ImageInput, RecentError, compressed_input_param,
                                          depth_scaling_param, image_qos_param,
                                          stall_timeout_param)
from mlkd_tracker.nodes.node_main import run_node
from mlkd_tracker.nodes.params import (ParameterError, declare_config, model_parameter_error,
                                       param, providers_param)
from mlkd_tracker.nodes.qos import OUTPUT_QOS
from mlkd_tracker.runtime.detector import Detection, ModelError, OnnxDetector
from mlkd_tracker.runtime.frame_history import Entry
from mlkd_tracker.runtime.stats import RollingWindow


class ClassNames(list):
    """``class_filter``'s value: class names, from whatever a parameter source gives.

    A params file's ``[]`` reaches the node as an unset parameter and a launch file or ``-p``
    may give one name or ``"car,truck"`` as a string, so the parameter is dynamically typed and
    everything is turned into a list of names here. Anything else is remembered as a problem
    that validation reports (raising here would escape the parameter service).
    """

    def __init__(self, value=()) -> None:
        self.problem = ""
        if value is None:
            items = []
        elif isinstance(value, str):
            items = value.split(",")
        elif isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
            items = list(value)
        else:
            items = []
            self.problem = f"{value!r} is not a list of class names"
        super().__init__(dict.fromkeys(s.strip() for s in items if s.strip()))


@dataclass
class DetectorNodeConfig:
    model_path: str = param("models/detector.onnx", "Detector ONNX export (Ultralytics, "
                            "format='onnx', nms=False); a relative path is looked up in the "
                            "working directory, then the package share directory.",
                            read_only=True)
    threads: int = param(0, "ONNX Runtime intra-op threads (0: ONNX Runtime's default).",
                         range=(0, 256), read_only=True)
    providers: str = providers_param()
    input_size: int = param(0, "Network input side in pixels (0: the size the model was "
                            "exported at). Other sizes only for exports with dynamic axes, as a "
                            "multiple of the model's stride.", range=(0, 8192), read_only=True)
    image_qos: str = image_qos_param()
    compressed_input: bool = compressed_input_param()
    depth_scaling: str = depth_scaling_param()
    conf_threshold: float = param(0.25, "Publish detections scoring above this.",
                                  range=(0.0, 1.0))
    nms_iou: float = param(0.45, "Class-aware NMS: a box overlapping a better one of its class "
                           "by more than this IoU is dropped.", range=(0.0, 1.0))
    max_detections: int = param(300, "At most this many detections per frame (best first).",
                                range=(1, 100000))
    class_filter: ClassNames = param(ClassNames(), "Class names to publish (empty: all of the "
                                     "model's classes); a list, or one string 'car,truck'.",
                                     any_type=True)
    stall_timeout_s: float = stall_timeout_param()
    autostart: bool = autostart_param()

    def validate(self) -> None:
        if self.class_filter.problem:
            raise ParameterError(f"parameter 'class_filter': {self.class_filter.problem}")


class DetectorNode(ManagedNode):
    def __init__(self, **kwargs) -> None:
        super().__init__("detector_node", **kwargs)
        self.cfg = declare_config(self, DetectorNodeConfig, on_change=self._on_config)
        self.detector: OnnxDetector | None = None  # loaded by configure
        self._classes: set[int] | None = None
        # Runs before declare_config's own callback (rclpy calls the newest first): refuses class
        # names the model does not know, which the config alone cannot check.
        self.add_on_set_parameters_callback(self._check_class_filter)

        self._lock = threading.Lock()  # guards cfg and the class filter against updates
        self._enabled = True
        self._per_frame = RollingWindow()
        self._skipped_disabled = self._debug_images = self._last_count = 0

        self.errors = RecentError(self.get_logger())
        self.images = ImageInput(self, self.errors, self.cfg.image_qos, self.cfg.compressed_input)
        self.detections_pub = self.create_publisher(Detection2DArray, "detections", OUTPUT_QOS)
        self.debug_pub = self.create_publisher(Image, "~/debug_image", 1)
        self.create_service(SetBool, "~/enable", self._on_enable)
        self.diagnostics = DiagnosticsPublisher(
            self, "detection", lambda: self.managed_health(self._health))

    # ---- lifecycle (nodes/managed.py) ---------------------------------------------------------
    def load(self) -> None:
        model_path = resolve_model(self.cfg.model_path)
        try:
            detector = OnnxDetector(model_path, self.cfg.threads or None,
                                    self.cfg.input_size or None, self.cfg.providers)
        except ModelError as exc:
            raise model_parameter_error(self.cfg, exc) from exc
        except ValueError as exc:
            raise ParameterError(f"parameter 'input_size' = {self.cfg.input_size}: {exc}") from exc
        with self._lock:
            cfg = self.cfg
            try:
                classes = set(detector.class_ids(cfg.class_filter)) if cfg.class_filter else None
            except ValueError as exc:
                raise ParameterError(f"parameter 'class_filter' = {list(cfg.class_filter)}: "
                                     f"{exc}") from exc
            self.detector, self._classes = detector, classes
        d = detector
        self.get_logger().info(
            f"detecting with {d.name} ({model_path}): {d.num_classes} classes "
            f"({', '.join(d.names)}), input {d.input_size[1]}x{d.input_size[0]}"
            f"{' (dynamic)' if d.dynamic else ''}; publishing "
            f"{', '.join(cfg.class_filter) if cfg.class_filter else 'all classes'}")

    def open(self) -> None:
        self.images.start(self._work_once, "detector_worker")

    def close_io(self) -> None:
        self.images.close()

    def unload(self) -> None:
        with self._lock:
            self.detector, self._classes = None, None

    # ---- settings -----------------------------------------------------------------------------
    def _on_enable(self, req: SetBool.Request, res: SetBool.Response) -> SetBool.Response:
        was, self._enabled = self._enabled, bool(req.data)
        state = "enabled" if self._enabled else "disabled: no inference, no output"
        res.success = True
        res.message = f"detection {state}" + ("" if was != self._enabled else " (unchanged)")
        self.get_logger().info(res.message)
        return res

    def _class_ids(self, names: list[str]) -> set[int] | None:
        """The model's ids for ``names`` (None: all); unchecked while no model is loaded
        (configure checks them)."""
        if not names or self.detector is None:
            return None
        return set(self.detector.class_ids(names))

    def _check_class_filter(self, params: list[Parameter]) -> SetParametersResult:
        for p in params:
            if p.name == "class_filter":
                names = ClassNames(p.value)
                try:
                    if not names.problem:
                        self._class_ids(names)
                except ValueError as exc:
                    return SetParametersResult(successful=False,
                                               reason=f"parameter 'class_filter': {exc}")
        return SetParametersResult(successful=True)

    def _on_config(self, cfg: DetectorNodeConfig) -> None:
        classes = self._class_ids(cfg.class_filter)  # checked by _check_class_filter already
        with self._lock:
            self.cfg, self._classes = cfg, classes

    # ---- worker -------------------------------------------------------------------------------
    def _work_once(self) -> None:
        entry = self.images.next_frame()
        if entry is None:
            return
        if not self._enabled:
            self._skipped_disabled += 1
            return
        self._process(entry)

    def _process(self, entry: Entry) -> None:
        msg = entry.item
        frame = self.images.to_bgr(msg, self.cfg.depth_scaling)
        if frame is None:
            return
        with self._lock:
            cfg, classes, detector = self.cfg, self._classes, self.detector
        if detector is None:
            return
        detections = self.images.run_model("detector", lambda: detector.detect(
            frame, cfg.conf_threshold, cfg.nms_iou, cfg.max_detections, classes))
        if detections is None:
            return
        if not self._enabled:
            return  # switched off while this frame was being detected: no output
        self._publish(msg.header, detections, frame)

    def _publish(self, header, detections: list[Detection], frame: np.ndarray) -> None:
        if not self.images.running:
            return  # deactivated while this frame was being detected: no output
        out = Detection2DArray(header=header)
        out.detections = [make_detection(header, d.box, d.score, d.class_name)
                          for d in detections]
        self.detections_pub.publish(out)
        self.images.published(header)
        self._per_frame.add(len(detections))
        self._last_count = len(detections)
        if self.debug_pub.get_subscription_count() > 0:  # lazy: draw only when someone looks
            self.debug_pub.publish(array_to_image(_draw(frame, detections), "bgr8", header))
            self._debug_images += 1

    # ---- diagnostics --------------------------------------------------------------------------
    def _health(self) -> Health:
        now = time.monotonic()
        inf50, inf95 = self.images.inference_ms.percentiles(50, 95)
        (per_frame,) = self._per_frame.percentiles(50)
        state = "enabled" if self._enabled else "disabled"
        d = self.detector
        values = {"state": state, "model": d.name if d else "",
                  "providers": ",".join(d.providers) if d else "", **self.images.flow_values(now),
                  "skipped_while_disabled": self._skipped_disabled,
                  "debug_images": self._debug_images, **self.images.latency_values(),
                  "inference_p50_ms": inf50, "inference_p95_ms": inf95,
                  "detections_per_frame_p50": per_frame, "last_detections": self._last_count,
                  "class_filter": ",".join(self.cfg.class_filter) or "all",
                  "conf_threshold": self.cfg.conf_threshold,
                  "last_error": self.errors.message}
        if not self._enabled:
            return Health(OK, "disabled (~/enable): not detecting", values)
        warning = self.images.warning(now, self.cfg.stall_timeout_s)
        if warning:
            return Health(WARN, warning, values)
        return Health(OK, f"detecting ({self._last_count} in the last frame)", values)


_COLOURS = [(0, 255, 0), (0, 200, 255), (255, 128, 0), (255, 0, 255), (0, 0, 255),
            (255, 255, 0)]


def _draw(frame: np.ndarray, detections: list[Detection]) -> np.ndarray:
    img = frame.copy()
    for d in detections:
        x, y, w, h = (int(round(v)) for v in d.box)
        colour = _COLOURS[d.class_id % len(_COLOURS)]
        cv2.rectangle(img, (x, y), (x + w, y + h), colour, 1)
        cv2.putText(img, f"{d.class_name} {d.score:.2f}", (x, max(y - 3, 10)),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.4, colour, 1, cv2.LINE_AA)
    cv2.putText(img, f"{len(detections)} detections", (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6,
                (0, 255, 255), 1, cv2.LINE_AA)
    return img


def main(args: list[str] | None = None) -> int:
    return run_node(DetectorNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
