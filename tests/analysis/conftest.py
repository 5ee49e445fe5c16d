"""Synthetic images with known truth for the analysis tests (independent of tem_denoise.physics)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from scipy import ndimage as ndi


def render_atoms(positions: np.ndarray, shape: tuple[int, int], sigma: float,
                 amplitude: float = 1.0, background: float = 0.0) -> np.ndarray:
    """Sum of isotropic Gaussians at sub-pixel (y, x) positions (separable, exact)."""
    y = np.arange(shape[0])
    x = np.arange(shape[1])
    gy = np.exp(-((y[None, :] - positions[:, 0, None]) ** 2) / (2 * sigma**2))
    gx = np.exp(-((x[None, :] - positions[:, 1, None]) ** 2) / (2 * sigma**2))
    return background + amplitude * (gy.T @ gx)


def jittered_grid(shape: tuple[int, int], spacing: float, jitter: float, rng: np.random.Generator,
                  margin: float = 2.0) -> np.ndarray:
    """Disordered atom positions: a square grid with uniform jitter (minimum separation
    spacing - 2 * jitter)."""
    ys = np.arange(margin, shape[0] - margin, spacing)
    xs = np.arange(margin, shape[1] - margin, spacing)
    grid = np.stack(np.meshgrid(ys, xs, indexing="ij"), axis=-1).reshape(-1, 2)
    return grid + rng.uniform(-jitter, jitter, grid.shape)


def random_atom_image(shape: tuple[int, int], n_atoms: int, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Periodic (wrap-around) image of randomly placed Gaussian atoms of peak height ~1."""
    image = np.zeros(shape)
    positions = np.floor(rng.uniform(0, 1, (n_atoms, 2)) * shape).astype(int)
    np.add.at(image, (positions[:, 0], positions[:, 1]), 1.0)
    return ndi.gaussian_filter(image, sigma, mode="wrap") * 2 * np.pi * sigma**2


def drifting_series(clean: np.ndarray, drift: np.ndarray, noise: float, rng: np.random.Generator) -> np.ndarray:
    """Frames ``clean`` moved by ``drift[t]`` (Fourier shift, periodic) plus Gaussian noise."""
    spectrum = np.fft.fft2(clean)
    frames = np.stack([np.fft.ifft2(ndi.fourier_shift(spectrum, d)).real for d in drift])
    return (frames + noise * rng.standard_normal(frames.shape)).astype(np.float32)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20260807)


@pytest.fixture
def synth() -> SimpleNamespace:
    """The synthetic-image helpers of this module."""
    return SimpleNamespace(
        render_atoms=render_atoms,
        jittered_grid=jittered_grid,
        random_atom_image=random_atom_image,
        drifting_series=drifting_series,
    )
