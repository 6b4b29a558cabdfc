"""enhancer_node: brightens night frames with the distilled low-light enhancer (SLKD student).

``image_raw`` (or ``image_raw/compressed``) in, ``image_enhanced`` (bgr8, with the source frame's
header) out. The callback only stores the newest frame; one worker thread converts, measures,
enhances and publishes it, so a slow frame makes the node skip frames rather than fall behind.

With ``gate_enabled`` a :class:`LowLightGate` decides per frame whether the scene is dark enough
to enhance; bright frames are republished unchanged (as bgr8) when ``passthrough_when_bright``,
so a tracker on ``image_enhanced`` keeps getting every frame by day and by night. Brightness and
noise are measured on every frame (~1 ms at 640x480) and shown in diagnostics even with the gate
off, which is how to choose a threshold for a camera.

A managed node (nodes/managed.py): configure loads the enhancer, activate subscribes and starts
the worker; with ``autostart`` (the default) both happen at start-up.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np
from sensor_msgs.msg import Image

from mlkd_tracker.resources import resolve_model
from mlkd_tracker.nodes.diagnostics import OK, WARN, DiagnosticsPublisher, Health
from mlkd_tracker.nodes.image_conversion import array_to_image
from mlkd_tracker.nodes.managed import ManagedNode, autostart_param
from mlkd_tracker.nodes.image_input import (ImageInput, RecentError, compressed_input_param,
                                          depth_scaling_param, image_qos_param,
                                          stall_timeout_param)
from mlkd_tracker.nodes.node_main import run_node
from mlkd_tracker.nodes.params import declare_config, model_parameter_error, param, providers_param
from mlkd_tracker.nodes.qos import image_pub_qos
from mlkd_tracker.runtime.enhancer import ModelError, OnnxEnhancer
from mlkd_tracker.runtime.frame_history import Entry
from mlkd_tracker.runtime.low_light_gate import FrameLight, LowLightGate, LowLightGateConfig

_GATE = LowLightGateConfig()


@dataclass
class EnhancerNodeConfig:
    model_path: str = param("models/slkd_enhancer.onnx", "Enhancer ONNX export; a relative path "
                            "is looked up in the working directory, then the package share "
                            "directory.", read_only=True)
    threads: int = param(0, "ONNX Runtime intra-op threads (0: ONNX Runtime's default).",
                         range=(0, 256), read_only=True)
    providers: str = providers_param()
    image_qos: str = image_qos_param("QoS of the image subscription and of image_enhanced.")
    compressed_input: bool = compressed_input_param()
    depth_scaling: str = depth_scaling_param()
    gate_enabled: bool = param(False, "Enhance only frames the low-light gate finds dark "
                               "(false: enhance every frame).")
    brightness_threshold: float = param(_GATE.brightness_threshold,
                                        "Gate: frames with mean luma (0..255) below this are dark.",
                                        range=(0.0, 255.0))
    noise_threshold: float = param(_GATE.noise_threshold, "Gate: frames whose noise sigma (grey "
                                   "levels) exceeds this are enhanced too; 0 turns it off.",
                                   range=(0.0, 255.0))
    hysteresis: float = param(_GATE.hysteresis, "Gate: a dark scene counts as bright again only "
                              "at brightness_threshold + hysteresis.", range=(0.0, 255.0))
    passthrough_when_bright: bool = param(True, "Gate: republish bright frames unchanged on "
                                          "image_enhanced (false: publish nothing for them).")
    stall_timeout_s: float = stall_timeout_param()
    autostart: bool = autostart_param()


def _gate_config(cfg: EnhancerNodeConfig) -> LowLightGateConfig:
    return LowLightGateConfig(cfg.brightness_threshold, cfg.noise_threshold, cfg.hysteresis)


class EnhancerNode(ManagedNode):
    def __init__(self, **kwargs) -> None:
        super().__init__("enhancer_node", **kwargs)
        self.cfg = declare_config(self, EnhancerNodeConfig, on_change=self._on_config)
        self.enhancer: OnnxEnhancer | None = None  # loaded by configure
        self.gate = LowLightGate(_gate_config(self.cfg))
        self._lock = threading.Lock()  # guards cfg and gate against parameter updates
        self._enhanced = self._passed = 0
        self._light: FrameLight | None = None
        self._dark: bool | None = None

        self.errors = RecentError(self.get_logger())
        self.images = ImageInput(self, self.errors, self.cfg.image_qos, self.cfg.compressed_input)
        self.image_pub = self.create_publisher(Image, "image_enhanced",
                                               image_pub_qos(self.cfg.image_qos))
        self.diagnostics = DiagnosticsPublisher(
            self, "enhancement", lambda: self.managed_health(self._health))

    # ---- lifecycle (nodes/managed.py) ---------------------------------------------------------
    def load(self) -> None:
        path = resolve_model(self.cfg.model_path)
        try:
            self.enhancer = OnnxEnhancer(path, self.cfg.threads or None, self.cfg.providers)
        except ModelError as exc:
            raise model_parameter_error(self.cfg, exc) from exc
        gate = (f"gate on (dark below brightness {self.cfg.brightness_threshold:g})"
                if self.cfg.gate_enabled else "gate off: every frame is enhanced")
        self.get_logger().info(f"enhancing with {self.enhancer.name} ({path}); {gate}")

    def open(self) -> None:
        self.images.start(self._work_once, "enhancer_worker")

    def close_io(self) -> None:
        self.images.close()

    def unload(self) -> None:
        self.enhancer = None

    def _on_config(self, cfg: EnhancerNodeConfig) -> None:
        with self._lock:
            self.cfg = cfg
            self.gate.config = _gate_config(cfg)

    # ---- worker -------------------------------------------------------------------------------
    def _work_once(self) -> None:
        entry = self.images.next_frame()
        if entry is not None:
            self._process(entry)

    def _process(self, entry: Entry) -> None:
        msg = entry.item
        frame = self.images.to_bgr(msg, self.cfg.depth_scaling)
        if frame is None:
            return
        with self._lock:
            gate_enabled, passthrough = self.cfg.gate_enabled, self.cfg.passthrough_when_bright
            dark, light = self.gate.update(frame)  # a converted bgr8 frame always measures
        self._light, self._dark = light, dark
        if gate_enabled and not dark:
            if passthrough:
                self._passed += 1
                self._publish(msg.header, frame)
            return
        out = self.images.run_model("enhancer", lambda: self.enhancer.enhance(frame))
        if out is None:
            return
        self._enhanced += 1
        self._publish(msg.header, out)

    def _publish(self, header, frame: np.ndarray) -> None:
        if not self.images.running:
            return  # deactivated while this frame was being enhanced: no output
        self.image_pub.publish(array_to_image(frame, "bgr8", header))
        self.images.published(header)

    # ---- diagnostics --------------------------------------------------------------------------
    def _gate_state(self) -> str:
        if self._dark is None:
            return "no frames yet"
        scene = "dark" if self._dark else "bright"
        if not self.cfg.gate_enabled:
            return f"off ({scene})"
        return scene

    def _health(self) -> Health:
        now = time.monotonic()
        inf50, inf95 = self.images.inference_ms.percentiles(50, 95)
        light = self._light
        state = self._gate_state()
        enhancer = self.enhancer
        values = {"model": enhancer.name if enhancer else "",
                  "providers": ",".join(enhancer.providers) if enhancer else "",
                  **self.images.flow_values(now),
                  "enhanced_frames": self._enhanced, "passthrough_frames": self._passed,
                  **self.images.latency_values(),
                  "inference_p50_ms": inf50, "inference_p95_ms": inf95,
                  "gate": state,
                  "brightness": light.brightness if light else float("nan"),
                  "noise": light.noise if light else float("nan"),
                  "brightness_threshold": self.cfg.brightness_threshold,
                  "last_error": self.errors.message}
        warning = self.images.warning(now, self.cfg.stall_timeout_s)
        if warning:
            return Health(WARN, warning, values)
        if self.cfg.gate_enabled and self._dark is False:
            what = "passing bright frames through" if self.cfg.passthrough_when_bright \
                else "bright scene: not publishing"
            return Health(OK, what, values)
        return Health(OK, f"enhancing (gate {state})", values)


def main(args: list[str] | None = None) -> int:
    return run_node(EnhancerNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
