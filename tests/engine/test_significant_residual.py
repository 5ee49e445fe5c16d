"""The significant-residual step: what a restoration removed beyond the noise is put back."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from stand_in_networks import Identity
from tem_denoise.engine import Denoiser
from tem_denoise.engine.significant_residual import Z_RANGE, noise_spread, put_back, smoothed_residual, weights
from tem_denoise.models.card import ModelCard

PIXEL_NM = 0.01


def columns(shape=(160, 160), period=20, width=3.0, dose=200.0, missing=None):
    """Gaussian columns (electrons per pixel; 0.03 nm wide, 0.2 nm apart at :data:`PIXEL_NM`) on a
    square lattice, optionally one ``missing``."""
    y, x = np.mgrid[: shape[0], : shape[1]]
    image = np.zeros(shape)
    for r in range(5, shape[0], period):
        for c in range(5, shape[1], period):
            if (r, c) != missing:
                image += np.exp(-((y - r) ** 2 + (x - c) ** 2) / (2 * width**2))
    return dose * (0.1 + image)


def test_a_faithful_restoration_is_left_almost_alone():
    clean = columns()
    noisy = np.random.default_rng(0).poisson(clean).astype(np.float64)
    out, share = put_back(noisy, clean, clean, PIXEL_NM)
    assert share < 0.1  # pure noise passes the first threshold at ~5 % of the pixels
    assert np.mean((out - clean) ** 2) < 0.02 * np.mean(clean)  # far below the noise's variance


def test_a_column_the_restoration_erased_comes_back():
    clean = columns(missing=(85, 85))  # the truth: a vacancy at (85, 85)
    painted = columns()  # a restoration that painted the lattice over it
    noisy = np.random.default_rng(1).poisson(clean).astype(np.float64)
    out, _ = put_back(noisy, painted, clean, PIXEL_NM)
    site = (slice(80, 91), slice(80, 91))  # 0.05 nm around the site
    erased = painted[site].mean() - clean[site].mean()
    # the residual comes back smoothed over 0.03 nm, so most but not all of a column's contrast
    assert abs(out[site].mean() - clean[site].mean()) < 0.4 * erased
    intact = (slice(100, 111), slice(100, 111))
    assert abs(out[intact].mean() - painted[intact].mean()) < 0.05 * erased  # the lattice is left as it was


def test_the_step_is_linear_in_the_input():
    clean = columns(missing=(85, 85))
    painted = columns()
    noisy = np.random.default_rng(2).poisson(clean).astype(np.float64)
    out, share = put_back(noisy, painted, clean, PIXEL_NM)
    gain, offset = 3.5, -120.0
    moved, moved_share = put_back(gain * noisy + offset, gain * painted + offset, gain**2 * clean, PIXEL_NM)
    np.testing.assert_allclose(moved, gain * out + offset, rtol=1e-5, atol=1e-3)
    assert moved_share == share


@pytest.mark.parametrize("sigma", [0.7, 3.0])
def test_the_spread_is_that_of_smoothed_white_noise_borders_included(sigma):
    rng = np.random.default_rng(5)
    variance = np.linspace(1.0, 9.0, 80)[None, :] * np.ones((64, 1))  # noise rising across the frame
    smoothed = np.array([ndimage.gaussian_filter(rng.standard_normal(variance.shape) * np.sqrt(variance), sigma,
                                                 mode="reflect") for _ in range(300)])
    ratio = smoothed.std(axis=0) / noise_spread(variance, sigma)
    assert abs(np.mean(ratio) - 1) < 0.02
    for edge in (ratio[0], ratio[-1], ratio[:, 0], ratio[:, -1]):  # the kernel folds onto itself there
        assert abs(np.mean(edge) - 1) < 0.06


def test_correlated_noise_sets_its_own_scale():
    rng = np.random.default_rng(3)
    clean = columns()
    blurred_noise = np.sqrt(clean) * rng.standard_normal(clean.shape)
    # correlated noise: per pixel 0.32 of the stated variance, but 3.6 times it after the 0.03 nm Gaussian
    blurred_noise = ndimage.gaussian_filter(blurred_noise, 1.0) * 2.0
    _, z, _ = smoothed_residual(clean + blurred_noise, clean, clean, PIXEL_NM)
    assert 0.8 < np.median(np.abs(z)) / 0.6745 < 1.2  # scaled back to unit spread
    assert np.mean(weights(z) > 0) < 0.1


def test_weights_ramp_between_the_thresholds():
    low, high = Z_RANGE
    np.testing.assert_allclose(weights(np.array([0.0, low, -(low + high) / 2, high, -10.0])), [0, 0, 0.5, 1, 1])


def test_the_engine_puts_back_what_a_restoration_removed_and_records_it():
    card = ModelCard("identity-restore", "restore", {"base_channels": 4, "depth": 2}, modality="STEM-HAADF",
                     adapter="restore", pixel_size_nm=0.01, sampling_range_nm=(0.005, 0.08), tile_size=64)
    denoiser = Denoiser(Identity(), device="cpu", card=card, tile=0)
    counts = np.random.default_rng(4).poisson(columns(dose=0.5)).astype(np.float32)  # no SURE-LET below 1 e-/px
    denoiser.denoise(counts, pixel_size_nm=PIXEL_NM)
    record = denoiser.provenance()["last_run"]["significant_residual"]
    assert record["frames"] == 1 and 0 <= record["mean_share_px"] < 0.2


def test_offsets_of_whole_columns_are_not_put_back():
    rng = np.random.default_rng(7)
    clean = columns()
    offsets = rng.normal(0.0, 3.0 * np.sqrt(clean.mean()), (1, clean.shape[1]))  # a camera's column noise
    noisy = rng.poisson(clean) + offsets
    out, share = put_back(noisy, clean, clean, PIXEL_NM)  # a restoration that removed them all
    assert np.std(out - clean) < 0.05 * np.std(offsets)
    assert share < 0.1


def test_a_faint_vacancy_the_network_shows_and_the_frame_backs_comes_back():
    clean = columns(missing=(85, 85))  # the truth: a vacancy at (85, 85), which the network shows
    painted = columns()  # the filters painted the lattice over it
    frame = 0.5 * (clean + painted)  # the frame shows half of it (its noise filled the rest)
    _, z, _ = smoothed_residual(frame, painted, np.ones_like(clean), PIXEL_NM)
    variance = np.full(clean.shape, (np.abs(z).max() / 1.9) ** 2)  # 1.9 sd at most: not enough alone
    site = (slice(80, 91), slice(80, 91))
    shown = painted[site].mean() - frame[site].mean()
    alone, _ = put_back(frame, painted, variance, PIXEL_NM)
    witnessed, share = put_back(frame, painted, variance, PIXEL_NM, network=clean)
    np.testing.assert_allclose(alone, painted, atol=1e-4)
    # part of what the frame shows comes back (smoothed over 0.03 nm, weighted by how far it stands out)
    assert 0.15 * shown < painted[site].mean() - witnessed[site].mean() < 0.6 * shown
    assert 0 < share < 0.05
    # and the witness keeps the step linear in the input
    gain, offset = 2.0, 30.0
    moved, _ = put_back(gain * frame + offset, gain * painted + offset, gain**2 * variance, PIXEL_NM,
                        network=gain * clean + offset)
    np.testing.assert_allclose(moved, gain * witnessed + offset, rtol=1e-5, atol=1e-3)


def test_a_vacancy_the_network_invents_and_the_frame_does_not_back_stays_out():
    painted = columns(dose=20.0)  # the truth: an intact lattice
    invented = columns(missing=(85, 85), dose=20.0)  # a network that removed a column
    noisy = np.random.default_rng(6).poisson(painted).astype(np.float64)
    out, _ = put_back(noisy, painted, painted, PIXEL_NM, network=invented)
    site = (slice(80, 91), slice(80, 91))
    assert abs(out[site].mean() - painted[site].mean()) < 0.1 * (painted[site].mean() - invented[site].mean())


def test_noise_specks_the_network_does_not_show_stay_out():
    vacuum = np.full((160, 160), 30.0)  # a flat field, restored as flat by network and filters alike
    noisy = np.random.default_rng(7).poisson(vacuum).astype(np.float64)
    alone, alone_share = put_back(noisy, vacuum, vacuum, PIXEL_NM)
    gated, gated_share = put_back(noisy, vacuum, vacuum, PIXEL_NM, network=vacuum)
    assert alone_share > 0.02  # the frame alone puts back its strongest noise
    assert gated_share < 0.1 * alone_share  # beyond 4 spreads only
    assert np.mean((gated - vacuum) ** 2) < 0.2 * np.mean((alone - vacuum) ** 2)
