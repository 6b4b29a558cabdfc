"""tracker_node: follows one target on the newest camera frame and publishes ``tracks``.

The tracker is the ``tracker`` parameter, a spec of the one tracker factory
(runtime/tracker_factory.py: ``opencv:csrt``, ``onnx:models/student_mobile``,
``enhanced:<enhancer.onnx>+<model>``, ...), the same specs ``mlkd-tracker eval`` and ``bench
trackers`` take. Left empty, the older ``backend`` / ``opencv_algorithm`` / ``model_path`` /
``enhancer_path`` parameters describe it.

Callbacks only store frames; one worker thread tracks the newest frame and publishes with that
frame's header. Initialisation requests (``~/init``) carry the stamp of the frame the box was drawn
on; the worker finds that frame in a short history, starts there and catches up
(runtime/init_scheduler.py decides when and where; this node starts, tracks and publishes).

Detection-driven tracking (both off by default): with ``auto_acquire`` an IDLE tracker starts on
the best detection on ``detections``; with ``redetect_when_lost`` a LOST track starts a new
episode on the detection nearest its last box (runtime/target_acquisition.py chooses;
nodes/tracker_acquisition.py holds the node's side of it). A detections message goes through the
same path as ``~/init``: its stamp is matched against the frame history, the track starts on that
frame and catches up. A manual ``~/init`` always wins, and ``~/stop`` pauses auto-acquisition
until ``~/reset`` or the next ``~/init``. The camera side (subscription, frame history, worker
thread, bad frames, stall diagnostics) is nodes/image_input.py's, shared with the other nodes.

A managed node (nodes/managed.py): configure builds the tracker from its spec (loading its
models), activate subscribes to frames, ``~/init`` and ``detections`` and starts the worker;
with ``autostart`` (the default) both happen at start-up.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import cv2
import numpy as np
from sensor_msgs.msg import Image
from std_msgs.msg import String
from std_srvs.srv import Trigger
from vision_msgs.msg import Detection2D, Detection2DArray

from mlkd_tracker.nodes.detection_conversion import bbox_to_box, make_track_array
from mlkd_tracker.nodes.diagnostics import OK, WARN, DiagnosticsPublisher, Health
from mlkd_tracker.nodes.image_conversion import array_to_image
from mlkd_tracker.nodes.managed import ManagedNode, autostart_param
from mlkd_tracker.nodes.image_input import (ImageInput, RecentError, compressed_input_param,
                                          depth_scaling_param, image_qos_param,
                                          stall_timeout_param)
from mlkd_tracker.nodes.node_main import run_node
from mlkd_tracker.nodes.params import (ParameterError, declare_config, model_parameter_error,
                                       param, providers_param)
from mlkd_tracker.nodes.qos import INIT_QOS, OUTPUT_QOS
from mlkd_tracker.nodes.tracker_acquisition import Acquisition, Choice
from mlkd_tracker.runtime.frame_history import Entry
from mlkd_tracker.runtime.init_scheduler import InitRequest, InitScheduler
from mlkd_tracker.runtime.onnx_session import ProviderError
from mlkd_tracker.runtime.opencv_trackers import available_opencv_trackers
from mlkd_tracker.runtime.target_acquisition import POLICIES
from mlkd_tracker.runtime.track_supervisor import TrackOutput, TrackState, TrackSupervisor
from mlkd_tracker.runtime.tracker_factory import BACKENDS, build, spec_from_parameters

#: the older parameters the ``tracker`` spec replaces
LEGACY_TRACKER_PARAMS = ("backend", "opencv_algorithm", "model_path", "enhancer_path")


@dataclass
class TrackerNodeConfig:
    tracker: str = param("", "Tracker spec, as for mlkd-tracker eval: opencv:csrt|kcf|mil|mosse, "
                         "onnx:<model stem>, enhanced:<enhancer.onnx>+<model stem>. Set, it "
                         "replaces backend, opencv_algorithm, model_path and enhancer_path.",
                         read_only=True)
    providers: str = providers_param()
    backend: str = param("opencv", "Tracker implementation when 'tracker' is empty.",
                         choices=BACKENDS, read_only=True)
    opencv_algorithm: str = param("csrt", "OpenCV tracker when backend is opencv.",
                                  choices=("csrt", "kcf", "mil", "mosse"), read_only=True)
    model_path: str = param("", "Model file for neural backends (empty for opencv).",
                            read_only=True)
    enhancer_path: str = param("", "Low-light enhancer (.onnx) run on the onnx tracker's crops "
                               "first (empty: none).", read_only=True)
    image_qos: str = image_qos_param()
    compressed_input: bool = compressed_input_param()
    depth_scaling: str = depth_scaling_param()
    score_threshold: float = param(0.3, "Frames scoring below this count towards LOST.",
                                   range=(0.0, 1.0))
    lost_after_frames: int = param(15, "Consecutive low-score frames before the track is LOST.",
                                   range=(1, 100000))
    frame_buffer_size: int = param(30, "Recent frames kept to match ~/init and detections "
                                   "stamps.", range=(1, 600), read_only=True)
    init_stamp_tolerance_ms: float = param(2.0, "Max stamp difference when matching an init "
                                           "request or detections to a buffered frame.",
                                           range=(0.0, 1000.0))
    init_wait_ms: float = param(500.0, "How long an init or detections message stamped in the "
                                "future waits for its frame.", range=(0.0, 10000.0))
    stall_timeout_s: float = stall_timeout_param()
    class_id: str = param("target", "class_id written into published detections.")
    auto_acquire: bool = param(False, "When IDLE, start a track on the best detection on "
                               "'detections' (acquire_classes, acquire_min_score, "
                               "acquire_policy).")
    acquire_classes: str = param("", "Comma-separated class_ids that auto-acquire and "
                                 "re-detection accept (empty: any class).")
    acquire_policy: str = param("highest_score", "Which detection auto-acquire takes.",
                                choices=POLICIES)
    acquire_min_score: float = param(0.5, "Detections scoring below this are never acquired.",
                                     range=(0.0, 1.0))
    redetect_when_lost: bool = param(False, "When LOST, start a new episode on the detection "
                                     "nearest the last tracked box.")
    redetect_max_distance_px: float = param(200.0, "Re-detection ignores detections whose "
                                            "centre is farther than this from the last tracked "
                                            "box's centre, px (0: no limit).",
                                            range=(0.0, 100000.0))
    autostart: bool = autostart_param()

    def validate(self) -> None:
        if self.tracker:
            return  # the factory checks the spec when the node builds its tracker
        if self.backend == "opencv" and self.opencv_algorithm not in available_opencv_trackers():
            raise ParameterError(f"parameter 'opencv_algorithm' = '{self.opencv_algorithm}' is not "
                                 f"in this OpenCV build; available: {available_opencv_trackers()}")


def _providers(tracker) -> tuple[str, ...]:
    """The execution providers an ONNX tracker's engine runs on; the CPU for the others."""
    return getattr(getattr(tracker, "engine", None), "providers", ("CPUExecutionProvider",))


