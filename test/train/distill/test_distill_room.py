"""The mutual-learning room: elections follow each rule on constructed response maps (peak
ratio per sample and NMS-distinct peaks, not across the batch axis), ties are deterministic,
the superior gets no mimic gradient while the others do, and elections are logged and plotted."""
from __future__ import annotations

import pytest
import torch

from mlkd_tracker.train.distill.room import (
    ELECTION_RULES,
    Election,
    MutualLearningRoom,
    peak_ratio,
)
from mlkd_tracker.train.distill.room_plots import plot_elections

S, C = 9, 4
BG = 0.01  # background foreground-probability


def response(*samples: dict[tuple[int, int], float]) -> torch.Tensor:
    """(B,1,S,S) logits whose sigmoid is BG except at the given {(row, col): prob} cells."""
    p = torch.full((len(samples), 1, S, S), BG)
    for b, peaks in enumerate(samples):
        for (r, c), v in peaks.items():
            p[b, 0, r, c] = v
    return torch.logit(p)


def student(cls: torch.Tensor, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {"cls": cls.clone().requires_grad_(True),
            "corr": torch.randn(cls.shape[0], C, S, S, generator=g).requires_grad_(True)}


SHARP = {(4, 4): 0.9}
TWO_EQUAL = {(2, 2): 0.9, (6, 6): 0.9}


def test_sharp_single_peak_beats_two_equal_peaks():
    outs = [student(response(TWO_EQUAL, TWO_EQUAL)), student(response(SHARP, SHARP))]
    room = MutualLearningRoom()
    assert room.elect(outs) == 1
    assert room.last_scores[0] == pytest.approx(1.0)
    assert room.last_scores[1] == pytest.approx(0.9 / BG, rel=1e-4)


def test_second_peak_is_a_distinct_local_maximum_not_the_shoulder():
    broad = {(4, 4): 0.9, (4, 5): 0.85, (1, 1): 0.1}  # one peak with a high shoulder
    rivals = {(2, 2): 0.9, (6, 6): 0.45}
    assert peak_ratio(response(broad)).item() == pytest.approx(9.0, rel=1e-4)
    assert peak_ratio(response(rivals)).item() == pytest.approx(2.0, rel=1e-4)
    # a wide peak: the cell two away is outside the 3x3 window but still on the slope
    # (its neighbour is higher), so it is not a local maximum and not a rival either
    wide = {(4, 4): 0.9, (4, 5): 0.85, (4, 6): 0.8, (1, 1): 0.1}
    assert peak_ratio(response(wide)).item() == pytest.approx(9.0, rel=1e-4)
    outs = [student(response(rivals)), student(response(broad))]
    assert MutualLearningRoom().elect(outs) == 1

    def naive(cls):  # second-largest cell anywhere: the shoulder counts as a rival
        top2 = torch.sigmoid(cls).flatten(1).topk(2).values
        return (top2[:, 0] / top2[:, 1]).mean().item()
    assert naive(outs[0]["cls"]) > naive(outs[1]["cls"])  # ...and would elect student 0


def test_ratio_is_per_sample_then_averaged_not_across_the_batch_axis():
    # student 0: both samples confident (ratio 3 each); student 1: ratio 1.5 in each sample
    # but its samples' peaks differ a lot, which a batch-axis comparison mistakes for confidence
    a = response({(2, 2): 0.9, (6, 6): 0.3}, {(3, 3): 0.9, (6, 1): 0.3})
    b = response({(2, 2): 0.9, (6, 6): 0.6}, {(3, 3): 0.3, (6, 1): 0.2})
    assert peak_ratio(a).tolist() == pytest.approx([3.0, 3.0], rel=1e-4)
    assert peak_ratio(b).tolist() == pytest.approx([1.5, 1.5], rel=1e-4)
    room = MutualLearningRoom(rule="peak_ratio")
    assert room.elect([student(b), student(a)]) == 1

    def batch_axis(cls):  # the published flaw: rank the per-sample maxima across the batch
        top2 = torch.sigmoid(cls).flatten(1).amax(1).topk(2).values
        return (top2[0] / top2[1]).item()
    assert batch_axis(b) > batch_axis(a)  # the flawed rule would have elected student 0


def test_ties_go_to_the_lowest_index():
    cls = response(SHARP, TWO_EQUAL)
    assert MutualLearningRoom().elect([student(cls), student(cls), student(cls)]) == 0
    better = response(SHARP, SHARP)
    assert MutualLearningRoom().elect([student(cls), student(better), student(better)]) == 1


def test_lowest_gt_loss_rule():
    outs = [student(response(SHARP)) for _ in range(3)]
    room = MutualLearningRoom(rule="lowest_gt_loss")
    gt = [{"total": torch.tensor(0.9)}, {"total": torch.tensor(0.2)}, {"total": torch.tensor(0.5)}]
    assert room.elect(outs, gt_losses=gt) == 1
    no_total = [{"cls": 0.3, "box": 0.3}, {"cls": 0.5, "box": 0.2}, {"cls": 0.1, "box": 0.4}]
    assert room.elect(outs, gt_losses=no_total) == 2
    with pytest.raises(ValueError):
        room.elect(outs)


def test_teacher_agreement_rule():
    teacher = {"cls": response(SHARP, TWO_EQUAL)}
    outs = [student(response(TWO_EQUAL, SHARP)), student(teacher["cls"]),
            student(response(SHARP, SHARP))]
    room = MutualLearningRoom(rule="teacher_agreement")
    assert room.elect(outs, teacher_out=teacher) == 1
    assert room.last_scores[1] == pytest.approx(0.0, abs=1e-7)
    with pytest.raises(ValueError):
        room.elect(outs)


def test_custom_rule_and_score_reducer():
    outs = [student(response(SHARP)) for _ in range(3)]
    assert MutualLearningRoom(rule=lambda o, g, t: [0.1, 0.2, 0.7]).elect(outs) == 2
    # e.g. a DDP all-reduce: the room elects from the reduced scores
    flipped = MutualLearningRoom(rule=lambda o, g, t: [0.1, 0.2, 0.7],
                                 score_reducer=lambda s: -s)
    assert flipped.elect(outs) == 0
    with pytest.raises(ValueError):
        MutualLearningRoom(rule=lambda o, g, t: [1.0]).elect(outs)
    with pytest.raises(ValueError):
        MutualLearningRoom(rule="loudest")
    with pytest.raises(ValueError):
        MutualLearningRoom(target="xf")
    assert set(ELECTION_RULES) == {"peak_ratio", "lowest_gt_loss", "teacher_agreement"}


@pytest.mark.parametrize("target", ["corr", "cls"])
def test_superior_gets_no_mimic_gradient_others_do(target):
    maps = [response(TWO_EQUAL), response(SHARP), response({(1, 7): 0.6})]
    outs = [student(m, seed=i) for i, m in enumerate(maps)]
    room = MutualLearningRoom(target=target, weight=0.5)
    losses = room.mimic_losses(outs, superior=1)
    assert len(losses) == 3 and all(l.shape == () and torch.isfinite(l) for l in losses)
    assert losses[1].item() == 0.0 and not losses[1].requires_grad
    sum(losses).backward()
    assert outs[1][target].grad is None  # the mimic target is detached
    for k in (0, 2):
        assert outs[k][target].grad is not None and outs[k][target].grad.abs().sum() > 0
        assert outs[k]["cls" if target == "corr" else "corr"].grad is None


def test_mimic_loss_value_is_weighted_mse_to_superior():
    outs = [student(response(SHARP), seed=i) for i in range(2)]
    losses = MutualLearningRoom(target="corr", weight=1 / 60).mimic_losses(outs, superior=0)
    ref = torch.mean((outs[1]["corr"] - outs[0]["corr"]) ** 2) / 60
    assert losses[1].item() == pytest.approx(ref.item(), rel=1e-6)
    assert losses[0].item() == 0.0


def test_step_logs_history_and_resumes(tmp_path):
    outs = [student(response(TWO_EQUAL, TWO_EQUAL), 0), student(response(SHARP, SHARP), 1)]
    room = MutualLearningRoom()
    res = room.step(outs)
    assert res.superior == 1 and len(res.losses) == 2 and res.losses[1].item() == 0.0
    room.step(outs[::-1])
    room.step(outs, step=10)
    room.step(outs)
    assert [(e.step, e.superior) for e in room.history] == [(0, 1), (1, 0), (10, 1), (11, 1)]
    step, superior, scores = room.history[0]  # plain (step, index, scores) tuples
    assert isinstance(room.history[0], Election) and len(scores) == 2

    resumed = MutualLearningRoom()
    resumed.load_state_dict(room.state_dict())
    resumed.step(outs)
    assert resumed.history[:4] == room.history and resumed.history[-1].step == 12


def test_plot_elections_writes_png(tmp_path):
    history = [Election(s, (s // 7) % 3 if s < 40 else 2, (1 + s % 3, 2.0, 1.5 + s / 50))
               for s in range(60)]
    path = plot_elections(history, tmp_path / "plots" / "room.png",
                          names=["mobile", "shuffle", "alex"])
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    with pytest.raises(ValueError):
        plot_elections([], tmp_path / "empty.png")
