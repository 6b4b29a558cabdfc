"""Feature extractors for the Siamese tracker: one strong teacher and several lightweight,
deliberately different student families (diversity is what mutual learning feeds on).

Every backbone has output stride 8 (three stride-2 steps, all padded so an input of ``n`` px
gives ``ceil(n / 8)`` cells) and exposes ``out_channels``. Later stages stay at stride 8 instead
of downsampling further, as Siamese trackers need spatial detail for the correlation.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from mlkd_tracker.train.nets.layers import conv_bn, init_weights, make_divisible


class AlexNetSlim(nn.Module):
    """Plain conv stack (SiamFC/SiamRPN's AlexNet, slimmed): large-kernel stem, two max-pools,
    three 3x3 convs. Dense 3x3 convs are what CPU runtimes execute most efficiently per MAC."""

    def __init__(self, width_mult: float = 1.0) -> None:
        super().__init__()
        c = [make_divisible(v * width_mult) for v in (32, 64, 96, 128, 128)]
        self.features = nn.Sequential(
            conv_bn(3, c[0], k=5, stride=2),                 # /2
            nn.MaxPool2d(3, stride=2, padding=1),            # /4
            conv_bn(c[0], c[1]),
            nn.MaxPool2d(3, stride=2, padding=1),            # /8
            conv_bn(c[1], c[2]),
            conv_bn(c[2], c[3]),
            conv_bn(c[3], c[4]),
        )
        self.out_channels = c[4]
        init_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        return self.features(x)


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expand, 3x3 depthwise, linear 1x1 project (+ identity skip)."""

    def __init__(self, c_in: int, c_out: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = c_in * expand
        layers: list[nn.Module] = []
        if expand != 1:
            layers.append(conv_bn(c_in, hidden, k=1, act=nn.ReLU6))
        layers += [conv_bn(hidden, hidden, stride=stride, groups=hidden, act=nn.ReLU6),
                   conv_bn(hidden, c_out, k=1, act=None)]
        self.block = nn.Sequential(*layers)
        self.use_skip = stride == 1 and c_in == c_out

    def forward(self, x: Tensor) -> Tensor:
        y = self.block(x)
        return x + y if self.use_skip else y


class MobileNetV2Stride8(nn.Module):
    """MobileNetV2 truncated to stride 8; the 64/96-channel stages run at stride 8 (as in
    SiamRPN++'s mobile variant) rather than downsampling to 16/32. Stages are shortened
    (2, 2, 1 blocks) because at 20x20 cells they dominate the cost."""

    # (expansion t, channels c, repeats n, first stride s)
    SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 2, 2), (6, 64, 2, 1), (6, 96, 1, 1))

    def __init__(self, width_mult: float = 1.0) -> None:
        super().__init__()
        c_in = make_divisible(32 * width_mult)
        layers: list[nn.Module] = [conv_bn(3, c_in, stride=2, act=nn.ReLU6)]
        for t, c, n, s in self.SETTINGS:
            c_out = make_divisible(c * width_mult)
            for i in range(n):
                layers.append(InvertedResidual(c_in, c_out, s if i == 0 else 1, t))
                c_in = c_out
        self.features = nn.Sequential(*layers)
        self.out_channels = c_in
        init_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        return self.features(x)


