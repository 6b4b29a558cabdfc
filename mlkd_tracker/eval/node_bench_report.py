"""Tables, target verdicts and the soak plot for ``mlkd-tracker bench nodes``.

Kept apart from the measuring (``tools/node_bench.py``) so a stored ``benchmarks.json`` can be
re-rendered, and the wording tested, without ROS. The targets are the real-time requirements of
a tracker on a companion computer: with the shipped student at 30 Hz 640×480 the tracker node
drops no frame, keeps frame age p99 under 33 ms (one frame period) and RSS under 300 MB, and its
RSS grows less than 5 % over a soak.

The section also says how many frames had a box: latency measured while the tracker had lost its
target is still the cost of running it (a LOST tracker keeps running), but the follower then has
nothing to follow, and a reader must not take it for a run that held the target.
"""
from __future__ import annotations

import textwrap
from pathlib import Path

from mlkd_tracker.eval.bench_report import fmt, format_machine

__all__ = ["TARGETS", "evaluate_targets", "format_nodes_markdown", "plot_soak"]

# (label, node, how to read the measured value, comparison, limit, unit)
TARGETS = (
    ("dropped frames", "tracker_node", ("dropped_frames",), "==", 0, ""),
    ("frame age p99 (stamp → publish)", "tracker_node", ("frame_age_ms", "p99"), "<", 33.0, " ms"),
    ("peak RSS", "tracker_node", ("peak_rss_mb",), "<", 300.0, " MB"),
)
SOAK_TARGET = ("soak: RSS growth, first vs last window", "tracker_node", "<", 5.0, " %")


def _dig(node: dict, path: tuple[str, ...]):
    value = node
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _met(value, op: str, limit: float) -> bool | None:
    if value is None:
        return None
    return value == limit if op == "==" else value < limit


def evaluate_targets(result: dict) -> list[dict]:
    """One row per target: what was measured and whether it meets the target (None = not
    measured, e.g. no frame processed)."""
    rows = []
    for label, node, path, op, limit, unit in TARGETS:
        value = _dig(result["nodes"].get(node, {}), path)
        rows.append({"target": f"{node} {label} {op} {limit:g}{unit}", "measured": value,
                     "unit": unit.strip(), "met": _met(value, op, limit)})
    if result.get("soak"):
        label, node, op, limit, unit = SOAK_TARGET
        value = result["soak"]["rss"].get(node, {}).get("growth_percent")
        rows.append({"target": f"{node} {label} {op} {limit:g}{unit}", "measured": value,
                     "unit": unit.strip(), "met": _met(value, op, limit)})
    return rows


def _age(d: dict | None) -> str:
    if not d or d.get("p50") is None:
        return "–"
    return f"{d['p50']:.1f} / {d['p95']:.1f} / {d['p99']:.1f}"


TARGETS_SENTENCE = ("Targets for real time on a companion computer: the tracker keeps up with "
                    "the camera (no frame dropped), answers within one frame period (frame age "
                    "p99 under 33 ms at 30 Hz) and stays under 300 MB; in a soak its memory does "
                    "not grow (RSS growth under 5 %).")


def _box_note(tracker: dict) -> str | None:
    """A warning when the tracker published a box on fewer frames than it processed, or None.

    The tracker's cost is measured on every processed frame either way; what changes is that the
    follower (and anyone reading `tracks`) got nothing on the frames without a box."""
    boxes, processed = tracker.get("frames_with_box"), tracker.get("processed_frames")
    if boxes is None or not processed or boxes >= processed:
        return None
    share = 100.0 * boxes / processed
    return (f"**The tracker had a box on {boxes} of {processed} processed frames "
            f"({share:.0f} %)**: on the others it was LOST or IDLE. A LOST tracker keeps running "
            "its network, so the tracking time and frame age above are still its cost, but the "
            "follower had nothing to follow on those frames: this is not a measurement of the "
            "loop while it holds its target.")


def _verdict(met: bool | None) -> str:
    return {True: "yes", False: "**no**", None: "not measured"}[met]


