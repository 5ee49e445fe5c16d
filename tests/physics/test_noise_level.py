"""The noise level read from the data: Poisson counts recognised at any dose, and the estimate
of other data, with sharp or undersampled atoms in the frame."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from tem_denoise.physics.noise_level import NoiseLevel, estimate_level, is_poisson


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


def lattice(spacing_px: float, width_px: float, size: int = 128) -> np.ndarray:
    """Columns on a square lattice, ``spacing_px`` apart and ``width_px`` wide (Gaussian sigma),
    from 0.2 between them to 1 on a column: point-sampled, so narrow columns are undersampled."""
    y, x = np.mgrid[:size, :size].astype(np.float64)
    dy = (y % spacing_px) - spacing_px / 2
    dx = (x % spacing_px) - spacing_px / 2
    return 0.2 + 0.8 * np.exp(-(dy**2 + dx**2) / (2 * width_px**2))


def camera(expected: np.ndarray, level: NoiseLevel, seed: int) -> np.ndarray:
    """``expected`` with white Gaussian noise of ``level``'s variance."""
    noise = np.random.default_rng(seed).standard_normal(expected.shape)
    return (expected + noise * level.sigma(expected)).astype(np.float32)


@pytest.mark.parametrize("spacing, width", [(5.3, 0.6), (4.1, 0.5), (16.7, 3.0)])
def test_the_estimate_holds_on_undersampled_and_well_sampled_lattices(spacing, width):
    """Atoms one or two pixels wide (as at 50 pm/px) leave their lattice in any local filter;
    the estimate must not count it as noise. Within 15 % of the true level, at two laws."""
    for seed, (gain, offset, dose) in enumerate([(4.0, 100.0, 2000.0), (1.0, 0.0, 50.0)]):
        expected = 100.0 + dose * lattice(spacing, width)
        true = NoiseLevel(gain, offset, "test")
        estimated = estimate_level(camera(expected, true, seed))
        ratio = np.sqrt(np.mean(estimated.sigma(expected) ** 2) / np.mean(true.sigma(expected) ** 2))
        assert ratio == pytest.approx(1.0, abs=0.15), (spacing, width, gain, ratio)


def test_raw_counts_of_an_undersampled_lattice_are_poisson():
    counts = np.random.default_rng(3).poisson(400.0 * lattice(4.1, 0.5)).astype(np.float32)
    assert is_poisson(counts)
    assert not is_poisson(np.round(5.0 * counts + 50.0))


def test_a_noise_model_must_come_from_the_detector_of_the_model_s_images():
    from tem_denoise.physics.noise_level import check_detector
    from tem_denoise.physics.noise_models import Counting, HRTEMNoise, STEMNoise

    camera = HRTEMNoise(k=0.05, b=3.0, sigma_c=0.0)
    check_detector(camera, "HRTEM", "model 'a'")
    check_detector(camera, "any", "model 'a'")
    with pytest.raises(ValueError, match="TEM camera's .* --stem bf IMAGE"):
        check_detector(camera, "STEM-BF", "model 'a'")
    for modality in ("HRTEM-counting", "STEM-HAADF"):  # counted electrons: Poisson on either microscope
        check_detector(Counting(), modality, "model 'a'")
    check_detector(STEMNoise(), "STEM-HAADF", "model 'a'")
    with pytest.raises(ValueError, match="STEM detector's .* vacuum stacks"):
        check_detector(STEMNoise(), "HRTEM-counting", "model 'a'")
    with pytest.warns(UserWarning, match="calibrated on a STEM HAADF image, but model 'a' is for STEM-BF"):
        check_detector(STEMNoise(), "STEM-BF", "model 'a'")
