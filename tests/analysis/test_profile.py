"""Line scans of known sinusoids: contrast, peak spacing and width averaging."""

from __future__ import annotations

import numpy as np
import pytest

from tem_denoise.analysis import (
    LineProfile,
    line_profile,
    michelson_contrast,
    profile_peaks,
    read_csv,
    write_profiles_csv,
)


def _wave(shape, period_px, angle_rad=0.0, mean=2.0, amplitude=1.0):
    y, x = np.mgrid[: shape[0], : shape[1]].astype(np.float64)
    phase = 2 * np.pi * (x * np.cos(angle_rad) + y * np.sin(angle_rad)) / period_px
    return mean + amplitude * np.cos(phase)


def test_horizontal_sinusoid_contrast_and_spacing():
    image = _wave((32, 80), period_px=8.0)  # I in [1, 3]: Michelson contrast 0.5
    profile = line_profile(image, (16, 0), (16, 64), width_px=5, pixel_size_nm=0.05)
    assert profile.unit == "nm"
    assert len(profile.distance) == 65
    assert profile.distance[-1] == pytest.approx(64 * 0.05)
    assert michelson_contrast(profile.values) == pytest.approx(0.5, abs=1e-9)
    peaks = profile_peaks(profile)
    np.testing.assert_allclose(peaks.positions, np.arange(1, 8) * 8 * 0.05, atol=1e-9)
    assert peaks.mean_spacing == pytest.approx(0.4)
    np.testing.assert_allclose(peaks.heights, 3.0)


def test_oblique_sinusoid_spacing_in_nm():
    angle = np.deg2rad(30)
    image = _wave((128, 128), period_px=9.3, angle_rad=angle)
    start = np.array([20.0, 20.0])
    end = start + 80 * np.array([np.sin(angle), np.cos(angle)])  # along the wave vector
    profile = line_profile(image, tuple(start), tuple(end), width_px=3, pixel_size_nm=0.02)
    assert profile.distance[-1] == pytest.approx(80 * 0.02)
    peaks = profile_peaks(profile)
    assert peaks.mean_spacing == pytest.approx(9.3 * 0.02, rel=0.005)
    assert michelson_contrast(profile.values) == pytest.approx(0.5, abs=0.02)


def test_width_averages_noise_perpendicular_to_the_line(rng):
    image = _wave((64, 200), period_px=10.0) + 0.5 * rng.standard_normal((64, 200))
    residual = []
    for width in (1, 25):
        profile = line_profile(image, (32, 0), (32, 199), width_px=width)
        residual.append(np.std(profile.values - _wave((1, 200), 10.0)[0]))
    assert residual[0] == pytest.approx(0.5, rel=0.2)
    assert residual[1] < residual[0] / 3.5  # ~ 1/sqrt(25) = 1/5


def test_anisotropic_pixels_and_pixel_units():
    image = np.ones((20, 20))
    profile = line_profile(image, (0, 0), (3, 4), pixel_size_nm=(2.0, 1.0))
    assert profile.distance[-1] == pytest.approx(np.hypot(6.0, 4.0))
    px = line_profile(image, (0, 0), (3, 4))
    assert px.unit == "px" and px.distance[-1] == pytest.approx(5.0)


def test_michelson_definition_and_errors():
    assert michelson_contrast([1.0, 3.0, 2.0]) == pytest.approx(0.5)
    assert michelson_contrast([0.0, 5.0]) == pytest.approx(1.0)
    assert michelson_contrast(np.full(5, 4.0)) == 0.0
    values = np.r_[np.full(98, 2.0), 0.0, 100.0]
    assert michelson_contrast(values, percentile=95) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="undefined"):
        michelson_contrast([-3.0, 1.0])


def test_line_profile_errors():
    image = np.zeros((10, 10))
    with pytest.raises(ValueError, match="zero length"):
        line_profile(image, (2, 2), (2, 2))
    with pytest.raises(ValueError, match=r"\(y, x\) frame"):
        line_profile(np.zeros((2, 10, 10)), (0, 0), (5, 5))


def test_profiles_csv_long_format(tmp_path):
    image = _wave((16, 40), 8.0)
    profiles = {
        "raw": line_profile(image, (8, 0), (8, 30), pixel_size_nm=0.1),
        "denoised": line_profile(image * 2, (8, 0), (8, 30), pixel_size_nm=0.1),
    }
    path = tmp_path / "profiles.csv"
    write_profiles_csv(path, profiles)
    table = read_csv(path)
    assert list(table) == ["layer", "distance_nm", "value"]
    assert (table["layer"] == "denoised").sum() == 31
    np.testing.assert_allclose(table["value"][table["layer"] == "denoised"], profiles["denoised"].values)
    with pytest.raises(ValueError, match="units"):
        write_profiles_csv(path, {"a": profiles["raw"], "b": LineProfile(np.arange(3.0), np.ones(3), "px")})
