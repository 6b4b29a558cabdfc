"""Cost accounting: MAC counter correctness and the preset budget (students < 1 GMAC/frame,
teacher >= 8x every student)."""
from __future__ import annotations

import pytest
import torch

from mlkd_tracker.train.nets import PRESETS, STUDENT_PRESETS, count_macs, count_params
from mlkd_tracker.train.nets.summary import format_summary_table, summarize_presets


@pytest.fixture(scope="module")
def rows():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield {r["name"]: r for r in summarize_presets()}
    torch.set_num_threads(before)


def test_mac_counter_matches_hand_formula():
    conv = torch.nn.Conv2d(3, 16, 3, stride=2, padding=1)
    assert count_macs(conv, torch.zeros(2, 3, 32, 32)) == 2 * 16 * 16 * 16 * 3 * 3 * 3
    depthwise = torch.nn.Conv2d(8, 8, 5, groups=8)
    assert count_macs(depthwise, torch.zeros(1, 8, 12, 12)) == 8 * 8 * 8 * 5 * 5
    assert count_params(conv) == 16 * 3 * 9 + 16


def test_all_presets_have_positive_costs(rows):
    assert set(rows) == set(PRESETS)
    for r in rows.values():
        for key in ("params", "params_template", "params_search", "template_macs",
                    "search_macs"):
            assert r[key] > 0, (r["name"], key)
        assert r["params_template"] < r["params_search"] <= r["params"]
        assert r["template_macs"] < r["search_macs"]


def test_student_budget_and_teacher_strength(rows):
    assert len(STUDENT_PRESETS) >= 3
    families = {PRESETS[n].backbone for n in STUDENT_PRESETS}
    assert {"mobilenet", "shufflenet", "alexnet_slim"} <= families
    teacher = rows["teacher"]["search_macs"]
    for name in STUDENT_PRESETS:
        assert rows[name]["search_macs"] < 1e9, name
        assert teacher >= 8 * rows[name]["search_macs"], name
    assert teacher <= 3.5e9  # still trainable on a CPU


def test_table_lists_every_row(rows):
    table = format_summary_table(list(rows.values()))
    lines = table.splitlines()
    assert len(lines) == 2 + len(rows)
    assert all(line.startswith("|") and line.endswith("|") for line in lines)
    assert "student_mobile" in table and "teacher" in table