def format_nodes_markdown(result: dict) -> str:
    """The ``nodes`` section of BENCHMARKS.md."""
    cfg, window = result["config"], result["window"]
    lines = [f"## Nodes: the closed loop at {cfg['rate_hz']:g} Hz, {cfg['width']}×{cfg['height']} "
             f"({window['seconds']:.0f} s measured{', soak' if result.get('soak') else ''})", ""]
    if result.get("note"):
        lines += [f"> **{result['note']}**", ""]
    lines += [
        f"Command: `{result.get('command', '')}`", "",
        f"Machine: {format_machine(result['machine'])}", "",
        f"sim_node (camera) → tracker_node (params `{cfg['tracker_params']}`) → follow_node → "
        "sim_node's gimbal, each in its own process over DDS (the Fast DDS profile of "
        f"`config/fastdds.xml`). Measured for {window['seconds']:.1f} s after {cfg['warmup_s']:g} s "
        "of tracking as warm-up. Frame age: the frame's header stamp (capture) to the moment the "
        "node published its output for that frame (DDS source timestamp), every frame. Dropped: "
        "the tracker's own count of frames it skipped to stay on the newest. CPU %: share of one "
        "core over the window. Peak RSS: the process's high-water mark since it started.", "",
        "| node | role | input (Hz) | processed (Hz) | dropped | frame age p50 / p95 / p99 (ms) "
        "| CPU % | RSS mean / peak (MB) |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, n in result["nodes"].items():
        lines.append(f"| {name} | {n['role']} | {fmt(n.get('input_hz'))} | "
                     f"{fmt(n.get('processed_hz'))} | {fmt(n.get('dropped_frames'))} | "
                     f"{_age(n.get('frame_age_ms'))} | {fmt(n.get('cpu_percent'))} | "
                     f"{fmt(n.get('rss_mean_mb'), 0)} / {fmt(n.get('peak_rss_mb'), 0)} |")
    t = result["nodes"].get("tracker_node", {})
    if t:
        lines += ["", f"Tracker: {t.get('processed_frames')} of {t.get('input_frames')} frames "
                      f"answered ({t.get('unanswered_frames')} without an output), "
                      f"{t.get('frames_with_box')} with a box; tracking p50 "
                      f"{fmt(t.get('inference_p50_ms'))} ms; `tracks` delivered to a subscriber "
                      f"p50 / p95 / p99 {_age(t.get('delivered_age_ms'))} ms; state at the end "
                      f"{t.get('state')} (episode {t.get('episode')})."]
        box_note = _box_note(t)
        if box_note:
            lines += ["", box_note]
    lines += ["", TARGETS_SENTENCE, "", "| target | measured | met |", "|---|---:|---|"]
    for row in evaluate_targets(result):
        value = row["measured"]
        shown = fmt(value) + (f" {row['unit']}" if value is not None and row["unit"] else "")
        lines.append(f"| {row['target']} | {shown} | {_verdict(row['met'])} |")
    soak = result.get("soak")
    if soak:
        age = soak["frame_age_p50_ms"]
        lines += ["", f"Soak, first vs last {soak['window_s']:.0f} s of the window "
                      "(plot: `soak.png` next to the JSON):", "",
                  "| node | RSS first (MB) | RSS last (MB) | growth % |", "|---|---:|---:|---:|"]
        for name, r in soak["rss"].items():
            lines.append(f"| {name} | {fmt(r['first_mb'])} | {fmt(r['last_mb'])} | "
                         f"{fmt(r['growth_percent'], 2)} |")
        lines += ["", f"Tracker frame age p50: first {fmt(age['first'])} ms, last "
                      f"{fmt(age['last'])} ms, drift {fmt(age['drift_ms'], 2)} ms."]
    return "\n".join(lines) + "\n"


def plot_soak(result: dict, path: Path) -> Path | None:
    """RSS of every node and the tracker's frame age over the soak; None without soak data."""
    soak = result.get("soak")
    if not soak:
        return None
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    for name, r in soak["rss"].items():
        if r["timeline"]:
            t, v = zip(*r["timeline"])
            top.plot(t, v, label=name)
    top.set_ylabel("RSS (MB)")
    top.legend(loc="best")
    rows = [r for r in soak["frame_age_timeline"] if r[1] is not None]
    if rows:
        t, p50, p99 = zip(*rows)
        bottom.plot(t, p50, marker=".", label="p50")
        bottom.plot(t, p99, marker=".", label="p99")
        bottom.legend(loc="best")
    bottom.set_ylabel("tracker frame age (ms)")
    bottom.set_xlabel("time in the measured window (s)")
    title = result.get("command", "mlkd-tracker bench nodes --soak")
    fig.suptitle(textwrap.fill(title, 120), fontsize=7)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
