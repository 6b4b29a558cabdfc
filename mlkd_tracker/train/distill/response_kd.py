"""Response (output-level) knowledge distillation on the tracker head: ``cls`` and ``box``.

Two forms, selected by ``form``:

``"spatial"`` (the published method's form)
    Each channel of a map is turned into a distribution over the S×S positions by a softmax of
    ``value / T``; the loss is KL(teacher ‖ student) · T², summed over positions, averaged over
    channels and samples. It transfers *where* the teacher responds, relative to the rest of the
    map, which is what the tracker's arg-max decoding uses. For ``box`` the "logits" are the log
    distances ``log(l, t, r, b)``: the head predicts ``stride · exp(raw)``, so the log is the raw
    output (up to a constant, which the softmax ignores) and the loss does not depend on pixel
    units.

``"per_location"``
    ``cls``: per-cell Bernoulli KL between ``sigmoid(t / T)`` and ``sigmoid(s / T)`` · T²,
    averaged over cells — the head is trained with per-cell sigmoid focal loss, so this matches
    its own probabilistic reading and also transfers absolute confidence (which the spatial
    softmax discards, being shift-invariant).
    ``box``: chosen default ``box_loss="l1"`` — L1 between log distances, averaged over the four
    sides, weighted per cell by the teacher's foreground probability ``sigmoid(t_cls)``. Log-L1
    is a relative error (4 px matter on a 16 px box, not on a 200 px one) and keeps the box
    *scale*; the weighting stops the student from copying the teacher's unsupervised box
    outputs on background cells. The alternative ``box_loss="kl"`` (KL over a softmax of the
    four log distances / T per cell) transfers only the box's shape — softmax of log distances
    is ``d / Σd`` at T = 1, blind to the overall size — so it is offered but not the default.
    The weighted sum is divided by ``max(Σ w, 1)`` per sample: an average over foreground cells
    when the teacher sees the target, and close to nothing when it sees none (negative pairs).

Teacher tensors are detached here. Loss dict values are already multiplied by ``cls_weight`` /
``box_weight``; the gate's weights (:mod:`.gating`) are applied on top by the trainer, either
as scalars or as per-sample weights through ``sample_weights``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

FORMS = ("spatial", "per_location")
BOX_LOSSES = ("l1", "kl")
_EPS = 1e-6


def spatial_kl(s: Tensor, t: Tensor, temperature: float) -> Tensor:
    """(B,C,H,W) logits -> (B,) KL(teacher ‖ student) of per-channel spatial softmaxes · T²."""
    s_log = F.log_softmax(s.flatten(2) / temperature, dim=-1)
    t_log = F.log_softmax(t.flatten(2) / temperature, dim=-1)
    kl = (t_log.exp() * (t_log - s_log)).sum(-1)  # (B, C)
    return kl.mean(1) * temperature**2


def bernoulli_kl(s: Tensor, t: Tensor, temperature: float) -> Tensor:
    """Per-cell KL(Bern(σ(t/T)) ‖ Bern(σ(s/T))) · T², same shape as the inputs.

    Written with log-sigmoids of the logits, so it stays finite for saturated cells."""
    s, t = s / temperature, t / temperature
    p_t = torch.sigmoid(t)
    kl = p_t * (F.logsigmoid(t) - F.logsigmoid(s)) + (1 - p_t) * (F.logsigmoid(-t)
                                                                  - F.logsigmoid(-s))
    return kl * temperature**2


def log_box(box: Tensor) -> Tensor:
    """Log of positive l,t,r,b distances (the head's raw output up to a constant)."""
    return box.clamp_min(_EPS).log()


class ResponseKD(nn.Module):
    """Temperature KD on ``cls`` and ``box`` (see module docstring for the two forms).

    ``forward(student_out, teacher_out)`` -> ``{"kd_cls": scalar, "kd_box": scalar}``.
    """

    def __init__(self, temperature: float = 4.0, form: str = "spatial", cls_weight: float = 1.0,
                 box_weight: float = 1.0, box_loss: str = "l1") -> None:
        """``temperature`` defaults to 4, not the paper's 10: with S² ≈ 170-290 cells and a
        trained teacher's logit range of ~15, T = 10 leaves the peak only ~4× the background
        (e^1.5), so a few percent of the mass marks the target; T = 4 keeps it ~40× while
        still exposing the ranking of the secondary responses. Set 10 to reproduce the paper."""
        super().__init__()
        if form not in FORMS:
            raise ValueError(f"form must be one of {FORMS}, got {form!r}")
        if box_loss not in BOX_LOSSES:
            raise ValueError(f"box_loss must be one of {BOX_LOSSES}, got {box_loss!r}")
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.temperature = float(temperature)
        self.form = form
        self.cls_weight = float(cls_weight)
        self.box_weight = float(box_weight)
        self.box_loss = box_loss

    def per_sample(self, student_out: dict, teacher_out: dict) -> dict[str, Tensor]:
        """Unweighted (B,) losses ``{"kd_cls", "kd_box"}``; teacher tensors are detached."""
        T = self.temperature
        s_cls, t_cls = student_out["cls"], teacher_out["cls"].detach()
        s_box, t_box = log_box(student_out["box"]), log_box(teacher_out["box"].detach())
        if s_cls.shape != t_cls.shape or s_box.shape != t_box.shape:
            raise ValueError(f"student/teacher map shapes differ: cls {tuple(s_cls.shape)} vs "
                             f"{tuple(t_cls.shape)}, box {tuple(s_box.shape)} vs "
                             f"{tuple(t_box.shape)}")
        if self.form == "spatial":
            return {"kd_cls": spatial_kl(s_cls, t_cls, T), "kd_box": spatial_kl(s_box, t_box, T)}

        kd_cls = bernoulli_kl(s_cls, t_cls, T).flatten(1).mean(1)
        if self.box_loss == "l1":
            cell = (s_box - t_box).abs().mean(1)  # (B, H, W)
        else:
            t_log = F.log_softmax(t_box / T, dim=1)
            cell = (t_log.exp() * (t_log - F.log_softmax(s_box / T, dim=1))).sum(1) * T**2
        w = torch.sigmoid(t_cls[:, 0])  # teacher foreground probability, (B, H, W)
        kd_box = (w * cell).flatten(1).sum(1) / w.flatten(1).sum(1).clamp_min(1.0)
        return {"kd_cls": kd_cls, "kd_box": kd_box}

    def forward(self, student_out: dict, teacher_out: dict,
                sample_weights: tuple[Tensor, Tensor] | None = None) -> dict[str, Tensor]:
        """Batch-mean KD losses, times ``cls_weight`` / ``box_weight``.

        ``sample_weights`` — optional (B,) weights for (kd_cls, kd_box), e.g. from
        :func:`~mlkd_tracker.train.distill.gating.gate_per_sample`; they are detached."""
        ps = self.per_sample(student_out, teacher_out)
        if sample_weights is not None:
            w_cls, w_box = (w.detach().to(ps["kd_cls"]) for w in sample_weights)
            ps = {"kd_cls": ps["kd_cls"] * w_cls, "kd_box": ps["kd_box"] * w_box}
        return {"kd_cls": self.cls_weight * ps["kd_cls"].mean(),
                "kd_box": self.box_weight * ps["kd_box"].mean()}
