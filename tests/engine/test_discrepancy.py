"""The discrepancy step: a restoration of raw counts removes no more than their Poisson noise."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tem_denoise.engine import Denoiser
from tem_denoise.engine.denoiser import DoseWarning
from tem_denoise.engine.discrepancy import beam_dose, effective_dose, is_exact, limit_to_noise, noise_variance
from tem_denoise.engine.pilot_wiener import filter_frame
from tem_denoise.engine.significant_residual import put_back
from tem_denoise.models.card import ModelCard
from tem_denoise.physics.noise_level import POISSON, NoiseLevel, level_from_model
from tem_denoise.physics.noise_models import HRTEMNoise


def lattice_counts(dose: float = 10.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A clean lattice image in electrons per pixel and its Poisson counts, (64, 64)."""
    y, x = np.mgrid[:64, :64]
    clean = dose * (1.0 + 0.5 * np.cos(2 * np.pi * x / 16) * np.cos(2 * np.pi * y / 16))
    return clean, np.random.default_rng(seed).poisson(clean).astype(np.float32)


def test_a_restoration_within_the_noise_is_kept():
    clean, counts = lattice_counts()
    out, alpha = limit_to_noise(counts, clean.astype(np.float32), POISSON)
    assert alpha == 1.0
    np.testing.assert_array_equal(out, clean.astype(np.float32))


def test_a_restoration_that_also_removes_signal_is_moved_back_to_the_noise():
    clean, counts = lattice_counts()
    flat = np.full_like(counts, counts.mean())
    out, alpha = limit_to_noise(counts, flat, POISSON)
    assert 0.0 < alpha < 1.0
    residual_power = np.mean((out.astype(np.float64) - counts) ** 2)
    assert abs(residual_power / clean.mean() - 1.0) < 0.1  # Poisson: variance = mean count
    assert np.mean((out - clean) ** 2) < np.mean((flat - clean) ** 2)


def test_only_an_exact_white_noise_law_is_used():
    assert is_exact(POISSON)
    assert not is_exact(NoiseLevel(1.0, 4.0, "estimated from the data"))


class Flattening(torch.nn.Module):
    """Stands for a network that smooths signal away: outputs each input's mean."""

    temporal_window = 1
    alignment = 1

    def forward(self, x):
        return x[:, :1].mean(dim=(2, 3), keepdim=True).expand_as(x[:, :1]).clone()


def flattening_denoiser() -> Denoiser:
    card = ModelCard("flat-restore", "restore", {"base_channels": 4, "depth": 2}, modality="HRTEM",
                     adapter="restore", pixel_size_nm=0.02, sampling_range_nm=(0.008, 0.08), tile_size=64)
    return Denoiser(Flattening(), device="cpu", card=card, tile=0)


def test_the_engine_holds_a_restoration_of_sparse_counts_to_their_noise_and_says_so(monkeypatch):
    # sparse counts below SURE-LET's threshold (raised here to one electron per pixel, so that a
    # 64-px frame holds enough of them to tell), strong contrast
    monkeypatch.setattr("tem_denoise.engine.sure_let.MIN_MEAN_COUNT", 1.0)
    y, x = np.mgrid[:64, :64]
    clean = 0.9 * (1.0 + 0.9 * np.cos(2 * np.pi * x / 16) * np.cos(2 * np.pi * y / 16))
    counts = np.random.default_rng(0).poisson(clean).astype(np.float32)
    denoiser = flattening_denoiser()
    out = denoiser.denoise(counts, pixel_size_nm=0.02)
    record = denoiser.provenance()["last_run"]["discrepancy"]
    assert record["frames_limited"] == 1 and 0 < record["alpha_min"] < 1
    assert "sure_let" not in denoiser.provenance()["last_run"]
    flat = np.full_like(counts, counts.mean())
    held, _ = limit_to_noise(counts, flat, POISSON, noise_variance(counts, POISSON))
    residual_power = np.mean((held.astype(np.float64) - counts) ** 2)
    assert residual_power < 1.1 * np.mean(counts)  # no more than the Poisson noise removed
    assert np.mean((out.astype(np.float64) - counts) ** 2) < 1.1 * np.mean(counts)  # the output too
    # the held restoration is then the pilot of the Wiener step, and what that removed beyond the noise is put back,
    # with the held restoration as the network's witness
    variance = noise_variance(counts, POISSON)
    expected, _ = put_back(counts, filter_frame(counts, held, variance), variance, 0.02, held)
    np.testing.assert_allclose(out, expected, atol=1e-2)


