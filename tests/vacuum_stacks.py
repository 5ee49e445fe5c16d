"""Vacuum stacks of a scintillator camera for the calibration and noise-spectrum tests."""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def blurred_vacuum_stacks(doses=(20.0, 40.0, 80.0), frames=6, shape=(128, 128), psf_px=0.8, readout=2.0, seed=1):
    """Vacuum stacks of a scintillator camera: Poisson electrons blurred by a Gaussian PSF, plus
    white readout noise (electrons per pixel)."""
    rng = np.random.default_rng(seed)
    return [np.stack([ndimage.gaussian_filter(rng.poisson(dose, shape).astype(np.float64), psf_px, mode="wrap")
                      + rng.normal(0.0, readout, shape) for _ in range(frames)]) for dose in doses]
