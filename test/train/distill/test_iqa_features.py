"""Differentiable BRISQUE / PIQE lenses: smooth everywhere, move the right way under noise and
blur on real images, and reduce to the classic pipelines (OpenCV's BRISQUE, PIQE's criteria)
when the temperature goes to 0."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import skimage.data
import torch
from scipy.special import gamma as G

from mlkd_tracker.train.distill.iqa_features import (
    BRISQUE_K, PIQE_K, SHIFTS, BrisqueExtractor, PiqeExtractor, brisque_features, brisque_stats,
    mscn, piqe_block_features, piqe_features,
)

MEAN, MEAN_SQ, MEAN_ABS, RHO, LEFT, RIGHT = range(6)          # BRISQUE_STATS
VAR, ACT, SEG, IMPAIRED, CSD, NOISE, DIST = 0, 1, slice(2, 6), 6, 7, 8, 9   # PIQE_STATS


def _gray(name: str) -> np.ndarray:
    img = getattr(skimage.data, name)()
    return img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)


def _t(*imgs: np.ndarray) -> torch.Tensor:
    """uint8/float 0..255 grayscale images → (N, 1, H, W) float64 in [0, 1]."""
    return torch.from_numpy(np.stack([np.asarray(i, np.float64) / 255 for i in imgs]))[:, None]


def _distorted(name: str, crop: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Clean, + white noise (σ = 10 grey levels), Gaussian-blurred (σ = 1.5 px); centre crop."""
    clean = _gray(name).astype(np.float64)
    if crop:
        y, x = (clean.shape[0] - crop) // 2, (clean.shape[1] - crop) // 2
        clean = clean[y:y + crop, x:x + crop]
    noisy = clean + np.random.default_rng(0).normal(0.0, 10.0, clean.shape)
    return clean, noisy, cv2.GaussianBlur(clean, (0, 0), 1.5)


# --- 1. differentiable everywhere ---------------------------------------------------------------

EXTRACTORS = [BrisqueExtractor(), PiqeExtractor(block=8), PiqeExtractor(block=4, per_block=True)]


@pytest.mark.parametrize("ex", EXTRACTORS, ids=["brisque", "piqe", "piqe_blocks"])
@pytest.mark.parametrize("kind", ["random", "constant", "zeros", "relu_like"])
def test_gradient_is_finite_on_degenerate_inputs(ex, kind):
    # A constant map has local σ = 0 and MSCN ≡ 0 (a plain sqrt / |x| / 0-by-0 ratio gives NaN).
    x = {"random": torch.rand(2, 3, 24, 20), "constant": torch.full((2, 3, 24, 20), 0.5),
         "zeros": torch.zeros(2, 3, 24, 20),
         "relu_like": torch.relu(torch.randn(2, 3, 24, 20))}[kind].requires_grad_()
    f = ex(x)
    (f * torch.randn_like(f)).sum().backward()
    assert torch.isfinite(f).all() and torch.isfinite(x.grad).all()


