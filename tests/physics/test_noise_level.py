"""Recognising Poisson counts at any dose, with sharp atoms in the frame."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from tem_denoise.physics.noise_level import is_poisson


def columns(mean: float, sharp: bool = True) -> np.ndarray:
    """A 96 x 96 HAADF-like expected image: columns every 8 px on a background of ``mean / 4``."""
    image = np.zeros((96, 96))
    image[4::8, 4::8] = 1.0
    image = ndimage.gaussian_filter(image, 0.8 if sharp else 2.0)
    return mean * (0.25 + image / image.max())


def test_raw_counts_are_poisson_at_low_and_high_dose_with_sharp_columns():
    rng = np.random.default_rng(0)
    for mean in (4.0, 60.0, 2000.0):
        assert is_poisson(rng.poisson(columns(mean)).astype(np.float32)), mean


def test_cameras_and_processed_images_are_not_poisson():
    rng = np.random.default_rng(1)
    counts = rng.poisson(columns(60.0)).astype(np.float64)
    assert not is_poisson(np.round(8.0 * counts + 100.0))  # gain and dark level
    assert not is_poisson(np.round(ndimage.gaussian_filter(counts, 1.0)))  # blurred by a scintillator
    assert not is_poisson(counts + rng.normal(0, 0.3, counts.shape))  # not whole numbers
    assert not is_poisson(np.round(columns(200.0, sharp=False)))  # no noise at all
