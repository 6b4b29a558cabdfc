"""The one place where library boxes (x, y, w, h; top-left) meet vision_msgs (centre, size)."""
from __future__ import annotations

import math

from std_msgs.msg import Header
from vision_msgs.msg import (BoundingBox2D, Detection2D, Detection2DArray,
                             ObjectHypothesisWithPose)

from mlkd_tracker.runtime.tracker_base import BoxXYWH


def box_to_bbox(box: BoxXYWH) -> BoundingBox2D:
    x, y, w, h = (float(v) for v in box)
    bbox = BoundingBox2D()
    bbox.center.position.x = x + w / 2.0
    bbox.center.position.y = y + h / 2.0
    bbox.size_x, bbox.size_y = w, h
    return bbox


def bbox_to_box(bbox: BoundingBox2D) -> BoxXYWH:
    """May return NaN or non-positive sizes: callers validate (see runtime.boxes)."""
    w, h = float(bbox.size_x), float(bbox.size_y)
    return (bbox.center.position.x - w / 2.0, bbox.center.position.y - h / 2.0, w, h)


def make_detection(header: Header, box: BoxXYWH | None, score: float = 1.0,
                   class_id: str = "", det_id: str = "") -> Detection2D:
    """A Detection2D; ``box=None`` gives a zero-size box (an "absent" ground truth)."""
    det = Detection2D(header=header, id=det_id)
    det.bbox = box_to_bbox(box if box is not None else (0.0, 0.0, 0.0, 0.0))
    hyp = ObjectHypothesisWithPose()
    hyp.hypothesis.class_id = class_id
    hyp.hypothesis.score = float(score) if math.isfinite(score) else 0.0
    det.results = [hyp]
    return det


def make_track_array(header: Header, box: BoxXYWH | None, score: float, episode: int,
                     class_id: str = "target") -> Detection2DArray:
    """``tracks`` message: zero detections when there is no box, else one with id = episode."""
    msg = Detection2DArray(header=header)
    if box is not None:
        msg.detections = [make_detection(header, box, score, class_id, str(episode))]
    return msg
