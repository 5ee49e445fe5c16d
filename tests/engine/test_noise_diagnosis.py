"""Noise diagnosis: white noise, blurred noise and column streaks are told apart, and the mode follows."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from tem_denoise.engine.noise_diagnosis import diagnose_noise, recommend


def lattice(size: int = 96) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    return 50 + 20 * np.cos(2 * np.pi * xx / 7) * np.cos(2 * np.pi * yy / 9)


def test_white_noise_of_a_single_lattice_frame_gets_a_one_pixel_blind_spot():
    frame = np.random.default_rng(0).poisson(lattice()).astype(np.float32)
    diagnosis = diagnose_noise(frame)
    assert diagnosis.length_px == 0 and abs(diagnosis.neighbour) < 0.1
    assert (diagnosis.mode, diagnosis.blind_radius) == ("blind-spot", 0)


def test_blurred_noise_of_a_single_frame_gets_a_blind_region():
    rng = np.random.default_rng(1)
    frame = lattice() + ndimage.gaussian_filter(rng.normal(0, 10, (96, 96)), 0.8)
    diagnosis = diagnose_noise(frame)
    assert diagnosis.neighbour > 0.4 and diagnosis.length_px >= 1
    assert diagnosis.mode == "blind-spot" and diagnosis.blind_radius == diagnosis.length_px


def test_movies_are_measured_from_frame_differences_and_get_frame_pairs():
    rng = np.random.default_rng(2)
    movie = lattice() + ndimage.gaussian_filter(rng.normal(0, 10, (6, 96, 96)), (0, 1.2, 1.2))
    diagnosis = diagnose_noise(movie)
    assert "differences" in diagnosis.correlation.source
    assert diagnosis.correlation.at(0, 1) > 0.6 and diagnosis.mode == "frame-pairs"
    assert "frame-pairs" in diagnosis.summary()


def test_column_streaks_are_found_in_a_movie():
    rng = np.random.default_rng(3)
    movie = lattice() + rng.normal(0, 3, (4, 96, 96)) + rng.normal(0, 3, (4, 1, 96))
    assert diagnose_noise(movie).streaks == "columns"


def test_long_correlation_in_a_single_frame_asks_for_a_calibration():
    assert recommend(5, None, 1)[0] == "calibrated"
    assert recommend(0, "columns", 1)[0] == "calibrated"
    assert recommend(2, None, 1) [:2] == ("blind-spot", 2)
