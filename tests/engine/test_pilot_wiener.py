"""The pilot Wiener filter: the network's restoration sets which frequencies of the noisy frame to keep."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from stand_in_networks import Identity
from tem_denoise.engine import Denoiser, pilot_wiener
from tem_denoise.engine.pilot_wiener import (
    MIN_WINDOW_PX,
    WINDOW_PX,
    _signal_power,
    _stage,
    _taper,
    filter_frame,
    line_noise,
    significant_lines,
    whole_frame,
    window_for,
)
from tem_denoise.models.card import ModelCard


def lattice_with_vacancy(shape=(200, 232), period=8.0, dose=20.0):
    """Clean HAADF-like columns (electrons per pixel) on a square lattice with one column missing,
    the vacancy's (row, column) and an intact column's."""
    y, x = np.mgrid[: shape[0], : shape[1]]
    clean = np.zeros(shape)
    centres = [(r, c) for r in np.arange(4.0, shape[0] - 2, period) for c in np.arange(4.0, shape[1] - 2, period)]
    vacancy, intact = (100.0, 116.0), (100.0, 132.0)
    for r, c in centres:
        if (r, c) != vacancy:
            clean += np.exp(-((y - r) ** 2 + (x - c) ** 2) / (2 * 1.5**2))
    return dose * (0.05 + clean), vacancy, intact


def column_contrast(image, site, background):
    """Mean over a 3-px disc at ``site`` minus the image's ``background`` level."""
    r, c = (int(v) for v in site)
    return float(image[r - 1:r + 2, c - 1:c + 2].mean() - background)


def mse(a, b) -> float:
    return float(np.mean((np.asarray(a, np.float64) - b) ** 2))


def test_a_clean_pilot_without_noise_gives_back_the_frame():
    clean, _, _ = lattice_with_vacancy()
    np.testing.assert_allclose(filter_frame(clean, clean, np.zeros_like(clean)), clean, atol=1e-3)


def test_it_removes_the_noise_between_lattice_reflections_and_keeps_most_of_a_vacancy():
    clean, vacancy, intact = lattice_with_vacancy()
    counts = np.random.default_rng(1).poisson(clean).astype(np.float32)
    pilot = ndimage.gaussian_filter(counts, 1.0)  # a rough restoration; its spectrum still shows the lattice
    variance = np.maximum(ndimage.uniform_filter(counts, 9), 0.1)
    out = filter_frame(counts, pilot, variance)
    best_gaussian = min(mse(ndimage.gaussian_filter(counts, s), clean) for s in (0.5, 0.75, 1.0, 1.5, 2.0, 3.0))
    assert mse(out, clean) < 0.5 * best_gaussian
    background = float(np.percentile(clean, 5))

    def site_ratio(image):  # the vacancy's site over an intact column, above the background: 0 in the truth
        return column_contrast(image, vacancy, background) / column_contrast(image, intact, background)

    # the large windows alone fill the empty site by ~45 % of a column; the detail pass takes it back below 40 %
    assert abs(site_ratio(clean)) < 0.02
    assert site_ratio(out) < 0.4
    assert site_ratio(out) < site_ratio(_stage(counts, pilot, variance, WINDOW_PX)) - 0.05


def test_its_output_is_linear_in_the_input():
    clean, _, _ = lattice_with_vacancy((96, 130))
    counts = np.random.default_rng(2).poisson(clean).astype(np.float32)
    pilot, variance = ndimage.gaussian_filter(counts, 1.0), np.maximum(clean, 0.1)
    out = filter_frame(counts, pilot, variance)
    moved = filter_frame(2.5 * counts - 40.0, 2.5 * pilot - 40.0, 2.5**2 * variance)
    np.testing.assert_allclose(moved, 2.5 * out - 40.0, atol=1e-3 * float(np.ptp(out)) * 2.5)