def channel_shuffle(x: Tensor, groups: int = 2) -> Tensor:
    """Interleave channel groups so information crosses the two ShuffleNet branches."""
    b, c, h, w = x.shape
    return x.reshape(b, groups, c // groups, h, w).transpose(1, 2).reshape(b, c, h, w)


class ShuffleUnit(nn.Module):
    """ShuffleNetV2 unit. Same channels and stride 1: split channels, transform one half,
    concat, shuffle. Otherwise (downsampling or widening) both branches see the full input."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.split = stride == 1 and c_in == c_out
        half = c_out // 2
        if not self.split:
            self.left = nn.Sequential(conv_bn(c_in, c_in, stride=stride, groups=c_in, act=None),
                                      conv_bn(c_in, half, k=1))
        self.right = nn.Sequential(conv_bn(half if self.split else c_in, half, k=1),
                                   conv_bn(half, half, stride=stride, groups=half, act=None),
                                   conv_bn(half, half, k=1))

    def forward(self, x: Tensor) -> Tensor:
        if self.split:
            # slices, not chunk(): the dynamo exporter lowers chunk to an opset-18 Split
            half = x.shape[1] // 2
            out = torch.cat((x[:, :half], self.right(x[:, half:])), dim=1)
        else:
            out = torch.cat((self.left(x), self.right(x)), dim=1)
        return channel_shuffle(out)


class ShuffleNetV2Stride8(nn.Module):
    """ShuffleNetV2 with stage 3 kept at stride 8: cheap 1x1s on half the channels and
    depthwise 3x3s — a family whose features differ from the MobileNet and plain-conv students."""

    def __init__(self, width_mult: float = 1.0, repeats: tuple[int, int] = (4, 6)) -> None:
        super().__init__()
        stem = make_divisible(24 * width_mult)
        c2 = make_divisible(116 * width_mult, 4)   # even halves, multiple of 4
        c3 = make_divisible(232 * width_mult, 4)
        layers: list[nn.Module] = [conv_bn(3, stem, stride=2), nn.MaxPool2d(3, 2, padding=1)]
        c_in = stem
        for c_out, n, s in ((c2, repeats[0], 2), (c3, repeats[1], 1)):
            # stage 3 keeps stride 8; its first unit uses the two-branch form to widen
            layers.append(ShuffleUnit(c_in, c_out, s))
            layers += [ShuffleUnit(c_out, c_out, 1) for _ in range(n - 1)]
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.out_channels = c_in
        init_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        return self.features(x)


class BasicBlock(nn.Module):
    """ResNet basic block; ``dilation`` widens the receptive field at stride 8 for free."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1, dilation: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, padding=dilation, dilation=dilation,
                               bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, padding=dilation, dilation=dilation,
                               bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = conv_bn(c_in, c_out, k=1, stride=stride, act=None)

    def forward(self, x: Tensor) -> Tensor:
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return self.relu(y + self.shortcut(x))


class ResNetStride8(nn.Module):
    """Teacher backbone: ResNet-18-like stem and stages, the last stage dilated at stride 8.
    Wide and residual so it trains well; far too costly for the drone, which is the point."""

    def __init__(self, width_mult: float = 1.0, blocks: tuple[int, int, int] = (1, 1, 2)) -> None:
        super().__init__()
        c = [make_divisible(v * width_mult) for v in (64, 64, 128, 256)]
        layers: list[nn.Module] = [conv_bn(3, c[0], k=7, stride=2),
                                   nn.MaxPool2d(3, stride=2, padding=1)]
        c_in = c[0]
        for c_out, n, s, d in ((c[1], blocks[0], 1, 1), (c[2], blocks[1], 2, 1),
                               (c[3], blocks[2], 1, 2)):
            for i in range(n):
                layers.append(BasicBlock(c_in, c_out, s if i == 0 else 1, d))
                c_in = c_out
        self.features = nn.Sequential(*layers)
        self.out_channels = c_in
        init_weights(self)
        for m in self.modules():  # zero-init the last BN of each residual branch: starts as
            if isinstance(m, BasicBlock):  # identity, which stabilises from-scratch training
                nn.init.zeros_(m.bn2.weight)

    def forward(self, x: Tensor) -> Tensor:
        return self.features(x)


BACKBONES: dict[str, Callable[[float], nn.Module]] = {
    "alexnet_slim": AlexNetSlim,
    "mobilenet": MobileNetV2Stride8,
    "shufflenet": ShuffleNetV2Stride8,
    "resnet": ResNetStride8,
}


def check_backbone_name(name: str) -> None:
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; known backbones: {sorted(BACKBONES)}")


def build_backbone(name: str, width_mult: float = 1.0) -> nn.Module:
    """Backbone ``name`` from :data:`BACKBONES`; ValueError lists the known names."""
    check_backbone_name(name)
    return BACKBONES[name](width_mult)
