"""RDR-KD inside Ultralytics: a ``DistillationModel`` whose loss adds the three RDR-KD terms.

Ultralytics 8.4 already runs a frozen teacher next to the student and captures both necks'
P3-P5 outputs and head outputs with forward hooks (``DistillationModel``); the trainer skips its
own wrapping when the model already is one. This subclass replaces the built-in feature loss
by ``distill.rdrkd.RDRKDLoss``: the label assigner's foreground mask and the decoded boxes come
from the student's own criterion (``get_assigned_targets_and_loss``), so the responsive term
sees exactly the points the detection loss treats as foreground.

Importing this module imports Ultralytics, so it applies the offline guards first.
"""
from __future__ import annotations

import torch

from mlkd_tracker.train.distill.rdrkd import RDRKDConfig, RDRKDLoss, gt_from_ultralytics_batch
from mlkd_tracker.train.ultralytics_env import ensure_offline

ensure_offline()  # before the first Ultralytics import; a no-op when already applied
from ultralytics.models.yolo.detect import DetectionTrainer  # noqa: E402
from ultralytics.nn.distill_model import DistillationModel  # noqa: E402

TERMS = ("regenerated", "decoupled", "responsive_cls", "responsive_loc")


class RDRKDModel(DistillationModel):
    """Student + frozen teacher + RDR-KD terms (adapters and generators train with the student)."""

    def __init__(self, teacher_model, student_model, config: RDRKDConfig) -> None:
        super().__init__(teacher_model=teacher_model, student_model=student_model)
        n = len(self.feats_idx) - 1  # neck levels; the last hooked layer is the Detect head
        s_ch = [self.decouple_outputs(self._student_feats[i]).shape[1] for i in range(n)]
        t_ch = [self.decouple_outputs(self._teacher_feats[i]).shape[1] for i in range(n)]
        device = next(student_model.parameters()).device
        self.rdrkd = RDRKDLoss(s_ch, t_ch, config).to(device)
        # Logged unweighted: at the paper's 1e-5 weights Ultralytics' 5-decimal logs would show 0.
        self.term_weights = {t: w for t in TERMS if (w := self._weight(config, t)) > 0}
        self.term_names = list(self.term_weights)

    @staticmethod
    def _weight(cfg: RDRKDConfig, term: str) -> float:
        return float(getattr(cfg, f"{term.split('_')[0]}_weight"))

    def loss(self, batch, preds=None):
        """(detection loss ⊕ RDR-KD loss, items); in validation only the student's loss."""
        img = batch["img"]
        if not self.training:
            if preds is None:
                preds = self.student_model(img)
            loss, items = self.student_model.loss(batch, preds)
            zero = torch.zeros(1, device=img.device)
            return torch.cat([loss, zero]), {**items, **{t: zero[0] for t in self.term_names}}
        self._teacher_feats.clear()
        self._student_feats.clear()
        with torch.no_grad():
            self.teacher_model(img)
        preds = self.student_model(img)
        if getattr(self.student_model, "criterion", None) is None:
            self.student_model.criterion = self.student_model.init_criterion()
        crit = self.student_model.criterion
        s_out = crit.parse_output(preds)
        assigned, det_loss, items = crit.get_assigned_targets_and_loss(s_out, batch)
        fg_mask, _, _, anchors, strides = assigned
        n = len(self.feats_idx) - 1
        t_out = self.decouple_outputs(self._teacher_feats[n], branch="one2many")
        b, size = img.shape[0], tuple(img.shape[-2:])

        def decoded(out):
            boxes = crit.bbox_decode(anchors, out["boxes"].permute(0, 2, 1).contiguous())
            return boxes * strides, out["scores"].permute(0, 2, 1)

        s_boxes, s_scores = decoded(s_out)
        with torch.no_grad():
            t_boxes, t_scores = decoded(t_out)
        gt, _ = gt_from_ultralytics_batch(batch["batch_idx"], batch["bboxes"], batch["cls"], b, size)
        total, terms = self.rdrkd(
            [self.decouple_outputs(self._student_feats[i]) for i in range(n)],
            [self.decouple_outputs(self._teacher_feats[i]) for i in range(n)],
            gt, size, s_scores, t_scores, s_boxes, t_boxes, fg_mask)
        items = {**items, **{t: terms[t].detach() / w for t, w in self.term_weights.items()}}
        # Ultralytics' detection loss is per image times the batch size; so is this.
        return torch.cat([det_loss * b, (total * b).reshape(1)]), items


def rdrkd_trainer(teacher: str, config: RDRKDConfig) -> type[DetectionTrainer]:
    """A DetectionTrainer class that wraps its student into :class:`RDRKDModel`."""

    class RDRKDTrainer(DetectionTrainer):
        def setup_model(self):
            ckpt = super().setup_model()
            if not isinstance(self.model, RDRKDModel):
                self.model.args = self.args  # DistillationModel reads imgsz and dis from it
                self.model = RDRKDModel(teacher, self.model, config)
            return ckpt

    return RDRKDTrainer
