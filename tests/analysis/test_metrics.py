"""Reference and no-reference metrics against cases with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from tem_denoise.analysis import atom_map_iou, css, css_series, match_positions, psnr, ssim, umse


def test_psnr_of_known_error(rng):
    reference = rng.random((32, 32))
    reference[0, 0], reference[0, 1] = 0.0, 1.0  # range exactly 1
    assert psnr(reference, reference + 0.1) == pytest.approx(20.0)
    per_frame = psnr(np.stack([reference, reference]), np.stack([reference + 0.1, reference + 0.01]))
    np.testing.assert_allclose(per_frame, [20.0, 40.0])
    assert psnr(reference, reference + 0.5, data_range=255.0) == pytest.approx(10 * np.log10(255.0**2 / 0.25))


def test_ssim_identical_is_one_and_drops_with_noise(rng):
    reference = rng.random((48, 48))
    assert ssim(reference, reference) == pytest.approx(1.0)
    assert ssim(reference, reference + 0.3 * rng.standard_normal(reference.shape)) < 0.8


def test_iou_identical_disjoint_and_partial(synth):
    truth = synth.render_atoms(np.array([[10.0, 10.0], [20.0, 30.0]]), (40, 40), 0.75, amplitude=255.0)
    assert atom_map_iou(truth, truth) == 1.0
    assert atom_map_iou(truth * 0.5, truth) == 1.0  # threshold relative to each map's maximum
    moved = np.roll(truth, 10, axis=0)
    assert atom_map_iou(moved, truth) == 0.0
    a = np.zeros((10, 10))
    b = np.zeros((10, 10))
    a[0:4, 0:4] = 1.0  # 16 pixels
    b[2:6, 0:4] = 1.0  # 16 pixels, 8 shared
    assert atom_map_iou(a, b) == pytest.approx(8 / 24)
    assert atom_map_iou(np.zeros((5, 5)), np.zeros((5, 5))) == 1.0
    assert atom_map_iou(np.stack([a, a]), np.stack([a, b])) == pytest.approx((16 + 8) / (16 + 24))


def test_match_identical_and_displaced_positions(rng):
    true = rng.uniform(0, 100, (500, 2))
    exact = match_positions(true, true, radius=1.0)
    assert (exact.precision, exact.recall, exact.f1, exact.rms_error) == (1.0, 1.0, 1.0, 0.0)
    displaced = match_positions(true + [0.3, 0.4], true, radius=1.0)
    assert displaced.f1 == 1.0
    assert displaced.rms_error == pytest.approx(0.5)


def test_match_counts_false_and_missed_atoms():
    true = np.array([[0.0, 0.0], [10.0, 0.0], [20.0, 0.0], [30.0, 0.0]])
    found = np.array([[0.1, 0.0], [10.0, 0.2], [50.0, 50.0]])
    result = match_positions(found, true, radius=1.0)
    assert result.precision == pytest.approx(2 / 3)
    assert result.recall == pytest.approx(2 / 4)
    assert result.f1 == pytest.approx(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5))
    assert result.rms_error == pytest.approx(np.sqrt((0.01 + 0.04) / 2))
    assert sorted(map(tuple, result.pairs)) == [(0, 0), (1, 1)]


def test_match_is_optimal_not_greedy():
    # greedy nearest-first would pair found 1 with true 0 and leave true 1 unmatched
    true = np.array([[0.0, 0.0], [0.0, 1.8]])
    found = np.array([[0.0, -0.5], [0.0, 0.7]])
    result = match_positions(found, true, radius=1.2)
    assert result.recall == 1.0
    assert sorted(map(tuple, result.pairs)) == [(0, 0), (1, 1)]


def test_match_respects_frames():
    true = np.array([[0, 5.0, 5.0], [1, 5.0, 5.0]])
    found = np.array([[1, 5.1, 5.0], [1, 5.0, 5.1]])
    result = match_positions(found, true, radius=1.0)
    assert result.precision == 0.5 and result.recall == 0.5
    empty = match_positions(np.zeros((0, 2)), np.zeros((0, 2)), radius=1.0)
    assert empty.f1 == 1.0
    with pytest.raises(ValueError, match="frame"):
        match_positions(true, true[:, 1:], radius=1.0)


def _static_series(rng, synth, sigma_noise, n_frames=10, shape=(128, 128)):
    clean = 10.0 * synth.random_atom_image(shape, 300, 1.5, rng) + 2.0
    noisy = clean + sigma_noise * rng.standard_normal((n_frames, *shape))
    return clean, noisy


def test_umse_matches_true_mse_of_a_known_error(rng, synth):
    clean, noisy = _static_series(rng, synth, sigma_noise=0.5)
    error = 0.3 * rng.standard_normal(clean.shape)  # true MSE 0.09, independent of the noise
    denoised = np.broadcast_to(clean + error, noisy.shape)
    true_mse = np.mean(error**2)
    result = umse(denoised, noisy)
    assert result.umse == pytest.approx(true_mse, rel=0.1)
    assert result.upsnr == pytest.approx(10 * np.log10(noisy.max() ** 2 / true_mse), abs=0.4)
    np.testing.assert_array_equal(result.frames, np.arange(1, 8))  # frames with i-1, i+1, i+2


def test_umse_of_the_identity_denoiser_is_the_noise_variance(rng, synth):
    _, noisy = _static_series(rng, synth, sigma_noise=0.5)
    result = umse(noisy, noisy, peak=10.0)
    assert result.umse == pytest.approx(0.25, rel=0.05)
    assert result.upsnr == pytest.approx(10 * np.log10(100 / 0.25), abs=0.25)


def test_umse_with_shorter_denoised_output(rng, synth):
    clean, noisy = _static_series(rng, synth, sigma_noise=0.5)
    error = 0.3 * rng.standard_normal(clean.shape)
    denoised = np.broadcast_to(clean + error, (len(noisy) - 2, *clean.shape))  # frames 1..t-2
    result = umse(denoised, noisy, first_frame=1)
    assert result.umse == pytest.approx(np.mean(error**2), rel=0.1)
    np.testing.assert_array_equal(result.frames, np.arange(1, 8))
    with pytest.raises(ValueError, match="neighbours"):
        umse(noisy[:3], noisy[:3])
    with pytest.raises(ValueError, match="offsets"):
        umse(noisy, noisy, offsets=(-1, 1, 1))


def test_umse_warns_when_not_positive(rng, synth):
    clean, noisy = _static_series(rng, synth, sigma_noise=0.5, n_frames=4)
    noisy[0] = clean  # a is noise-free, so eq. 1 gives 0 - sigma^2 for the only usable frame
    with pytest.warns(RuntimeWarning, match="inf"):
        result = umse(np.broadcast_to(clean, noisy.shape), noisy)
    assert result.umse == pytest.approx(-0.25, rel=0.05)
    assert result.upsnr == np.inf


def test_css_equation_10(rng):
    a = rng.random((32, 32))
    b = 0.5 * a + 0.2 + 0.05 * rng.standard_normal(a.shape)
    mu_a, mu_b = a.mean(), b.mean()
    cov = np.mean((a - mu_a) * (b - mu_b))
    expected = (2 * mu_a * mu_b + 1e-4) * (2 * cov + 9e-4) / ((mu_a**2 + mu_b**2 + 1e-4) * (a.var() + b.var() + 9e-4))
    assert css(a, b) == pytest.approx(expected)
    assert css(a, a) == pytest.approx(1.0)
    assert css(255 * a, 255 * b, data_range=255.0) == pytest.approx(expected)


def test_css_series_prefers_the_cleaner_stack(rng, synth):
    clean, noisy = _static_series(rng, synth, sigma_noise=2.0, n_frames=4)
    smoothed = clean + 0.2 * rng.standard_normal(noisy.shape)
    noisy_css = css_series(noisy, data_range=float(np.ptp(noisy)))
    smooth_css = css_series(smoothed, data_range=float(np.ptp(noisy)))
    assert noisy_css.shape == (3,)
    assert np.all(smooth_css > noisy_css)
    assert np.all(smooth_css > 0.95)
