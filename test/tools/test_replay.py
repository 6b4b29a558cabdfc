"""``mlkd-tracker replay``: a recorded simulator flight replayed into the real tracker process.

Specification checked here:
- in ``fast`` mode no frame is lost, so the replay scores exactly what the same tracker scores
  offline (runtime ``TrackSupervisor`` + OpenCV tracker) on the frames read from the bag;
- the output bag holds the input and the pipeline's topics and opens with rosbags;
- a sqlite3 bag of CompressedImage frames with a UAV123-layout annotation file replays the same
  way (against the offline run on the decoded JPEG frames);
- a truncated bag is replayed as recorded up to the damage; the error names the cut record,
  the report says what was read, and the output bag is closed properly.

One short flight (320x240, ~100 frames) is recorded once; each replay starts its own tracker.
"""
from __future__ import annotations

import argparse
import csv
import json
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
import yaml
from rclpy.serialization import deserialize_message, serialize_message
from rosbags.rosbag2 import Reader
from sensor_msgs.msg import Image
from vision_msgs.msg import Detection2DArray

from mlkd_tracker.data.bag_reader import BagReader
from mlkd_tracker.data.bag_writer import BagWriter
from mlkd_tracker.data.results_io import read_boxes, write_boxes
from mlkd_tracker.eval.stamped_runs import align, score_run
from mlkd_tracker.tools import replay_cli
from mlkd_tracker.tools.bag_recorder import RecordConfig, record
from mlkd_tracker.nodes.image_conversion import bgr8_to_compressed, compressed_to_bgr8, image_to_bgr8
from mlkd_tracker.tools.launch_xml import NodeSpec
from mlkd_tracker.nodes.qos import image_qos
from mlkd_tracker.tools.replay_inputs import IMAGE_TYPES, gt_from_topic, stamp_ns
from mlkd_tracker.runtime.track_supervisor import TrackSupervisor
from mlkd_tracker.runtime.tracker_factory import create_tracker

from ros_probe import Probe, start_nodes, wait_until

pytestmark = pytest.mark.ros

REPO = Path(__file__).resolve().parents[2]
SIM = NodeSpec("mlkd_tracker", "sim_node", name="sim_node",
               params={"width": "320", "height": "240", "occluders": "0", "seed": "0",
                       "target_min_px": "20.0", "target_max_px": "30.0"})
FLIGHT_FRAMES = 100
PIPELINE = "camera_tracking.launch.xml"  # its camera_node is left out: the bag is the camera


@pytest.fixture(scope="module")
def env(ros_module_env):
    return ros_module_env


@pytest.fixture(scope="module")
def flight(env) -> Path:
    """A simulator flight recorded into MCAP (recorder first, so discovery costs no frames)."""
    out = env / "flight"
    stop = threading.Event()
    probe = Probe("flight_probe")
    seen = probe.watch(Image, "/image_raw", image_qos())
    recorder = threading.Thread(target=record, args=(RecordConfig(
        ["/image_raw", "/ground_truth"], out, progress=False), stop))
    recorder.start()
    sim = None
    try:
        sim = start_nodes(env / "sim_logs", SIM)
        assert wait_until(lambda: len(seen) >= FLIGHT_FRAMES, 60), "the simulator did not fly"
    finally:
        stop.set()
        recorder.join(20)
        if sim is not None:
            sim.stop()
        probe.close()
    return out


def run_replay(bag: Path, out: Path, *options: str, launch_args: tuple[str, ...] = ()) -> int:
    """``mlkd-tracker replay [options] BAG [launch args]``, through the CLI's own parser."""
    parser = argparse.ArgumentParser()
    replay_cli.add_arguments(parser)
    return replay_cli.main(parser.parse_args(["--launch", PIPELINE, "--out", str(out),
                                              "--no-progress", *options, str(bag), *launch_args]))


