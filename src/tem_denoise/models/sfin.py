"""Spatial-Frequency Interactive Network (SFIN), seed 001 §3.4.

Same skeleton as SCGN: a 3x3 head conv (1 -> C), ``n`` blocks, a global residual
and a 3x3 tail conv (C -> 1) with a linear output. Each block splits the channels
into a spatial half and a frequency half and applies two spatial-frequency
interactive units (SFIB) with cross-domain paths::

    out_spatial   = conv3x3_l2l(x_spatial) + conv3x3_g2l(x_freq)
    out_frequency = conv3x3_l2g(x_spatial) + SpectralTransform(x_freq)

each followed by BatchNorm and ReLU; then a residual add per branch and
concatenation (no fuse conv). The Fourier unit is the plain one (rFFT, 1x1 conv,
BN, ReLU, irFFT; no attention).

The paper size ``channels=64, n_blocks=8`` has 960,193 parameters, the count of
the authors' code (``seed_code_notes.md`` §2). Trained on 0..255 intensities at
256 x 256; the target is an enhanced atom map (HAADF or BF).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from tem_denoise.models.ffc import SpectralTransform, conv3x3


class InteractiveUnit(nn.Module):
    """SFIB: local and spectral paths with the two cross-domain convolutions."""

    def __init__(self, half: int):
        super().__init__()
        self.l2l = conv3x3(half, half)
        self.g2l = conv3x3(half, half)
        self.l2g = conv3x3(half, half)
        self.g2g = SpectralTransform(half, attention=False)
        self.bn_local = nn.BatchNorm2d(half)
        self.bn_global = nn.BatchNorm2d(half)

    def forward(self, x_local: torch.Tensor, x_global: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y_local = self.l2l(x_local) + self.g2l(x_global)
        y_global = self.l2g(x_local) + self.g2g(x_global)
        return F.relu(self.bn_local(y_local)), F.relu(self.bn_global(y_global))


class InteractiveBlock(nn.Module):
    """Split C -> two SFIB -> per-branch residual -> concat."""

    def __init__(self, channels: int):
        super().__init__()
        if channels % 2:
            raise ValueError(f"SFIN needs an even channel count, got {channels}")
        self.half_channels = channels // 2
        self.units = nn.ModuleList([InteractiveUnit(self.half_channels) for _ in range(2)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_local, x_global = torch.split(x, self.half_channels, dim=1)
        y_local, y_global = x_local, x_global
        for unit in self.units:
            y_local, y_global = unit(y_local, y_global)
        return torch.cat([x_local + y_local, x_global + y_global], dim=1)


class SFIN(nn.Module):
    """Spatial-frequency interactive network.

    Parameters
    ----------
    channels : int
        Feature channels ``C`` (even); paper value 64.
    n_blocks : int
        Number of interactive blocks; paper value 8.

    Notes
    -----
    Input ``(B, 1, H, W)``, output ``(B, 1, H, W)``, any ``H, W >= 1``; intensities
    on the 0..255 training scale.
    """

    temporal_window = 1

    def __init__(self, channels: int = 64, n_blocks: int = 8):
        super().__init__()
        self.head = conv3x3(1, channels)
        self.body = nn.Sequential(*[InteractiveBlock(channels) for _ in range(n_blocks)])
        self.tail = conv3x3(channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.head(x)
        return self.tail(features + self.body(features))
