"""SLKD's stage terms: stages pair up by resolution, the loss is zero when the student's stage
is the teacher's, and gradients reach the student and its adapters but never the teacher."""
from __future__ import annotations

import pytest
import torch

from mlkd_tracker.train.distill.iqa_features import BrisqueExtractor, PiqeExtractor
from mlkd_tracker.train.distill.slkd_losses import StageStatsKD, stage_pairs
from mlkd_tracker.train.nets.enhancer_unet import UNetEnhancer, UNetEnhancerConfig

TEACHER = UNetEnhancerConfig(name="t", width=8, depth=2, blocks=1, stem=2)
STUDENT = UNetEnhancerConfig(name="s", width=4, depth=1, blocks=1, stem=2)


def test_stages_pair_by_resolution_with_their_channel_counts():
    # Student encoder: 1/2 (4 ch), 1/4 (8 ch); teacher: 1/2 (8), 1/4 (16), 1/8 (32).
    assert stage_pairs(STUDENT, TEACHER, "encoder") == [(0, 0, 4, 8), (1, 1, 8, 16)]
    # Decoders list coarse to fine: the student's only stage (1/2) is the teacher's last.
    assert stage_pairs(STUDENT, TEACHER, "decoder") == [(0, 1, 4, 8)]


def test_no_common_resolution_is_a_clear_error():
    other = UNetEnhancerConfig(name="o", width=4, depth=0, blocks=1, stem=4)
    with pytest.raises(ValueError, match="no encoder stage"):
        stage_pairs(UNetEnhancerConfig(name="s2", width=4, depth=0, stem=2), other, "encoder")


@pytest.mark.parametrize("extractor", [BrisqueExtractor(), PiqeExtractor(block=4)])
def test_zero_when_the_student_stage_equals_the_teachers(extractor):
    kd = StageStatsKD(extractor, [(0, 0, 6, 6)])
    with torch.no_grad():
        kd.adapters[0].weight.copy_(torch.eye(6)[:, :, None, None])
        kd.adapters[0].bias.zero_()
    feat = torch.randn(2, 6, 16, 16)
    with torch.no_grad():
        assert float(kd([feat], [feat])) == pytest.approx(0.0, abs=1e-7)
        assert float(kd([feat], [torch.randn(2, 6, 16, 16) * 3])) > 1e-3


@pytest.mark.parametrize("part, extractor", [("encoder", BrisqueExtractor()),
                                             ("decoder", PiqeExtractor(block=4))])
def test_gradients_reach_student_and_adapters_never_the_teacher(part, extractor):
    torch.manual_seed(0)
    student, teacher = UNetEnhancer(STUDENT), UNetEnhancer(TEACHER)
    kd = StageStatsKD(extractor, stage_pairs(STUDENT, TEACHER, part))
    x = torch.rand(2, 3, 32, 32)
    _, s_enc, s_dec = student.features(x)
    _, t_enc, t_dec = teacher.features(x)
    loss = kd(s_enc, t_enc) if part == "encoder" else kd(s_dec, t_dec)
    assert torch.isfinite(loss) and float(loss.detach()) > 0
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in kd.adapters.parameters())
    assert student.stem[0].weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in teacher.parameters())


def test_mismatched_adapter_output_is_refused():
    kd = StageStatsKD(BrisqueExtractor(), [(0, 0, 4, 8)])
    with pytest.raises(ValueError, match="differ after the adapter"):
        kd([torch.rand(1, 4, 8, 8)], [torch.rand(1, 8, 16, 16)])
