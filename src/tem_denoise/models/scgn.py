"""Statistical Characteristic-Guided Network (SCGN), seed 000 §3.2-3.4.

A 3x3 head conv (1 -> C), ``n`` spatial-frequency enhancement blocks, a global
residual and a 3x3 tail conv (C -> 1) with a linear output. Each block splits the
C channels into a local half and a global half and applies two units:

* local branch, spatial-deviation-guided weighting (SDGW):
  ``conv3x3(x) * sigmoid(conv1x1_nobias(SD3x3(x)))`` where ``SD3x3`` is the
  per-channel standard deviation in a 3x3 window with reflect padding;
* global branch, frequency-band-guided weighting (FBGW): a spectral transform
  whose Fourier unit carries channel attention with weights in ``[0, 2]``;

each followed by BatchNorm and ReLU, with no cross-domain paths; then a residual
add per branch, concatenation and a 3x3 fuse conv.

The paper size is ``channels=64, n_blocks=8`` with 1,640,641 parameters, the
count of the authors' code (``seed_code_notes.md`` §1). The model was trained on
0..255 intensities (256 x 256 frames) and its target is an atom map.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from tem_denoise.models.ffc import SpectralTransform, conv3x3

SD_EPS = 1e-5


def local_std(x: torch.Tensor, eps: float = SD_EPS) -> torch.Tensor:
    """Per-channel standard deviation in a 3x3 window, same shape as ``x``.

    Reflect padding keeps the statistic meaningful at the border; the variance is
    floored at ``eps`` before the square root (seed 000 eq. 2). Computed in
    float32 even under autocast (``E[x^2] - E[x]^2`` cancels badly in half precision).
    """
    padded = F.pad(x.float(), (1, 1, 1, 1), mode="reflect")
    mean = F.avg_pool2d(padded, 3, stride=1)
    mean_sq = F.avg_pool2d(padded * padded, 3, stride=1)
    return torch.clamp(mean_sq - mean * mean, min=eps).sqrt()


class DeviationWeightedConv(nn.Module):
    """SDGW: a 3x3 conv gated per pixel by ``sigmoid(conv1x1(local SD))``."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = conv3x3(channels, channels)
        self.gate = nn.Conv2d(channels, channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x) * torch.sigmoid(self.gate(local_std(x)))


class EnhancementUnit(nn.Module):
    """One SDGW (local half) + one FBGW (global half), each with BN + ReLU."""

    def __init__(self, half: int):
        super().__init__()
        self.local = DeviationWeightedConv(half)
        self.spectral = SpectralTransform(half, attention=True)
        self.bn_local = nn.BatchNorm2d(half)
        self.bn_global = nn.BatchNorm2d(half)

    def forward(self, x_local: torch.Tensor, x_global: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y_local = F.relu(self.bn_local(self.local(x_local)))
        y_global = F.relu(self.bn_global(self.spectral(x_global)))
        return y_local, y_global


class EnhancementBlock(nn.Module):
    """Split C -> two units -> per-branch residual -> concat -> 3x3 fuse conv."""

    def __init__(self, channels: int):
        super().__init__()
        if channels % 2:
            raise ValueError(f"SCGN needs an even channel count, got {channels}")
        self.half_channels = channels // 2
        self.units = nn.ModuleList([EnhancementUnit(self.half_channels) for _ in range(2)])
        self.fuse = conv3x3(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_local, x_global = torch.split(x, self.half_channels, dim=1)
        y_local, y_global = x_local, x_global
        for unit in self.units:
            y_local, y_global = unit(y_local, y_global)
        return self.fuse(torch.cat([x_local + y_local, x_global + y_global], dim=1))


class SCGN(nn.Module):
    """Statistical characteristic-guided network.

    Parameters
    ----------
    channels : int
        Feature channels ``C`` (even); paper value 64.
    n_blocks : int
        Number of spatial-frequency enhancement blocks ``n``; paper value 8.

    Notes
    -----
    Input ``(B, 1, H, W)``, output ``(B, 1, H, W)``, any ``H, W >= 2``. Intensities
    are expected on the 0..255 scale of the training data (the engine's
    ``percentile-255`` adapter provides it).
    """

    temporal_window = 1

    def __init__(self, channels: int = 64, n_blocks: int = 8):
        super().__init__()
        self.head = conv3x3(1, channels)
        self.body = nn.Sequential(*[EnhancementBlock(channels) for _ in range(n_blocks)])
        self.tail = conv3x3(channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.head(x)
        return self.tail(features + self.body(features))
