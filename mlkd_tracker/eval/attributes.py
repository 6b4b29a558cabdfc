"""Attribute-based evaluation: the success of each tracker on the sequences that share a
challenge (low light, tiny target, fast motion, ...), as the UAV123 and OTB toolkits report it.

Why: one success number hides *where* a tracker fails. A night tracker that beats CSRT in the
darkest scenes and loses in the brighter ones needs a different fix from one that loses on tiny
targets, and a user choosing a tracker for a given flight needs the breakdown, not the mean.

Two sources of attributes:

* **from the ground truth**, so they exist for any GOT-10k or UAV123-layout set, with UAV123's
  definitions (Mueller et al., ECCV 2016): scale variation (box area relative to the first
  frame's outside [0.5, 2] in some frame), aspect-ratio change (w/h relative to the first frame's
  outside [0.5, 2]), low resolution (some box smaller than 400 px²), fast motion (the box centre
  moves more than 20 px between consecutive frames) and target absent (out of view or fully
  occluded in some frame; GOT-10k's absence label);
* **from the scene recipe** that ``mlkd-tracker synth`` writes to ``meta.json``: the darkness
  preset (``light: dusk`` ... ``light: very_dark``) and whether the camera operator looked away.

A sequence can carry several attributes; every attribute row is the mean success over its
sequences (the benchmarks' convention), with the number of sequences beside it, because a row of
three sequences is an anecdote, not a measurement.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["ATTRIBUTES", "AttributeRow", "attribute_rows", "attribute_markdown",
           "dataset_attributes", "gt_attributes", "recipe_attributes"]

# name -> meaning, in table order (light levels are appended in the simulator's order).
ATTRIBUTES: dict[str, str] = {
    "scale variation": "box area vs the first frame's outside [0.5, 2]",
    "aspect-ratio change": "w/h vs the first frame's outside [0.5, 2]",
    "low resolution": "some box smaller than 400 px²",
    "fast motion": "box centre moves > 20 px between consecutive frames",
    "target absent": "out of view or fully occluded in some frame",
    "camera looks away": "the operator pans away and back (synthetic recipe)",
    # what the aerial simulator records of each sequence's events (meta.json "attributes")
    "partly occluded": "trees or occluders hide part of the target in some frame (simulator)",
    "fully occluded": "the target is fully hidden in some frame (simulator)",
    "out of view": "the target leaves the image in some frame (simulator)",
    "re-entry": "the target comes back after being hidden or out of view (simulator)",
    "look-alike nearby": "a vehicle like the target passes close to it (simulator)",
    "stops": "the target stops and drives on (simulator)",
    "U-turn": "the target turns back (simulator)",
    "on road": "the target drives along the texture's streets (simulator)",
    "oblique view": "the camera is tilted away from nadir (simulator)",
}
# the simulator's attribute names (data.synth.ATTRIBUTES) -> the rows above; fast motion and
# look-away are left out: the ground-truth and recipe rules above already give them
SIM_ATTRIBUTES = {"partial_occlusion": "partly occluded", "full_occlusion": "fully occluded",
                  "out_of_view": "out of view", "reentry": "re-entry",
                  "distractor": "look-alike nearby", "stop": "stops", "uturn": "U-turn",
                  "on_road": "on road", "oblique": "oblique view"}
CLASS_PREFIX = "class: "
SCALE_RANGE = (0.5, 2.0)
LOW_RESOLUTION_AREA = 400.0  # px²
FAST_MOTION_PX = 20.0
LIGHT_PREFIX = "light: "
LIGHT_MEANING = "the simulator's darkness preset, from dusk (brightest) to very_dark"


def _valid(boxes: np.ndarray) -> np.ndarray:
    return np.isfinite(boxes).all(axis=1) & (boxes[:, 2] > 0) & (boxes[:, 3] > 0)


def _outside(ratio: np.ndarray) -> bool:
    return bool(((ratio < SCALE_RANGE[0]) | (ratio > SCALE_RANGE[1])).any())


def gt_attributes(boxes: np.ndarray, absent: np.ndarray | None = None) -> set[str]:
    """Attributes of one sequence from its ground truth ``(N, 4)`` x, y, w, h (invalid rows are
    NaN or non-positive) and optional absence flags. Frame 0 is the reference, as in UAV123,
    because it is the box the tracker is initialised with."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    ok = _valid(b)
    if absent is not None:
        ok &= ~np.asarray(absent, dtype=bool).reshape(-1)
    found: set[str] = set()
    if (~ok).any():
        found.add("target absent")
    if not ok.any():
        return found
    v = b[ok]
    area, aspect = v[:, 2] * v[:, 3], v[:, 2] / v[:, 3]
    if ok[0]:  # without a first-frame box there is no reference for scale or aspect
        if _outside(area / area[0]):
            found.add("scale variation")
        if _outside(aspect / aspect[0]):
            found.add("aspect-ratio change")
    if (area < LOW_RESOLUTION_AREA).any():
        found.add("low resolution")
    centres = b[:, :2] + b[:, 2:] / 2
    both = ok[1:] & ok[:-1]  # motion only between two frames that both show the target
    steps = np.linalg.norm(np.diff(centres, axis=0), axis=1)[both]
    if (steps > FAST_MOTION_PX).any():
        found.add("fast motion")
    return found


