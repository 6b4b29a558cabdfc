"""DarkLighter-style low-light enhancer: a tiny CNN that predicts per-pixel illumination and noise
curves and applies them iteratively. It is differentiable end to end, so the teacher's tracking
loss can tune it, and fully convolutional, so it runs on crops of any size."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from mlkd_tracker.train.nets.config import EnhancerConfig


class LowLightEnhancer(nn.Module):
    """Images in [0, 1] -> enhanced images in [0, 1].

    ``layers`` 3x3 convs of ``channels`` (no BN: the statistics of dark crops vary too much per
    image), Zero-DCE-style skips that concatenate mirrored early features into the later
    layers, and a last conv that outputs ``iterations`` x (3 illumination + 3 noise) maps,
    tanh-bounded. Step i computes ``x <- (x - n_i) * (1 + r_i)``: ``n_i`` removes an offset (sensor
    noise floor, colour cast) before ``r_i`` amplifies. At defaults this is ~79 k parameters.
    """

    def __init__(self, cfg: EnhancerConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg = cfg or EnhancerConfig()
        c, n = cfg.channels, cfg.layers
        # Feature layers 1..n-1; the last ``n // 2 - 1`` of them also see a mirrored early
        # feature map (layer j gets f_{n-j+1}), like Zero-DCE's 7-layer symmetric design.
        self.first_skip = n - n // 2 + 1
        convs = [nn.Conv2d(3, c, 3, padding=1)]
        for j in range(2, n):
            c_in = 2 * c if j >= self.first_skip else c
            convs.append(nn.Conv2d(c_in, c, 3, padding=1))
        self.convs = nn.ModuleList(convs)
        # The output layer adds (not concatenates) f_1: same receptive context, half the params.
        self.out = nn.Conv2d(c, 6 * cfg.iterations, 3, padding=1)
        self.relu = nn.ReLU(inplace=False)
        # Small output weights: the maps start near zero, i.e. the enhancer starts close to
        # the identity and the tracker behind it sees natural images early in training.
        nn.init.normal_(self.out.weight, std=1e-3)
        nn.init.zeros_(self.out.bias)

    def predict_maps(self, x01: Tensor) -> tuple[Tensor, Tensor]:
        """Illumination and noise maps, each (B, iterations, 3, H, W) in (-1, 1)."""
        n = self.cfg.layers
        feats: list[Tensor] = []
        h = x01
        for j, conv in enumerate(self.convs, start=1):
            if j >= self.first_skip:
                h = torch.cat((feats[n - j], h), dim=1)   # feats[n - j] is f_{n-j+1}
            h = self.relu(conv(h))
            feats.append(h)
        maps = torch.tanh(self.out(h + feats[0]))
        b, _, hh, ww = maps.shape
        maps = maps.reshape(b, self.cfg.iterations, 6, hh, ww)
        return maps[:, :, :3], maps[:, :, 3:]

    def forward(self, x01: Tensor, return_maps: bool = False
                ) -> Tensor | tuple[Tensor, dict[str, Tensor]]:
        """Enhance ``x01`` (B, 3, H, W) in [0, 1]. With ``return_maps`` also return
        ``{"r": ..., "n": ...}`` (B, iterations, 3, H, W) for illumination/noise losses."""
        r, noise = self.predict_maps(x01)
        x = x01
        for i in range(self.cfg.iterations):
            x = (x - noise[:, i]) * (1 + r[:, i])
        x = x.clamp(0.0, 1.0)
        if return_maps:
            return x, {"r": r, "n": noise}
        return x