def test_frames_of_any_shape_come_back_in_their_shape():
    rng = np.random.default_rng(3)
    for shape in [(10, 10), (17, 40), (40, 100), (129, 300)]:
        frame = rng.random(shape).astype(np.float32)
        assert filter_frame(frame, frame, np.full(shape, 0.1)).shape == shape
    assert window_for((10, 300)) == 0 and window_for((40, 100)) == 40 and window_for((500, 500)) == 128
    narrow = rng.random((MIN_WINDOW_PX - 1, 50)).astype(np.float32)
    np.testing.assert_array_equal(filter_frame(narrow + 1, narrow, np.ones_like(narrow)), narrow)


def test_the_gain_follows_a_lattice_pilot_and_a_smoothed_spectrum_of_texture():
    rng = np.random.default_rng(4)
    clean, _, _ = lattice_with_vacancy((128, 128))
    texture = ndimage.gaussian_filter(rng.standard_normal((128, 128)), 3.0)  # amorphous-like, no lattice

    def windowed_power(image):
        spectrum = np.fft.rfft2((image - image.mean()) * _taper(128))
        return (np.abs(spectrum) ** 2)[None, None].astype(np.float32)

    lattice_power, texture_power = windowed_power(clean), windowed_power(texture)
    np.testing.assert_allclose(_signal_power(lattice_power), lattice_power, rtol=1e-5)  # reflections kept sharp
    smoothed = _signal_power(texture_power)
    assert not np.allclose(smoothed, texture_power)
    # averaged over neighbouring frequencies: far less scatter from one frequency to the next
    ring = (slice(None), slice(None), slice(8, 24), slice(8, 24))
    assert np.std(np.diff(smoothed[ring], axis=-1)) < 0.5 * np.std(np.diff(texture_power[ring], axis=-1))


def test_the_engine_filters_every_restored_frame_in_windows_of_the_same_nanometres():
    card = ModelCard("identity-restore", "restore", {"base_channels": 4, "depth": 2}, modality="STEM-HAADF",
                     adapter="restore", pixel_size_nm=0.02, sampling_range_nm=(0.005, 0.08), tile_size=64)
    denoiser = Denoiser(Identity(), device="cpu", card=card, tile=0)
    clean, _, _ = lattice_with_vacancy((300, 300), dose=0.5)  # under one electron per pixel: no SURE-LET
    counts = np.random.default_rng(5).poisson(clean).astype(np.float32)
    out = denoiser.denoise(counts, pixel_size_nm=0.01)  # twice finer than the working 20 pm/px
    record = denoiser.provenance()["last_run"]["pilot_wiener"]
    assert record == {"frames": 1, "window_px": 256, "detail_window_px": 128}
    assert mse(out, clean) < 0.5 * mse(counts, clean)


def test_scan_line_offsets_are_measured_and_held_back(monkeypatch):
    rng = np.random.default_rng(6)
    clean, _, _ = lattice_with_vacancy((256, 256), dose=50.0)
    counts = rng.poisson(clean).astype(np.float64)
    assert line_noise(counts, clean, clean) == pytest.approx((0.0, 0.0), abs=0.05)  # white noise only
    rows = rng.normal(0.0, 2.0, (256, 1))  # every scan row shifted by its own offset
    striped = counts + rows
    measured_rows, measured_columns = line_noise(striped, clean, clean)
    assert measured_rows == pytest.approx(4.0, rel=0.3) and measured_columns < 0.05
    pilot = clean + 0.5 * rows  # a restoration that removed half of the stripes

    def stripes(out):
        return float(np.std((out - clean).mean(axis=1)))

    modelled = filter_frame(striped, pilot, clean)
    monkeypatch.setattr(pilot_wiener, "line_noise", lambda *args: (0.0, 0.0))
    white_only = filter_frame(striped, pilot, clean)
    assert stripes(modelled) < 0.75 * stripes(white_only)
    assert mse(modelled, clean) < 0.6 * mse(white_only, clean)


