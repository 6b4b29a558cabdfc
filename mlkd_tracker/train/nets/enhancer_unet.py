"""Encoder-decoder low-light enhancer family for SLKD: one design, a width/depth/blocks setting.

Teacher A (dark -> clean), Teacher B (clean -> clean) and the student are all this network at
different settings, so the student's encoder and decoder stages line up with the teachers' by
resolution and can be distilled stage by stage.

Why this shape: a patchify stem (a ``stem`` x ``stem`` conv with that stride) moves all work to
1/``stem`` resolution (a 640x480 frame costs 1/stem^2 of a full-resolution network with the same
channels) and a transposed conv of the same size undoes it; a U-Net with additive skips keeps
the detail the stem packed into channels. Pixel-(un)shuffle would be the same maths, but ONNX
Runtime runs its 6-D transposes slower than the whole student's convolutions (profiled: 4.6 ms
of 14 ms at 640x480). The head predicts the clean
image directly rather than a residual to the input: a clean->clean reconstructor with a
residual head would learn the identity through the shortcut and leave its decoder features
meaningless, and IRL distils exactly those features. No BatchNorm: the statistics of dark
images vary too much between frames and batches are small.

Two options target what a narrow student loses (measured on the first SLKD student: washed-out
colours and a faint stem-sized grid). ``overlap_head``: the transposed-conv head gets a kernel of
twice its stride, so neighbouring low-resolution pixels blend instead of each painting its own
stem x stem block (exported as the equal conv + ``PixelShuffle``, see :func:`subpixel_head`:
for this one 3-channel output the shuffle is cheap and ONNX Runtime's transposed conv is not).
``colour_head``: a per-image 3x3 colour matrix and offset predicted from the
pooled bottleneck (zero-initialised, so it starts as the identity), which restores saturation and
white balance globally for a few hundred parameters and almost no MACs.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from mlkd_tracker.train.nets.config import _check_keys


@dataclass
class UNetEnhancerConfig:
    name: str = "enhancer"
    width: int = 8      # channels of the first stage; doubled at every level, up to max_width
    depth: int = 2      # down-samplings after the stem (levels = depth + 1)
    blocks: int = 1     # residual blocks per encoder, bottleneck and decoder stage
    stem: int = 4       # patchify factor: the network runs at 1/stem resolution
    max_width: int = 256
    overlap_head: bool = False  # head kernel 2 x stem (blends neighbours; no block grid)
    colour_head: bool = False   # global per-image colour matrix + offset from the bottleneck

    def __post_init__(self) -> None:
        if self.width < 1 or self.depth < 0 or self.blocks < 0 or self.stem not in (1, 2, 4) \
                or self.max_width < self.width:
            raise ValueError(f"bad enhancer config {self}: need width >= 1, depth >= 0, "
                             "blocks >= 0, stem in (1, 2, 4), max_width >= width")

    @property
    def size_multiple(self) -> int:
        """Input height and width must be multiples of this (the runtime pads to it)."""
        return self.stem * 2 ** self.depth

    def widths(self) -> list[int]:
        return [min(self.width * 2 ** i, self.max_width) for i in range(self.depth + 1)]

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "UNetEnhancerConfig":
        _check_keys(cls, d)
        return cls(**d)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


ENHANCER_PRESETS: dict[str, UNetEnhancerConfig] = {
    # Teacher A / B: 8.6 GMAC, 2.4 M params at 640x480; first student: 0.31 GMAC, 83 k (3.6 %).
    "slkd_teacher": UNetEnhancerConfig(name="slkd_teacher", width=48, depth=2, blocks=2, stem=4),
    "slkd_student": UNetEnhancerConfig(name="slkd_student", width=12, depth=2, blocks=1, stem=4),
    # the same student with the overlapping head and the global colour head
    "slkd_student_v2": UNetEnhancerConfig(name="slkd_student_v2", width=12, depth=2, blocks=1,
                                          stem=4, overlap_head=True, colour_head=True),
    # the overlapping head alone (85 k params, 0.34 GMAC); not shipped: under 100 FPS
    "slkd_student_v3": UNetEnhancerConfig(name="slkd_student_v3", width=12, depth=2, blocks=1,
                                          stem=4, overlap_head=True),
    # the shipped student: widths 16/32/64 (147 k params, 0.54 GMAC, 6.2 %);
    # multiples of 8 channels suit ONNX Runtime's kernels (width 14 ran slower than 16)
    "slkd_student_w16": UNetEnhancerConfig(name="slkd_student_w16", width=16, depth=2, blocks=1,
                                           stem=4),
}


def enhancer_config(spec: str | dict) -> UNetEnhancerConfig:
    """A preset name or a config dict (YAML) -> a validated config."""
    if isinstance(spec, str):
        if spec not in ENHANCER_PRESETS:
            raise ValueError(f"unknown enhancer preset {spec!r}; known: {sorted(ENHANCER_PRESETS)}")
        return dataclasses.replace(ENHANCER_PRESETS[spec])
    return UNetEnhancerConfig.from_dict(spec)


class ResBlock(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1)
        self.act = nn.LeakyReLU(0.1)

    def forward(self, x: Tensor) -> Tensor:
        return self.act(x + self.conv2(self.act(self.conv1(x))))


def _stage(c: int, blocks: int) -> nn.Sequential:
    return nn.Sequential(*(ResBlock(c) for _ in range(blocks)))


class UNetEnhancer(nn.Module):
    """Images (B, 3, H, W) in [0, 1] -> enhanced images in [0, 1] (clamped only in eval mode,
    so training losses keep their gradient outside the range).

    ``features(x)`` also returns the encoder stages (fine to coarse, bottleneck last) and the
    decoder stages (coarse to fine) that SLKD's DRL and IRL terms distil.
    """

    def __init__(self, cfg: UNetEnhancerConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg = cfg or UNetEnhancerConfig()
        w = cfg.widths()
        k = cfg.stem
        self.stem = nn.Sequential(nn.Conv2d(3, w[0], k, stride=k), nn.LeakyReLU(0.1))
        self.encoders = nn.ModuleList(_stage(w[i], cfg.blocks) for i in range(cfg.depth + 1))
        self.downs = nn.ModuleList(
            nn.Sequential(nn.Conv2d(w[i], w[i + 1], 3, stride=2, padding=1), nn.LeakyReLU(0.1))
            for i in range(cfg.depth))
        self.ups = nn.ModuleList(nn.Conv2d(w[i + 1], w[i], 1) for i in range(cfg.depth))
        self.decoders = nn.ModuleList(_stage(w[i], cfg.blocks) for i in range(cfg.depth))
        if cfg.overlap_head and k > 1:  # kernel 2k, padding k/2: output exactly k x the input
            self.head = nn.ConvTranspose2d(w[0], 3, 2 * k, stride=k, padding=k // 2)
        else:
            self.head = nn.ConvTranspose2d(w[0], 3, k, stride=k)
        self.colour = None
        if cfg.colour_head:
            self.colour = nn.Linear(w[-1], 12)  # 3x3 matrix (added to the identity) + 3 offsets
            nn.init.zeros_(self.colour.weight)
            nn.init.zeros_(self.colour.bias)
        self.upsample = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)

    def features(self, x01: Tensor) -> tuple[Tensor, list[Tensor], list[Tensor]]:
        """(output, encoder stages [level 0 .. depth], decoder stages [level depth-1 .. 0])."""
        m = self.cfg.size_multiple
        if not torch.jit.is_tracing() and (x01.shape[-2] % m or x01.shape[-1] % m):
            raise ValueError(f"{self.cfg.name}: input {tuple(x01.shape[-2:])} is not a multiple "
                             f"of {m} (pad it; the runtime does)")
        h = self.stem(x01)
        enc: list[Tensor] = []
        for i, stage in enumerate(self.encoders):
            h = stage(h)
            enc.append(h)
            if i < self.cfg.depth:
                h = self.downs[i](h)
        dec: list[Tensor] = []
        for i in reversed(range(self.cfg.depth)):
            h = self.decoders[i](self.ups[i](self.upsample(h)) + enc[i])
            dec.append(h)
        out = self.head(h)
        if self.colour is not None:
            out = self._recolour(out, enc[-1])
        if not self.training:
            out = out.clamp(0.0, 1.0)
        return out, enc, dec

    def _recolour(self, image: Tensor, bottleneck: Tensor) -> Tensor:
        params = self.colour(bottleneck.mean(dim=(2, 3)))  # (B, 12)
        matrix = params[:, :9].reshape(-1, 3, 3) + torch.eye(3, device=image.device)
        mixed = torch.einsum("bij,bjhw->bihw", matrix, image)
        return mixed + params[:, 9:, None, None]

    def forward(self, x01: Tensor) -> Tensor:
        return self.features(x01)[0]


def subpixel_head(head: nn.ConvTranspose2d) -> nn.Sequential:
    """The overlapping head (transposed conv, kernel 2k, stride k, padding k/2) as the same
    function in another form: a 3x3 conv at low resolution with 3·k² outputs, one per output
    phase, then ``PixelShuffle(k)``. Output phase r of low-resolution cell I draws on cells
    I + d, d in {-1, 0, 1}, through kernel tap ``a = r + k/2 - k·d`` (zero where that is
    outside the kernel). Why: ONNX Runtime runs the transposed conv slowly on CPU; the exported
    ``slkd_student_v3`` is about 12 % faster this way (12.4 -> 11.0 ms per 640x480 frame through
    ``OnnxEnhancer``, 2 threads, the two forms timed interleaved on a busy machine)."""
    k, size, pad = head.stride[0], head.kernel_size[0], head.padding[0]
    if (head.kernel_size != (2 * k, 2 * k) or head.stride != (k, k) or head.padding != (pad, pad)
            or k % 2 or pad != k // 2 or head.groups != 1 or head.output_padding != (0, 0)
            or head.dilation != (1, 1)):
        raise ValueError(f"not an overlapping head (kernel 2k, stride k, padding k/2): {head}")
    cin, cout = head.in_channels, head.out_channels
    w = head.weight.detach()  # (cin, cout, 2k, 2k)
    taps = torch.zeros(cout, k, k, cin, 3, 3, dtype=w.dtype)
    for r in range(k):
        for s in range(k):
            for d in (-1, 0, 1):
                for e in (-1, 0, 1):
                    a, b = r + pad - k * d, s + pad - k * e
                    if 0 <= a < size and 0 <= b < size:
                        taps[:, r, s, :, d + 1, e + 1] = w[:, :, a, b].T
    conv = nn.Conv2d(cin, cout * k * k, 3, padding=1)
    with torch.no_grad():
        conv.weight.copy_(taps.reshape(cout * k * k, cin, 3, 3))
        conv.bias.copy_(head.bias.detach().repeat_interleave(k * k))
    return nn.Sequential(conv, nn.PixelShuffle(k))


def for_export(model: UNetEnhancer) -> UNetEnhancer:
    """A copy computing the same function with the operators ONNX Runtime runs fastest."""
    import copy
    fast = copy.deepcopy(model).eval()
    if fast.cfg.overlap_head and fast.cfg.stem > 1:
        fast.head = subpixel_head(fast.head)
    return fast


def build_enhancer(spec: str | dict | UNetEnhancerConfig) -> UNetEnhancer:
    cfg = spec if isinstance(spec, UNetEnhancerConfig) else enhancer_config(spec)
    return UNetEnhancer(cfg)


def enhancer_cost(cfg: UNetEnhancerConfig, height: int = 480, width: int = 640) -> dict[str, int]:
    """Params and MACs (torch's FLOP counter, convolutions only) at one frame size."""
    from mlkd_tracker.train.nets.summary import count_macs, count_params
    model = UNetEnhancer(cfg).eval()
    x = torch.zeros(1, 3, height, width)
    return {"params": count_params(model), "macs": count_macs(model, x)}
