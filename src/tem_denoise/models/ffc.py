"""Fourier units shared by SCGN (seed 000) and SFIN (seed 001).

Both networks build on Fast Fourier Convolution: a feature map is taken to the
frequency domain with a real FFT (``norm='ortho'``), its real and imaginary parts
are stacked as channels together with two "band position" channels (linspace 0..1
over the frequency rows and over the rfft columns), mixed with 1x1 convolutions
and brought back with the inverse real FFT at the original size, so any ``H x W``
works.

The FFTs always run in float32 with autocast disabled (cuFFT half precision only
supports power-of-two sizes); the convolutions between them follow the caller's
autocast setting.

Layer lists and parameter counts follow ``seed_code_notes.md`` sections 1 and 2.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def conv3x3(in_ch: int, out_ch: int, bias: bool = True) -> nn.Conv2d:
    """3x3 convolution with zero padding 1 (the authors' default layer)."""
    return nn.Conv2d(in_ch, out_ch, 3, padding=1, bias=bias)


def band_position(batch: int, rows: int, cols: int, like: torch.Tensor) -> torch.Tensor:
    """Two band-position channels, shape ``(batch, 2, rows, cols)``.

    Channel 0 is ``linspace(0, 1)`` over the frequency rows, channel 1 over the
    rfft columns (seed 000 §3.4).
    """
    ys = torch.linspace(0.0, 1.0, rows, device=like.device, dtype=like.dtype)
    xs = torch.linspace(0.0, 1.0, cols, device=like.device, dtype=like.dtype)
    grid_y = ys.view(1, 1, rows, 1).expand(batch, 1, rows, cols)
    grid_x = xs.view(1, 1, 1, cols).expand(batch, 1, rows, cols)
    return torch.cat([grid_y, grid_x], dim=1)


class ChannelAttention(nn.Module):
    """Frequency-band classification of seed 000 §3.4.

    A 3x3 convolution, then a shared bias-free MLP (``C -> C/16 -> C``, ReLU)
    applied to the average- and the max-pooled channels, each through a sigmoid;
    the weight is their sum, so it lies in ``[0, 2]`` (above 1 enhances a band,
    below 1 suppresses it).
    """

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.conv = conv3x3(channels, channels)
        self.mlp = nn.Sequential(
            nn.Conv2d(channels, hidden, 1, bias=False),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, channels, 1, bias=False),
        )

    def weights(self, y: torch.Tensor) -> torch.Tensor:
        """Per-channel weights in ``[0, 2]``, shape ``(B, C, 1, 1)``, for features ``y``."""
        avg = torch.sigmoid(self.mlp(F.adaptive_avg_pool2d(y, 1)))
        peak = torch.sigmoid(self.mlp(F.adaptive_max_pool2d(y, 1)))
        return avg + peak

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return y * self.weights(y)


class FourierUnit(nn.Module):
    """rFFT -> [real, imag, band position] -> 1x1 conv + BN + ReLU -> (attention) -> irFFT.

    Parameters
    ----------
    channels : int
        Spatial channels ``C``; the frequency features have ``2C`` channels.
    attention : bool
        SCGN's frequency-band-guided weighting (channel attention and a bias-free
        1x1 recoupling conv) when True; SFIN's plain unit when False.
    """

    def __init__(self, channels: int, attention: bool):
        super().__init__()
        spec = 2 * channels
        self.decouple = nn.Conv2d(spec + 2, spec, 1, bias=False)
        self.bn = nn.BatchNorm2d(spec)
        self.attention = ChannelAttention(spec) if attention else None
        self.recouple = nn.Conv2d(spec, spec, 1, bias=False) if attention else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        with torch.autocast(device_type=x.device.type, enabled=False):
            spectrum = torch.fft.rfft2(x.float(), norm="ortho")
        wr = spectrum.shape[-1]
        z = torch.stack([spectrum.real, spectrum.imag], dim=2).reshape(b, 2 * c, h, wr)
        z = torch.cat([z, band_position(b, h, wr, z)], dim=1)
        z = F.relu(self.bn(self.decouple(z)))
        if self.attention is not None:
            z = self.recouple(self.attention(z))
        with torch.autocast(device_type=x.device.type, enabled=False):
            z = z.float().reshape(b, c, 2, h, wr)
            out = torch.fft.irfft2(torch.complex(z[:, :, 0], z[:, :, 1]), s=(h, w), norm="ortho")
        return out.to(x.dtype)


class SpectralTransform(nn.Module):
    """conv3x3 -> FourierUnit -> concat with the unit's input -> conv3x3 (``C -> C``)."""

    def __init__(self, channels: int, attention: bool):
        super().__init__()
        self.conv_in = conv3x3(channels, channels)
        self.fourier = FourierUnit(channels, attention)
        self.conv_out = conv3x3(2 * channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv_in(x)
        return self.conv_out(torch.cat([y, self.fourier(y)], dim=1))
