"""Distillation losses and the mutual-learning room (torch; never imported by the runtime).

- :mod:`.response_kd` — temperature KD on the head outputs (``cls`` logits, ``box`` distances);
- :mod:`.gating` — teacher-conditional KD weights from ground-truth losses;
- :mod:`.correlation_kd` — correlation-map / feature KD variants (``CORRELATION_KD`` registry);
- :mod:`.room` — the mutual-learning room (election + mimic losses + election log);
- :mod:`.room_plots` — who led when (matplotlib, imported lazily);
- :mod:`.iqa_features` — differentiable BRISQUE- and PIQE-based statistics (SLKD's lenses);
- :mod:`.slkd_losses` — SLKD's stage-statistics KD (DRL, IRL) with 1x1 adapters;
- :mod:`.rdrkd` — the RDR-KD detector terms (regenerated, decoupled, responsive).

Every module here detaches the teacher's (and the superior student's) tensors itself, so a
caller cannot leak gradient into a frozen model by forgetting ``torch.no_grad()``.
"""
from mlkd_tracker.train.distill.correlation_kd import (
    CORRELATION_KD,
    FeatureHint,
    SoftMaskedMSE,
    SoftmaxMSE,
    SpatialConsistency,
    build_correlation_kd,
)
from mlkd_tracker.train.distill.gating import (
    DEFAULT_BOOST,
    gate,
    gate_per_sample,
    per_sample_tracking_losses,
)
from mlkd_tracker.train.distill.response_kd import ResponseKD
from mlkd_tracker.train.distill.room import ELECTION_RULES, Election, MutualLearningRoom, RoomResult

__all__ = [
    "CORRELATION_KD", "DEFAULT_BOOST", "ELECTION_RULES", "Election", "FeatureHint",
    "MutualLearningRoom", "ResponseKD", "RoomResult", "SoftMaskedMSE", "SoftmaxMSE",
    "SpatialConsistency", "build_correlation_kd", "gate", "gate_per_sample",
    "per_sample_tracking_losses",
]
