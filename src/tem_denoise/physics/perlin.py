"""Vectorised Perlin gradient noise and its fractal (multi-octave) sum.

Perlin noise (Perlin 1985) is used by seed 000 (binarised, as the vacuum mask of the NUC
nucleation scenes) and by seed 001 / SFFN (the smooth STEM background and the mask that
joins two lattices). The field is defined on the whole plane through a hashed permutation
table, so it can be evaluated at shifted coordinates; this gives exact sub-pixel drift in
time series without interpolating images.
"""

from __future__ import annotations

import numpy as np

from .rng import RngLike, as_rng

_PERIOD = 256


def _fade(t: np.ndarray) -> np.ndarray:
    return t * t * t * (t * (t * 6.0 - 15.0) + 10.0)


def _weights(coords: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Interpolation weights of 1-D coordinates on their surrounding lattice nodes.

    Returns the node indices and two ``(len(coords), n_nodes)`` matrices: the fade weight
    ``s(t) = 1 - fade(|t|)`` and ``s(t) * t``, with ``t`` the offset from each node.
    """
    nodes = np.arange(np.floor(coords.min()), np.floor(coords.max()) + 2).astype(np.int64)
    offset = coords[:, None] - nodes[None, :]
    weight = np.where(np.abs(offset) < 1.0, 1.0 - _fade(np.minimum(np.abs(offset), 1.0)), 0.0)
    return nodes, weight, weight * offset


class GradientNoise2D:
    """One octave of 2-D Perlin gradient noise with a seeded gradient table.

    Parameters
    ----------
    rng : numpy.random.Generator, int or None
        Seeds the permutation table and the gradient directions.

    Notes
    -----
    The lattice repeats every 256 cells, far beyond any image the generators make.
    Values lie in about [-0.7, 0.7] and are 0 at lattice points. Perlin's corner blend
    is separable, ``n(y, x) = sum_ji s(y-j) s(x-i) [gy_ji (y-j) + gx_ji (x-i)]``, so a
    whole grid is two matrix products instead of per-pixel gathers.
    """

    def __init__(self, rng: RngLike = None):
        gen = as_rng(rng)
        self._perm = gen.permutation(_PERIOD)
        angles = gen.uniform(0.0, 2.0 * np.pi, _PERIOD)
        self._gy = np.sin(angles)
        self._gx = np.cos(angles)

    def sample(self, y: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Evaluate the noise on the grid spanned by ``y`` (rows) and ``x`` (columns).

        Parameters
        ----------
        y, x : numpy.ndarray
            1-D coordinates in lattice cells.

        Returns
        -------
        numpy.ndarray
            Float64 array of shape ``(len(y), len(x))``.
        """
        ny, sy, ty = _weights(np.asarray(y, dtype=np.float64))
        nx, sx, tx = _weights(np.asarray(x, dtype=np.float64))
        h = self._perm[(self._perm[nx[None, :] % _PERIOD] + ny[:, None]) % _PERIOD]
        return ty @ self._gy[h] @ sx.T + sy @ self._gx[h] @ tx.T


def fractal_noise(
    shape: tuple[int, int],
    scale_px: float,
    *,
    octaves: int = 6,
    persistence: float = 0.5,
    lacunarity: float = 2.0,
    rng: RngLike = None,
    origin: tuple[float, float] = (0.0, 0.0),
) -> np.ndarray:
    """Fractal Perlin noise: a sum of octaves of decreasing size and amplitude.

    Parameters
    ----------
    shape : tuple of int
        Output ``(height, width)`` in pixels.
    scale_px : float
        Size of one lattice cell of the first octave in pixels (SFFN uses 100 for the
        STEM background).
    octaves, persistence, lacunarity : int, float, float
        Number of octaves; amplitude and frequency ratio between successive octaves
        (SFFN: 6, 0.5, 2).
    rng : numpy.random.Generator, int or None
        Seeds the field; the same seed gives the same field for any ``origin``.
    origin : tuple of float
        ``(y, x)`` position in pixels of the output's first pixel in the infinite
        field; shifting it translates the field by exactly that many pixels.

    Returns
    -------
    numpy.ndarray
        Float32 ``(height, width)`` array, roughly in [-1, 1] (amplitudes are
        normalised by the sum of the octave weights).
    """
    if scale_px <= 0 or octaves < 1:
        raise ValueError("fractal_noise needs scale_px > 0 and octaves >= 1")
    gen = as_rng(rng)
    height, width = shape
    y = np.arange(height, dtype=np.float64) + origin[0]
    x = np.arange(width, dtype=np.float64) + origin[1]
    total = np.zeros((height, width))
    amplitude, frequency, norm = 1.0, 1.0 / scale_px, 0.0
    for _ in range(octaves):
        octave = GradientNoise2D(gen)
        total += amplitude * octave.sample(y * frequency, x * frequency)
        norm += amplitude
        amplitude *= persistence
        frequency *= lacunarity
    return (total / (norm * np.sqrt(0.5))).astype(np.float32)


def rescale01(field: np.ndarray) -> np.ndarray:
    """Min-max rescale an array to [0, 1] (float32); a constant array becomes zeros."""
    lo = float(field.min())
    span = float(field.max()) - lo
    if span <= 0:
        return np.zeros_like(field, dtype=np.float32)
    return ((field - lo) / span).astype(np.float32)


def binary_mask(field: np.ndarray, fraction: float) -> np.ndarray:
    """Binarise a noise field so that ``fraction`` of the pixels are True.

    Parameters
    ----------
    field : numpy.ndarray
        Any real-valued field, e.g. from :func:`fractal_noise`.
    fraction : float
        Wanted fraction of True pixels, in [0, 1]; True where the field is highest.

    Returns
    -------
    numpy.ndarray
        Boolean array of the field's shape.
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be in [0, 1], got {fraction}")
    if fraction == 0.0:
        return np.zeros(field.shape, dtype=bool)
    return field >= np.quantile(field, 1.0 - fraction)
