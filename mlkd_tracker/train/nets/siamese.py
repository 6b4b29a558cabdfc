"""The Siamese tracker: shared backbone -> 1x1 neck -> depthwise cross-correlation -> separate
classification and box towers (SiamBAN/NanoTrack-like, anchor-free).

Design choices:
- One depthwise xcorr shared by both heads (instead of SiamRPN++'s xcorr per branch): half the
  correlation cost, and a single correlation map ``corr`` that correlation-level distillation
  and the mutual-learning room can match across models (all presets use 64 neck channels).
- The model takes raw BGR 0..255 crops; the optional enhancer and the mean/std normalisation are
  part of the graph, so the exported ONNX file needs no preprocessing beyond cropping.
- Boxes are distances (l, t, r, b) in search-crop pixels from each cell's point
  (``SiameseGeometry.points()``): ``stride * exp(scale * raw)``, positive by construction and
  starting at one stride, which keeps early training stable.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mlkd_tracker.train.nets.backbones import build_backbone
from mlkd_tracker.train.nets.config import TrackerNetConfig
from mlkd_tracker.train.nets.enhancer import LowLightEnhancer
from mlkd_tracker.train.nets.layers import conv_bn, init_weights

CLS_PRIOR = 0.01  # focal-loss-style prior: the initial foreground probability of every cell


class InputNorm(nn.Module):
    """BGR 0..255 -> (x - mean) / std, with the statistics as buffers (exported as constants)."""

    def __init__(self, mean_bgr: tuple[float, ...], std_bgr: tuple[float, ...]) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean_bgr, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("inv_std",
                             1.0 / torch.tensor(std_bgr, dtype=torch.float32).view(1, 3, 1, 1))

    def forward(self, x255: Tensor) -> Tensor:
        return (x255 - self.mean) * self.inv_std


def xcorr_depthwise(x: Tensor, kernel: Tensor) -> Tensor:
    """'Valid' per-channel correlation of search features x (B,C,H,W) with template features
    kernel (B,C,h,w) -> (B,C,H-h+1,W-w+1). Batched as one grouped conv with B*C groups (for an
    export at batch 1 the group count is simply C)."""
    b, c, h, w = x.shape
    out = F.conv2d(x.reshape(1, b * c, h, w), kernel.reshape(b * c, 1, *kernel.shape[2:]),
                   groups=b * c)
    return out.reshape(b, c, out.shape[2], out.shape[3])


def _tower(c_in: int, c_mid: int, layers: int) -> tuple[nn.Module, int]:
    """3x3 conv+BN+ReLU stack; padded, so the score map keeps its size."""
    mods: list[nn.Module] = []
    for _ in range(layers):
        mods.append(conv_bn(c_in, c_mid))
        c_in = c_mid
    return nn.Sequential(*mods), c_in


class XCorrHead(nn.Module):
    """Depthwise xcorr, then a classification tower (1 logit) and a box tower (4 distances)."""

    def __init__(self, channels: int, head_channels: int, head_layers: int, stride: int,
                 max_box: float) -> None:
        super().__init__()
        self.stride = float(stride)
        # cap exp() so a diverging output cannot overflow (2x the crop is never a valid box)
        self.max_log = math.log(max_box / stride)
        self.cls_tower, c = _tower(channels, head_channels, head_layers)
        self.box_tower, _ = _tower(channels, head_channels, head_layers)
        self.cls_out = nn.Conv2d(c, 1, 1)
        self.box_out = nn.Conv2d(c, 4, 1)
        self.box_scale = nn.Parameter(torch.ones(1))  # FCOS-style learnable scale
        init_weights(self)
        nn.init.normal_(self.cls_out.weight, std=0.01)
        nn.init.constant_(self.cls_out.bias, -math.log((1 - CLS_PRIOR) / CLS_PRIOR))
        nn.init.normal_(self.box_out.weight, std=0.01)
        nn.init.zeros_(self.box_out.bias)

    def forward(self, xf: Tensor, zf: Tensor) -> dict[str, Tensor]:
        corr = xcorr_depthwise(xf, zf)
        cls = self.cls_out(self.cls_tower(corr))
        raw = self.box_out(self.box_tower(corr)) * self.box_scale
        box = self.stride * torch.exp(raw.clamp(-10.0, self.max_log))
        return {"cls": cls, "box": box, "corr": corr}


def embed_crop(m: nn.Module, img255: Tensor) -> Tensor:
    """Shared feature path of the template and search branches: (enhance) -> normalise ->
    backbone -> neck. ``m`` is a tracker or a branch wrapper holding the same submodules."""
    x = img255
    if m.enhancer is not None:
        x = m.enhancer(x * (1.0 / 255.0)) * 255.0
    return m.neck(m.backbone(m.normalize(x)))


class SiameseTracker(nn.Module):
    """Template/search Siamese tracker built from a :class:`TrackerNetConfig`.

    Inputs are float32 BGR crops in 0..255 of ``template_size`` / ``search_size`` px. Outputs
    (see :meth:`search`) are response maps of ``cfg.geometry().score_size`` squared cells.
    """

    def __init__(self, cfg: TrackerNetConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.enhancer = LowLightEnhancer(cfg.enhancer) if cfg.enhancer is not None else None
        self.normalize = InputNorm(cfg.mean_bgr, cfg.std_bgr)
        self.backbone = build_backbone(cfg.backbone, cfg.width_mult)
        # Linear 1x1 neck (conv+BN, no ReLU): signed features correlate better than rectified.
        self.neck = conv_bn(self.backbone.out_channels, cfg.neck_channels, k=1, act=None)
        init_weights(self.neck)
        self.head = XCorrHead(cfg.neck_channels, cfg.head_channels, cfg.head_layers,
                              cfg.stride, max_box=2.0 * cfg.search_size)

    def template(self, z: Tensor) -> Tensor:
        """Template crop (B,3,Tz,Tz) BGR 0..255 -> zf (B, neck_channels, Tz/8, Tz/8)."""
        return embed_crop(self, z)

    def search(self, x: Tensor, zf: Tensor) -> dict[str, Tensor]:
        """Search crop (B,3,Tx,Tx) BGR 0..255 and template features -> ``cls`` (B,1,S,S) logits,
        ``box`` (B,4,S,S) l,t,r,b px distances, ``corr`` (B,C,S,S), ``xf`` (B,C,Tx/8,Tx/8)."""
        xf = embed_crop(self, x)
        out = self.head(xf, zf)
        out["xf"] = xf
        return out

    def forward(self, z: Tensor, x: Tensor) -> dict[str, Tensor]:
        zf = self.template(z)
        out = self.search(x, zf)
        out["zf"] = zf
        return out


def build_tracker(cfg: TrackerNetConfig) -> SiameseTracker:
    return SiameseTracker(cfg)


class TemplateBranch(nn.Module):
    """Export wrapper: z (1,3,Tz,Tz) BGR 0..255 -> zf. Runs once when a track starts.
    Holds only the submodules the template path uses, so its parameter count is meaningful."""

    def __init__(self, tracker: SiameseTracker) -> None:
        super().__init__()
        self.enhancer, self.normalize = tracker.enhancer, tracker.normalize
        self.backbone, self.neck = tracker.backbone, tracker.neck

    def forward(self, z: Tensor) -> Tensor:
        return embed_crop(self, z)


class SearchBranch(nn.Module):
    """Export wrapper: (x, zf) -> (cls, box), exactly these two outputs, in this order.
    This is the per-frame cost of tracking. Export at batch 1: the xcorr's group count is
    batch x channels and ONNX needs it static (the runtime tracks one target per model)."""

    def __init__(self, tracker: SiameseTracker) -> None:
        super().__init__()
        self.enhancer, self.normalize = tracker.enhancer, tracker.normalize
        self.backbone, self.neck, self.head = tracker.backbone, tracker.neck, tracker.head

    def forward(self, x: Tensor, zf: Tensor) -> tuple[Tensor, Tensor]:
        out = self.head(embed_crop(self, x), zf)
        return out["cls"], out["box"]