def offline(bag: Path, camera: str, algorithm: str, gt: dict[int, tuple] | None = None):
    """The same tracker run directly on the bag's frames, decoded as the node decodes them."""
    params = yaml.safe_load((REPO / "config" / "tracker.yaml").read_text())
    params = params["/**/tracker_node"]["ros__parameters"]
    supervisor = TrackSupervisor(create_tracker("opencv", algorithm), params["score_threshold"],
                                 params["lost_after_frames"])
    with BagReader(bag) as reader:
        if gt is None:
            gt, _ = gt_from_topic(reader, "/ground_truth")
        tracks, init, stamps = {}, None, set()
        for msg in reader.messages([camera]):
            frame_msg = deserialize_message(msg.data, IMAGE_TYPES[msg.msgtype])
            stamp = stamp_ns(frame_msg.header)
            stamps.add(stamp)
            frame = (compressed_to_bgr8(frame_msg) if msg.msgtype.endswith("CompressedImage")
                     else image_to_bgr8(frame_msg))
            box = gt.get(stamp)
            if init is None and box is not None and box[2] > 0 and box[3] > 0:
                supervisor.start(frame, box)
                init = stamp
            elif init is not None:
                tracks[stamp] = supervisor.step(frame).box
    run = align({s: b for s, b in gt.items() if s in stamps}, tracks, init)
    return run, score_run(run)


def results(out: Path) -> dict:
    return json.loads((out / "results.json").read_text())["summary"]


def assert_matches_offline(out: Path, run, score) -> None:
    summary = results(out)
    assert summary["frames_lost"] == 0 and summary["frames_answered"] == summary["frames_in_bag"]
    assert summary["scored_frames"] == len(run.stamps)
    assert summary["success_auc"] == pytest.approx(score.auc, abs=0.01)
    assert summary["precision_20"] == pytest.approx(score.precision_20, abs=0.02)
    assert summary["norm_precision_20"] == pytest.approx(score.norm_precision_20, abs=0.02)
    replayed = read_boxes(out / "tracks.txt")  # 4 decimals
    same = np.all(np.isclose(replayed, run.pred, atol=1e-3) | (np.isnan(replayed) & np.isnan(run.pred)),
                  axis=1)
    assert same.mean() >= 0.98, f"boxes differ from the offline run on {np.flatnonzero(~same)}"


@pytest.fixture(scope="module")
def fast_replay(flight, env) -> Path:
    out = env / "fast"
    assert run_replay(flight, out) == 0
    return out


def test_fast_replay_loses_no_frame_and_scores_like_the_offline_run(flight, fast_replay):
    run, score = offline(flight, "/image_raw", "csrt")
    assert score.auc > 0.3, "the flight is too hard to tell a matching replay from noise"
    assert_matches_offline(fast_replay, run, score)
    assert results(fast_replay)["tracker_dropped"] == 0


def test_output_bag_holds_the_input_and_the_pipeline_topics(flight, fast_replay):
    with Reader(flight) as r:
        recorded = {c.topic: c.msgcount for c in r.connections}
    with Reader(fast_replay / "bag") as r:  # rosbags' own reader, as ros2 bag / Foxglove
        counts = {c.topic: c.msgcount for c in r.connections}
        frames = {stamp_ns(deserialize_message(bytes(d), Image).header): ts
                  for c, ts, d in r.messages() if c.topic == "/image_raw"}
        tracks = [(deserialize_message(bytes(d), Detection2DArray).header, ts)
                  for c, ts, d in r.messages() if c.topic == "/tracks"]
    assert {t: counts[t] for t in recorded} == recorded
    assert counts["/tracks"] >= recorded["/image_raw"] and counts["/diagnostics"] >= 1
    assert {stamp_ns(h) for h, _ in tracks} == set(frames), \
        "every frame answered, with the frame's own stamp"
    assert {h.frame_id for h, _ in tracks} == {"camera_optical_frame"}
    # On the bag's timeline an output comes after the frame it answers.
    assert all(ts >= frames[stamp_ns(h)] for h, ts in tracks)


