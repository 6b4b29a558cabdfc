"""The mutual-learning room: each iteration the students elect a superior, and every other
student imitates the superior's (stop-gradient) correlation or response map.

Election rules (pluggable; a rule returns one score per student, *higher is better*):

- ``"peak_ratio"`` (default): per sample, highest peak / second-highest *distinct* peak of the
  2-D foreground probability map ``sigmoid(cls)``, averaged over the batch. A distinct peak is
  a local maximum (3×3 max-pool non-maximum suppression) outside the top peak's 3×3
  neighbourhood — the cell next to the top peak is its shoulder, not a rival. If no rival
  exists, the best cell outside that neighbourhood (the background level) is used. The
  published code compared peaks across the *batch* axis (the best sample's peak against
  another sample's), which measures batch diversity, not per-frame confidence; here nothing is
  ever compared across samples except the final mean. Note that ratios grow without bound as
  a trained model's background goes to 0, so one very clean sample can dominate the mean; a
  callable rule can average ``log(peak_ratio(cls))`` instead if that proves noisy.
- ``"lowest_gt_loss"``: the lowest ground-truth loss (``total``, else ``cls + box``).
- ``"teacher_agreement"``: the lowest MSE between the student's and the teacher's foreground
  probability maps (bounded, needs no temperature, and counts all cells equally).
- any callable ``rule(outputs, gt_losses, teacher_out) -> K scores``.

Ties go to the lowest index, so elections are deterministic. For DDP, pass a
``score_reducer`` (e.g. an all-reduce mean of the (K,) score tensor) so every rank elects the
same superior from the global batch.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

# rule(outputs, gt_losses, teacher_out) -> one score per student, higher is better
ScoreRule = Callable[..., "Sequence[float] | Tensor"]
TARGETS = ("corr", "cls")
_EPS = 1e-6


class Election(NamedTuple):
    """One history entry: the step, the elected index and every student's score."""
    step: int
    superior: int
    scores: tuple[float, ...]


class RoomResult(NamedTuple):
    superior: int
    losses: list[Tensor]
    scores: tuple[float, ...]


