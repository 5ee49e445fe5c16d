"""Restoration U-Net: reads an image and its noise map at a working sampling, outputs the image.

Input ``(B, 2, H, W)``: the frame brought to the model's working sampling and scaled to about
0..1, and its per-pixel noise standard deviation on the same scale (see
:class:`~tem_denoise.engine.adapters.RestoreAdapter`). Output ``(B, 1, H, W)``: the restored
frame on the same scale, predicted as a correction added to the input (residual), so that a
clean input passes nearly unchanged. Levels of two ``conv3x3 -> ReLU`` layers, 2x2 max-pool
down, bilinear up with a 1x1 conv, skips by concatenation; no normalisation layers, so the
output depends on the input alone. The noise map tells the network how much to smooth where:
one network covers doses over three decades.
"""

from __future__ import annotations

import torch
from torch import nn

from tem_denoise.models.unet import encode_decode, pad_to_multiple


def _block(in_ch: int, out_ch: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, 3, padding=1), nn.ReLU(inplace=True),
                         nn.Conv2d(out_ch, out_ch, 3, padding=1), nn.ReLU(inplace=True))


class RestoreUNet(nn.Module):
    """Residual U-Net of ``depth`` poolings with ``base_channels`` doubled per level.

    Parameters
    ----------
    base_channels : int
        Channels of the first level.
    depth : int
        Number of 2x2 poolings.
    """

    temporal_window = 1

    def __init__(self, base_channels: int = 12, depth: int = 3):
        super().__init__()
        widths = [base_channels * 2**i for i in range(depth + 1)]
        self.depth = depth
        self.down = nn.ModuleList([_block(2, widths[0])])
        self.down.extend(_block(widths[i], widths[i + 1]) for i in range(depth))
        self.reduce = nn.ModuleList(nn.Conv2d(widths[i + 1], widths[i], 1) for i in reversed(range(depth)))
        self.up = nn.ModuleList(_block(2 * widths[i], widths[i]) for i in reversed(range(depth)))
        self.out = nn.Conv2d(widths[0], 1, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    @property
    def alignment(self) -> int:
        """Pixels of one cell of the coarsest pooling grid; tiles start on multiples of it."""
        return 2**self.depth

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        padded, (h, w) = pad_to_multiple(x, 2**self.depth)
        correction = self.out(encode_decode(padded, self.down, self.reduce, self.up))
        return (padded[:, :1] + correction)[..., :h, :w]
