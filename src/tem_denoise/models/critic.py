"""Wasserstein critic of the unpaired (Noise2Atom, seed 004) fine-tuning mode.

Four down-sampling modules, each a 3x3 convolution, a 3x3 convolution of stride 2, a
LeakyReLU(0.2) and 25 % dropout (seed 004: "a transposed convolution layer with a kernel size
of 3 x 3, followed by a convolution layer of stride 2 ... and then a dropout layer of 25 %";
a plain same-size convolution stands in for the size-keeping transposed one), then a global
average and a fully connected layer to one score. No normalisation layer, as the gradient
penalty of WGAN-GP requires. Used in training only; never saved as a model.
"""

from __future__ import annotations

import torch
from torch import nn


class Critic(nn.Module):
    """Score ``(B, 1, H, W)`` images on ``[0, 1]``: high for clean atom images.

    Parameters
    ----------
    channels : int
        Channels of the first module, doubled in each following one.
    """

    def __init__(self, channels: int = 16):
        super().__init__()
        layers: list[nn.Module] = []
        width_in = 1
        for level in range(4):
            width = channels * 2**level
            layers += [nn.Conv2d(width_in, width, 3, padding=1), nn.LeakyReLU(0.2),
                       nn.Conv2d(width, width, 3, stride=2, padding=1), nn.LeakyReLU(0.2), nn.Dropout(0.25)]
            width_in = width
        self.features = nn.Sequential(*layers)
        self.score = nn.Linear(width_in, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.score(self.features(x).mean(dim=(2, 3)))
