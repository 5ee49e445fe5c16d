"""Fine-tuning a blind-spot model on a stack saves a user model that denoises better than the input."""

from __future__ import annotations

import numpy as np
import pytest

from tem_denoise.engine import Denoiser
from tem_denoise.engine.finetune import iter_finetune, safe_model_name
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
