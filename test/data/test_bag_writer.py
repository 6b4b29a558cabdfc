"""BagWriter: rosbag2 files that rosbags (and so ros2 bag / Foxglove) open, in both storages,
with the same type hashes as rclpy announces, closed properly even when the writer fails."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rosbags.rosbag2 import Reader

from mlkd_tracker.data.bag_types import UnknownTypeError, ensure_type, standard_typestore
from mlkd_tracker.data.bag_writer import BagWriter

# vision_msgs 4.x, as pinned by test/nodes/test_vision_msgs_wire.py.
UPSTREAM_DETECTION2DARRAY_HASH = \
    "RIHS01_214274120007f4a683866481336b70310268cfa107aebe9d594a6acf75bda968"


def image_cdr(store, stamp_ns: int, value: int = 0) -> bytes:
    t = store.types
    img = t["sensor_msgs/msg/Image"](
        header=t["std_msgs/msg/Header"](stamp=t["builtin_interfaces/msg/Time"](
            sec=stamp_ns // 10**9, nanosec=stamp_ns % 10**9), frame_id="cam"),
        height=4, width=6, encoding="bgr8", is_bigendian=0, step=18,
        data=np.full(72, value, np.uint8))
    return store.serialize_cdr(img, "sensor_msgs/msg/Image")


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_written_bag_opens_with_rosbags_and_keeps_every_message(tmp_path: Path, storage: str):
    with BagWriter(tmp_path / "bag", storage) as w:
        w.add_topic("/image_raw", "sensor_msgs/msg/Image")
        w.add_topic("/tracks", "vision_msgs/msg/Detection2DArray")
        sent = [(10**9 + i, image_cdr(w.typestore, 10**9 + i, i)) for i in range(5)]
        for ts, data in sent:
            w.write("/image_raw", ts, data)
    with Reader(tmp_path / "bag") as r:
        assert r.message_count == 5
        assert {c.topic: c.msgtype for c in r.connections} == {
            "/image_raw": "sensor_msgs/msg/Image", "/tracks": "vision_msgs/msg/Detection2DArray"}
        digests = {c.topic: c.digest for c in r.connections}
        got = [(ts, bytes(data)) for _, ts, data in r.messages()]
    assert got == sent
    assert digests["/tracks"] == UPSTREAM_DETECTION2DARRAY_HASH


def test_a_failing_writer_still_leaves_a_closed_readable_bag(tmp_path: Path):
    with pytest.raises(RuntimeError, match="boom"):
        with BagWriter(tmp_path / "bag") as w:
            w.add_topic("/image_raw", "sensor_msgs/msg/Image")
            w.write("/image_raw", 5, image_cdr(w.typestore, 5))
            raise RuntimeError("boom")
    assert (tmp_path / "bag" / "metadata.yaml").is_file()
    with Reader(tmp_path / "bag") as r:
        assert r.message_count == 1


def test_never_writes_over_an_existing_bag(tmp_path: Path):
    (tmp_path / "bag").mkdir()
    with pytest.raises(FileExistsError, match="exists already"):
        BagWriter(tmp_path / "bag")


def test_unknown_storage_and_unknown_type_are_refused_by_name(tmp_path: Path):
    with pytest.raises(ValueError, match="unknown bag storage 'rosbag1'"):
        BagWriter(tmp_path / "a", "rosbag1")
    with pytest.raises(UnknownTypeError, match="no_such_pkg/msg/Thing"):
        ensure_type(standard_typestore(), "no_such_pkg/msg/Thing")
