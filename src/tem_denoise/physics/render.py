"""Render atoms as 2-D Gaussians on a pixel grid, vectorised over atoms.

Each atom is evaluated exactly (no splat blur) on a small square patch around its
nearest pixel; the separable patches of all atoms are built at once as an
``(n_atoms, p, p)`` array and scattered into the image with ``numpy.bincount`` (sum) or
``numpy.maximum.at`` (max). Pixel centres are at integer coordinates, as in napari.
"""

from __future__ import annotations

import numpy as np

ATOM_MAP_AMPLITUDE = 255.0
ATOM_MAP_SIGMA_PX = 0.75


def _patches(
    shape: tuple[int, int],
    positions: np.ndarray,
    amplitudes: np.ndarray,
    sigmas: np.ndarray,
    truncate: float,
) -> tuple[np.ndarray, np.ndarray]:
    height, width = shape
    radius = max(int(np.ceil(truncate * float(sigmas.max()))), 1)
    offsets = np.arange(-radius, radius + 1)
    centre = np.rint(positions).astype(np.int64)
    rows = centre[:, :1] + offsets[None, :]
    cols = centre[:, 1:] + offsets[None, :]
    inv = 1.0 / (2.0 * sigmas[:, None] ** 2)
    gy = np.exp(-((rows - positions[:, :1]) ** 2) * inv)
    gx = np.exp(-((cols - positions[:, 1:]) ** 2) * inv)
    gy *= ((rows >= 0) & (rows < height)) * amplitudes[:, None]
    gx *= (cols >= 0) & (cols < width)
    values = gy[:, :, None] * gx[:, None, :]
    flat = np.clip(rows, 0, height - 1)[:, :, None] * width + np.clip(cols, 0, width - 1)[:, None, :]
    return flat.ravel(), values.ravel()


def render_gaussians(
    shape: tuple[int, int],
    positions: np.ndarray,
    amplitudes: np.ndarray | float,
    sigmas: np.ndarray | float,
    *,
    mode: str = "sum",
    truncate: float = 4.0,
) -> np.ndarray:
    """Draw isotropic 2-D Gaussians ``a * exp(-r^2 / (2 sigma^2))``.

    Parameters
    ----------
    shape : tuple of int
        Output ``(height, width)`` in pixels.
    positions : numpy.ndarray
        ``(n, 2)`` centres ``(y, x)`` in pixels; atoms off the image still contribute
        their tails.
    amplitudes, sigmas : numpy.ndarray or float
        Peak values (output units) and standard deviations (pixels), per atom or shared.
    mode : {"sum", "max"}
        Add overlapping atoms (an image) or keep the largest (an atom-map target whose
        peaks stay at their amplitude).
    truncate : float
        Patch half-size in units of the largest sigma.

    Returns
    -------
    numpy.ndarray
        Float32 ``(height, width)`` image.
    """
    positions = np.asarray(positions, dtype=np.float64).reshape(-1, 2)
    n = len(positions)
    height, width = shape
    if n == 0:
        return np.zeros(shape, dtype=np.float32)
    amplitudes = np.broadcast_to(np.asarray(amplitudes, dtype=np.float64), (n,))
    sigmas = np.broadcast_to(np.asarray(sigmas, dtype=np.float64), (n,))
    if np.any(sigmas <= 0):
        raise ValueError("atom sigmas must be > 0 pixels")
    index, values = _patches(shape, positions, amplitudes, sigmas, truncate)
    if mode == "sum":
        image = np.bincount(index, weights=values, minlength=height * width)
    elif mode == "max":
        image = np.zeros(height * width)
        np.maximum.at(image, index, values)
    else:
        raise ValueError(f"mode must be 'sum' or 'max', not {mode!r}")
    return image.reshape(shape).astype(np.float32)


def atom_map(shape: tuple[int, int], positions: np.ndarray) -> np.ndarray:
    """Atom-map target of seed 000 §3.5: atoms of peak 255 and sigma 0.75 px on black.

    Parameters
    ----------
    shape : tuple of int
        ``(height, width)`` in pixels.
    positions : numpy.ndarray
        ``(n, 2)`` atom centres ``(y, x)`` in pixels.

    Returns
    -------
    numpy.ndarray
        Float32 image in [0, 255]; overlapping atoms keep the larger value so every peak
        stays at 255.
    """
    return render_gaussians(shape, positions, ATOM_MAP_AMPLITUDE, ATOM_MAP_SIGMA_PX, mode="max")
