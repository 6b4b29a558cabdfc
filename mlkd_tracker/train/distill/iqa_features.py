"""Differentiable BRISQUE / PIQE statistics: the image-quality "lenses" of SLKD.

SLKD distils a low-light enhancer from two teachers by asking the student to match the teachers'
*quality statistics* of its feature maps (and output image), not the raw activations. Both
extractors work per channel on ``(B, C, H, W)`` maps (images: C = 3; encoder/decoder features)
and only reduce over space, so samples and channels never mix.

Both start from the MSCN map (mean-subtracted, contrast-normalised: Mittal et al., BRISQUE), with
every hard decision of the classic pipelines made smooth so a gradient exists everywhere:

- BRISQUE fits GGD/AGGD shapes by a grid search (no gradient). We keep the moment ratio
  ρ = E[x²]/E|x|² that the grid search inverts (classic α is a monotone function of ρ and
  σ_l/σ_r), and left/right spreads use ``sigmoid(±x/τ)`` weights instead of x<0 / x>0 masks.
  No SVR: the statistics themselves are the distillation target.
- PIQE's thresholds (block activity, edge impairment, noise) become sigmoids of temperature τ.

``c`` (MSCN stabiliser) defaults to 1/255: for images in [0, 1] this *is* classic BRISQUE/PIQE
(c = 1 on 0..255; MSCN is equivariant in (x, c) → (kx, kc)) and exactly what OpenCV's
``QualityBRISQUE`` does. For features of roughly unit scale it is a contrast floor of ~0.4 % of
the range: smaller values turn flat regions into amplified noise, larger ones hide weak texture.
Scale ``c`` with the map's range if the features are far from unit scale. The Gaussian window
uses replicate borders, as OpenCV's BRISQUE and PIQE do. With τ → 0 and the same ``c`` the
BRISQUE statistics reproduce OpenCV's intermediate quantities (see the tests).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

DEFAULT_C = 1.0 / 255.0
GAUSS_SIZE, GAUSS_SIGMA = 7, 7.0 / 6.0
#: (dy, dx) of the neighbour in each pairwise product, classic order: H, V, D1 (main diagonal),
#: D2 (secondary diagonal).
SHIFTS: tuple[tuple[int, int], ...] = ((0, 1), (1, 0), (1, 1), (-1, 1))
BRISQUE_MAPS = ("mscn", "h", "v", "d1", "d2")
BRISQUE_STATS = ("mean", "mean_sq", "mean_abs", "rho", "left_var", "right_var")
#: ``brisque_features`` index = scale * 30 + map * 6 + stat (scales: full, half).
BRISQUE_K = 2 * len(BRISQUE_MAPS) * len(BRISQUE_STATS)
PIQE_STATS = ("var", "activity", "seg_top", "seg_right", "seg_bottom", "seg_left",
              "impaired", "csd", "noise", "distortion")
PIQE_K = len(PIQE_STATS)
_ABS_EPS = 1e-6      # smooth |x| = sqrt(x² + ε²): MSCN is unit-scale, so this is far below signal
_VAR_EPS = 1e-12     # std = sqrt(var + ε): never sqrt(0) on flat segments
_W_EPS = 1e-12       # guards soft-mask weight sums against underflow


def _gauss_taps() -> list[float]:
    r = torch.arange(GAUSS_SIZE, dtype=torch.float64) - GAUSS_SIZE // 2
    g = torch.exp(-r * r / (2 * GAUSS_SIGMA ** 2))
    return (g / g.sum()).tolist()


_TAPS = _gauss_taps()


def _blur(f: Tensor) -> Tensor:
    """Gaussian-weighted local mean of ``(N, 1, H, W)`` (replicate borders).

    The window is separable, so it is applied as 7 weighted shifts down the rows and 7 along
    the columns: the same numbers as a 7x7 conv2d, but its backward pass is ~15x faster on
    these many small single-channel maps (profiled: the 2-D conv's backward was 60 % of an
    SLKD student step)."""
    p = GAUSS_SIZE // 2
    x = F.pad(f, (p, p, p, p), mode="replicate")
    h, w = f.shape[-2:]
    rows = sum(t * x[..., i:i + h, :] for i, t in enumerate(_TAPS))
    return sum(t * rows[..., i:i + w] for i, t in enumerate(_TAPS))


def _sabs(x: Tensor) -> Tensor:
    return torch.sqrt(x * x + _ABS_EPS ** 2)


def _std(x: Tensor, dim: int | tuple[int, ...]) -> Tensor:
    """Unbiased std (MATLAB's ``std``, which PIQE uses), finite-gradient at zero spread."""
    return torch.sqrt(x.var(dim=dim, unbiased=True) + _VAR_EPS)


def mscn(x: Tensor, c: float = DEFAULT_C) -> Tensor:
    """MSCN coefficients ``(x − μ) / (σ + c)`` per channel of ``(B, C, H, W)``, same shape.

    μ, σ² are the 7×7 Gaussian (σ = 7/6) local mean and variance. σ = sqrt(max(E[x²] − μ², 0) +
    (1e-3·c)²): the floor keeps the gradient finite on flat maps and is 1000× below ``c``, so it
    never shifts σ + c noticeably. ``c`` must be > 0 (see the module docstring for its scale).
    """
    if c <= 0:
        raise ValueError(f"c must be > 0, got {c}")
    b, ch, h, w = x.shape
    f = x.reshape(b * ch, 1, h, w)
    mu = _blur(f)
    var = (_blur(f * f) - mu * mu).clamp_min(0.0)
    sigma = torch.sqrt(var + (1e-3 * c) ** 2)
    return ((f - mu) / (sigma + c)).reshape(b, ch, h, w)


def _pair(m: Tensor, dy: int, dx: int) -> Tensor:
    """``m[i, j] · m[i+dy, j+dx]`` where both exist. Classic BRISQUE zero-fills the missing border
    instead; cropping keeps small feature maps unbiased and leaves the left/right spreads identical
    (zeros fall in neither sign mask)."""
    h, w = m.shape[-2:]
    y0, y1, x0, x1 = max(0, -dy), h - max(0, dy), max(0, -dx), w - max(0, dx)
    return m[..., y0:y1, x0:x1] * m[..., y0 + dy:y1 + dy, x0 + dx:x1 + dx]


def _map_stats(z: Tensor, tau: float) -> Tensor:
    """``(B, C, h, w)`` → ``(B, C, 6)`` in ``BRISQUE_STATS`` order."""
    z = z.flatten(2)
    z2 = z * z
    mean_sq, mean_abs = z2.mean(-1), _sabs(z).mean(-1)
    w_r, w_l = torch.sigmoid(z / tau), torch.sigmoid(-z / tau)
    left = (w_l * z2).sum(-1) / (w_l.sum(-1) + _W_EPS)
    right = (w_r * z2).sum(-1) / (w_r.sum(-1) + _W_EPS)
    rho = mean_sq / (mean_abs * mean_abs)   # flat map: 0 / ε² = 0, not NaN
    return torch.stack([z.mean(-1), mean_sq, mean_abs, rho, left, right], -1)


def brisque_stats(x: Tensor, c: float = DEFAULT_C, tau: float = 0.02) -> Tensor:
    """Classic-shaped BRISQUE intermediate statistics, ``(B, C, 2, 5, 6)``:
    scale (full, half) × map (``BRISQUE_MAPS``: MSCN, then its products with the H, V, D1, D2
    neighbour) × stat (``BRISQUE_STATS``: E[x], E[x²], E|x|, ρ = E[x²]/E|x|², left σ², right σ²).

    The half scale is the *input* resized by 2 (bicubic, like OpenCV's BRISQUE) and re-normalised.
    ρ is the shape statistic (Gaussian: π/2; heavier tails: larger). left/right σ² are
    ``Σ w x² / Σ w`` with ``w = sigmoid(∓x/τ)``; τ = 0.02 is ~1/10 of a typical product magnitude,
    smooth enough for useful gradients, and τ → 0 gives the classic hard-mask spreads.
    Needs H, W ≥ 4 (the half scale needs 2 pixels for its neighbour products).
    """
    if min(x.shape[-2:]) < 4:
        raise ValueError(f"BRISQUE needs H, W >= 4, got {tuple(x.shape[-2:])}")
    per_scale = []
    for scale in range(2):
        if scale:
            x = F.interpolate(x, size=(x.shape[-2] // 2, x.shape[-1] // 2), mode="bicubic",
                              align_corners=False)
        m = mscn(x, c)
        maps = [m] + [_pair(m, dy, dx) for dy, dx in SHIFTS]
        per_scale.append(torch.stack([_map_stats(z, tau) for z in maps], -2))
    return torch.stack(per_scale, -3)


def brisque_features(x: Tensor, c: float = DEFAULT_C, tau: float = 0.02) -> Tensor:
    """Φ_B: ``(B, C, BRISQUE_K=60)``, ``brisque_stats`` flattened (scale, map, stat)."""
    return brisque_stats(x, c, tau).flatten(2)


def _symmetric_pad(x: Tensor, block: int) -> Tensor:
    """Pad bottom/right to a multiple of ``block`` by mirroring (edge repeated), as PIQE does:
    every pixel stays supervised, which cropping would not guarantee on small feature maps."""
    ph, pw = -x.shape[-2] % block, -x.shape[-1] % block
    if ph:
        x = torch.cat([x, x[..., -ph:, :].flip(-2)], -2)
    if pw:
        x = torch.cat([x, x[..., -pw:].flip(-1)], -1)
    return x


def piqe_block_features(x: Tensor, block: int = 16, c: float = DEFAULT_C, tau: float = 0.02,
                        activity_threshold: float = 0.1, edge_threshold: float = 0.1,
                        segment: int = 6) -> Tensor:
    """Per-block PIQE features ``(B, C, PIQE_K=10, nBlocks)`` (blocks row-major) on the MSCN map of
    the input symmetric-padded to a multiple of ``block`` (16 on images, 4–8 on coarse features).

    Order (``PIQE_STATS``): ``var`` block variance; ``activity`` sigmoid((var − 0.1)/τ), PIQE's
    "spatially active" test; ``seg_top/right/bottom/left`` soft-min (softmax(−s/τ)-weighted) std
    of the sliding ``segment``-pixel windows along each border line — PIQE flags a block when any
    such segment is flat; ``impaired`` soft-OR over all segments of sigmoid((0.1 − s)/τ);
    ``csd`` std of the two centre columns / std of the rest; ``noise`` sigmoid((σ − 2β)/τ) with
    β = |σ − csd| / max(σ, csd) (smooth |·|), PIQE's noise test; ``distortion`` PIQE's block score
    activity·(impaired·(1 − var) + noise·var).
    """
    b, ch, h, w = x.shape
    if block < 4 or min(h, w) < block:
        raise ValueError(f"need 4 <= block <= min(H, W), got block={block}, H, W={h}, {w}")
    m = mscn(_symmetric_pad(x, block), c)
    nh, nw = m.shape[-2] // block, m.shape[-1] // block
    blk = m.reshape(b, ch, nh, block, nw, block).transpose(3, 4)
    blk = blk.reshape(b, ch, nh * nw, block, block)
    var = blk.flatten(-2).var(-1, unbiased=True)
    activity = torch.sigmoid((var - activity_threshold) / tau)
    win = min(segment, block)
    sides = (blk[..., 0, :], blk[..., :, -1], blk[..., -1, :], blk[..., :, 0])
    seg = torch.stack([_std(s.unfold(-1, win, 1), -1) for s in sides], -2)  # (B, C, n, 4, nSeg)
    seg_min = (seg * torch.softmax(-seg / tau, -1)).sum(-1)
    impaired = 1 - torch.exp(F.logsigmoid((seg - edge_threshold) / tau).sum((-2, -1)))
    k = block // 2
    centre = blk[..., k - 1:k + 1]
    surround = torch.cat([blk[..., :k - 1], blk[..., k + 1:]], -1)
    csd = _std(centre.flatten(-2), -1) / _std(surround.flatten(-2), -1)
    sigma = torch.sqrt(var + _VAR_EPS)
    gap = _sabs(sigma - csd)
    beta = gap / ((sigma + csd + gap) / 2)
    noise = torch.sigmoid((sigma - 2 * beta) / tau)
    distortion = activity * (impaired * (1 - var) + noise * var)
    return torch.stack([var, activity, *seg_min.unbind(-1), impaired, csd, noise, distortion], -2)


def piqe_features(x: Tensor, block: int = 16, c: float = DEFAULT_C, tau: float = 0.02,
                  activity_threshold: float = 0.1, edge_threshold: float = 0.1, segment: int = 6,
                  floor: float = 1e-3) -> Tensor:
    """Φ_P: ``(B, C, PIQE_K=10)``, blocks pooled as PIQE pools them, same order as per block.

    ``var``, ``activity``: plain means (mean activity = soft fraction of active blocks). Entries
    2–8: activity-weighted means (weights activity + ``floor``), because PIQE judges only active
    blocks and flat ones carry no quality signal; the floor keeps an all-flat map defined.
    ``distortion``: PIQE's pooled score (Σ distortion + 1) / (Σ activity + 1) (×100 in PIQE).
    """
    f = piqe_block_features(x, block, c, tau, activity_threshold, edge_threshold, segment)
    act = f[:, :, 1]
    wgt = act + floor
    weighted = (f[:, :, 2:9] * wgt[:, :, None]).sum(-1) / wgt.sum(-1)[..., None]
    score = (f[:, :, 9].sum(-1) + 1) / (act.sum(-1) + 1)
    return torch.cat([f[:, :, :2].mean(-1), weighted, score[..., None]], -1)


class BrisqueExtractor(nn.Module):
    """Module form of :func:`brisque_features` (no parameters/buffers): (B,C,H,W) → (B,C,60)."""

    def __init__(self, c: float = DEFAULT_C, tau: float = 0.02) -> None:
        super().__init__()
        self.c, self.tau = float(c), float(tau)

    def forward(self, x: Tensor) -> Tensor:
        return brisque_features(x, self.c, self.tau)

    def extra_repr(self) -> str:
        return f"c={self.c:.6g}, tau={self.tau}"


class PiqeExtractor(nn.Module):
    """Module form of :func:`piqe_features` (``per_block=False``: ``(B, C, 10)``) or
    :func:`piqe_block_features` (``per_block=True``: ``(B, C, 10, nBlocks)``)."""

    def __init__(self, block: int = 16, c: float = DEFAULT_C, tau: float = 0.02,
                 activity_threshold: float = 0.1, edge_threshold: float = 0.1, segment: int = 6,
                 per_block: bool = False) -> None:
        super().__init__()
        self.block, self.c, self.tau, self.segment = int(block), float(c), float(tau), int(segment)
        self.activity_threshold = float(activity_threshold)
        self.edge_threshold = float(edge_threshold)
        self.per_block = per_block

    def forward(self, x: Tensor) -> Tensor:
        args = (x, self.block, self.c, self.tau, self.activity_threshold, self.edge_threshold,
                self.segment)
        return piqe_block_features(*args) if self.per_block else piqe_features(*args)

    def extra_repr(self) -> str:
        return (f"block={self.block}, c={self.c:.6g}, tau={self.tau}, per_block={self.per_block}, "
                f"thresholds=({self.activity_threshold}, {self.edge_threshold}), "
                f"segment={self.segment}")