def test_report_latency_and_plots_are_written(fast_replay):
    report = (fast_replay / "report.md").read_text()
    assert "# Replay of flight" in report and "mode **fast**" in report
    latency = results(fast_replay)["latency_ms"]
    assert 0 < latency["p50"] <= latency["p95"] <= latency["max"] < 2000
    with (fast_replay / "frames.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == results(fast_replay)["frames_in_bag"]
    assert all(float(r["latency_ms"]) > 0 for r in rows)
    for name in ("ope.png", "timeline.png", "latency.png", "groundtruth.txt"):
        assert (fast_replay / name).stat().st_size > 0, name


def test_cli_choices_match_the_replay_library():
    from mlkd_tracker.data.bag_writer import STORAGES
    from mlkd_tracker.tools import bag_replay
    assert set(replay_cli.MODES) == set(bag_replay.MODES)
    assert replay_cli.SOURCE_NODES == bag_replay.SOURCE_NODES
    assert set(replay_cli.STORAGES) == set(STORAGES)


def test_bad_replay_arguments_fail_before_any_node_starts(flight, env, capsys):
    assert run_replay(flight, env / "bad_rate", "--mode", "rate") == 2
    assert "needs a rate" in capsys.readouterr().err
    assert run_replay(flight, env / "bad_topic", "--camera-topic", "/ground_truth") == 2
    assert "not an image topic" in capsys.readouterr().err
    assert run_replay(env / "no_such_bag", env / "bad_bag") == 2
    assert "no such bag" in capsys.readouterr().err


def compressed_sqlite_copy(flight: Path, out: Path) -> tuple[Path, Path, dict]:
    """The flight as JPEG CompressedImage frames in sqlite3, its ground truth moved to a UAV123
    annotation file (one line per frame, NaN where the bag has no box)."""
    bag, anno = out / "compressed", out / "anno.txt"
    boxes, gt = [], {}
    with BagReader(flight) as reader, BagWriter(bag, "sqlite3") as writer:
        topic_gt, _ = gt_from_topic(reader, "/ground_truth")
        writer.add_topic("/image_raw/compressed", "sensor_msgs/msg/CompressedImage")
        for msg in reader.messages(["/image_raw"]):
            frame = deserialize_message(msg.data, Image)
            jpeg = bgr8_to_compressed(image_to_bgr8(frame), "jpeg", 90, frame.header)
            writer.write("/image_raw/compressed", msg.timestamp, serialize_message(jpeg))
            boxes.append(topic_gt.get(stamp_ns(frame.header), (np.nan,) * 4))
    write_boxes(anno, np.array(boxes))
    with BagReader(bag) as reader:
        for msg, row in zip(reader.messages(), read_boxes(anno)):
            gt[stamp_ns(deserialize_message(msg.data, IMAGE_TYPES[msg.msgtype]).header)] = tuple(row)
    return bag, anno, gt


def test_compressed_sqlite3_bag_with_annotation_file_scores_like_the_offline_run(flight, env):
    bag, anno, gt = compressed_sqlite_copy(flight, env)
    params = env / "tracker_compressed.yaml"
    params.write_text(yaml.safe_dump({"/**/tracker_node": {"ros__parameters": {
        "backend": "opencv", "opencv_algorithm": "kcf", "compressed_input": True}}}))
    out = env / "compressed_replay"
    assert run_replay(bag, out, "--gt-file", str(anno), launch_args=(f"tracker_params:={params}",)) == 0
    run, score = offline(bag, "/image_raw/compressed", "kcf", gt)
    assert_matches_offline(out, run, score)
    assert "file `" in (out / "report.md").read_text()


def test_truncated_bag_is_replayed_as_recorded_up_to_the_damage(flight, env, capsys):
    cut = env / "truncated"
    shutil.copytree(flight, cut)
    mcap = next(cut.glob("*.mcap"))
    data = mcap.read_bytes()
    mcap.write_bytes(data[: int(len(data) * 0.6)])
    out = env / "truncated_replay"
    assert run_replay(cut, out, "--mode", "recorded") == 1
    err = capsys.readouterr().err
    assert str(mcap) in err and "is cut off" in err and "record at byte" in err
    summary = results(out)
    with Reader(flight) as r:
        total = sum(c.msgcount for c in r.connections if c.topic == "/image_raw")
    assert 0 < summary["frames_in_bag"] < total
    assert summary["frames_published"] == summary["frames_in_bag"]
    assert summary["success_auc"] is not None
    assert "The bag is damaged" in (out / "report.md").read_text()
    # Nothing read was lost: the output bag is closed (index + metadata) and holds it all.
    with Reader(out / "bag") as r:
        counts = {c.topic: c.msgcount for c in r.connections}
    assert counts["/image_raw"] == summary["frames_in_bag"] and counts["/tracks"] > 0
    # As recorded: frames went out with their recorded spacing.
    with (out / "frames.csv").open() as f:
        rows = [r for r in csv.DictReader(f) if r["published_ns"]][1:]  # after the handshake
    sent = np.diff([int(r["published_ns"]) for r in rows]) / 1e6
    recorded = np.diff([int(r["bag_time_ns"]) for r in rows]) / 1e6
    assert np.median(np.abs(sent - recorded)) < 10.0
