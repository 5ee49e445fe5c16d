"""Time the default restoration of one 1024² frame along each of the engine's paths.

Raw counts of a few electrons per pixel take the SURE-LET path (two network passes, two pilot
Wiener filters, Gaussian filters); sparse counts the discrepancy step (one network pass, one
filter); a linear camera's frame in arbitrary units the noise estimate and one pass. Each
case runs after a warm-up frame; the fastest and the median of ``--repeats`` runs are printed
(seconds per frame, on all the CPU threads torch is given).

    PYTHONPATH=src .venv/bin/python benchmarks/restore_speed.py [--size 1024] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

PIXEL_NM = 0.02


def cases(size: int) -> dict[str, tuple[str, np.ndarray]]:
    """Label -> (model, frame) for the three paths."""
    rng = np.random.default_rng(0)
    camera = 3.0 * rng.poisson(40.0, (size, size)) + 100.0 + rng.normal(0.0, 2.0, (size, size))
    return {
        "restore-haadf, counts 5 e-/px (SURE-LET)": ("restore-haadf", rng.poisson(5.0, (size, size))),
        "restore-haadf, counts 0.3 e-/px (discrepancy)": ("restore-haadf", rng.poisson(0.3, (size, size))),
        "restore-hrtem, linear camera (estimated noise)": ("restore-hrtem", camera),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import torch

    from tem_denoise.engine import Denoiser

    print(f"{args.size}² frames, torch {torch.__version__}, {torch.get_num_threads()} threads")
    for label, (model, frame) in cases(args.size).items():
        frame = frame.astype(np.float32)
        denoiser = Denoiser(model, device="cpu")
        denoiser.denoise(frame[:256, :256], pixel_size_nm=PIXEL_NM)
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            denoiser.denoise(frame, pixel_size_nm=PIXEL_NM)
            times.append(time.perf_counter() - start)
        print(f"{label:48s} {min(times):5.2f} s per frame (median {np.median(times):.2f})", flush=True)


if __name__ == "__main__":
    main()
