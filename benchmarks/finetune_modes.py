"""Fine-tuning modes against their baselines on data made by another generator than the training one.

1. **Frame pairs vs the best 3D Gaussian.** A drifting low-dose HRTEM movie: one specimen
   imaged by ``tem_denoise.physics.formation`` (phase-object HRTEM, random optics) at
   0.03 nm/px, moved along a smooth drift path (sub-pixel Fourier shifts of the clean image)
   and recorded as Poisson electrons (``--dose`` e-/px/frame) blurred by a scintillator PSF of
   0.7 px, so the noise is spatially correlated. The frame-pair mode is fine-tuned on the noisy
   movie alone within ``--minutes`` of this CPU; the 3D Gaussian is the best of a sweep of
   spatial and temporal sigmas chosen against the truth (an oracle no user has).
2. **Calibrated synthesis vs the generalist.** HRTEM frames of new specimens recorded with a
   camera whose column noise dominates (``HRTEMNoise`` sigma_c 10 on intensities 100-300: much
   more than the generalist was trained on); ``restore-hrtem`` is run with the calibrated noise
   model (as ``denoise --noise``) and without (estimated), then fine-tuned in the calibrated mode
   within ``--minutes`` and run with the noise model.

PSNR (dB) against the clean frames, data range = the clean movie's range. Writes JSON to
``benchmarks/results/finetune_modes.json``. Usage: ``python benchmarks/finetune_modes.py``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy import ndimage

from tem_denoise.analysis.metrics import psnr
from tem_denoise.engine import Denoiser
from tem_denoise.engine.finetune_modes import iter_finetune_mode
from tem_denoise.engine.noise_diagnosis import diagnose_noise
from tem_denoise.engine.tune_frame_pairs import WINDOW, movie_drift
from tem_denoise.engine.tuning import TuneConfig
from tem_denoise.physics import HRTEMNoise
from tem_denoise.physics.formation import SPECS, restore_pair
from tem_denoise.physics.noise_level import level_from_model
from tem_denoise.physics.time_series import drift_path
from tem_denoise.progress import run_to_end

ROOT = Path(__file__).resolve().parents[1]
PIXEL_NM = 0.03
PSF_PX = 0.7


def drifting_movie(frames: int, size: int, dose: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Noisy and clean ``(frames, size, size)`` movies of one formation-made HRTEM specimen and the
    ``(frames, 2)`` shifts (px) that register each frame onto frame 0."""
    rng = np.random.default_rng(seed)
    margin = 24
    big = restore_pair(SPECS["HRTEM"], (size + 2 * margin, size + 2 * margin), rng, pixel_nm=PIXEL_NM, dose=100.0)
    intensity = big.clean / float(np.mean(big.clean))
    shifts = drift_path(frames, speed_px=0.4, wander_px=0.15, rng=rng)
    clean, noisy = [], []
    for shift in shifts:
        moved = np.fft.ifft2(ndimage.fourier_shift(np.fft.fft2(intensity), shift)).real
        expected = dose * np.maximum(moved[margin:-margin, margin:-margin], 0)
        electrons = rng.poisson(expected).astype(np.float64)
        noisy.append(ndimage.gaussian_filter(electrons, PSF_PX, mode="nearest"))
        clean.append(ndimage.gaussian_filter(expected, PSF_PX, mode="nearest"))
    return np.array(noisy, np.float32), np.array(clean, np.float32), shifts[0] - shifts


def pair_registration_error(estimated: np.ndarray, true: np.ndarray, offset: int) -> float:
    """RMS error (px) of the relative shift of frames ``offset`` apart (what a pair target needs)."""
    error = (estimated[offset:] - estimated[:-offset]) - (true[offset:] - true[:-offset])
    return float(np.sqrt(np.mean(np.sum(error**2, axis=1))))


def mean_psnr(clean: np.ndarray, test: np.ndarray) -> float:
    return float(np.mean(psnr(clean, test, data_range=float(np.ptp(clean)))))


def best_gaussian_3d(noisy: np.ndarray, clean: np.ndarray) -> dict:
    best = {"psnr": -np.inf}
    for sigma in (0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0):
        for sigma_t in (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0):
            score = mean_psnr(clean, ndimage.gaussian_filter(noisy, (sigma_t, sigma, sigma), mode="nearest"))
            if score > best["psnr"]:
                best = {"psnr": score, "sigma_px": sigma, "sigma_t_frames": sigma_t}
    return best