def test_its_output_does_not_depend_on_the_units():
    clean, _, _ = lattice_with_vacancy((96, 130))
    counts = np.random.default_rng(7).poisson(clean).astype(np.float64)
    pilot, variance = ndimage.gaussian_filter(counts, 1.0), np.maximum(clean, 0.1)
    out = filter_frame(counts, pilot, variance)
    tiny = filter_frame(counts * 1e-18, pilot * 1e-18, variance * 1e-36)  # e.g. a frame calibrated in SI units
    np.testing.assert_allclose(tiny, out * 1e-18, atol=1e-3 * float(np.ptp(out)) * 1e-18)


def test_the_engine_records_no_filter_on_frames_too_narrow_for_its_windows():
    card = ModelCard("identity-restore", "restore", {"base_channels": 4, "depth": 2}, modality="STEM-HAADF",
                     adapter="restore", pixel_size_nm=0.02, sampling_range_nm=(0.005, 0.08), tile_size=64)
    denoiser = Denoiser(Identity(), device="cpu", card=card, tile=0)
    counts = np.random.default_rng(8).poisson(0.5, (12, 40)).astype(np.float32)
    out = denoiser.denoise(counts, pixel_size_nm=0.02)
    assert "pilot_wiener" not in denoiser.provenance()["last_run"] and out.shape == counts.shape


def test_the_whole_frame_filter_gives_back_a_clean_frame_and_is_linear():
    clean, _, _ = lattice_with_vacancy((96, 130))
    np.testing.assert_allclose(whole_frame(clean, clean, np.zeros_like(clean)), clean, atol=1e-3 * clean.max())
    counts = np.random.default_rng(9).poisson(clean).astype(np.float32)
    pilot, variance = ndimage.gaussian_filter(counts, 1.0), np.maximum(clean, 0.1)
    out = whole_frame(counts, pilot, variance)
    assert out.shape == counts.shape and out.dtype == np.float32
    moved = whole_frame(2.5 * counts - 40.0, 2.5 * pilot - 40.0, 2.5**2 * variance)
    np.testing.assert_allclose(moved, 2.5 * out - 40.0, atol=1e-3 * float(np.ptp(out)) * 2.5)


def test_over_a_whole_perfect_lattice_one_gain_removes_more_noise_than_windows():
    y, x = np.mgrid[:256, :256]
    clean = 5.0 * (0.05 + sum(np.exp(-((y - r) ** 2 + (x - c) ** 2) / (2 * 1.5**2))
                              for r in np.arange(4.0, 256, 8) for c in np.arange(4.0, 256, 8)))
    counts = np.random.default_rng(10).poisson(clean).astype(np.float32)
    pilot = ndimage.gaussian_filter(counts, 1.0)
    variance = np.maximum(ndimage.uniform_filter(counts, 9), 0.1)
    assert mse(whole_frame(counts, pilot, variance), clean) < 0.7 * mse(filter_frame(counts, pilot, variance), clean)


def test_only_line_offsets_above_the_pixel_noise_share_of_a_line_mean_count(monkeypatch):
    rng = np.random.default_rng(11)
    clean, _, _ = lattice_with_vacancy((256, 256), dose=50.0)
    counts = rng.poisson(clean).astype(np.float64)
    offsets = rng.normal(0.0, 2.0, (256, 1))
    rows, columns = significant_lines(counts + offsets, clean, clean)
    assert rows == pytest.approx(line_noise(counts + offsets, clean, clean)[0]) and columns == 0.0
    faint = counts + rng.normal(0.0, 0.05, (256, 1))  # offsets far below the noise of a row's mean
    assert significant_lines(faint, clean, clean) == (0.0, 0.0)

    def stripes(out):
        return float(np.std((out - clean).mean(axis=1)))

    pilot = clean + 0.5 * offsets  # a restoration that removed half of the stripes
    modelled = whole_frame(counts + offsets, pilot, clean)
    monkeypatch.setattr(pilot_wiener, "significant_lines", lambda *args: (0.0, 0.0))
    white_only = whole_frame(counts + offsets, pilot, clean)
    assert stripes(modelled) < 0.75 * stripes(white_only)