def peak_ratio(cls: Tensor, kernel: int = 3) -> Tensor:
    """(B,1,S,S) logits -> (B,) top-peak / second-distinct-peak ratio of ``sigmoid(cls)``."""
    p = torch.sigmoid(cls.detach().float())[:, 0]  # (B, S, S)
    b, h, w = p.shape
    r = kernel // 2
    is_max = p == F.max_pool2d(p[:, None], kernel, stride=1, padding=r)[:, 0]
    top, idx = p.flatten(1).max(1)
    ys = torch.arange(h, device=p.device).view(1, h, 1)
    xs = torch.arange(w, device=p.device).view(1, 1, w)
    near = ((ys - (idx // w).view(b, 1, 1)).abs() <= r) \
        & ((xs - (idx % w).view(b, 1, 1)).abs() <= r)  # the top peak's own window
    neg_inf = torch.full_like(p, -float("inf"))
    rival = torch.where(is_max & ~near, p, neg_inf).flatten(1).max(1).values
    background = torch.where(~near, p, neg_inf).flatten(1).max(1).values
    second = torch.where(torch.isfinite(rival), rival, background)
    second = torch.where(torch.isfinite(second), second, top)  # map no larger than the window
    return top / second.clamp_min(_EPS)


def peak_ratio_scores(outputs: list[dict], gt_losses=None, teacher_out=None) -> Tensor:
    return torch.stack([peak_ratio(o["cls"]).mean() for o in outputs])


def lowest_gt_loss_scores(outputs: list[dict], gt_losses=None, teacher_out=None) -> Tensor:
    if gt_losses is None or len(gt_losses) != len(outputs):
        raise ValueError("rule 'lowest_gt_loss' needs one GT loss dict per student")
    vals = [g["total"] if "total" in g else g["cls"] + g["box"] for g in gt_losses]
    return -torch.stack([torch.as_tensor(v, dtype=torch.float32).detach().cpu() for v in vals])


def teacher_agreement_scores(outputs: list[dict], gt_losses=None, teacher_out=None) -> Tensor:
    if teacher_out is None:
        raise ValueError("rule 'teacher_agreement' needs teacher_out")
    t = torch.sigmoid(teacher_out["cls"].detach().float())
    return -torch.stack([F.mse_loss(torch.sigmoid(o["cls"].detach().float()), t)
                         for o in outputs])


ELECTION_RULES: dict[str, ScoreRule] = {
    "peak_ratio": peak_ratio_scores,
    "lowest_gt_loss": lowest_gt_loss_scores,
    "teacher_agreement": teacher_agreement_scores,
}


def _argmax_first(scores: Sequence[float]) -> int:
    """Index of the highest score; NaN counts as -inf; ties -> lowest index."""
    best, best_i = -float("inf"), 0
    for i, s in enumerate(scores):
        if s == s and s > best:  # s == s is False for NaN
            best, best_i = s, i
    return best_i


class MutualLearningRoom:
    """Elects a superior student per batch and builds everyone else's mimic loss.

    ``target`` — what the others imitate: ``"corr"`` (raw correlation maps, the published
    choice) or ``"cls"`` (foreground *probabilities*: MSE on logits would spend the effort on
    how negative the irrelevant background logits are). ``weight`` scales every mimic loss
    (1/60 as published)."""

    def __init__(self, rule: str | ScoreRule = "peak_ratio", target: str = "corr",
                 weight: float = 1 / 60,
                 score_reducer: Callable[[Tensor], Tensor] | None = None) -> None:
        if isinstance(rule, str) and rule not in ELECTION_RULES:
            raise ValueError(f"unknown rule {rule!r}; known: {sorted(ELECTION_RULES)}")
        if target not in TARGETS:
            raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
        self.rule = ELECTION_RULES[rule] if isinstance(rule, str) else rule
        self.target = target
        self.weight = float(weight)
        self.score_reducer = score_reducer
        self.history: list[Election] = []
        self.last_scores: tuple[float, ...] = ()
        self._next_step = 0

    @torch.no_grad()
    def scores(self, outputs: list[dict], gt_losses: list[dict] | None = None,
               teacher_out: dict | None = None) -> tuple[float, ...]:
        """One score per student under the rule (higher is better), reduced across ranks."""
        raw = torch.as_tensor(self.rule(outputs, gt_losses, teacher_out), dtype=torch.float32)
        if raw.shape != (len(outputs),):
            raise ValueError(f"rule returned shape {tuple(raw.shape)}, want ({len(outputs)},)")
        if self.score_reducer is not None:
            raw = self.score_reducer(raw)
        return tuple(float(v) for v in raw.cpu())

    def elect(self, outputs: list[dict], gt_losses: list[dict] | None = None,
              teacher_out: dict | None = None) -> int:
        """Index of this batch's superior student."""
        self.last_scores = self.scores(outputs, gt_losses, teacher_out)
        return _argmax_first(self.last_scores)

    def _map(self, out: dict) -> Tensor:
        return torch.sigmoid(out["cls"]) if self.target == "cls" else out["corr"]

    def mimic_losses(self, outputs: list[dict], superior: int) -> list[Tensor]:
        """``weight · MSE(map_k, stop_grad(map_superior))`` for every k; the superior gets a
        constant zero (it learns nothing from the others this step)."""
        ref = self._map(outputs[superior]).detach()
        losses = []
        for k, out in enumerate(outputs):
            if k == superior:
                losses.append(ref.new_zeros(()))
                continue
            m = self._map(out)
            if m.shape != ref.shape:
                raise ValueError(f"student {k} {self.target} map {tuple(m.shape)} != superior's "
                                 f"{tuple(ref.shape)}")
            losses.append(self.weight * F.mse_loss(m, ref))
        return losses

    def step(self, outputs: list[dict], step: int | None = None,
             gt_losses: list[dict] | None = None, teacher_out: dict | None = None) -> RoomResult:
        """Elect, build the mimic losses and log ``Election(step, superior, scores)``.
        ``step`` defaults to one past the last logged step."""
        superior = self.elect(outputs, gt_losses, teacher_out)
        losses = self.mimic_losses(outputs, superior)
        n = self._next_step if step is None else int(step)
        self.history.append(Election(n, superior, self.last_scores))
        self._next_step = n + 1
        return RoomResult(superior, losses, self.last_scores)

    def state_dict(self) -> dict:
        """Election log for checkpoints, so a resumed run keeps its full who-led-when plot."""
        return {"history": [tuple(e) for e in self.history], "next_step": self._next_step}

    def load_state_dict(self, state: dict) -> None:
        self.history = [Election(int(s), int(i), tuple(sc)) for s, i, sc in state["history"]]
        self._next_step = int(state["next_step"])
