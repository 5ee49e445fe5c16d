"""Tiny torch modules that stand in for trained networks in engine tests."""

from __future__ import annotations

import torch


class Identity(torch.nn.Module):
    """Stands for a restoration network that learned nothing: returns its image channel."""

    temporal_window = 1
    alignment = 1

    def forward(self, x):
        return x[:, :1].clone()
