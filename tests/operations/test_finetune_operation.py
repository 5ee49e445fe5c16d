"""The fine-tuning operation: one options dataclass for the CLI and the dock, the engine's
configuration made from it and the stack's calibration, early refusals, and a run that saves a
model which denoises."""

from __future__ import annotations

import argparse
from typing import get_args

import numpy as np
import pytest

from tem_denoise.engine import Denoiser
from tem_denoise.engine.tune_blindspot import lowpass_period
from tem_denoise.engine.tuning import MODES
from tem_denoise.io import Stack
from tem_denoise.models.registry import available_models
from tem_denoise.operations.finetune import FinetuneOptions, Mode, check_options, iter_finetune, tune_config
from tem_denoise.operations.options import add_arguments, from_arguments
from tem_denoise.progress import run_to_end


def _parse(argv):
    parser = argparse.ArgumentParser(exit_on_error=False)
    add_arguments(parser, FinetuneOptions)
    return from_arguments(FinetuneOptions, parser.parse_args(argv))


def test_the_modes_are_the_engines():
    assert get_args(Mode) == MODES


def test_cli_arguments_make_the_options_and_the_options_the_engine_config():
    options = _parse(["--mode", "calibrated", "--noise", "n.json", "--val-fraction", "0.2", "--crop", "96",
                      "--minutes", "3", "--lr", "1e-4", "--batch-size", "4", "--device", "cpu"])
    assert options == FinetuneOptions(mode="calibrated", noise="n.json", val_fraction=0.2, crop=96, minutes=3.0,
                                      lr=1e-4, batch_size=4, device="cpu")
    stack = Stack.from_array(np.zeros((4, 40, 40), np.float32), pixel_size=0.05, name="my frames", modality="HRTEM")
    config = tune_config(stack, "my model!", options)
    assert (config.name, config.mode, config.noise_model, config.pixel_size_nm, config.modality) == (
        "my-model", "calibrated", "n.json", 0.05, "HRTEM")
    assert (config.crop, config.max_minutes, config.lr, config.batch_size, config.val_fraction, config.source) == (
        96, 3.0, 1e-4, 4, 0.2, "my frames")
    stated = tune_config(stack, "m", FinetuneOptions(pixel_size=0.07, modality="STEM-HAADF", lowpass_period=3.0))
    assert (stated.pixel_size_nm, stated.modality, stated.lowpass_period_px) == (0.07, "STEM-HAADF", 3.0)
    with pytest.raises(ValueError, match="pixel size"):
        tune_config(Stack.from_array(np.zeros((4, 40, 40), np.float32)), "m", options)
    with pytest.raises(argparse.ArgumentError):
        _parse(["--val-fraction", "0.7"])


def test_bad_choices_are_refused_before_any_data_are_read(tmp_path):
    with pytest.raises(ValueError, match="cannot start from 'scgn-hrtem'"):
        check_options(FinetuneOptions(base="scgn-hrtem"))
    with pytest.raises(ValueError, match="unknown model 'nope'"):
        check_options(FinetuneOptions(base="nope"))
    with pytest.raises(ValueError, match="noise model"):
        check_options(FinetuneOptions(mode="calibrated"))
    with pytest.raises(OSError, match="missing.json"):
        check_options(FinetuneOptions(mode="calibrated", noise=str(tmp_path / "missing.json")))
    check_options(FinetuneOptions(mode="unpaired", base="unet-hrtem"))


def test_a_run_saves_a_model_that_keeps_its_lowpass_and_denoises(tmp_path):
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:64, :64]
    clean = (3 + 2 * np.cos(2 * np.pi * yy / 16) * np.cos(2 * np.pi * xx / 12)).astype(np.float32)
    noisy = rng.poisson(np.repeat(clean[None], 4, axis=0)).astype(np.float32)
    stack = Stack.from_array(noisy, pixel_size=0.1, name="test stack")
    options = FinetuneOptions(base="wcid-2d", steps=10, crop=48, batch_size=4, blind_radius=0, lowpass_period=3.0,
                              device="cpu")
    tuned = run_to_end(iter_finetune(stack, "my model!", options, folder=tmp_path))
    card = available_models([tmp_path])["my-model"]
    assert card.source == "user" and card.training["mode"] == "blind-spot" and card.training["data"]["source"] == (
        "test stack")
    assert tuned.card.name == "my-model" and lowpass_period(card) == 3.0
    out = Denoiser("my-model", device="cpu", user_dirs=[tmp_path]).denoise(noisy)
    assert np.mean((out - clean) ** 2) < 0.5 * np.mean((noisy - clean) ** 2)
