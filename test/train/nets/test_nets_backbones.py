"""Backbones: stride-8 feature maps of the right size and channel count, BN train/eval modes."""
from __future__ import annotations

import math

import pytest
import torch

from mlkd_tracker.train.nets.backbones import BACKBONES, build_backbone
from mlkd_tracker.train.nets.summary import count_macs

STUDENT_FAMILIES = ("alexnet_slim", "mobilenet", "shufflenet")


def test_registry_has_teacher_and_three_student_families():
    assert {"resnet", *STUDENT_FAMILIES} <= set(BACKBONES)


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_stride8_feature_sizes_and_channels(name):
    net = build_backbone(name).eval()
    with torch.no_grad():
        for size in (48, 64, 128, 160, 96, 50):
            f = net(torch.rand(2, 3, size, size) * 255)
            assert f.shape == (2, net.out_channels, math.ceil(size / 8), math.ceil(size / 8)), size
        rect = net(torch.rand(1, 3, 64, 160))  # non-square crops work too
    assert rect.shape[2:] == (8, 20)


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_width_mult_scales_channels_and_batchnorm_modes_differ(name):
    narrow, wide = build_backbone(name, 0.5), build_backbone(name, 1.0)
    assert narrow.out_channels < wide.out_channels
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in wide.modules())
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        train_out = wide.train()(x)
        eval_out = wide.eval()(x)
    assert not torch.allclose(train_out, eval_out)  # batch stats vs running stats


def test_unknown_backbone_lists_known_names():
    with pytest.raises(ValueError, match="mobilenet"):
        build_backbone("vgg")


def test_teacher_backbone_is_at_least_8x_the_default_student():
    """The resnet backbone alone costs >= 8x the whole default student (mobilenet) per frame."""
    from mlkd_tracker.train.nets import SearchBranch, TrackerNetConfig, build_tracker

    student = build_tracker(TrackerNetConfig()).eval()
    zf = torch.zeros(1, 64, 8, 8)
    student_macs = count_macs(SearchBranch(student), torch.zeros(1, 3, 160, 160), zf)
    teacher = count_macs(build_backbone("resnet").eval(), torch.zeros(1, 3, 160, 160))
    assert teacher >= 8 * student_macs
