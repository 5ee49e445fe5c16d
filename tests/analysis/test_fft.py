"""Power spectra and Bragg peaks of lattices with known reciprocal spacing."""

from __future__ import annotations

import numpy as np
import pytest

from tem_denoise.analysis import fft_line_profile, find_bragg_peaks, power_spectrum


@pytest.fixture
def square_lattice(synth):
    """Square lattice of Gaussian atoms, period 7.3 px (not a divisor of 256), 0.02 nm/px."""
    period = 7.3
    coords = np.arange(0, 256, period)
    positions = np.stack(np.meshgrid(coords, coords, indexing="ij"), axis=-1).reshape(-1, 2)
    return synth.render_atoms(positions, (256, 256), 1.2), period


def test_bragg_peaks_at_known_reciprocal_spacing(square_lattice):
    image, period = square_lattice
    spectrum = power_spectrum(image, pixel_size_nm=0.02)
    assert spectrum.unit == "1/nm"
    np.testing.assert_allclose(spectrum.reciprocal_pixel_size, 1 / (256 * 0.02))
    peaks = find_bragg_peaks(spectrum)
    first_order = np.argsort(-peaks["power"])[:4]
    expected_k = 1 / (period * 0.02)  # 6.85 1/nm, i.e. 35.07 bins of 0.195 1/nm
    np.testing.assert_allclose(peaks["k"][first_order], expected_k, rtol=0.01)
    np.testing.assert_allclose(peaks["d_spacing"][first_order], period * 0.02, rtol=0.01)
    # the four first-order peaks lie along the lattice axes: 0, 90, 180, -90 degrees
    angles = np.sort(np.round(peaks["angle_deg"][first_order] / 90) * 90 % 360)
    np.testing.assert_array_equal(angles, [0, 90, 180, 270])
    # (1, 1) reflections at sqrt(2) times the first-order frequency are found too
    assert np.any(np.isclose(peaks["k"], np.sqrt(2) * expected_k, rtol=0.01))


def test_pure_noise_has_no_bragg_peaks(rng):
    spectrum = power_spectrum(rng.standard_normal((256, 256)), pixel_size_nm=0.05)
    assert len(find_bragg_peaks(spectrum)["k"]) == 0


def test_noisy_lattice_peaks_survive(square_lattice, rng):
    image, period = square_lattice
    spectrum = power_spectrum(image + 0.5 * rng.standard_normal(image.shape))
    peaks = find_bragg_peaks(spectrum)
    strongest = np.argsort(-peaks["power"])[:4]
    assert spectrum.unit == "1/px"
    np.testing.assert_allclose(peaks["d_spacing"][strongest], period, rtol=0.01)


def test_roi_and_calibration(square_lattice):
    image, _ = square_lattice
    spectrum = power_spectrum(image, pixel_size_nm=(0.02, 0.04), roi=(10, 20, 74, 148))
    assert spectrum.data.shape == (64, 128) and spectrum.data.dtype == np.float32
    np.testing.assert_allclose(spectrum.reciprocal_pixel_size, [1 / (64 * 0.02), 1 / (128 * 0.04)])
    assert spectrum.centre == (32, 64)
    np.testing.assert_allclose(spectrum.translate, [-32 / (64 * 0.02), -64 / (128 * 0.04)])
    np.testing.assert_allclose(spectrum.frequency([[32, 64], [33, 66]]), [[0, 0], [1 / 1.28, 2 / 5.12]])
    with pytest.raises(ValueError, match="roi"):
        power_spectrum(image, roi=(0, 0, 300, 10))


def test_line_scan_through_bragg_peaks(square_lattice):
    image, period = square_lattice
    spectrum = power_spectrum(image, pixel_size_nm=0.02)
    centre = np.array(spectrum.centre, dtype=float)
    profile = fft_line_profile(spectrum, tuple(centre + [0, -60]), tuple(centre + [0, 60]), width_px=3)
    assert profile.unit == "1/nm"
    k_axis = profile.distance - 60 * spectrum.reciprocal_pixel_size[1]
    outer = np.abs(k_axis) > 2.0  # skip the central blob
    strongest = np.abs(k_axis[outer][np.argmax(profile.values[outer])])
    assert strongest == pytest.approx(1 / (period * 0.02), abs=spectrum.reciprocal_pixel_size[1])
