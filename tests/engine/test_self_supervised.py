"""End to end: a blind-spot net trained on the noisy frames alone, then run through the Denoiser, removes noise."""

from __future__ import annotations

import numpy as np
import torch

from tem_denoise.engine import Denoiser
from tem_denoise.models.blindspot import BlindSpotNet


def psnr(image: np.ndarray, clean: np.ndarray) -> float:
    return float(10 * np.log10(clean.max() ** 2 / np.mean((image - clean) ** 2)))


def test_blind_spot_training_on_noisy_counts_raises_psnr():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:40, :40]
    clean = 4 + 2 * np.cos(2 * np.pi * yy / 20) * np.cos(2 * np.pi * xx / 24)
    clean = np.repeat(clean[None], 2, axis=0).astype(np.float32)  # counting mode, 2..6 counts
    noisy = rng.poisson(clean).astype(np.float32)
    torch.manual_seed(0)
    model = BlindSpotNet(frames=1, mid_channels=3, n_layers=1, lowpass=False)
    opt = torch.optim.Adam(model.parameters(), lr=2e-2)
    x = torch.from_numpy(noisy)[:, None]
    for _ in range(60):
        opt.zero_grad()
        loss = ((model.blind(x) - x) ** 2).mean()  # Noise2Self: the target is the noisy input itself
        loss.backward()
        opt.step()
    out = Denoiser(model, device="cpu", tile=24, overlap=12).denoise(noisy)
    assert psnr(out, clean) > psnr(noisy, clean) + 6.0
