"""Speed and accuracy of atom localisation on a large frame of disordered Gaussian atoms.

A 1024 x 1024 frame holds several thousand atoms (sigma 1.5 px, Poisson-disk positions at
least 6 px apart, peak 1 on background 0.2). Gaussian pixel noise of increasing standard
deviation is added; atoms are located on the noisy frame with the LoG pre-filter, with
Gaussian-fit and centre-of-mass refinement, and matched to the truth within 2 px
(F1, RMS position error, wall time). No denoiser is involved: this measures the
localisation step alone.

Uses ``tem_denoise.physics`` for positions and rendering when importable.

Run: ``python benchmarks/atom_localisation.py [--size 1024] [--seed 0]``
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from tem_denoise.analysis import locate_atoms, match_positions

SIGMA_PX = 1.5
MIN_SEPARATION_PX = 6.0
NOISE_LEVELS = (0.0, 0.05, 0.1, 0.2, 0.3)


def _scene(size, rng):
    try:
        from tem_denoise.physics.poisson_disk import poisson_disk
        from tem_denoise.physics.render import render_gaussians

        positions = poisson_disk((size, size), MIN_SEPARATION_PX, rng=rng)
        return positions, 0.2 + render_gaussians((size, size), positions, 1.0, SIGMA_PX).astype(np.float64)
    except ImportError:
        axis = np.arange(3.0, size - 3.0, MIN_SEPARATION_PX + 2.0)
        grid = np.stack(np.meshgrid(axis, axis, indexing="ij"), axis=-1).reshape(-1, 2)
        positions = grid + rng.uniform(-1.0, 1.0, grid.shape)
        coords = np.arange(size)
        gy = np.exp(-((coords[None, :] - positions[:, 0, None]) ** 2) / (2 * SIGMA_PX**2))
        gx = np.exp(-((coords[None, :] - positions[:, 1, None]) ** 2) / (2 * SIGMA_PX**2))
        return positions, 0.2 + gy.T @ gx


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    truth, clean = _scene(args.size, rng)
    print(f"{len(truth)} atoms on {args.size}^2 px, sigma {SIGMA_PX} px, >= {MIN_SEPARATION_PX} px apart, peak 1")
    header = f"{'noise sd':>8}  {'method':<8} {'found':>6} {'F1':>6} {'RMS px':>7} {'seconds':>8}"
    print(header)
    print("-" * len(header))
    for noise in NOISE_LEVELS:
        frame = clean + noise * rng.standard_normal(clean.shape)
        for method in ("gaussian", "com"):
            start = time.perf_counter()
            table = locate_atoms(frame, MIN_SEPARATION_PX, log_sigma_px=SIGMA_PX, threshold_rel=0.3, method=method)
            elapsed = time.perf_counter() - start
            found = np.stack([table["y_px"], table["x_px"]], axis=1)
            match = match_positions(found, truth, radius=2.0)
            print(f"{noise:>8g}  {method:<8} {len(found):>6d} {match.f1:>6.3f} {match.rms_error:>7.3f} {elapsed:>8.2f}")


if __name__ == "__main__":
    main()
