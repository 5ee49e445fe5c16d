"""Resampling between an image's own pixel size and a model's working sampling.

A restoration model is trained at one working sampling (nm per pixel). A frame is brought to
it by :func:`to_working`, restored, and put back on its own grid by :func:`to_native`: a frame
with finer pixels is brought down (anti-aliased linear resampling), one with coarser pixels is
brought up (cubic interpolation; by at most :data:`MAX_UPSAMPLING`, so a frame with atoms one
or two pixels wide reaches the network with them as wide as in most of its training). Either
way resampling mixes neighbouring pixels, so it changes white-noise standard deviation by
:func:`noise_gain`; the noise map given to a model is scaled by it. The training data go
through these same functions, so a model sees at training time exactly what the engine gives
it.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import ndimage

MIN_FACTOR = 1.02
"""Frames whose pixel size is within this ratio of the working one are used as they are."""
MAX_UPSAMPLING = 2.5
"""Frames with coarser pixels are brought up to the working sampling by at most this factor
(50 pm/px to 20 pm/px), which holds the cost of the coarsest frames to 6.25 times their pixels."""


def factor_for(pixel_size_nm: float, working_nm: float) -> float:
    """Resampling factor from ``pixel_size_nm`` to ``working_nm``: the ratio of working to native
    pixel size, > 1 to bring a frame down, < 1 (at least ``1 / MAX_UPSAMPLING``) to bring it up,
    and 1 when the two are within :data:`MIN_FACTOR` of each other."""
    factor = working_nm / pixel_size_nm
    if 1 / MIN_FACTOR < factor < MIN_FACTOR:
        return 1.0
    return max(factor, 1 / MAX_UPSAMPLING)


def working_shape(shape: tuple[int, int], factor: float) -> tuple[int, int]:
    """``(height, width)`` of a frame of ``shape`` resampled by ``factor``."""
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


def _brought_down(frame: np.ndarray, target: tuple[int, int], factor: float) -> np.ndarray:
    """A (y, x) frame on ``target`` pixels, ``factor`` (> 1) times fewer along each axis, over
    the same field: Gaussian anti-aliasing with sigma ``sqrt(factor**2 - 1) / 2`` px, then
    linear interpolation."""
    smoothed = ndimage.gaussian_filter(frame, np.sqrt(factor**2 - 1) / 2, mode="nearest")
    return _resample(smoothed, target, order=1)


def to_working(frame: np.ndarray, factor: float) -> np.ndarray:
    """A (y, x) frame resampled by ``factor`` (:func:`factor_for`): brought down (anti-aliased,
    see :func:`_brought_down`) for ``factor > 1``, up by cubic interpolation for ``factor < 1``.
    Identity for factor 1."""
    frame = np.asarray(frame, dtype=np.float32)
    if factor == 1.0:
        return frame
    target = working_shape(frame.shape, factor)
    return _brought_down(frame, target, factor) if factor > 1 else _resample(frame, target, order=3)


def to_native(frame: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A working-grid (y, x) frame put back on a native grid of ``shape``: cubic interpolation
    up to finer native pixels, anti-aliased (:func:`_brought_down`) down to coarser ones."""
    frame = np.asarray(frame, dtype=np.float32)
    shape = (int(shape[0]), int(shape[1]))
    if tuple(frame.shape) == shape:
        return frame
    if frame.shape[0] > shape[0]:
        return _brought_down(frame, shape, frame.shape[0] / shape[0])
    return _resample(frame, shape, order=3)


@lru_cache(maxsize=256)
def _gain(rounded_factor: float) -> float:
    noise = np.random.default_rng(0).standard_normal((512, 512)).astype(np.float32)
    return float(to_working(noise, rounded_factor)[8:-8, 8:-8].std())


def noise_gain(factor: float) -> float:
    """Standard deviation of white unit-variance noise after :func:`to_working` (1 for factor 1;
    below 1 either way: averaging lowers it, and so does interpolating between pixels),
    measured once per factor (rounded to 0.01) on a 512 x 512 noise field."""
    return 1.0 if factor == 1.0 else _gain(round(float(factor), 2))
