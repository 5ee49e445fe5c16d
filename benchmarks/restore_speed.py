"""Time the default restoration of one 1024² frame along each of the engine's paths.

Raw counts of 0.1 e-/px or more take the SURE-LET path (two network passes, two pilot
Wiener filters, Gaussian filters); counts under 0.1 e-/px the discrepancy step (one network pass, one
filter); a linear camera's frame in arbitrary units the noise estimate and one pass; the same
camera with a calibration that measured its noise spectrum the SURE-LET path for correlated
noise. Each
case runs after a warm-up frame; the fastest and the median of ``--repeats`` runs are printed
(seconds per frame, on all the CPU threads torch is given).

    PYTHONPATH=src .venv/bin/python benchmarks/restore_speed.py [--size 1024] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

PIXEL_NM = 0.02


def cases(size: int) -> dict[str, tuple[str, np.ndarray, object]]:
    """Label -> (model, frame, noise level or None) for the four paths."""
    from scipy import ndimage

    from tem_denoise.physics.noise_level import level_from_model
    from tem_denoise.physics.noise_models import HRTEMNoise

    rng = np.random.default_rng(0)
    camera = 3.0 * rng.poisson(40.0, (size, size)) + 100.0 + rng.normal(0.0, 2.0, (size, size))
    blurred = 3.0 * ndimage.gaussian_filter(rng.poisson(40.0, (size, size)).astype(np.float64), 0.6) + 100.0
    calibration = HRTEMNoise(k=3.0 * 0.22, b=-300.0 * 0.22 + 4.0, sigma_c=0.0, law="variance",
                             noise_spectrum=(1.0 / (4 * np.pi**2 * 0.36), 0.05))
    return {
        "restore-haadf, counts 5 e-/px (SURE-LET)": ("restore-haadf", rng.poisson(5.0, (size, size)), None),
        "restore-haadf, counts 0.05 e-/px (discrepancy)": ("restore-haadf", rng.poisson(0.05, (size, size)), None),
        "restore-hrtem, linear camera (estimated noise)": ("restore-hrtem", camera, None),
        "restore-hrtem, calibrated camera (SURE-LET)": ("restore-hrtem", blurred + rng.normal(0.0, 2.0, (size, size)),
                                                        level_from_model(calibration)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import torch

    from tem_denoise.engine import Denoiser

    print(f"{args.size}² frames, torch {torch.__version__}, {torch.get_num_threads()} threads")
    for label, (model, frame, noise) in cases(args.size).items():
        frame = frame.astype(np.float32)
        denoiser = Denoiser(model, device="cpu")
        denoiser.denoise(frame[:256, :256], pixel_size_nm=PIXEL_NM, noise=noise)
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            denoiser.denoise(frame, pixel_size_nm=PIXEL_NM, noise=noise)
            times.append(time.perf_counter() - start)
        if noise is not None and "sure_let" not in denoiser.provenance()["last_run"]:
            raise RuntimeError(f"{label}: the SURE-LET step did not run")
        print(f"{label:48s} {min(times):5.2f} s per frame (median {np.median(times):.2f})", flush=True)


if __name__ == "__main__":
    main()
