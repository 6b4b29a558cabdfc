"""Small building blocks shared by the backbones and the head (conv+BN+act, channel rounding).

Only Conv/BatchNorm/ReLU/ReLU6/MaxPool/Concat/Reshape/Transpose appear, all of which export to
ONNX opset 17 and fold (BN into conv) in ONNX Runtime.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from torch import Tensor, nn


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round a scaled channel count to a multiple of ``divisor`` (fast kernels, even splits),
    never dropping more than 10 % below the requested value (MobileNet convention)."""
    min_value = divisor if min_value is None else min_value
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


def conv_bn(c_in: int, c_out: int, k: int = 3, stride: int = 1, groups: int = 1,
            act: type[nn.Module] | None = nn.ReLU) -> nn.Sequential:
    """``k``x``k`` conv with 'same' padding (so stride 2 halves sizes exactly, rounding up),
    then BatchNorm and an optional activation."""
    layers: list[nn.Module] = [
        nn.Conv2d(c_in, c_out, k, stride, padding=k // 2, groups=groups, bias=False),
        nn.BatchNorm2d(c_out),
    ]
    if act is not None:
        layers.append(act(inplace=True))
    return nn.Sequential(*layers)


def init_weights(module: nn.Module) -> None:
    """He init for convs (ReLU nets trained from scratch), unit BN."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


@torch.no_grad()
def recalibrate_batchnorm(model: nn.Module, batches: Iterable[Sequence[Tensor]]) -> nn.Module:
    """Re-estimate every BN layer's running statistics as plain averages over ``model(*batch)``
    for each batch, then switch to eval mode. AdaBN-style: adapts a trained model to a new
    domain (e.g. night crops) without labels, and gives fresh models realistic eval-mode
    activations for export and parity checks."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average
    model.train()
    for batch in batches:
        model(*batch)
    for m, momentum in zip(bns, momenta):
        m.momentum = momentum
    return model.eval()
