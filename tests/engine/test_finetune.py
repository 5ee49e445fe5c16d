"""Fine-tuning a blind-spot model on a stack saves a user model that denoises better than the input."""

from __future__ import annotations

import numpy as np
import pytest

from tem_denoise.engine import Denoiser
from tem_denoise.engine.finetune import iter_finetune, lowpass_period, safe_model_name, with_lowpass_period
from tem_denoise.engine.training import SelfSupervisedConfig
from tem_denoise.models.card import ModelCard
from tem_denoise.models.registry import available_models
from tem_denoise.progress import run_to_end


def test_finetuned_model_is_saved_found_and_denoises(tmp_path):
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:64, :64]
    clean = (3 + 2 * np.cos(2 * np.pi * yy / 16) * np.cos(2 * np.pi * xx / 12)).astype(np.float32)
    noisy = rng.poisson(np.repeat(clean[None], 4, axis=0)).astype(np.float32)
    base = ModelCard("blind-test", "blindspot", {"frames": 1, "mid_channels": 3, "n_layers": 1, "lowpass": False})
    config = SelfSupervisedConfig(steps=60, crop=48, batch_size=4, lr=2e-2)
    tuned = run_to_end(iter_finetune(base, noisy, "my model!", config, folder=tmp_path, source="test stack"))
    assert tuned.card.name == "my-model"
    assert (tmp_path / "my-model" / "weights.safetensors").is_file()
    card = available_models([tmp_path])["my-model"]
    assert card.source == "user" and card.training["base_model"] == "blind-test"
    out = Denoiser("my-model", device="cpu", user_dirs=[tmp_path]).denoise(noisy)
    mse_in, mse_out = np.mean((noisy - clean) ** 2), np.mean((out - clean) ** 2)
    assert mse_out < 0.5 * mse_in


def test_supervised_models_cannot_be_finetuned_on_a_stack(tmp_path):
    base = ModelCard("scgn-x", "scgn", {"channels": 4, "n_blocks": 1})
    with pytest.raises(ValueError, match="blind-spot"):
        next(iter_finetune(base, np.ones((2, 16, 16), np.float32), "x", SelfSupervisedConfig(steps=1)))


def test_names_are_made_safe():
    assert safe_model_name(" wcvd / my stack ") == "wcvd-my-stack"
    with pytest.raises(ValueError):
        safe_model_name("///")


def test_lowpass_period_reads_and_sets_the_blind_spot_cutoff():
    paper = ModelCard("b", "blindspot", {"frames": 1})
    assert lowpass_period(paper) == 14.0  # 1 / (2 * 7) cycles per pixel, seed 002
    finer = with_lowpass_period(paper, 3.0)
    assert finer.architecture["lowpass_kernel"] == 1.5 and lowpass_period(finer) == 3.0
    assert lowpass_period(with_lowpass_period(paper, 0)) == 0.0
    assert paper.architecture == {"frames": 1}
    with pytest.raises(ValueError, match="Nyquist"):
        with_lowpass_period(paper, 1.0)


def test_finetuned_model_keeps_the_chosen_lowpass(tmp_path):
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[:64, :64]
    clean = (3 + 2 * np.cos(2 * np.pi * xx / 4)).astype(np.float32)  # 4-px fringes
    noisy = rng.poisson(np.repeat(clean[None], 3, axis=0)).astype(np.float32)
    base = ModelCard("blind-test", "blindspot", {"frames": 1, "mid_channels": 3, "n_layers": 1})
    config = SelfSupervisedConfig(steps=20, crop=32, batch_size=4)
    outputs = {}
    for period in (14.0, 3.0):
        run_to_end(iter_finetune(base, noisy, f"p{period:g}", config, folder=tmp_path, lowpass_period_px=period))
        assert lowpass_period(available_models([tmp_path])[f"p{period:g}"]) == period
        outputs[period] = Denoiser(f"p{period:g}", device="cpu", user_dirs=[tmp_path]).denoise(noisy[0])
    def fringe(image):  # amplitude at 1/4 cycles per pixel
        return np.abs(np.fft.rfft(image.mean(axis=0))[16])

    assert fringe(outputs[14.0]) < 1e-3 * fringe(noisy[0])
    assert fringe(outputs[3.0]) > 0.1 * fringe(noisy[0])
