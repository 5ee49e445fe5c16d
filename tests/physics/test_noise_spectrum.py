"""The noise spectrum of a camera frame: a detector's blur correlates its noise."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from stand_in_networks import Identity
from tem_denoise.engine import Denoiser
from tem_denoise.models.card import ModelCard
from tem_denoise.physics.noise_level import estimate_level
from tem_denoise.physics.noise_spectrum import NoiseSpectrum, estimate_spectrum
from vacuum_stacks import blurred_vacuum_stacks

PIXEL_NM = 0.01


def hrtem_intensity(shape=(384, 384), period_px=21.0):
    """A weak-phase lattice image (vacuum level 1): fringes of a 0.21 nm lattice at 10 pm/px."""
    y, x = np.mgrid[: shape[0], : shape[1]]
    k = 2 * np.pi / period_px
    return 1.0 + 0.15 * (np.cos(k * x) + np.cos(k * (0.5 * x + 0.866 * y)) + np.cos(k * (-0.5 * x + 0.866 * y)))


def camera_frame(intensity, dose=30.0, psf_px=0.6, gain=3.0, dark=100.0, seed=0):
    """A scintillator camera's frame: Poisson electrons blurred by a Gaussian PSF of ``psf_px``
    (0: none), times ``gain`` plus ``dark``; the noise alone too (same units)."""
    rng = np.random.default_rng(seed)
    expected = dose * intensity
    electrons = rng.poisson(expected).astype(np.float64)
    if psf_px:
        electrons = ndimage.gaussian_filter(electrons, psf_px, mode="wrap")
        expected = ndimage.gaussian_filter(expected, psf_px, mode="wrap")
    return gain * electrons + dark, gain * (electrons - expected)


def test_a_blurred_cameras_noise_is_measured_and_every_pixels_variance_recovered():
    frame, noise = camera_frame(hrtem_intensity())
    spectrum = estimate_spectrum([frame], PIXEL_NM)
    assert spectrum is not None
    level = estimate_level(frame)
    read = float(np.mean(level.gain * frame + level.offset))
    assert read < 0.6 * np.var(noise)  # the highest frequencies see too little of the noise ...
    assert spectrum.variance == pytest.approx(np.var(noise), rel=0.15)  # ... the spectrum sees it all


def test_white_noise_on_a_lattice_is_not_taken_for_blur():
    frame, _ = camera_frame(hrtem_intensity(), psf_px=0.0)
    assert estimate_spectrum([frame], PIXEL_NM) is None


def test_no_estimate_without_a_signal_free_band_or_a_pixel_size():
    frame, _ = camera_frame(hrtem_intensity())
    assert estimate_spectrum([frame], 0.03) is None  # 30 pm/px: HRTEM signal can reach Nyquist
    assert estimate_spectrum([frame], None) is None
    assert estimate_spectrum([frame[:48, :48]], PIXEL_NM) is None  # too small to average spectra


def test_relative_power_keeps_the_pixel_variance():
    side = 64
    blurred = NoiseSpectrum(0.15, 0.1, 1.0).relative_power(side)
    full = np.concatenate([blurred, blurred[:, 1:side // 2][:, ::-1]], axis=1)  # both halves of the spectrum
    assert full.shape == (side, side) and np.mean(full) == pytest.approx(1.0, rel=1e-3)
    assert blurred[0, 0] > 1 > blurred[side // 2, side // 2]
    np.testing.assert_allclose(NoiseSpectrum(0.15, 1.0, 1.0).relative_power(side), 1.0, rtol=1e-6)


def restore_card(modality):
    return ModelCard("identity-restore", "restore", {"base_channels": 4, "depth": 2}, modality=modality,
                     adapter="restore", pixel_size_nm=0.02, sampling_range_nm=(0.005, 0.08), tile_size=64)


def test_the_engine_corrects_a_camera_frames_noise_and_records_its_spectrum():
    frame, noise = camera_frame(hrtem_intensity((256, 256)))
    denoiser = Denoiser(Identity(), device="cpu", card=restore_card("HRTEM"), tile=0)
    out = denoiser.denoise(frame.astype(np.float32), pixel_size_nm=PIXEL_NM)
    adapter = denoiser.provenance()["last_run"]["adapter"]
    assert adapter["noise_spectrum"]["pixel_variance"] == pytest.approx(np.var(noise), rel=0.15)
    assert "blur" in adapter["noise"]["source"]
    clean = frame - noise
    assert np.mean((out - clean) ** 2) < 0.5 * np.var(noise)

    stem = Denoiser(Identity(), device="cpu", card=restore_card("STEM-HAADF"), tile=0)
    stem.denoise(frame.astype(np.float32), pixel_size_nm=PIXEL_NM)  # a scanned image: no detector blur
    assert stem.provenance()["last_run"]["adapter"]["noise_spectrum"] is None


def test_a_calibrated_camera_keeps_its_law_and_gets_the_spectrums_shape():
    from tem_denoise.physics.noise_level import level_from_model
    from tem_denoise.physics.noise_models import HRTEMNoise

    frame, noise = camera_frame(hrtem_intensity((256, 256)))
    level = level_from_model(HRTEMNoise(k=0.0, b=float(np.std(noise)), sigma_c=0.0))  # the true pixel variance
    denoiser = Denoiser(Identity(), device="cpu", card=restore_card("HRTEM"), tile=0)
    out = denoiser.denoise(frame.astype(np.float32), pixel_size_nm=PIXEL_NM, noise=level)
    adapter = denoiser.provenance()["last_run"]["adapter"]
    assert adapter["noise"]["source"] == "calibration"  # the law is the calibration's, not raised
    assert adapter["noise_spectrum"] is not None  # the pilot Wiener step still gets the blur's shape
    assert np.mean((out - (frame - noise)) ** 2) < 0.5 * np.var(noise)


def test_the_spectrum_of_vacuum_frames_is_measured_at_any_sampling():
    from tem_denoise.physics.noise_spectrum import vacuum_spectrum

    spectrum = vacuum_spectrum(blurred_vacuum_stacks())
    mtf_at_nyquist = float(np.exp(-2 * np.pi**2 * 0.8**2 * 0.25))  # the Gaussian PSF's transfer at 0.5 cycles/px
    assert spectrum.mtf_at_nyquist() == pytest.approx(mtf_at_nyquist, abs=0.08)
    assert 0 < spectrum.white < 0.5  # the readout's share of the power at zero frequency
    rng = np.random.default_rng(2)
    assert vacuum_spectrum([rng.normal(0.0, 3.0, (4, 128, 128))]).white == 1.0  # white noise, measured
    assert vacuum_spectrum([rng.normal(0.0, 3.0, (4, 32, 32))]) is None  # frames too small


def test_the_noise_correlation_has_unit_mean_and_puts_column_noise_on_its_row():
    spectrum = NoiseSpectrum(0.18, 0.1, 4.0)
    correlation = spectrum.correlation((64, 96), column_share=0.2)
    assert correlation.shape == (64, 96) and correlation.mean() == pytest.approx(1.0)
    between = np.fft.ifft2(correlation).real
    assert between[0, 0] == pytest.approx(1.0)  # unit variance per pixel
    assert between[5, 0] == pytest.approx(0.2, abs=0.01)  # pixels of one column share its offset
    assert abs(between[0, 5]) < 0.01  # along a row, the blur's correlation is gone after 5 px
    assert spectrum.relative_power_cosine((64, 96)).mean() == pytest.approx(1.0)


def test_a_camera_calibrated_with_its_spectrum_gets_the_risk_estimate():
    from tem_denoise.physics.noise_level import level_from_model
    from tem_denoise.physics.noise_models import HRTEMNoise

    frame, noise = camera_frame(hrtem_intensity((256, 256)))
    clean = frame - noise
    delta = np.zeros((9, 9))
    delta[4, 4] = 1.0
    kept = float(np.sum(ndimage.gaussian_filter(delta, 0.6) ** 2))  # variance = gain * kept * (I - dark)
    law = {"k": 3.0 * kept, "b": -300.0 * kept, "sigma_c": 0.0, "law": "variance"}
    blur = (1.0 / (4 * np.pi**2 * 0.6**2), 0.0)  # the PSF's MTF squared: exp(-k^2 / mtf_f2)
    denoiser = Denoiser(Identity(), device="cpu", card=restore_card("HRTEM"), tile=0)
    outputs = {}
    for name, spectrum in (("law only", None), ("law and spectrum", blur)):
        level = level_from_model(HRTEMNoise(**law, noise_spectrum=spectrum))
        outputs[name] = denoiser.denoise(frame.astype(np.float32), pixel_size_nm=PIXEL_NM, noise=level)
        record = denoiser.provenance()["last_run"]
        assert ("sure_let" in record) == (spectrum is not None)  # the noise is known: the risk can be estimated
    errors = {name: float(np.mean((out - clean) ** 2)) for name, out in outputs.items()}
    assert errors["law and spectrum"] < 0.8 * errors["law only"]
