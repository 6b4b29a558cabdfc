"""BagReader: any rosbag2 (folder or single file, MCAP or sqlite3) reads back exactly what was
written; a damaged one yields every message before the damage, then a BagReadError that names
the file and the bad record."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from rosbags.rosbag2 import StoragePlugin, Writer

from mlkd_tracker.data.bag_reader import BagReader, BagReadError
from mlkd_tracker.data.bag_types import standard_typestore
from mlkd_tracker.data.bag_writer import BagWriter

N_FRAMES = 40  # 40 frames of 320x240 bgr8 span ~10 MCAP chunks of 1 MiB


def big_image_cdr(store, stamp_ns: int, width: int = 320, height: int = 240) -> bytes:
    t = store.types
    img = t["sensor_msgs/msg/Image"](
        header=t["std_msgs/msg/Header"](stamp=t["builtin_interfaces/msg/Time"](
            sec=stamp_ns // 10**9, nanosec=stamp_ns % 10**9), frame_id="cam"),
        height=height, width=width, encoding="bgr8", is_bigendian=0, step=3 * width,
        data=np.full(height * width * 3, stamp_ns % 251, np.uint8))
    return store.serialize_cdr(img, "sensor_msgs/msg/Image")


def write_flight(path: Path, storage: str = "mcap") -> list[tuple[str, int, bytes]]:
    """Frames and ground truth of a little flight; returns what was written, in order."""
    written = []
    with BagWriter(path, storage) as w:
        w.add_topic("/image_raw", "sensor_msgs/msg/Image")
        w.add_topic("/ground_truth", "vision_msgs/msg/Detection2D")
        det_type = w.typestore.types["vision_msgs/msg/Detection2D"]
        for i in range(N_FRAMES):
            ts = 10**18 + i * 33_000_000
            written.append(("/image_raw", ts, big_image_cdr(w.typestore, ts)))
            det = det_type(header=w.typestore.deserialize_cdr(written[-1][2],
                                                              "sensor_msgs/msg/Image").header,
                           results=[], id=str(i),
                           bbox=w.typestore.types["vision_msgs/msg/BoundingBox2D"](
                               center=w.typestore.types["vision_msgs/msg/Pose2D"](
                                   position=w.typestore.types["vision_msgs/msg/Point2D"](x=50.0 + i, y=60.0),
                                   theta=0.0), size_x=20.0, size_y=10.0))
            written.append(("/ground_truth", ts + 1,
                            w.typestore.serialize_cdr(det, "vision_msgs/msg/Detection2D")))
        for topic, ts, data in written:
            w.write(topic, ts, data)
    return written


def read_all(reader: BagReader) -> tuple[list[tuple[str, int, bytes]], BagReadError | None]:
    got = []
    try:
        for m in reader.messages():
            got.append((m.topic, m.timestamp, m.data))
    except BagReadError as exc:
        return got, exc
    return got, None


@pytest.fixture(scope="module")
def flight(tmp_path_factory) -> tuple[Path, list]:
    path = tmp_path_factory.mktemp("flight") / "bag"
    return path, write_flight(path)


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_round_trip_returns_every_message_byte_for_byte(tmp_path: Path, storage: str):
    written = write_flight(tmp_path / "bag", storage)
    with BagReader(tmp_path / "bag") as reader:
        assert reader.storage == storage and reader.damage is None
        assert {t.name: (t.msgtype, t.count) for t in reader.topics.values()} == {
            "/image_raw": ("sensor_msgs/msg/Image", N_FRAMES),
            "/ground_truth": ("vision_msgs/msg/Detection2D", N_FRAMES)}
        got, error = read_all(reader)
        det = reader.deserialize(next(reader.messages(["/ground_truth"])))
    assert error is None and got == written
    assert (det.bbox.size_x, det.bbox.center.position.x) == (20.0, 50.0)


def test_reads_a_single_storage_file_and_filters_topics(flight):
    path, written = flight
    with BagReader(next(path.glob("*.mcap"))) as reader:
        frames = [m.data for m in reader.messages(["/image_raw"])]
        with pytest.raises(BagReadError, match="no topic /nope in this bag"):
            next(reader.messages(["/nope"]))
    assert frames == [d for t, _, d in written if t == "/image_raw"]


def test_truncated_mcap_gives_what_precedes_the_cut_then_names_the_cut_record(flight, tmp_path):
    path, written = flight
    cut = tmp_path / "cut"
    shutil.copytree(path, cut)
    mcap = next(cut.glob("*.mcap"))
    data = mcap.read_bytes()
    mcap.write_bytes(data[: len(data) // 2])
    with BagReader(cut) as reader:
        assert reader.damage and "cut off" in reader.damage
        got, error = read_all(reader)
    assert 0 < len(got) < len(written)
    assert got == written[: len(got)], "a message before the damage came back changed"
    assert error is not None
    assert str(mcap) in str(error) and "record at byte" in str(error)
    assert f"file ends at byte {len(data) // 2}" in str(error)


def test_unclosed_mcap_without_metadata_is_read_up_to_its_last_complete_chunk(tmp_path):
    """What a killed recorder leaves: no metadata.yaml, no MCAP summary or footer."""
    store = standard_typestore()
    writer = Writer(tmp_path / "killed", version=9, storage_plugin=StoragePlugin.MCAP)
    writer.open()
    conn = writer.add_connection("/image_raw", "sensor_msgs/msg/Image", typestore=store)
    frames = [big_image_cdr(store, 10**18 + i) for i in range(12)]
    for i, data in enumerate(frames):
        writer.write(conn, 10**18 + i, data)
    writer.abort()  # file closed as it is: chunks flushed so far, no index, no metadata.yaml
    assert not (tmp_path / "killed" / "metadata.yaml").exists()
    with BagReader(tmp_path / "killed") as reader:
        got, error = read_all(reader)
    assert 0 < len(got) < len(frames)
    assert [d for _, _, d in got] == frames[: len(got)]
    assert "without an MCAP footer" in str(error)


def test_corrupt_record_in_the_middle_is_named_by_its_offset(flight, tmp_path):
    path, written = flight
    bad = tmp_path / "bad"
    shutil.copytree(path, bad)
    mcap = next(bad.glob("*.mcap"))
    data = bytearray(mcap.read_bytes())
    offset, chunks = 8, []  # find the chunk records by walking the top-level records
    while len(chunks) < 3:
        if data[offset] == 0x06:
            chunks.append(offset)
        offset += 9 + int.from_bytes(data[offset + 1:offset + 9], "little")
    # Chunk content: 3 x u64 + u32, compression string (u32 length + text), u64 size, records.
    chunk = chunks[2]
    compression_len = int.from_bytes(data[chunk + 9 + 28:chunk + 9 + 32], "little")
    first_inner = chunk + 9 + 32 + compression_len + 8
    data[first_inner + 1:first_inner + 9] = (2**40).to_bytes(8, "little")  # absurd length
    mcap.write_bytes(bytes(data))
    with BagReader(bad) as reader:
        got, error = read_all(reader)
    assert got == written[: len(got)] and 0 < len(got) < len(written)
    assert f"chunk record at byte {chunk} is corrupt" in str(error)
    assert f"after message #{len(got) - 1}" in str(error)


def test_truncated_sqlite3_says_what_size_its_header_expects(flight, tmp_path):
    path = tmp_path / "sq"
    write_flight(path, "sqlite3")
    db = next(path.glob("*.db3"))
    size = db.stat().st_size
    db.write_bytes(db.read_bytes()[: size // 2])
    with pytest.raises(BagReadError) as info:
        BagReader(path)
    message = str(info.value)
    assert str(db) in message and "truncated" in message and f"has {size // 2} bytes" in message


def test_undecodable_message_is_named_by_index_topic_and_time(tmp_path):
    with BagWriter(tmp_path / "bag") as w:
        w.add_topic("/image_raw", "sensor_msgs/msg/Image")
        w.write("/image_raw", 7, big_image_cdr(w.typestore, 7, width=6, height=4))
        w.write("/image_raw", 8, b"\x00\x01\x00\x00garbage")
    with BagReader(tmp_path / "bag") as reader:
        good, bad = list(reader.messages())
        assert reader.deserialize(good).width == 6
        with pytest.raises(BagReadError, match=r"message #1 on /image_raw at t=8 ns does not decode"):
            reader.deserialize(bad)


def test_missing_bag_and_foreign_files_are_refused_clearly(tmp_path):
    with pytest.raises(BagReadError, match="no such bag"):
        BagReader(tmp_path / "nothing")
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(BagReadError, match="not a rosbag2 storage file"):
        BagReader(tmp_path / "x.txt")
    with pytest.raises(BagReadError, match="no .mcap or .db3"):
        BagReader(tmp_path)
