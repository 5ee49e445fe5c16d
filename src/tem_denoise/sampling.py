"""Resampling between an image's own pixel size and a model's working sampling.

A restoration model is trained at one working sampling (nm per pixel). A frame recorded with
finer pixels is brought to it by :func:`to_working` (anti-aliased linear resampling), restored,
and put back on its own grid by :func:`to_native`; frames at or coarser than the working
sampling are used as they are. Resampling averages neighbouring pixels, so it lowers
white-noise standard deviation by :func:`noise_gain`; the noise map given to a model is scaled
by it. The training data go through these same functions, so a model sees at training time
exactly what the engine gives it.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import ndimage

MIN_FACTOR = 1.02
"""Below this ratio of working to native pixel size a frame is used as it is."""


def factor_for(pixel_size_nm: float, working_nm: float) -> float:
    """Down-sampling factor (>= 1) from ``pixel_size_nm`` to ``working_nm``; 1 when the frame's
    pixels are already as large as the working ones (or within :data:`MIN_FACTOR`)."""
    factor = working_nm / pixel_size_nm
    return factor if factor >= MIN_FACTOR else 1.0


def working_shape(shape: tuple[int, int], factor: float) -> tuple[int, int]:
    """``(height, width)`` of a frame of ``shape`` brought down by ``factor``."""
    if factor == 1.0:
        return int(shape[0]), int(shape[1])
    return max(1, int(round(shape[0] / factor))), max(1, int(round(shape[1] / factor)))


def _sample_grid(source: tuple[int, int], target: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates in the source grid of the target grid's pixel centres (same field of view)."""
    ys = (np.arange(target[0]) + 0.5) * source[0] / target[0] - 0.5
    xs = (np.arange(target[1]) + 0.5) * source[1] / target[1] - 0.5
    return ys, xs


def _resample(frame: np.ndarray, target: tuple[int, int], order: int) -> np.ndarray:
    """Separable spline resampling of a (y, x) frame onto ``target`` pixels over the same field."""
    ys, xs = _sample_grid(frame.shape, target)
    rows = ndimage.map_coordinates(frame, np.meshgrid(ys, np.arange(frame.shape[1]), indexing="ij"),
                                   order=order, mode="nearest", prefilter=order > 1)
    return ndimage.map_coordinates(rows, np.meshgrid(np.arange(target[0]), xs, indexing="ij"),
                                   order=order, mode="nearest", prefilter=order > 1).astype(np.float32)


def to_working(frame: np.ndarray, factor: float) -> np.ndarray:
    """A (y, x) frame brought down by ``factor`` (>= 1): Gaussian anti-aliasing with
    sigma ``sqrt(factor**2 - 1) / 2`` px, then linear interpolation. Identity for factor 1."""
    frame = np.asarray(frame, dtype=np.float32)
    if factor == 1.0:
        return frame
    smoothed = ndimage.gaussian_filter(frame, np.sqrt(factor**2 - 1) / 2, mode="nearest")
    return _resample(smoothed, working_shape(frame.shape, factor), order=1)


def to_native(frame: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A working-grid (y, x) frame put back on a native grid of ``shape`` (cubic interpolation)."""
    frame = np.asarray(frame, dtype=np.float32)
    if tuple(frame.shape) == tuple(shape):
        return frame
    return _resample(frame, (int(shape[0]), int(shape[1])), order=3)


@lru_cache(maxsize=256)
def _gain(rounded_factor: float) -> float:
    noise = np.random.default_rng(0).standard_normal((512, 512)).astype(np.float32)
    return float(to_working(noise, rounded_factor)[8:-8, 8:-8].std())


def noise_gain(factor: float) -> float:
    """Standard deviation of white unit-variance noise after :func:`to_working` (1 for factor 1),
    measured once per factor (rounded to 0.01) on a 512 x 512 noise field."""
    return 1.0 if factor == 1.0 else _gain(round(float(factor), 2))