def test_gradcheck_brisque():
    x = torch.rand(1, 2, 8, 9, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(brisque_features, (x,), fast_mode=True)


def test_gradcheck_piqe_with_padding():
    x = torch.rand(1, 2, 9, 10, dtype=torch.float64, requires_grad=True)  # padded to 12×12
    assert torch.autograd.gradcheck(lambda t: piqe_features(t, block=4), (x,), fast_mode=True)
    assert torch.autograd.gradcheck(lambda t: piqe_block_features(t, block=4), (x,),
                                    fast_mode=True)


# --- 2. direction on real images ----------------------------------------------------------------

@pytest.mark.parametrize("name", ["camera", "astronaut"])
def test_brisque_noise_and_blur_move_stats_in_opposite_known_directions(name):
    st = brisque_stats(_t(*_distorted(name)))[:, 0, 0]  # (clean/noisy/blurred, map, stat), scale 1
    rho = st[:, 0, RHO]
    # Noise: MSCN loses its heavy tails (ρ drops; on these images even below the Gaussian π/2,
    # as a local σ estimated from the same noise bounds the coefficients). Blur: peakier, ρ rises.
    assert rho[1] < rho[0] < rho[2]
    energy = st[:, 0, MEAN_SQ]                            # noise adds MSCN energy, blur removes it
    assert energy[1] > energy[0] > energy[2]
    # Neighbour correlation E[m·m'] / E[m²], every direction: noise decorrelates neighbours (and
    # mean subtraction turns white noise *anti*-correlated), blur makes them move together.
    corr = st[:, 1:, MEAN] / energy[:, None]
    assert (corr[1] < corr[0]).all() and (corr[0] < corr[2]).all() and (corr[1] < 0).all()


@pytest.mark.parametrize("name", ["camera", "astronaut"])
def test_piqe_blur_lowers_activity_and_noise_raises_flat_block_edge_spread(name):
    x = _t(*_distorted(name)).float()
    blocks = piqe_block_features(x)[:, 0]                 # (clean/noisy/blurred, K, nBlocks)
    pooled = piqe_features(x)[:, 0]
    assert blocks[2, VAR].mean() < blocks[0, VAR].mean() and pooled[2, ACT] < pooled[0, ACT]
    flat = blocks[0, VAR] < 0.1                           # PIQE-inactive in the clean image
    assert flat.sum() > 20
    spread = blocks[:, SEG][..., flat].mean((1, 2))
    assert spread[1] > 2 * spread[0]
    assert pooled[1, NOISE] > pooled[0, NOISE] and pooled[2, IMPAIRED] > pooled[0, IMPAIRED]
    assert pooled[1, DIST] > pooled[0, DIST] and pooled[2, DIST] > pooled[0, DIST]  # PIQE: worse


# --- 3. the classic pipelines ------------------------------------------------------------------

def test_mscn_matches_opencv_with_brisques_replicate_border():
    img = _gray("camera").astype(np.float64)
    def blur(a: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(a, (7, 7), 7 / 6, borderType=cv2.BORDER_REPLICATE)

    mu = blur(img)
    ref = (img - mu) / (np.sqrt(np.abs(blur(img * img) - mu * mu)) + 1.0)  # paper: c=1 on 0..255
    ours_255 = mscn(torch.from_numpy(img)[None, None], c=1.0)[0, 0].numpy()
    ours_unit = mscn(_t(img))[0, 0].numpy()                                 # default c = 1/255
    np.testing.assert_allclose(ours_255, ref, atol=1e-5)   # whole map, borders included
    np.testing.assert_allclose(ours_unit, ref, atol=1e-5)


_GRID = np.arange(0.2, 10.0, 0.001)
_R_GRID = G(2 / _GRID) ** 2 / (G(1 / _GRID) * G(3 / _GRID))


def _classic_vector(st: np.ndarray, h: int, w: int) -> np.ndarray:
    """OpenCV's 36-d layout rebuilt from our (2, 5, 6) stats: per scale [α, (σ_l²+σ_r²)/2] of the
    MSCN, then [α, mean param, σ_l², σ_r²] per product H, V, D1, D2. α is the classic grid search
    inverting r(α) = Γ(2/α)²/(Γ(1/α)Γ(3/α)) at r̂ = E|x|²/E[x²] (= 1/ρ), corrected by
    γ̂ = σ_l/σ_r."""
    out: list[float] = []
    for s, (hh, ww) in enumerate([(h, w), (h // 2, w // 2)]):
        for k in range(5):
            lv, rv = st[s, k, LEFT], st[s, k, RIGHT]
            # OpenCV zero-fills the product border and divides by all H·W pixels; we crop.
            dy, dx = (0, 0) if k == 0 else SHIFTS[k - 1]
            kept = (hh - abs(dy)) * (ww - abs(dx)) / (hh * ww)
            g = np.sqrt(lv / rv)
            r_norm = kept / st[s, k, RHO] * (g ** 3 + 1) * (g + 1) / (g ** 2 + 1) ** 2
            a = _GRID[np.argmin(np.abs(_R_GRID - r_norm))]
            if k == 0:
                out += [a, (lv + rv) / 2]
            else:
                scale = G(2 / a) / G(1 / a) * np.sqrt(G(1 / a) / G(3 / a))
                mean_param = (np.sqrt(rv) - np.sqrt(lv)) * scale
                out += [a, mean_param, lv, rv]
    return np.array(out)


# astronaut is left out on purpose: it has saturated flat patches whose MSCN is exactly 0. The
# classic hard masks drop exact zeros from both the left and the right count, whereas
# sigmoid(0/τ) = 1/2 for every τ puts half of each zero on each side, so σ_l², σ_r² differ by ~8 %.
@pytest.mark.parametrize("name", ["camera", "coffee"])
def test_hard_limit_reproduces_opencv_brisque_features(name):
    img = _gray(name)
    ref = cv2.quality.QualityBRISQUE_computeFeatures(img).ravel().astype(np.float64)
    st = brisque_stats(_t(img), tau=1e-6)[0, 0].numpy()
    ours = _classic_vector(st, *img.shape)
    alpha = np.r_[0, 2, 6, 10, 14, 18, 20, 24, 28, 32]
    rest = np.setdiff1d(np.arange(36), alpha)
    # α: same grid, so equal up to one 0.001 step (OpenCV's float32 statistics can flip a tie).
    np.testing.assert_allclose(ours[alpha], ref[alpha], atol=1.5e-3)
    # Variances and mean parameters: OpenCV accumulates in float32, we in float64 (seen: ≤ 2e-5).
    np.testing.assert_allclose(ours[rest], ref[rest], atol=5e-5, rtol=1e-3)


def test_soft_spreads_approach_the_classic_ones_as_tau_shrinks():
    img = _gray("camera")
    ref = cv2.quality.QualityBRISQUE_computeFeatures(img).ravel()
    spreads = np.r_[[s + 4 * k + j for s in (4, 22) for k in range(4) for j in (0, 1)]]
    err = [np.abs(_classic_vector(brisque_stats(_t(img), tau=t)[0, 0].numpy(), *img.shape)[spreads]
                  - ref[spreads]).max() for t in (0.05, 0.02, 1e-3, 1e-6)]
    assert err[0] > err[1] > err[2] > err[3] and err[3] < 5e-5
    # Default τ = 0.02 re-weights the |x| ≲ 3τ mass near 0 (seen: ≤ 9 % of the smallest spread).
    assert err[1] < 0.12 * ref[spreads].min()


def test_rho_ranks_images_like_the_classic_mscn_shape_alpha():
    # ρ replaces α (no gradient through a grid search); a student matching ρ matches α's ordering.
    rhos, alphas = [], []
    for name in ("camera", "astronaut", "coffee"):
        for img in _distorted(name, crop=256):
            u8 = np.clip(np.round(img), 0, 255).astype(np.uint8)
            rhos.append(float(brisque_stats(_t(u8))[0, 0, 0, 0, RHO]))
            alphas.append(float(cv2.quality.QualityBRISQUE_computeFeatures(u8).ravel()[0]))
    ranks = [np.argsort(np.argsort(v)) for v in (rhos, alphas)]     # no ties among these floats
    assert np.corrcoef(*ranks)[0, 1] < -0.9                          # Spearman's rank correlation


def _piqe_reference(m: np.ndarray, b: int = 16, win: int = 6):
    """PIQE's per-block hard criteria (activity, noticeable-artifact, noise) on an MSCN map."""
    rows = []
    for i in range(0, m.shape[0], b):
        for j in range(0, m.shape[1], b):
            blk = m[i:i + b, j:j + b]
            var = blk.var(ddof=1)
            edges = [blk[0], blk[:, -1], blk[-1], blk[:, 0]]
            seg_std = [e[s:s + win].std(ddof=1) for e in edges for s in range(b - win + 1)]
            centre = [b // 2 - 1, b // 2]
            csd = blk[:, centre].std(ddof=1) / np.delete(blk, centre, 1).std(ddof=1)
            sigma = np.sqrt(var)
            beta = abs(sigma - csd) / max(sigma, csd)
            rows.append((var, var > 0.1, min(seg_std) < 0.1, sigma > 2 * beta))
    return [np.array(c) for c in zip(*rows)]


def test_piqe_hard_limit_matches_piqe_block_criteria():
    img = _gray("camera")
    x = _t(img)
    var, active, impaired, noisy = _piqe_reference(mscn(x)[0, 0].numpy())
    f = piqe_block_features(x, tau=1e-6)[0, 0].numpy()
    np.testing.assert_allclose(f[VAR], var, rtol=1e-9)
    assert ((f[ACT] > 0.5) == active).all()
    assert ((f[IMPAIRED] > 0.5) == impaired).mean() > 0.99  # only near-threshold blocks may differ
    assert ((f[NOISE] > 0.5) == noisy).mean() > 0.99
    score = (active * (impaired * (1 - var) + noisy * var)).sum() + 1
    pooled = piqe_features(x, tau=1e-6)[0, 0, DIST].item()
    assert pooled == pytest.approx(score / (active.sum() + 1), abs=1e-3)   # PIQE score / 100


# --- 4. shapes and independence -----------------------------------------------------------------

@pytest.mark.parametrize("ex, shape", [
    (BrisqueExtractor(), (3, 16, BRISQUE_K)),
    (PiqeExtractor(block=8), (3, 16, PIQE_K)),
    (PiqeExtractor(block=8, per_block=True), (3, 16, PIQE_K, 30)),   # 33×47 → 5×6 blocks of 8
])
def test_feature_maps_shapes_and_sample_channel_independence(ex, shape):
    x = torch.randn(3, 16, 33, 47, dtype=torch.float64, requires_grad=True)
    f = ex(x)
    assert f.shape == shape
    torch.testing.assert_close(ex(x[1:2]), f[1:2])
    f[1, 5].sum().backward()            # one sample, one channel: gradient reaches only that slice
    touched = x.grad.abs().sum((2, 3)) > 0
    assert touched[1, 5] and touched.sum() == 1
    assert "tau" in repr(ex)
