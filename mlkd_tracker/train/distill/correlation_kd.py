"""Correlation-map (and feature) KD variants: one per student, so the students stay diverse.

Each is an ``nn.Module`` with ``forward(s_corr, t_corr) -> scalar``; the teacher input is
detached inside. Inputs are the depthwise-correlation maps ``corr`` (B,C,S,S) of the
Siamese head (all presets share C = 64), or, for :class:`FeatureHint`, any feature maps.
Loss weights belong to the trainer's config; the modules return unweighted losses whose
magnitudes do not depend on the map size.

Students and teacher have different backbones, so their correlation magnitudes are unrelated;
every variant therefore compares scale-free quantities (a softmax, a std-normalised map, a
mask relative to the map's own spread, standardised features) rather than raw values.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

_EPS = 1e-6


def _check(s: Tensor, t: Tensor) -> None:
    if s.shape != t.shape:
        raise ValueError(f"student {tuple(s.shape)} and teacher {tuple(t.shape)} maps differ")


def _standardise(x: Tensor) -> Tensor:
    """Per sample: zero mean, unit variance over all non-batch dims."""
    flat = x.flatten(1)
    mean = flat.mean(1, keepdim=True)
    std = flat.std(1, keepdim=True, unbiased=False)
    return ((flat - mean) / (std + _EPS)).view_as(x)


class SoftmaxMSE(nn.Module):
    """MSE between the maps softmaxed globally per sample (over C·S·S) at temperature τ, after
    standardising each map.

    Standardising first makes the loss independent of each network's correlation magnitude
    (a teacher's raw maps can span hundreds, which turns a τ = 1 softmax into a one-hot and
    the loss into ~N). The softmax is rescaled by the number of elements N (a uniform map is 1
    everywhere): raw softmax values are ~1/N ≈ 5e-5 for 64×17×17 maps and their MSE ~1e-9,
    which is why the published weight looked arbitrary; with the rescale the loss is O(1)."""

    def __init__(self, temperature: float = 2.0) -> None:
        super().__init__()
        self.temperature = float(temperature)

    def forward(self, s_corr: Tensor, t_corr: Tensor) -> Tensor:
        t_corr = t_corr.detach()
        _check(s_corr, t_corr)
        n = s_corr[0].numel()
        s = F.softmax(_standardise(s_corr).flatten(1) / self.temperature, dim=1) * n
        t = F.softmax(_standardise(t_corr).flatten(1) / self.temperature, dim=1) * n
        return F.mse_loss(s, t)


def neighbour_differences(x: Tensor) -> Tensor:
    """(B,1,H,W) -> (B,4,H,W): each cell minus its left, right, up and down neighbour
    (replicate padding: border cells have no neighbour outside, so that difference is 0)."""
    p = F.pad(x, (1, 1, 1, 1), mode="replicate")
    c = p[..., 1:-1, 1:-1]
    return torch.cat([c - p[..., 1:-1, :-2], c - p[..., 1:-1, 2:],
                      c - p[..., :-2, 1:-1], c - p[..., 2:, 1:-1]], dim=1)


class SpatialConsistency(nn.Module):
    """Zero-DCE spatial-consistency form on channel-averaged maps: the student's 4-neighbour
    differences should equal the teacher's, i.e. the same *local structure* (peak shape,
    edges between target and distractors), not the same values.

    ``normalize`` divides each averaged map by its own std first (per sample): differences of
    un-normalised maps would mostly teach the student the teacher's arbitrary scale.
    ``pool`` > 1 average-pools before differencing (Zero-DCE used 4 on images; 17×17 maps
    need none)."""

    def __init__(self, normalize: bool = True, pool: int = 1) -> None:
        super().__init__()
        self.normalize = normalize
        self.pool = int(pool)

    def _prepare(self, x: Tensor) -> Tensor:
        x = x.mean(1, keepdim=True)
        if self.pool > 1:
            x = F.avg_pool2d(x, self.pool)
        return _standardise(x) if self.normalize else x

    def forward(self, s_corr: Tensor, t_corr: Tensor) -> Tensor:
        t_corr = t_corr.detach()
        _check(s_corr, t_corr)
        ds = neighbour_differences(self._prepare(s_corr))
        dt = neighbour_differences(self._prepare(t_corr))
        return (ds - dt).pow(2).sum(1).mean()


def hard_mask(x: Tensor) -> Tensor:
    """The published form: 1 where a map exceeds its per-sample mean, else 0. A step function
    of x — its derivative is 0 almost everywhere (autograd gives exactly 0 or no graph at
    all), so an MSE between hard masks never changes the student. Kept for the tests."""
    mean = x.flatten(1).mean(1).view(-1, *([1] * (x.ndim - 1)))
    return (torch.sign(x - mean) + 1) / 2


class SoftMaskedMSE(nn.Module):
    """MSE between soft masks ``sigmoid((x − mean) / (τ · std))`` per sample (mean and std
    over C·S·S): the differentiable version of "binarise at the mean". It transfers *which*
    cells are above average (the teacher's attention layout), independent of scale.

    τ is relative to the map's own std (``relative=True``) because correlation scales differ
    by orders of magnitude across backbones; τ → 0 recovers the hard mask (and its zero
    gradient), τ ≈ 0.5 keeps cells within ~1 std of the mean in the sigmoid's live range."""

    def __init__(self, tau: float = 0.5, relative: bool = True) -> None:
        super().__init__()
        if tau <= 0:
            raise ValueError(f"tau must be > 0, got {tau}")
        self.tau = float(tau)
        self.relative = relative

    def mask(self, x: Tensor) -> Tensor:
        flat = x.flatten(1)
        mean = flat.mean(1, keepdim=True)
        scale = self.tau * (flat.std(1, keepdim=True, unbiased=False) + _EPS if self.relative
                            else 1.0)
        return torch.sigmoid((flat - mean) / scale).view_as(x)

    def forward(self, s_corr: Tensor, t_corr: Tensor) -> Tensor:
        t_corr = t_corr.detach()
        _check(s_corr, t_corr)
        return F.mse_loss(self.mask(s_corr), self.mask(t_corr))


class FeatureHint(nn.Module):
    """FitNets-style hint: a 1×1 conv adapter maps student channels to teacher channels, then
    MSE between per-sample standardised features.

    The adapter exists when channel counts differ (or ``adapter=True``); with equal counts it
    starts as the identity, so the hint starts as a plain feature MSE. Its parameters are
    ordinary submodule parameters — ``adapter_parameters()`` lists them for the trainer's
    optimiser (they are discarded at export). Different spatial sizes are resolved by
    bilinear resizing of the student map."""

    def __init__(self, s_channels: int = 64, t_channels: int = 64,
                 adapter: bool | None = None) -> None:
        super().__init__()
        use = s_channels != t_channels if adapter is None else adapter
        if not use and s_channels != t_channels:
            raise ValueError(f"channels differ ({s_channels} vs {t_channels}): need an adapter")
        self.adapter: nn.Module = nn.Conv2d(s_channels, t_channels, 1) if use else nn.Identity()
        if use and s_channels == t_channels:
            with torch.no_grad():
                self.adapter.weight.copy_(torch.eye(t_channels).view(t_channels, t_channels, 1, 1))
                self.adapter.bias.zero_()

    def adapter_parameters(self) -> list[nn.Parameter]:
        return list(self.adapter.parameters())

    def forward(self, s_feat: Tensor, t_feat: Tensor) -> Tensor:
        t_feat = t_feat.detach()
        s = self.adapter(s_feat)
        if s.shape[-2:] != t_feat.shape[-2:]:
            s = F.interpolate(s, size=t_feat.shape[-2:], mode="bilinear", align_corners=False)
        _check(s, t_feat)
        return F.mse_loss(_standardise(s), _standardise(t_feat))


CORRELATION_KD: dict[str, type[nn.Module]] = {
    "softmax_mse": SoftmaxMSE,
    "spatial_consistency": SpatialConsistency,
    "soft_mask": SoftMaskedMSE,
    "feature_hint": FeatureHint,
}


def build_correlation_kd(name: str, **kwargs) -> nn.Module:
    """Instantiate a variant by registry name (config files name them)."""
    if name not in CORRELATION_KD:
        raise ValueError(f"unknown correlation KD {name!r}; known: {sorted(CORRELATION_KD)}")
    return CORRELATION_KD[name](**kwargs)
