"""Fine-tuning helpers: model names, the blind-spot low-pass, and the live preview of the best network."""

from __future__ import annotations

import numpy as np
import pytest

from tem_denoise.engine import Denoiser
from tem_denoise.engine.finetune_modes import iter_finetune_mode
from tem_denoise.engine.live_preview import CONTEXT_FRAMES, central_crop, read_preview
from tem_denoise.engine.tune_blindspot import lowpass_period, with_lowpass_period
from tem_denoise.engine.tuning import TuneConfig, safe_model_name
from tem_denoise.models.card import ModelCard
from tem_denoise.progress import run_to_end


def test_names_are_made_safe():
    assert safe_model_name(" wcvd / my stack ") == "wcvd-my-stack"
    assert safe_model_name("HRTEM (noisy)-blind-spot") == "HRTEM-noisy-blind-spot"
    assert safe_model_name("a--b_c.d") == "a--b_c.d"  # dashes typed by the user are kept
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


def test_central_crop_is_centred_and_never_larger_than_the_frame():
    assert central_crop((160, 144), 128) == (slice(16, 144), slice(8, 136))
    assert central_crop((40, 300), 128) == (slice(0, 40), slice(86, 214))


def test_live_preview_shows_what_the_saved_best_network_does_and_leaves_training_alone(tmp_path):
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[:160, :144]
    movie = rng.poisson(4 + 3 * np.cos(2 * np.pi * yy / 8) * np.cos(2 * np.pi * xx / 6), (6, 160, 144))
    movie = movie.astype(np.float32)
    config = TuneConfig(mode="blind-spot", name="live", steps=4, val_every=2, crop=32, batch_size=2, device="cpu",
                        base="wcid-2d", blind_radius=0)
    steps = []
    tuned = run_to_end(iter_finetune_mode(movie, config, tmp_path, preview_frame=1), steps.append)
    written = [s for s in steps if s.preview]
    assert written[0].step == 2  # the first best at once, later ones at most every few seconds and at the end
    preview = read_preview(written[-1].preview)
    rows, cols = central_crop(movie.shape[1:])
    np.testing.assert_array_equal(preview["input"], movie[1, rows, cols])
    assert tuple(preview["origin"]) == (16, 8) and int(preview["frame"]) == 1
    assert int(preview["step"]) == tuned.card.training["validation"]["best_step"]
    saved = Denoiser("live", device="cpu", user_dirs=[tmp_path], tile=0)
    crop = movie[: 1 + CONTEXT_FRAMES + 1, rows, cols]
    np.testing.assert_allclose(preview["output"], run_to_end(saved.iter_preview(crop, 1)), rtol=1e-4, atol=1e-4)

    plain = []
    run_to_end(iter_finetune_mode(movie, TuneConfig(**{**config.__dict__, "name": "plain"}), tmp_path), plain.append)
    assert [s.loss for s in plain] == [s.loss for s in steps] and not any(s.preview for s in plain)
