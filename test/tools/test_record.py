"""``mlkd-tracker record``: a live simulator flight recorded over DDS, once into MCAP by a recorder
process stopped with SIGINT (Ctrl-C), once into sqlite3 stopped by ``--duration``. Both bags open
with rosbags (what ``ros2 bag info`` and Foxglove rely on: metadata.yaml, index, type
definitions), carry the hashes rclpy announces on the wire, and every message is the bytes that
were published, header stamp included."""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading

import pytest
import rclpy
from rclpy.serialization import deserialize_message
from rosbags.rosbag2 import Reader
from sensor_msgs.msg import Image
from vision_msgs.msg import Detection2D

from mlkd_tracker.tools import record_cli
from mlkd_tracker.tools.launch_xml import NodeSpec
from mlkd_tracker.tools.replay_inputs import stamp_ns

from ros_probe import start_nodes, wait_until

pytestmark = pytest.mark.ros

SIM = NodeSpec("mlkd_tracker", "sim_node", name="sim_node",
               params={"width": "320", "height": "240", "occluders": "0",
                       "target_min_px": "20.0", "target_max_px": "30.0"})
TOPICS = ["/image_raw", "/ground_truth"]
SQLITE_DURATION_S = 6.0


@pytest.fixture(scope="module")
def recordings(ros_module_env):
    """Both recorders run over the same flight; each starts before the simulator, so discovery
    does not cost the first frames."""
    tmp = ros_module_env
    proc = subprocess.Popen([sys.executable, "-m", "mlkd_tracker.tools.record_cli", "--topics",
                             *TOPICS, "--out", str(tmp / "mcap"), "--no-progress"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ))
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True)
    reader.start()
    sim = None
    try:
        assert wait_until(lambda: any("waiting for" in line for line in lines), 30), lines
        sim = start_nodes(tmp / "logs", SIM)
        args = argparse.Namespace(topics=[*TOPICS, "/never_published"], out=tmp / "sqlite",
                                  storage="sqlite3", duration=SQLITE_DURATION_S, progress=False)
        sqlite_rc = record_cli.main(args)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            stdout, _ = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            stdout, _ = proc.communicate()
        if sim is not None:
            sim.stop()
    reader.join(5)
    yield {"mcap": tmp / "mcap", "sqlite3": tmp / "sqlite", "mcap_rc": proc.returncode,
           "mcap_stdout": stdout, "sqlite_rc": sqlite_rc, "stderr": "".join(lines)}


def read_bag(path) -> tuple[dict, list]:
    """rosbags' own reader (not the package's): {topic: (type, count, hash)} and the messages."""
    with Reader(path) as r:
        info = {c.topic: (c.msgtype, c.msgcount, c.digest) for c in r.connections}
        return info, [(c.topic, ts, bytes(data)) for c, ts, data in r.messages()]


def test_sigint_stops_the_recorder_and_closes_the_mcap_bag(recordings):
    assert recordings["mcap_rc"] == 0, recordings["stderr"]
    assert "wrote" in recordings["mcap_stdout"]
    path = recordings["mcap"]
    assert (path / "metadata.yaml").is_file() and list(path.glob("*.mcap"))
    info, messages = read_bag(path)
    assert info["/image_raw"][0] == "sensor_msgs/msg/Image"
    assert info["/image_raw"][1] >= 30, "fewer than 1 s of 30 Hz frames recorded"
    assert len(messages) == sum(n for _, n, _ in info.values())


def test_duration_ends_the_sqlite3_recording_and_missing_topics_are_reported(recordings):
    assert recordings["sqlite_rc"] == 1, "a topic never published must make the exit code 1"
    path = recordings["sqlite3"]
    assert list(path.glob("*.db3"))
    with Reader(path) as r:
        assert r.duration / 1e9 <= SQLITE_DURATION_S
        counts = {c.topic: c.msgcount for c in r.connections}
    assert set(counts) == set(TOPICS) and counts["/image_raw"] >= 30


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_bags_carry_the_type_hashes_rclpy_announces(recordings, storage):
    info, _ = read_bag(recordings[storage])
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        node = rclpy.create_node("hash_probe", context=context)
        node.create_publisher(Image, "hash_image", 1)
        node.create_publisher(Detection2D, "hash_det", 1)
        assert wait_until(lambda: node.get_publishers_info_by_topic("/hash_det"), 5)
        wire = {t: str(node.get_publishers_info_by_topic(t)[0].topic_type_hash)
                for t in ("/hash_image", "/hash_det")}
        node.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)
    assert info["/image_raw"][2] == wire["/hash_image"]
    assert info["/ground_truth"] == ("vision_msgs/msg/Detection2D", info["/ground_truth"][1],
                                     wire["/hash_det"])


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_messages_keep_their_header_stamps_and_are_stamped_on_receipt(recordings, storage):
    _, messages = read_bag(recordings[storage])
    frames, boxes = {}, {}
    for topic, received, data in messages:
        msg = deserialize_message(data, Image if topic == "/image_raw" else Detection2D)
        stamp = stamp_ns(msg.header)
        assert 0 <= received - stamp < 1e9, "bag time is not the receive time of the message"
        (frames if topic == "/image_raw" else boxes)[stamp] = msg
    some = next(iter(frames.values()))
    assert (some.width, some.height, some.encoding) == (320, 240, "bgr8")
    # sim_node stamps a frame and its ground truth with one header: the recordings line up.
    common = set(frames) & set(boxes)
    assert len(common) >= 0.9 * min(len(frames), len(boxes))
    assert all(frames[s].header.frame_id == boxes[s].header.frame_id for s in common)


def test_cli_offers_exactly_the_writer_storages():
    from mlkd_tracker.data.bag_writer import STORAGES
    assert set(record_cli.STORAGES) == set(STORAGES)


def test_recording_options_are_validated_before_anything_starts(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    record_cli.add_arguments(parser)
    with pytest.raises(SystemExit):
        parser.parse_args(["--topics", "/a", "--out", str(tmp_path / "b"), "--storage", "bag1"])
    with pytest.raises(SystemExit):
        parser.parse_args(["--topics", "/a", "--out", str(tmp_path / "b"), "--duration", "0"])
    (tmp_path / "exists").mkdir()
    args = parser.parse_args(["--topics", "/a", "--out", str(tmp_path / "exists")])
    assert record_cli.main(args) == 2
    assert "exists already" in capsys.readouterr().err
