"""The bundled default of each modality beats its noisy input on held-out synthetic data.

Small versions of benchmarks/quality.py (which measures the full figures): a few 128² frames
with seeds the training never used.
"""

from __future__ import annotations

import numpy as np
import pytest

from tem_denoise.analysis.atoms import locate_atoms_stack
from tem_denoise.analysis.metrics import match_positions, psnr
from tem_denoise.engine import Denoiser
from tem_denoise.engine.counting import default_model_for
from tem_denoise.models.registry import default_model_name
from tem_denoise.physics import sample_counting_series
from tem_denoise.physics.datasets import synth_set


def atom_f1(frames: np.ndarray, positions: np.ndarray, separation: float, radius: float) -> float:
    """F1 of atoms found (centre of mass, bright peaks) against the true ``(frame, y, x)`` rows."""
    table = locate_atoms_stack(frames, separation, threshold_rel=0.3, method="com")
    found = np.column_stack([table["frame"], table["y_px"], table["x_px"]])
    return match_positions(found, positions, radius).f1


@pytest.mark.parametrize(("kind", "model", "separation", "radius", "dark"), [
    ("hrtem", "unet-hrtem", 3.0, 1.5, True),
    ("haadf", "unet-haadf", 5.0, 2.0, False),
    ("bf", "unet-bf", 5.0, 2.0, True),
])
def test_atom_map_networks_find_atoms_the_noisy_frames_hide(kind, model, separation, radius, dark):
    """The atom-map U-Nets (offered by the Atom positions dock) on their own kind of frames."""
    data = synth_set(kind, 3, (128, 128), seed=4242)
    denoiser = Denoiser(model, device="cpu")
    assert denoiser.card.output_kind == "atom-map"
    output = np.stack([denoiser.denoise(frame) for frame in data["noisy"]])
    noisy = -data["noisy"] if dark else data["noisy"]
    f1_noisy = atom_f1(noisy, data["positions"], separation, radius)
    f1_output = atom_f1(output, data["positions"], separation, radius)
    assert f1_output > 0.8
    assert f1_output > f1_noisy + 0.2


def test_blind_spot_starting_weights_raise_psnr_on_a_counting_movie():
    movie = sample_counting_series(6, (96, 96), dose_e_per_px=2.0, seed=4243)
    denoiser = Denoiser(default_model_name("any", n_frames=6), device="cpu")
    assert denoiser.card.name == "wcvd-3d"
    output = denoiser.denoise(movie.noisy)
    span = float(movie.clean.max() - movie.clean.min())
    before = np.mean(psnr(movie.clean, movie.noisy, data_range=span))
    after = np.mean(psnr(movie.clean, output, data_range=span))
    assert after > before + 10.0


def test_counting_default_restores_a_low_dose_movie_far_better_than_a_3d_gaussian():
    movie = sample_counting_series(12, (128, 128), dose_e_per_px=2.0, seed=4244)
    name = default_model_for(None, movie.noisy, n_frames=12)  # what a file with no modality gets
    assert name == "unet-counting"
    span = float(movie.clean.max() - movie.clean.min())
    scores = {}
    for model in (name, "gaussian-3d"):
        output = Denoiser(model, device="cpu").denoise(movie.noisy)
        scores[model] = (np.mean(psnr(movie.clean, output, data_range=span)),
                         atom_f1(-output, movie.positions_px, separation=3.0, radius=1.5))
    (psnr_model, f1_model), (psnr_gauss, f1_gauss) = scores[name], scores["gaussian-3d"]
    assert psnr_model > psnr_gauss + 1.0
    assert f1_model > f1_gauss + 0.1


@pytest.mark.parametrize(("modality", "model"), [
    ("HRTEM", "restore-hrtem"), ("STEM-HAADF", "restore-haadf"), ("STEM-BF", "restore-bf"),
])
def test_the_default_of_each_modality_restores_the_image(modality, model):
    """The Denoise default is a restoration model: intensities in the input's units, linear in the
    input, and much closer to the clean image than the noisy frame (image-formation pairs with
    seeds the training never used, at a middle dose)."""
    from tem_denoise.physics.formation import SPECS, restore_pair

    assert default_model_name(modality) == model
    denoiser = Denoiser(model, device="cpu")
    assert denoiser.card.output_kind == "restore" and denoiser.card.sampling_range_nm is not None
    gains = []
    for seed in (7001, 7002, 7003):
        pair = restore_pair(SPECS[modality], (128, 128), np.random.default_rng(seed), pixel_nm=0.025, dose=30.0)
        span = float(np.ptp(pair.clean))
        output = denoiser.denoise(pair.noisy, pixel_size_nm=0.025, noise=pair.level)
        gains.append(psnr(pair.clean, output, data_range=span) - psnr(pair.clean, pair.noisy, data_range=span))
        shifted = denoiser.denoise(2.0 * pair.noisy + 100.0, pixel_size_nm=0.025, noise=pair.level.scaled(2.0, 100.0))
        np.testing.assert_allclose(shifted, 2.0 * output + 100.0, rtol=1e-4, atol=1e-3 * span)
    assert np.mean(gains) > 5.0, gains
