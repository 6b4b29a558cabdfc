"""``mlkd-tracker init``: give the tracker its target without the ``ros2`` CLI.

    mlkd-tracker init 310,200,40,30            # a box x,y,w,h in image pixels
    mlkd-tracker init --centre 48,48           # a w x h box at the centre of the newest frame
    mlkd-tracker init --from-detection car     # the best detection (of these classes) on `detections`

The request goes to ``<tracker>/init`` as a vision_msgs/Detection2D whose ``id`` is unique to this
call (``init-<pid>-<monotonic ns>``); the tracker answers on ``<tracker>/init_result`` with that
id ("accepted [id]: episode N ..." or "refused [id]: <why>"). The topic is latched, so an earlier
request's answer may arrive first: the tool takes only the answer with its own id. A box typed by
hand is stamped 0 ("the newest frame"); a detection keeps its frame's stamp, so the tracker
starts on the frame it was detected in and catches up. The tool waits until the tracker's
subscription has matched before publishing (no request lost to discovery), then until the
tracker publishes a track of the accepted episode N on ``tracks``, and says what happened.
"""
from __future__ import annotations

import argparse
import math
import os
import re
import sys
import threading
import time
from collections.abc import Callable

from builtin_interfaces.msg import Time
from sensor_msgs.msg import Image
from std_msgs.msg import Header, String
from vision_msgs.msg import Detection2D, Detection2DArray

from mlkd_tracker.cli_types import positive_float
from mlkd_tracker.nodes.detection_conversion import bbox_to_box, make_detection
from mlkd_tracker.nodes.qos import INIT_QOS, OUTPUT_QOS, image_qos
from mlkd_tracker.tools.ros_client import ToolError, client_node, resolve_node_name, wait_for


def parse_box(text: str, n: int = 4) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != n or not all(math.isfinite(v) for v in values):
        raise argparse.ArgumentTypeError(f"{text!r}: expected {n} comma-separated numbers")
    if any(v <= 0 for v in values[-2:]):
        raise argparse.ArgumentTypeError(f"{text!r}: width and height must be positive")
    return values


def add_arguments(parser: argparse.ArgumentParser) -> None:
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("box", nargs="?", type=parse_box, help="x,y,w,h in image pixels")
    what.add_argument("--centre", "--center", type=lambda t: parse_box(t, 2), metavar="W,H",
                      help="a W x H box centred in the newest frame on the image topic")
    what.add_argument("--from-detection", nargs="?", const="", metavar="CLASSES",
                      help="the best-scoring detection (optionally of these comma-separated "
                      "classes) on the detections topic")
    parser.add_argument("--tracker", default="tracker_node",
                        help="tracker node name or full name (default tracker_node)")
    parser.add_argument("--tracks-topic", help="where the tracker publishes (default: tracks in "
                        "the tracker's namespace)")
    parser.add_argument("--image-topic", default="image_raw", help="for --centre")
    parser.add_argument("--detections-topic", default="detections", help="for --from-detection")
    parser.add_argument("--timeout", type=positive_float, default=10.0,
                        help="seconds to wait for each step (default 10)")


def _wait_message(node, msg_type, topic: str, qos, timeout: float,
                  accept: Callable[[object], bool] | None = None):
    """The first message on ``topic`` (that ``accept`` takes, when given)."""
    got: list = []
    ready = threading.Event()

    def on_msg(msg) -> None:
        if not ready.is_set() and (accept is None or accept(msg)):
            got.append(msg)
            ready.set()
    sub = node.create_subscription(msg_type, topic, on_msg, qos)
    try:
        if not ready.wait(timeout):
            raise ToolError(f"no {'suitable ' if accept is not None else ''}message on {topic} "
                            f"within {timeout:g} s")
        return got[0]
    finally:
        node.destroy_subscription(sub)


