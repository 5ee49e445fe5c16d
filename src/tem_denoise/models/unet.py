"""Small U-Net baseline (seed 003 §II.G; AtomSegNet-like).

Two down-sampling blocks (2x2 max-pool), a bottleneck and two up-sampling blocks
(bilinear x2 then a 1x1 conv, as in AtomSegNet), with skip connections by
concatenation. Every block is two ``conv3x3 -> ReLU -> BatchNorm`` layers (seed
003: "two convolutional layers with ReLU activation functions, each followed by
batch normalization"); channels ``C, 2C, 4C``. The last layer is a 1x1 conv with
a ReLU (seed 003, non-negative output); ``final_activation`` may select a
sigmoid (AtomSegNet's segmentation heads) or none.

Input of any size: it is reflect-padded up to a multiple of ``2 ** depth`` and
the output is cropped back. With ``base_channels=64, depth=2`` the count is
1,741,377 parameters; AtomSegNet's own small UNet has 1,742,533 (its exact
layer list is not in the notes), so this is a stand-in of the same shape and
size, not a weight-compatible copy.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from tem_denoise.models.ffc import conv3x3

ACTIVATIONS = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "none": nn.Identity}


def double_conv(in_ch: int, out_ch: int) -> nn.Sequential:
    """Two ``conv3x3 -> ReLU -> BatchNorm`` layers."""
    return nn.Sequential(
        conv3x3(in_ch, out_ch), nn.ReLU(inplace=True), nn.BatchNorm2d(out_ch),
        conv3x3(out_ch, out_ch), nn.ReLU(inplace=True), nn.BatchNorm2d(out_ch),
    )


def pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Reflect-pad the last two axes at the end up to a multiple of ``multiple``.

    Falls back to replicate padding where an axis is too short to reflect.
    Returns the padded tensor and the original ``(H, W)``.
    """
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    mode = "reflect" if ph < h and pw < w else "replicate"
    return F.pad(x, (0, pw, 0, ph), mode=mode), (h, w)


class UNet(nn.Module):
    """U-Net with ``depth`` poolings.

    Parameters
    ----------
    base_channels : int
        Channels of the first block ``C``; doubled per level.
    depth : int
        Number of down/up-sampling steps; seed 003 uses 2.
    final_activation : {"relu", "sigmoid", "none"}
        Output non-linearity.
    frames : int
        Consecutive frames read as input channels (odd); the output is the centre frame.
        1 is the single-frame network of seed 003.

    Notes
    -----
    Input ``(B, frames, H, W)`` on the 0..255 training scale, output ``(B, 1, H, W)``.
    """

    def __init__(self, base_channels: int = 64, depth: int = 2, final_activation: str = "relu", frames: int = 1):
        super().__init__()
        if frames < 1 or frames % 2 == 0:
            raise ValueError(f"frames must be a positive odd number, got {frames}")
        self.temporal_window = frames
        if final_activation not in ACTIVATIONS:
            raise ValueError(f"final_activation must be one of {sorted(ACTIVATIONS)}, got {final_activation!r}")
        widths = [base_channels * 2**i for i in range(depth + 1)]
        self.depth = depth
        self.down = nn.ModuleList([double_conv(frames, widths[0])])
        self.down.extend(double_conv(widths[i], widths[i + 1]) for i in range(depth))
        self.reduce = nn.ModuleList(nn.Conv2d(widths[i + 1], widths[i], 1) for i in reversed(range(depth)))
        self.up = nn.ModuleList(double_conv(2 * widths[i], widths[i]) for i in reversed(range(depth)))
        self.out = nn.Sequential(nn.Conv2d(widths[0], 1, 1), ACTIVATIONS[final_activation]())

    @property
    def alignment(self) -> int:
        """Pixels of one cell of the coarsest pooling grid; the engine starts tiles on multiples of it."""
        return 2**self.depth

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        padded, (h, w) = pad_to_multiple(x, 2**self.depth)
        return self.out(encode_decode(padded, self.down, self.reduce, self.up))[..., :h, :w]


def encode_decode(x: torch.Tensor, down: nn.ModuleList, reduce: nn.ModuleList, up: nn.ModuleList) -> torch.Tensor:
    """The U-Net pass over ``x`` (its size a multiple of the pooling grid): the ``down`` blocks
    with 2x2 max-pooling between them, then per level bilinear x2 up-sampling, a ``reduce``
    1x1 conv, concatenation with the skip and an ``up`` block; returns the last features."""
    skips = []
    y = x
    for i, block in enumerate(down):
        y = block(y if i == 0 else F.max_pool2d(y, 2))
        skips.append(y)
    skips.pop()
    for conv, block in zip(reduce, up):
        y = conv(F.interpolate(y, scale_factor=2, mode="bilinear", align_corners=False))
        y = block(torch.cat([skips.pop(), y], dim=1))
    return y
