"""Restoration models in the engine: working sampling, noise map, linearity, card contract."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from tem_denoise.arrays import ArrayError
from tem_denoise.engine import Denoiser
from tem_denoise.engine.denoiser import RESTORE_BORDER, SamplingWarning
from tem_denoise.models.card import CardError, ModelCard
from tem_denoise.models.restore import RestoreUNet
from tem_denoise.physics.formation import SPECS, restore_pair
from tem_denoise.physics.noise_level import level_from_model, local_mean
from tem_denoise.physics.noise_models import HRTEMNoise, STEMNoise
from tem_denoise.sampling import noise_gain, to_working

RANGE = (0.006, 0.06)


def tiny_card() -> ModelCard:
    return ModelCard("tiny-restore", "restore", {"base_channels": 4, "depth": 2}, modality="STEM-HAADF",
                     adapter="restore", pixel_size_nm=0.02, sampling_range_nm=RANGE, tile_size=64)


class Recording(torch.nn.Module):
    """A small untrained restoration net (non-trivial output) that keeps its last input."""

    temporal_window = 1
    alignment = 4

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.net = RestoreUNet(base_channels=4, depth=2)
        torch.nn.init.normal_(self.net.out.weight, std=0.1)
        self.seen = []

    def forward(self, x):
        self.seen.append(x.detach().clone())
        return self.net(x)


@pytest.fixture
def frame():
    """A HAADF frame from an analogue detector (readout noise added: not whole counts)."""
    rng = np.random.default_rng(0)
    pair = restore_pair(SPECS["STEM-HAADF"], (96, 96), rng, pixel_nm=0.01, dose=30.0)
    return pair.noisy + rng.normal(0.0, 0.5, pair.noisy.shape).astype(np.float32)


def test_output_changes_like_the_input(frame):
    denoiser = Denoiser(Recording(), device="cpu", card=tiny_card())
    out = denoiser.denoise(frame, pixel_size_nm=0.01)
    changed = denoiser.denoise(3.0 * frame + 7.0, pixel_size_nm=0.01)
    np.testing.assert_allclose(changed, 3.0 * out + 7.0, rtol=1e-4, atol=1e-3 * float(np.ptp(out)))
    assert out.shape == frame.shape and not np.allclose(out, frame)


def test_frames_finer_than_the_working_sampling_are_brought_to_it(frame):
    model = Recording()
    denoiser = Denoiser(model, device="cpu", card=tiny_card(), tile=0)
    out = denoiser.denoise(frame, pixel_size_nm=0.01)
    border = 2 * RESTORE_BORDER  # the mirrored border around the frame
    assert tuple(model.seen[-1].shape) == (1, 2, 48 + border, 48 + border)
    assert out.shape == (96, 96)
    assert denoiser.provenance()["last_run"]["adapter"]["sampling_factor"] == 2.0
    denoiser.denoise(frame, pixel_size_nm=0.03)
    assert tuple(model.seen[-1].shape) == (1, 2, 96 + border, 96 + border)


def test_calibrated_noise_reaches_the_network(frame):
    model = Recording()
    denoiser = Denoiser(model, device="cpu", card=tiny_card(), tile=0)
    calibration = STEMNoise(pointwise_k=0.02, pointwise_b=5.0)  # the detector of tiny_card's STEM-HAADF
    level = level_from_model(calibration)
    calibrated = denoiser.denoise(frame, pixel_size_nm=0.01, noise=level)
    adapter = denoiser.provenance()["last_run"]["adapter"]
    assert adapter["noise"]["source"] == "calibration"
    expected = to_working(level.sigma(local_mean(frame)), 2.0) * noise_gain(2.0) / adapter["span"]
    inside = (slice(RESTORE_BORDER, -RESTORE_BORDER),) * 2  # within the mirrored border
    np.testing.assert_allclose(model.seen[-1][0, 1].numpy()[inside], expected, rtol=1e-4)
    estimated = denoiser.denoise(frame, pixel_size_nm=0.01)
    assert denoiser.provenance()["last_run"]["adapter"]["noise"]["source"] == "estimated from the data"
    assert not np.allclose(calibrated, estimated)


def test_a_camera_noise_model_is_refused_by_a_stem_model(frame):
    denoiser = Denoiser(Recording(), device="cpu", card=tiny_card(), tile=0)
    with pytest.raises(ValueError, match="TEM camera's .* model 'tiny-restore' is for STEM-HAADF images"):
        denoiser.denoise(frame, pixel_size_nm=0.01, noise=level_from_model(HRTEMNoise()))


def test_raw_counts_are_taken_as_poisson():
    counts = np.random.default_rng(1).poisson(3.0, (64, 64)).astype(np.float32)
    denoiser = Denoiser(Recording(), device="cpu", card=tiny_card())
    denoiser.denoise(counts, pixel_size_nm=0.02)
    assert denoiser.provenance()["last_run"]["adapter"]["noise"]["source"] == "counts (Poisson)"


def test_a_model_never_runs_silently_outside_its_sampling(frame):
    denoiser = Denoiser(Recording(), device="cpu", card=tiny_card())
    with pytest.raises(ValueError, match="trained for pixel sizes of 6-60 pm/px.*higher magnification"):
        denoiser.denoise(frame, pixel_size_nm=0.2)
    with pytest.raises(ValueError, match="trained for pixel sizes.*bin the image 3 x 3"):
        denoiser.denoise(frame, pixel_size_nm=0.002)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        denoiser.denoise(frame)
    assert any(issubclass(w.category, SamplingWarning) for w in caught)


def test_a_restore_card_must_state_its_sampling():
    with pytest.raises(CardError, match="sampling_range_nm"):
        ModelCard("bad", "restore", {}, adapter="restore", pixel_size_nm=0.02)
    with pytest.raises(CardError, match="sampling_range_nm must be"):
        ModelCard("bad", "restore", {}, adapter="restore", pixel_size_nm=0.02, sampling_range_nm=(0.05, 0.01))
    card = tiny_card()
    assert ModelCard.from_dict(card.to_dict()).sampling_range_nm == RANGE


def test_constant_tiny_and_non_finite_frames_get_an_answer_or_a_clear_refusal():
    denoiser = Denoiser(Recording(), device="cpu", card=tiny_card())
    flat = np.full((64, 64), 5.0, np.float32)
    np.testing.assert_allclose(denoiser.denoise(flat, pixel_size_nm=0.02), 5.0, atol=0.5)
    assert denoiser.denoise(np.random.default_rng(2).random((20, 30)).astype(np.float32) + 5,
                            pixel_size_nm=0.02).shape == (20, 30)
    stack = np.random.default_rng(3).random((3, 40, 40)).astype(np.float32)
    stack[1, 3, 3] = np.inf
    with pytest.raises(ArrayError, match="NaN/Inf"):
        denoiser.denoise(stack, pixel_size_nm=0.02)


def test_a_noise_model_given_to_a_model_that_cannot_read_it_is_reported():
    with pytest.warns(UserWarning, match="does not read a noise level"):
        Denoiser("gaussian-2d").denoise(np.ones((16, 16), np.float32),
                                        noise=level_from_model(HRTEMNoise()))


def test_an_unknown_pixel_size_is_estimated_from_the_lattice_and_said():
    y, x = np.mgrid[:128, :128]
    distance2 = ((y % 15) - 7) ** 2 + ((x % 15) - 7) ** 2
    lattice = 2.0 + 20.0 * np.exp(-distance2 / (2 * 2.0**2))  # a square lattice of columns every 15 px
    frame = np.random.default_rng(0).poisson(lattice).astype(np.float32)
    denoiser = Denoiser(Recording(), device="cpu", card=tiny_card())
    with pytest.warns(SamplingWarning, match="estimated 20.0 pm/px .* every 15.0 px"):
        denoiser.denoise(frame)
    assert denoiser.provenance()["last_run"]["adapter"]["sampling_factor"] == 1.0
    with pytest.warns(SamplingWarning, match="shows no lattice"):
        denoiser.denoise(np.random.default_rng(1).poisson(10.0, (128, 128)).astype(np.float32))


def test_the_frame_edges_are_restored_like_its_inside():
    counts = np.random.default_rng(4).poisson(30.0, (128, 128)).astype(np.float32)  # a flat field: all noise
    restored = Denoiser("restore-haadf", device="cpu").denoise(counts, pixel_size_nm=0.02)
    removed = np.abs(restored - counts)
    inside = removed[8:-8, 8:-8].mean()
    for edge in (removed[0], removed[-1], removed[:, 0], removed[:, -1]):
        assert edge.mean() > 0.95 * inside  # with the convolutions' zero padding there, less came off