def recipe_attributes(recipe: Mapping) -> set[str]:
    """Attributes recorded by the simulator for one sequence (``meta.json`` → sequences)."""
    found: set[str] = set()
    if not isinstance(recipe, Mapping):
        return found
    if recipe.get("level"):
        found.add(LIGHT_PREFIX + str(recipe["level"]))
    if recipe.get("look_away"):
        found.add("camera looks away")
    if isinstance(recipe.get("attributes"), Mapping):  # the aerial simulator's event record
        from mlkd_tracker.data.synth import sequence_attributes
        try:
            found |= {SIM_ATTRIBUTES[a] for a in sequence_attributes(dict(recipe))
                      if a in SIM_ATTRIBUTES}
        except (KeyError, TypeError):  # a recipe of another version: keep what is readable
            pass
        if recipe.get("target_class"):
            found.add(CLASS_PREFIX + str(recipe["target_class"]))
    return found


def _recipes(root: Path) -> dict[str, Mapping]:
    """Per-sequence recipes of a synthetic split (``<set>/meta.json``, keyed by split name);
    empty for any other data set, and for a ``meta.json`` that is not the simulator's."""
    meta = root.parent / "meta.json"
    if not meta.is_file():
        return {}
    try:
        recipes = json.loads(meta.read_text(encoding="utf-8")).get("sequences", {}).get(root.name, {})
    except (ValueError, OSError, AttributeError):  # not JSON, unreadable, or another schema
        return {}
    return recipes if isinstance(recipes, dict) else {}


def dataset_attributes(sequences: Iterable, root: str | Path | None = None,
                       max_frames: int | None = None) -> dict[str, set[str]]:
    """Attributes of every sequence (objects with ``name``, ``boxes``, ``absent``), computed on
    the frames that were evaluated (the first ``max_frames``, when given)."""
    recipes = _recipes(Path(root).resolve()) if root is not None else {}
    n = max_frames
    return {s.name: gt_attributes(s.boxes[:n], s.absent[:n]) | recipe_attributes(recipes.get(s.name, {}))
            for s in sequences}


@dataclass(frozen=True)
class AttributeRow:
    """Mean success per tracker over the ``n`` sequences that have ``attribute``."""

    attribute: str
    meaning: str
    n: int
    success: dict[str, float]


def _order(names: set[str]) -> list[str]:
    from mlkd_tracker.sim.lowlight import DARKNESS_LEVELS  # numpy-only module

    lights = [LIGHT_PREFIX + lv for lv in DARKNESS_LEVELS]
    known = [a for a in (*lights, *ATTRIBUTES) if a in names]
    return known + sorted(names - set(known))


def attribute_rows(per_sequence: Mapping[str, Mapping[str, float]],
                   attributes: Mapping[str, set[str]]) -> list[AttributeRow]:
    """One row per attribute present (plus ``all``): ``per_sequence`` maps tracker label ->
    sequence -> success. Sequences a tracker has no score for are an error, not a silent gap:
    every number in a row must average the same sequences."""
    for label, scores in per_sequence.items():
        missing = sorted(set(attributes) - set(scores))
        if missing:
            raise ValueError(f"{label}: no score for sequence(s) {', '.join(missing[:5])}")

    def row(name: str, meaning: str, seqs: list[str]) -> AttributeRow:
        return AttributeRow(name, meaning, len(seqs),
                            {label: float(np.mean([s[q] for q in seqs])) for label, s in per_sequence.items()})

    rows = [row("all", "every sequence", list(attributes))]
    for name in _order(set().union(*attributes.values()) if attributes else set()):
        seqs = [q for q, found in attributes.items() if name in found]
        meaning = LIGHT_MEANING if name.startswith(LIGHT_PREFIX) else ATTRIBUTES.get(name, "")
        rows.append(row(name, meaning, seqs))
    return rows


def attribute_markdown(rows: list[AttributeRow], labels: list[str] | None = None) -> str:
    """A table with one line per attribute and one column per tracker (success ×100); the best
    tracker of each line is in bold."""
    if not rows:
        return ""
    labels = labels or list(rows[0].success)
    lines = ["| attribute | sequences | " + " | ".join(labels) + " |",
             "|---|---:|" + "---:|" * len(labels)]
    for r in rows:
        best = max(r.success[lb] for lb in labels)
        cells = [(f"**{100 * r.success[lb]:.1f}**" if r.success[lb] == best else f"{100 * r.success[lb]:.1f}")
                 for lb in labels]
        lines.append(f"| {r.attribute} | {r.n} | " + " | ".join(cells) + " |")
    notes = [f"- *{r.attribute}*: {r.meaning}" for r in rows[1:]
             if r.meaning and not r.attribute.startswith(LIGHT_PREFIX)]
    if any(r.attribute.startswith(LIGHT_PREFIX) for r in rows):
        notes.insert(0, f"- *{LIGHT_PREFIX}…*: {LIGHT_MEANING}")
    return "\n".join(lines + [""] + notes) + "\n"