def tune(stack: np.ndarray, config: TuneConfig, folder: Path) -> tuple[str, float, int]:
    start = time.time()
    tuned = run_to_end(iter_finetune_mode(stack, config, folder=folder))
    return tuned.card.name, time.time() - start, tuned.steps


def frame_pairs(args, folder: Path) -> dict:
    noisy, clean, true_shifts = drifting_movie(args.frames, args.size, args.dose, args.seed)
    diagnosis = diagnose_noise(noisy)
    shifts = movie_drift(noisy)
    offset = WINDOW // 2 + 1  # the frame-pair mode's target: the frames just outside the window
    registration = {"pair_error_px": round(pair_registration_error(shifts, true_shifts, offset), 3),
                    "pair_drift_px": round(pair_registration_error(0 * true_shifts, true_shifts, offset), 3)}
    config = TuneConfig(mode="frame-pairs", name="bench-frame-pairs", steps=100_000, max_minutes=args.minutes,
                        crop=64, batch_size=8, val_every=50, seed=args.seed, device="cpu")
    name, seconds, steps = tune(noisy, config, folder)
    start = time.time()
    denoised = Denoiser(name, device="cpu", user_dirs=[folder]).denoise(noisy)
    return {"movie": {"frames": args.frames, "size": args.size, "dose_e_per_px": args.dose, "psf_px": PSF_PX,
                      "pixel_nm": PIXEL_NM},
            "diagnosis": diagnosis.to_dict(), "registration": registration, "noisy_psnr": mean_psnr(clean, noisy),
            "gaussian_3d": best_gaussian_3d(noisy, clean),
            "frame_pairs": {"psnr": mean_psnr(clean, denoised), "train_s": round(seconds, 1), "steps": steps,
                            "denoise_s": round(time.time() - start, 1)}}


def calibrated(args, folder: Path) -> dict:
    rng = np.random.default_rng(args.seed + 1)
    noise = HRTEMNoise(k=0.05, b=2.0, sigma_c=10.0)
    noise_path = noise.save(folder / "camera.json")
    cleans = []
    for _ in range(4):
        c = restore_pair(SPECS["HRTEM"], (args.size, args.size), rng, pixel_nm=PIXEL_NM, dose=100.0).clean
        lo, hi = np.percentile(c, [0.5, 99.5])
        cleans.append(100 + (c - lo) * (200 / (hi - lo)))
    clean = np.array(cleans, np.float32)
    noisy = noise.apply(clean, rng)
    level = level_from_model(noise)
    generalist = Denoiser("restore-hrtem", device="cpu")
    with_noise = generalist.denoise(noisy, pixel_size_nm=PIXEL_NM, noise=level)
    estimated = generalist.denoise(noisy, pixel_size_nm=PIXEL_NM)
    config = TuneConfig(mode="calibrated", name="bench-calibrated", steps=100_000, max_minutes=args.minutes,
                        crop=96, batch_size=8, val_every=25, seed=args.seed, device="cpu", noise_model=str(noise_path),
                        pixel_size_nm=PIXEL_NM, modality="HRTEM")
    name, seconds, steps = tune(noisy, config, folder)
    tuned = Denoiser(name, device="cpu", user_dirs=[folder]).denoise(noisy, pixel_size_nm=PIXEL_NM, noise=level)
    return {"noise": noise.to_dict(), "frames": len(clean), "noisy_psnr": mean_psnr(clean, noisy),
            "generalist_calibrated_noise": mean_psnr(clean, with_noise),
            "generalist_estimated_noise": mean_psnr(clean, estimated),
            "fine_tuned": {"psnr": mean_psnr(clean, tuned), "train_s": round(seconds, 1), "steps": steps}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=4.0, help="fine-tuning budget per mode (default 4)")
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--size", type=int, default=192)
    parser.add_argument("--dose", type=float, default=20.0, help="e-/px/frame of the movie (default 20)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--part", choices=("all", "frame-pairs", "calibrated"), default="all")
    parser.add_argument("-o", "--output", default=str(ROOT / "benchmarks" / "results" / "finetune_modes.json"))
    args = parser.parse_args()
    results = {"minutes": args.minutes}
    with tempfile.TemporaryDirectory() as scratch:
        if args.part in ("all", "frame-pairs"):
            results["frame_pairs"] = frame_pairs(args, Path(scratch))
            print(json.dumps(results["frame_pairs"], indent=1), flush=True)
        if args.part in ("all", "calibrated"):
            results["calibrated"] = calibrated(args, Path(scratch))
            print(json.dumps(results["calibrated"], indent=1), flush=True)
    Path(args.output).write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
