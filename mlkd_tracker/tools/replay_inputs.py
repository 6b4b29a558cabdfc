"""What a replay takes from a bag besides the frames: which topic is the camera, how each frame
reads (header and sanity), and the ground truth keyed by frame stamp.

Messages are decoded with rclpy's own deserialiser (the one the pipeline's nodes use) and boxes
are converted by ``detection_conversion`` (the one module that converts boxes), so the replay
sees a frame and a box exactly as the nodes will.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rclpy.serialization import deserialize_message
from rclpy.time import Time
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header
from vision_msgs.msg import Detection2D, Detection2DArray

from mlkd_tracker.data.bag_reader import BagMessage, BagReader, BagReadError
from mlkd_tracker.nodes.detection_conversion import bbox_to_box

__all__ = ["IMAGE_TYPES", "GT_TYPES", "DEFAULT_GT_TOPIC", "choose_camera_topic", "choose_gt_topic",
           "FrameCheck", "check_frame", "gt_from_topic", "gt_from_file", "stamp_ns"]

IMAGE_TYPES = {"sensor_msgs/msg/Image": Image, "sensor_msgs/msg/CompressedImage": CompressedImage}
GT_TYPES = {"vision_msgs/msg/Detection2D": Detection2D,
            "vision_msgs/msg/Detection2DArray": Detection2DArray}
DEFAULT_GT_TOPIC = "/ground_truth"
Box = tuple[float, float, float, float]


def stamp_ns(header: Header) -> int:
    return Time.from_msg(header.stamp).nanoseconds


def choose_camera_topic(reader: BagReader, requested: str | None = None) -> str:
    """``requested`` if it is an image topic of the bag; else the bag's only image topic
    (``/image_raw`` wins if there are several)."""
    images = reader.topics_of_type(*IMAGE_TYPES)
    if requested:
        topic = requested if requested.startswith("/") else "/" + requested
        if topic not in reader.topics:
            raise ValueError(f"the bag has no topic {topic}; its image topics: "
                             f"{', '.join(images) or 'none'}")
        if topic not in images:
            raise ValueError(f"{topic} is {reader.topics[topic].msgtype}, not an image topic "
                             "(sensor_msgs/Image or CompressedImage)")
        return topic
    if len(images) == 1:
        return images[0]
    if "/image_raw" in images:
        return "/image_raw"
    raise ValueError("the bag has no image topic" if not images else
                     f"the bag has several image topics ({', '.join(images)}); pick one with "
                     "--camera-topic")


def choose_gt_topic(reader: BagReader, requested: str | None = None) -> str | None:
    """``requested`` (must be Detection2D/Array), else ``/ground_truth`` if the bag has it.
    Never guessed otherwise: a recorded ``tracks`` topic has the same type."""
    topic = requested or DEFAULT_GT_TOPIC
    topic = topic if topic.startswith("/") else "/" + topic
    info = reader.topics.get(topic)
    if info is None:
        if requested:
            raise ValueError(f"the bag has no ground-truth topic {topic}")
        return None
    if info.msgtype not in GT_TYPES:
        raise ValueError(f"{topic} is {info.msgtype}; ground truth must be "
                         "vision_msgs/Detection2D or Detection2DArray")
    return topic


@dataclass(frozen=True)
class FrameCheck:
    header: Header | None
    problem: str = ""  # empty when the frame can be published


def check_frame(msg: BagMessage) -> FrameCheck:
    """Decode the frame's CDR as the nodes will; refuse what no node could use, naming why."""
    try:
        frame = deserialize_message(msg.data, IMAGE_TYPES[msg.msgtype])
    except Exception as exc:
        return FrameCheck(None, f"{msg.describe()} does not decode as {msg.msgtype}: {exc}")
    if isinstance(frame, Image):
        need = frame.step * frame.height
        if frame.width == 0 or frame.height == 0 or frame.step < frame.width or len(frame.data) < need:
            return FrameCheck(frame.header, f"{msg.describe()}: {frame.width}x{frame.height} image "
                                            f"with step {frame.step} holds {len(frame.data)} of "
                                            f"{need} bytes")
    elif len(frame.data) == 0:
        return FrameCheck(frame.header, f"{msg.describe()}: empty CompressedImage")
    return FrameCheck(frame.header)


def gt_from_topic(reader: BagReader, topic: str) -> tuple[dict[int, Box], str | None]:
    """Boxes keyed by header stamp; a Detection2DArray gives its first detection, or an empty
    (invalid) box when it has none. Returns (boxes, the bag's damage if reading stopped)."""
    msg_type = GT_TYPES[reader.topics[topic].msgtype]
    boxes: dict[int, Box] = {}
    try:
        for msg in reader.messages([topic]):
            try:
                det = deserialize_message(msg.data, msg_type)
            except Exception:
                continue  # one undecodable box: that frame has no ground truth
            if isinstance(det, Detection2DArray):
                box = bbox_to_box(det.detections[0].bbox) if det.detections else (0.0, 0.0, 0.0, 0.0)
            else:
                box = bbox_to_box(det.bbox)
            boxes[stamp_ns(det.header)] = box
    except BagReadError as exc:
        return boxes, str(exc)
    return boxes, None


def gt_from_file(path: str | Path) -> np.ndarray:
    """A UAV123-layout annotation file (``anno/<seq>.txt``): one x,y,w,h line per camera frame
    of the bag, in bag order (NaN or 0-size lines: target not visible)."""
    from mlkd_tracker.data.results_io import read_boxes
    boxes = read_boxes(path)
    if len(boxes) == 0:
        raise ValueError(f"{path}: no boxes")
    return boxes
