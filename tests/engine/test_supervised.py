"""Supervised training on synthetic pairs: single frames and short counting-mode movies."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from tem_denoise.engine.training import SupervisedConfig, iter_train_supervised, make_supervised_set
from tem_denoise.physics.datasets import COUNTING_DOSE_RANGE, synth_pair
from tem_denoise.physics.scenes_hrtem import synth_hrtem_nucleation
from tem_denoise.physics.scenes_stem import synth_stem
from tem_denoise.progress import run_to_end


def test_counting_pairs_are_integer_movies_at_a_dose_in_range():
    pair = synth_pair("counting", (48, 48), seed=3, frames=5)
    assert pair.noisy.shape == pair.clean.shape == (5, 48, 48)
    assert np.all(pair.noisy == np.round(pair.noisy)) and pair.noisy.min() >= 0
    low, high = COUNTING_DOSE_RANGE
    assert low <= pair.clean.mean() <= high
    assert pair.params["noise"]["params"]["dose_e_per_px"] == pytest.approx(pair.clean.mean(), rel=1e-3)


def test_single_frame_pairs_are_the_scene_generators_own():
    np.testing.assert_array_equal(synth_pair("hrtem", (32, 32), seed=5).noisy,
                                  synth_hrtem_nucleation((32, 32), rng=5).noisy)
    np.testing.assert_array_equal(synth_pair("bf", (32, 32), seed=6).noisy,
                                  synth_stem((32, 32), mode="bf", rng=6).noisy)


def test_a_movie_set_has_windows_as_channels_and_the_centre_frame_as_target():
    config = SupervisedConfig(kind="counting", target="restore", frames=3, n_pairs=4, size=32, seed=1)
    inputs, targets = make_supervised_set(config)
    assert inputs.shape == (4, 3, 32, 32) and targets.shape == (4, 1, 32, 32)
    assert inputs.min() >= 0 and inputs.max() <= 255
    # the target is a clean frame on the input's scale: about as bright on average
    assert abs(float(targets.mean() - inputs.mean())) < 0.25 * float(inputs.mean())


def linear_window_model() -> torch.nn.Module:
    """A 3x3 convolution over a 3-frame window: the trainer works on any module."""
    torch.manual_seed(0)
    model = torch.nn.Conv2d(3, 1, 3, padding=1)
    model.temporal_window = 3
    return model


def test_the_trainer_fits_a_temporal_model_with_either_loss():
    config = SupervisedConfig(kind="counting", target="restore", frames=3, n_pairs=8, size=24, batch_size=4,
                              epochs=10, lr=3e-2, seed=2)
    inputs, targets = make_supervised_set(config)

    def full_set_mse(model) -> float:
        with torch.no_grad():
            return float(torch.nn.functional.mse_loss(model(torch.from_numpy(inputs)), torch.from_numpy(targets)))

    first = {}
    for loss in ("mse", "l1"):
        model = linear_window_model()
        before = full_set_mse(model)
        result = run_to_end(iter_train_supervised(model, inputs, targets, replace(config, loss=loss)))
        assert result.steps == 20 and result.config["loss"] == loss
        assert full_set_mse(model) < 0.2 * before
        first[loss] = result.losses[0]
    # same data, same start: the squared error of 0..255 targets is far above the absolute error
    assert first["mse"] > 10 * first["l1"]


def test_an_unknown_loss_or_an_even_window_is_refused():
    with pytest.raises(ValueError, match="loss must be one of"):
        SupervisedConfig(loss="huber")
    with pytest.raises(ValueError, match="odd"):
        SupervisedConfig(frames=4)
