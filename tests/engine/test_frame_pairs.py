"""The frame-pair (Noise2Noise) mode learns the scene: registration of low-dose movies and a
tuned network that beats its noisy input on a tiny drifting movie."""

from __future__ import annotations

import warnings

import numpy as np

from tem_denoise.analysis.drift import DriftWarning, estimate_drift
from tem_denoise.analysis.metrics import psnr
from tem_denoise.engine import Denoiser
from tem_denoise.engine.finetune_modes import iter_finetune_mode
from tem_denoise.engine.tune_frame_pairs import movie_drift
from tem_denoise.engine.tuning import TuneConfig
from tem_denoise.progress import run_to_end


def drifting_lattice(frames: int, size: int, dose: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Poisson counts of a drifting lattice (mean ``dose``, contrast 30 %), its clean frames
    and the shifts (px) that register each frame onto frame 0."""
    rng = np.random.default_rng(seed)
    drift = np.cumsum(np.r_[[[0.0, 0.0]], 0.35 * np.ones((frames - 1, 2)) + 0.1 * rng.standard_normal((frames - 1, 2))],
                      axis=0)
    yy, xx = np.mgrid[:size, :size].astype(float)
    clean = np.array([dose * (1 + 0.3 * np.cos(2 * np.pi * (yy - dy) / 7) * np.cos(2 * np.pi * (xx - dx) / 5)
                              + 0.2 * np.cos(2 * np.pi * ((yy - dy) / 23 + (xx - dx) / 31)))
                      for dy, dx in drift])
    return rng.poisson(clean).astype(np.float32), clean.astype(np.float32), -drift


def _pair_error(shifts: np.ndarray, true: np.ndarray) -> float:
    error = (shifts[2:] - shifts[:-2]) - (true[2:] - true[:-2])
    return float(np.sqrt(np.mean(np.sum(error**2, axis=1))))


def test_low_dose_frames_are_registered_on_a_smoothed_copy():
    noisy, _, true = drifting_lattice(12, 96, dose=1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DriftWarning)
        raw = estimate_drift(noisy, prefilter_sigma_px=1.0)
    assert raw.failed.sum() >= 6 and _pair_error(raw.shifts, true) > 0.8
    assert _pair_error(movie_drift(noisy), true) < 0.5


def test_frame_pairs_beat_the_noisy_input_after_a_few_steps(tmp_path):
    noisy, clean, _ = drifting_lattice(6, 40, dose=4.0)
    config = TuneConfig(mode="frame-pairs", name="pairs", steps=10, val_every=5, crop=24, batch_size=4, device="cpu")
    run_to_end(iter_finetune_mode(noisy, config, folder=tmp_path))
    out = Denoiser("pairs", device="cpu", user_dirs=[tmp_path]).denoise(noisy)
    data_range = float(np.ptp(clean))
    before = np.mean(psnr(clean, noisy, data_range=data_range))
    assert np.mean(psnr(clean, out, data_range=data_range)) > before + 3