def _request(node, args) -> Detection2D:
    if args.box is not None:
        return make_detection(Header(stamp=Time()), args.box)
    if args.centre is not None:
        image = _wait_message(node, Image, args.image_topic, image_qos("sensor_data"), args.timeout)
        w, h = args.centre
        box = ((image.width - w) / 2, (image.height - h) / 2, w, h)
        return make_detection(Header(stamp=image.header.stamp), box)
    classes = {c.strip() for c in args.from_detection.split(",") if c.strip()}

    def usable(msg: Detection2DArray) -> bool:
        return any(not classes or (d.results and d.results[0].hypothesis.class_id in classes)
                   for d in msg.detections)
    msg = _wait_message(node, Detection2DArray, args.detections_topic, OUTPUT_QOS,
                        args.timeout, usable)
    dets = [d for d in msg.detections
            if not classes or (d.results and d.results[0].hypothesis.class_id in classes)]
    best = max(dets, key=lambda d: d.results[0].hypothesis.score if d.results else 0.0)
    return make_detection(msg.header, bbox_to_box(best.bbox))


def request_id() -> str:
    """An id no other call of this tool (on this machine, in this boot) uses."""
    return f"init-{os.getpid()}-{time.monotonic_ns()}"


def own_result(results: list[str], req_id: str) -> list[str]:
    """The answers to request ``req_id`` among ``init_result`` texts, oldest first."""
    return [r for r in results if re.match(rf"(accepted|refused) \[{re.escape(req_id)}\]:", r)]


def accepted_episode(result: str) -> str | None:
    """The episode an "accepted [id]: episode N ..." answer started (as ``tracks`` ids it)."""
    found = re.match(r"accepted \[[^\]]*\]: episode (\d+)\b", result)
    return found.group(1) if found else None


def run(args: argparse.Namespace) -> str:
    with client_node("mlkd_init") as node:
        tracker = resolve_node_name(node, args.tracker, args.timeout)
        request = _request(node, args)
        request.id = request_id()
        tracks: list[Detection2DArray] = []
        tracks_topic = args.tracks_topic or f"{tracker.rsplit('/', 1)[0]}/tracks"
        sub = node.create_subscription(Detection2DArray, tracks_topic, tracks.append, OUTPUT_QOS)
        results: list[str] = []
        node.create_subscription(String, f"{tracker}/init_result", lambda m: results.append(m.data),
                                 INIT_QOS)
        pub = node.create_publisher(Detection2D, f"{tracker}/init", INIT_QOS)
        if not wait_for(lambda: pub.get_subscription_count() > 0, args.timeout):
            raise ToolError(f"{tracker} has no subscription on {tracker}/init")
        wait_for(lambda: sub.get_publisher_count() > 0, args.timeout)
        box = tuple(round(v, 1) for v in bbox_to_box(request.bbox))
        deadline = time.monotonic() + args.timeout
        while True:
            seen = len(own_result(results, request.id))
            pub.publish(request)
            answer = wait_for(lambda: own_result(results, request.id)[seen:],
                              max(0.1, deadline - time.monotonic()))
            # A tracker that has just started has no frame yet: ask again until it has one.
            if not (answer and "no frames yet" in answer[0] and time.monotonic() < deadline):
                break
            time.sleep(0.2)
        if answer is None:
            raise ToolError(f"sent {box} to {tracker}/init, but no answer with its id "
                            f"({request.id}) on {tracker}/init_result within {args.timeout:g} s")
        result = answer[0]
        episode = accepted_episode(result)
        if episode is None:
            raise ToolError(f"{tracker} {result}")
        started = wait_for(lambda: next((d for m in list(tracks) for d in m.detections
                                         if d.id == episode), None), args.timeout)
        if started is None:
            raise ToolError(f"{tracker} accepted {box} as episode {episode}, but published no "
                            f"track of it on {tracks_topic} within {args.timeout:g} s (see its "
                            f"log and /diagnostics)")
        got = tuple(round(v, 1) for v in bbox_to_box(started.bbox))
        score = started.results[0].hypothesis.score if started.results else float("nan")
        return f"{tracker}: tracking episode {started.id} from {got} (score {score:.2f})"


def main(args: argparse.Namespace) -> int:
    try:
        print(run(args))
    except ToolError as exc:
        print(f"mlkd-tracker init: {exc}", file=sys.stderr)
        return 1
    return 0
