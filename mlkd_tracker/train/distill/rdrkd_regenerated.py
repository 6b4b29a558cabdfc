"""RDR-KD's regenerated term (paper eq. 1-6); see ``distill/rdrkd.py`` for the conventions."""
from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from mlkd_tracker.train.distill.rdrkd_common import (
    PerLevelKD, box_areas, box_cell_masks, make_adapter)


def attention_maps(t_feat: Tensor, temperature: float = 1.0) -> tuple[Tensor, Tensor]:
    """Teacher attention (eq. 1–2), per sample:
    ``A_s = H·W·softmax_hw(mean_c |F_t| / T)`` (B, 1, H, W) and
    ``A_c = C·softmax_c(mean_hw |F_t| / T)`` (B, C, 1, 1).
    The H·W and C factors make a uniform map 1 everywhere, so thresholds τ = 1 mean "above
    average"."""
    b, c, h, w = t_feat.shape
    a = t_feat.detach().float().abs()
    a_s = F.softmax(a.mean(1).flatten(1) / temperature, dim=1).view(b, 1, h, w) * (h * w)
    a_c = F.softmax(a.mean((2, 3)) / temperature, dim=1).view(b, c, 1, 1) * c
    return a_s, a_c


def key_pixel_masks(t_feat: Tensor, boxes: Tensor, valid: Tensor, img_size,
                    tau_s: float = 1.0, tau_c: float = 1.0, tau_area: float = 500.0,
                    temperature: float = 1.0) -> tuple[Tensor, Tensor]:
    """Masks of eq. 3–4 as float tensors (0 = blanked, to be regenerated; 1 = kept):
    spatial (B, 1, H, W) is 0 where ``A_s > tau_s`` or the cell overlaps a valid box whose area
    (input pixels², after letterbox) is below ``tau_area``; channel (B, C, 1, 1) is 0 where
    ``A_c > tau_c``. ``boxes`` (B, M, 4) / ``valid`` (B, M) as from :func:`pad_boxes`."""
    _, _, h, w = t_feat.shape
    a_s, a_c = attention_maps(t_feat, temperature)
    tiny = valid & (box_areas(boxes, img_size) < tau_area)  # (B, M)
    tiny_cells = (box_cell_masks(boxes, h, w, img_size) & tiny[..., None, None]).any(1)
    m_s = ~((a_s > tau_s) | tiny_cells[:, None])
    m_c = ~(a_c > tau_c)
    return m_s.to(t_feat.dtype), m_c.to(t_feat.dtype)


def procreate_module(channels: int) -> nn.Sequential:
    """Ω_PM (eq. 5): conv3×3 – ReLU – conv3×3 at teacher width, MGD's generation block."""
    return nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(inplace=True),
                         nn.Conv2d(channels, channels, 3, padding=1))


class RegeneratedKD(PerLevelKD):
    """Regenerated distillation (eq. 1–6): regenerate the teacher feature from the adapted
    student feature with its key pixels / key channels blanked.

    Per level: ``F_s' = adapter(F_s)``; masks from the *teacher* feature only (attention at
    temperature ``T``; ``M_s`` also blanks every cell of a GT box smaller than ``tau_area`` px²
    in network-input pixels — tiny objects have low attention and would otherwise never be
    regenerated); ``F_new = Ω_s(F_s' ⊙ M_s) + Ω_c(F_s' ⊙ M_c)``;
    ``L = Σ_{h,w,c} (F_new − F_t)² / B`` (eq. 6 divided by the batch size), **summed over the
    levels** — the paper adds one such term per level (eq. 11, as MGD does), and its weight
    1e-5 is sized for sums, not means.

    Children per level: ``adapters[i]`` (1×1), ``spatial_generators[i]`` and
    ``channel_generators[i]`` (each conv3×3–ReLU–conv3×3 at teacher width: 2·9·C_t² weights,
    ≈ 9.4 M parameters for both generators at a 512-wide level; discarded at export).
    For YOLOv8n → YOLOv8l (teacher widths 256/512/512) that is 21.4 M parameters and, measured
    on this CPU with one thread at 320 px, ≈ 0.8 s per image forward + backward — by far the
    most expensive of the three terms (the other two together ≈ 0.02 s).
    """

    def __init__(self, student_channels: Sequence[int], teacher_channels: Sequence[int],
                 tau_s: float = 1.0, tau_c: float = 1.0, tau_area: float = 500.0,
                 temperature: float = 1.0) -> None:
        super().__init__()
        if len(student_channels) != len(teacher_channels):
            raise ValueError("student and teacher need the same number of levels")
        self.tau_s, self.tau_c, self.tau_area = float(tau_s), float(tau_c), float(tau_area)
        self.temperature = float(temperature)
        self.adapters = nn.ModuleList(make_adapter(s, t)
                                      for s, t in zip(student_channels, teacher_channels))
        self.spatial_generators = nn.ModuleList(procreate_module(t) for t in teacher_channels)
        self.channel_generators = nn.ModuleList(procreate_module(t) for t in teacher_channels)

    def level_loss(self, i: int, s_feat: Tensor, t_feat: Tensor, boxes: Tensor, valid: Tensor,
                   img_size) -> Tensor:
        t_feat = t_feat.detach()
        s = self.adapters[i](s_feat)
        m_s, m_c = key_pixel_masks(t_feat, boxes, valid, img_size, self.tau_s, self.tau_c,
                                   self.tau_area, self.temperature)
        new = self.spatial_generators[i](s * m_s.to(s.dtype)) \
            + self.channel_generators[i](s * m_c.to(s.dtype))
        return (new.float() - t_feat.float()).pow(2).sum() / s_feat.shape[0]
