"""vision_msgs as built here must be wire-compatible with upstream vision_msgs 4.x."""
from __future__ import annotations

from pathlib import Path

import rclpy
from rosbags.typesys import Stores, get_typestore, get_types_from_msg
from vision_msgs.msg import Detection2DArray

from ros_probe import wait_until

UPSTREAM_4X_HASH = "RIHS01_214274120007f4a683866481336b70310268cfa107aebe9d594a6acf75bda968"
MSG_DIR = Path(__file__).resolve().parents[2] / "interfaces" / "vision_msgs" / "msg"


def test_msg_definitions_hash_like_upstream_4x():
    store = get_typestore(Stores.ROS2_KILTED)
    types = {}
    for path in sorted(MSG_DIR.glob("*.msg")):
        types.update(get_types_from_msg(path.read_text(), f"vision_msgs/msg/{path.stem}"))
    store.register(types)
    assert store.hash_rihs01("vision_msgs/msg/Detection2DArray") == UPSTREAM_4X_HASH


def test_importable_type_announces_the_upstream_hash_on_the_wire(ros_env):
    """The hash rclpy announces in discovery, whichever vision_msgs the venv imports."""
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        node = rclpy.create_node("hash_probe", context=context)
        node.create_publisher(Detection2DArray, "hash_probe_topic", 1)
        assert wait_until(lambda: node.get_publishers_info_by_topic("/hash_probe_topic"), 5.0), \
            "publisher not visible in the graph"
        infos = node.get_publishers_info_by_topic("/hash_probe_topic")
        assert str(infos[0].topic_type_hash) == UPSTREAM_4X_HASH
        node.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)