def test_data_that_are_not_counts_are_left_to_the_network():
    _, counts = lattice_counts()
    denoiser = flattening_denoiser()
    out = denoiser.denoise(2.5 * counts + 100.0, pixel_size_nm=0.02)
    assert "discrepancy" not in denoiser.provenance()["last_run"]
    # the flat output stays (the significant-residual step puts back only a few spots of a
    # lattice erased everywhere: there, the removed signal sets the residual's own scale)
    assert np.std(out) < 0.15 * np.std(2.5 * counts)


def test_frames_less_noisy_than_the_training_data_are_held_to_the_noise_with_a_warning():
    clean, counts = lattice_counts(dose=400.0)
    denoiser = flattening_denoiser()
    denoiser.card.training = {"data": {"dose_range_e_per_px": [0.5, 50.0]}}
    with pytest.warns(DoseWarning, match="trained on doses up to 50 e-/px"):
        out = denoiser.denoise(2.5 * counts + 100.0, pixel_size_nm=0.02)
    assert denoiser.provenance()["last_run"]["discrepancy"]["frames_limited"] == 1
    flat = np.full_like(clean, 2.5 * counts.mean() + 100.0)
    assert np.mean((out - (2.5 * clean + 100.0)) ** 2) < np.mean((flat - (2.5 * clean + 100.0)) ** 2)
    assert 300 < effective_dose(counts, POISSON) < 500


def test_the_beam_dose_is_read_at_the_brightest_level_in_electrons():
    clean, counts = lattice_counts(dose=10.0)  # 5..15 e-/px
    assert 12.0 < beam_dose(counts, POISSON) < 17.0
    assert 12.0 < beam_dose(2.5 * counts + 100.0, POISSON.scaled(2.5, 100.0)) < 17.0  # same electrons, other units
    assert beam_dose(counts, NoiseLevel(0.0, 4.0, "estimated from the data")) is None


def test_frames_noisier_than_the_training_data_get_a_warning_and_their_dose_is_recorded():
    _, counts = lattice_counts(dose=0.5)
    denoiser = flattening_denoiser()
    denoiser.card.training = {"data": {"dose_range_e_per_px": [5.0, 500.0]}}
    with pytest.warns(DoseWarning, match="trained on doses from 5 e-/px") as caught:
        denoiser.denoise(np.stack([counts, counts]), pixel_size_nm=0.02)
    assert len([w for w in caught if issubclass(w.category, DoseWarning)]) == 1  # once per run
    record = denoiser.provenance()["last_run"]["dose"]
    assert 0.3 < record["beam_e_per_px_median"] < 2.0 and record["trained_e_per_px"] == [5.0, 500.0]


def test_frames_within_the_training_doses_run_without_a_warning(recwarn):
    _, counts = lattice_counts(dose=10.0)
    denoiser = flattening_denoiser()
    denoiser.card.training = {"data": {"dose_range_e_per_px": [5.0, 500.0]}}
    denoiser.denoise(counts, pixel_size_nm=0.02)
    assert not [w for w in recwarn if issubclass(w.category, DoseWarning)]


def test_a_calibrated_cameras_dose_is_read_from_its_law_and_held_to_the_training_range():
    clean, counts = lattice_counts(dose=400.0)
    frame = 2.5 * counts + 100.0
    # the camera's calibrated law, sigma = k I + b, fitted to 2.5 sqrt(N) around 400 e-/px (I = 2.5 N + 100)
    k = 2.5 / (2 * np.sqrt(400.0)) / 2.5
    model = HRTEMNoise(k=k, b=2.5 * np.sqrt(400.0) - k * (2.5 * 400.0 + 100.0), sigma_c=0.0)
    level = level_from_model(model)
    assert 300 < effective_dose(frame, level) < 500  # electrons per pixel, from the law's local slope
    assert beam_dose(frame, NoiseLevel(0.0, 0.0, "calibration", HRTEMNoise(k=0.0, b=3.0, sigma_c=0.0))) is None
    denoiser = flattening_denoiser()
    denoiser.card.training = {"data": {"dose_range_e_per_px": [0.5, 50.0]}}
    with pytest.warns(DoseWarning, match="trained on doses up to 50 e-/px"):
        denoiser.denoise(frame, pixel_size_nm=0.02, noise=level)
    assert denoiser.provenance()["last_run"]["discrepancy"]["frames_limited"] == 1


def test_a_calibrated_law_below_its_offset_gives_a_dose_from_the_pixels_it_holds():
    # variance = 2 I - 100: a camera's pedestal of 50 puts the law's zero at intensity 50
    level = level_from_model(HRTEMNoise(k=2.0, b=-100.0, sigma_c=0.0, law="variance"))
    frame = np.full((64, 64), 250.0, np.float32)  # 100 electrons above the pedestal, gain 2
    frame[:, :16] = 20.0  # a dark band below the pedestal: no noise in the law there
    dose = effective_dose(frame, level)
    assert dose is not None and 90 < dose < 110