def tracker_spec(cfg: TrackerNodeConfig) -> tuple[str, list[str]]:
    """The spec the node builds its tracker from, and the older parameters it ignores because
    ``tracker`` is set (those that differ from their defaults, for a warning)."""
    if not cfg.tracker:
        try:
            return spec_from_parameters(cfg.backend, cfg.opencv_algorithm, cfg.model_path,
                                        cfg.enhancer_path), []
        except ValueError as exc:
            raise ParameterError(str(exc)) from exc
    defaults = TrackerNodeConfig()
    return cfg.tracker, [name for name in LEGACY_TRACKER_PARAMS
                         if getattr(cfg, name) != getattr(defaults, name)]


class TrackerNode(ManagedNode):
    def __init__(self, **kwargs) -> None:
        super().__init__("tracker_node", **kwargs)
        self.cfg = declare_config(self, TrackerNodeConfig, on_change=self._on_config)
        self.supervisor: TrackSupervisor | None = None  # built by configure
        self._lock = threading.Lock()  # guards supervisor and acquisition
        self.errors = RecentError(self.get_logger())
        self.acquisition = Acquisition(self.cfg, self.get_logger(), self.errors)

        self.images = ImageInput(self, self.errors, self.cfg.image_qos, self.cfg.compressed_input,
                                 history_size=self.cfg.frame_buffer_size)
        self.history = self.images.frames  # matched against ~/init and detections stamps
        self.inits = InitScheduler(self.history, self.cfg.init_stamp_tolerance_ms,
                                   self.cfg.init_wait_ms)
        self._subscriptions_held: list = []  # ~/init and detections, while active
        # Each ~/init's outcome ("accepted: episode N ..." or "refused: <why>", with the
        # request's Detection2D.id in brackets when it has one: "accepted [id]: ..."), latched,
        # so a one-shot client (mlkd-tracker init, a ground station) learns why a box was
        # refused, and tells its own answer from an earlier request's by the id.
        self.init_result_pub = self.create_publisher(String, "~/init_result", INIT_QOS)
        self.tracks_pub = self.create_publisher(Detection2DArray, "tracks", OUTPUT_QOS)
        self.debug_pub = self.create_publisher(Image, "~/debug_image", 1)
        self.create_service(Trigger, "~/stop", self._on_stop)
        self.create_service(Trigger, "~/reset", self._on_reset)
        self.diagnostics = DiagnosticsPublisher(
            self, "tracking", lambda: self.managed_health(self._health))

    # ---- lifecycle (nodes/managed.py) ---------------------------------------------------------
    def load(self) -> None:
        cfg = self.cfg
        spec, ignored = tracker_spec(cfg)
        if ignored:
            self.get_logger().warning(f"parameter 'tracker' = '{spec}' is set, so "
                                      f"{', '.join(ignored)} {'is' if len(ignored) == 1 else 'are'} "
                                      "ignored")
        try:
            tracker = build(spec, providers=cfg.providers)
        except ProviderError as exc:
            raise model_parameter_error(cfg, exc) from exc
        except ValueError as exc:
            what = f"parameter 'tracker' = '{spec}': " if cfg.tracker else ""
            raise ParameterError(f"{what}{exc}") from exc
        with self._lock:
            self.supervisor = TrackSupervisor(tracker, cfg.score_threshold, cfg.lost_after_frames)
        self.get_logger().info(f"tracking with {tracker.name}")

    def open(self) -> None:
        self._subscriptions_held = [
            self.create_subscription(Detection2D, "~/init", self._on_init, 10),
            # Always subscribed while active (cheap: ignored unless auto_acquire or
            # redetect_when_lost is on), so both can be switched on at run time.
            self.create_subscription(Detection2DArray, "detections", self._on_detections, 10)]
        self.images.start(self._work_once, "tracker_worker")
        self.get_logger().info("waiting for frames and ~/init")

    def close_io(self) -> None:
        for sub in self._subscriptions_held:
            self.destroy_subscription(sub)
        self._subscriptions_held = []
        self.images.close()
        self.inits.clear()
        if self.supervisor is not None:
            with self._lock:
                self.supervisor.stop()  # a track cannot survive frames it never saw

    def unload(self) -> None:
        with self._lock:
            self.supervisor = None

    # ---- callbacks: store only -------------------------------------------------------------
    def _on_init(self, msg: Detection2D) -> None:
        stamp = self.images.stamp_or_none(msg.header, "~/init refused")
        if stamp is None:
            self._init_result("refused", msg.id, self.errors.message)
            return
        self.inits.add(InitRequest(stamp, bbox_to_box(msg.bbox), time.monotonic(),
                                   request_id=msg.id))

    def _on_detections(self, msg: Detection2DArray) -> None:
        req = self.acquisition.request(msg, self.supervisor.state)
        if req is not None:
            self.inits.add(req)

    def _not_configured(self, res: Trigger.Response) -> Trigger.Response | None:
        if self.supervisor is not None:
            return None
        res.success, res.message = False, f"not configured (lifecycle: {self.lifecycle_state})"
        return res

    def _on_stop(self, _req, res: Trigger.Response) -> Trigger.Response:
        if self._not_configured(res):
            return res
        with self._lock:
            self.supervisor.stop()
            self.inits.clear()
            self.acquisition.stop()
        res.success, res.message = True, f"stopped; episode {self.supervisor.episode} ended"
        if self.cfg.auto_acquire:
            res.message += "; auto-acquire paused until ~/reset or ~/init"
        self.get_logger().info(res.message)
        return res

    def _on_reset(self, _req, res: Trigger.Response) -> Trigger.Response:
        if self._not_configured(res):
            return res
        with self._lock:
            self.supervisor.stop()
            self.inits.clear()
            self.acquisition.reset()
            self.images.reset()  # frame buffer, frame counters, last error
        res.success, res.message = True, "reset: track stopped, frame buffer and counters cleared"
        self.get_logger().info(res.message)
        return res

    def _on_config(self, cfg: TrackerNodeConfig) -> None:
        with self._lock:
            self.acquisition.on_config(cfg)
            self.cfg = cfg
            self.inits.tolerance_ms, self.inits.wait_ms = (cfg.init_stamp_tolerance_ms,
                                                           cfg.init_wait_ms)
            if self.supervisor is not None:  # else configure builds it from cfg
                self.supervisor.score_threshold = cfg.score_threshold
                self.supervisor.lost_after = cfg.lost_after_frames

    # ---- worker -------------------------------------------------------------------------------
    def _work_once(self) -> None:
        self.inits.serve(self)
        entry = self.images.next_frame()
        if entry is not None:
            self._process(entry, publish=True)

    def _process(self, entry: Entry, publish: bool) -> None:
        frame = self.images.to_bgr(entry.item, self.cfg.depth_scaling)
        if frame is None:
            return
        t0 = time.perf_counter()
        with self._lock:
            try:
                out = self.supervisor.step(frame)
            except Exception as exc:  # a tracker bug must not kill the node: stop this episode
                self.supervisor.stop()
                self.errors.report(f"tracker failed, track stopped: {exc!r}")
                out = TrackOutput(TrackState.IDLE, None, 0.0, self.supervisor.episode)
            if out.box is not None:
                self.acquisition.last_box = out.box
        self.images.inference_ms.add((time.perf_counter() - t0) * 1e3)
        if publish:
            self._publish(entry.item.header, out, frame)

    def _publish(self, header, out: TrackOutput, frame: np.ndarray) -> None:
        if not self.images.running:
            return  # deactivated while this frame was being tracked: no output
        self.tracks_pub.publish(make_track_array(header, out.box, out.score, out.episode,
                                                 self.cfg.class_id))
        self.images.published(header)
        if self.debug_pub.get_subscription_count() > 0:  # lazy: draw only when someone looks
            self.debug_pub.publish(array_to_image(_draw(frame, out), "bgr8", header))

    # ---- the init scheduler's handler (runtime/init_scheduler.py) ----------------------------
    def read(self, entry: Entry) -> np.ndarray | None:
        return self.images.to_bgr(entry.item, self.cfg.depth_scaling)

    def start(self, req: InitRequest, frame: np.ndarray) -> str | None:
        choice: Choice | None = None
        with self._lock:
            if not self.inits.current(req):  # a ~/stop or ~/reset came after it was taken out
                return None
            if req.detections is None:
                box = req.box
            else:
                choice = self.acquisition.choose(req, self.supervisor.state, frame.shape[1],
                                                 frame.shape[0])
                if choice is None:  # nothing to start on, or no longer wanted
                    return None
                box = choice.box
            episode = self.supervisor.start(frame, box)
            if req.detections is None:
                shown = ", ".join(f"{v:.1f}" for v in box)
                self._init_result("accepted", req.request_id,
                                  f"episode {episode} from ({shown})")
            return f"episode {episode} {self.acquisition.started(episode, box, choice)}"

    def catch_up(self, start: Entry, later: list[Entry], how: str) -> None:
        for i, entry in enumerate(later):
            self._process(entry, publish=i == len(later) - 1)
        self.images.taken_up_to(later[-1].seq if later else start.seq)
        self.get_logger().info(f"{how} on frame stamped {start.stamp_ns} ns, "
                               f"caught up {len(later)} frames")

    def refuse(self, req: InitRequest, reason: str) -> None:
        if req.detections is None:
            self.errors.report(f"~/init refused: {reason}")
            self._init_result("refused", req.request_id, reason)
        else:
            self.acquisition.problem(f"detections ignored: {reason}")

    def _init_result(self, verdict: str, request_id: str, text: str) -> None:
        """``verdict [request_id]: text`` on ~/init_result (``verdict: text`` without an id)."""
        tag = f" [{request_id}]" if request_id else ""
        self.init_result_pub.publish(String(data=f"{verdict}{tag}: {text}"))

    # ---- diagnostics --------------------------------------------------------------------------
    def _health(self) -> Health:
        now = time.monotonic()
        (inf50,) = self.images.inference_ms.percentiles(50)
        values = {"state": self.supervisor.state.value, "episode": self.supervisor.episode,
                  "backend": self.supervisor.tracker.name,
                  "providers": ",".join(_providers(self.supervisor.tracker)),
                  **self.images.flow_values(now),
                  **self.images.latency_values(), "inference_p50_ms": inf50,
                  **self.acquisition.values(), "last_error": self.errors.message}
        warning = self.images.warning(now, self.cfg.stall_timeout_s)
        if warning:
            return Health(WARN, warning, values)
        return Health(OK, f"{self.supervisor.state.value}", values)


def _draw(frame: np.ndarray, out: TrackOutput) -> np.ndarray:
    img = frame.copy()
    if out.box is not None:
        x, y, w, h = (int(round(v)) for v in out.box)
        cv2.rectangle(img, (x, y), (x + w, y + h), (0, 255, 0), 2)
    cv2.putText(img, f"{out.state.value} #{out.episode} {out.score:.2f}", (8, 20),
                cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 255, 255), 1, cv2.LINE_AA)
    return img


def main(args: list[str] | None = None) -> int:
    return run_node(TrackerNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
