"""Temporal windows of a stack, with mirror reflection at the ends so the frame count is kept."""

from __future__ import annotations

import numpy as np

from tem_denoise.arrays import as_float32


def reflect_index(index: np.ndarray, n: int) -> np.ndarray:
    """Map frame indices outside ``[0, n)`` back inside by mirror reflection.

    ``-1 -> 1``, ``-2 -> 2``, ``n -> n - 2`` (the edge frame is not repeated, so a
    blind-spot model never sees its centre frame twice). Needs ``n >= 2`` unless
    every index is already ``0``.
    """
    index = np.asarray(index)
    if n == 1:
        return np.zeros_like(index)
    period = 2 * (n - 1)
    folded = np.mod(index, period)
    return np.where(folded >= n, period - folded, folded)


def window_indices(start: int, stop: int, window: int, n: int) -> np.ndarray:
    """Frame indices, shape ``(stop - start, window)``, of the windows centred on frames ``start..stop-1``."""
    radius = window // 2
    centres = np.arange(start, stop)[:, None]
    return reflect_index(centres + np.arange(-radius, radius + 1)[None, :], n)


def read_windows(stack, start: int, stop: int, window: int) -> np.ndarray:
    """Float32 windows ``(stop - start, window, y, x)`` centred on frames ``start..stop-1``.

    Only the frames the windows need are read from ``stack`` (a numpy, dask or
    memory-mapped ``(t, y, x)`` array), so memory stays bounded by the chunk. NaN/Inf pixels
    and values beyond float32's range are refused (:func:`tem_denoise.arrays.as_float32`).
    """
    n = stack.shape[0]
    index = window_indices(start, stop, window, n)
    lo, hi = int(index.min()), int(index.max()) + 1
    block = as_float32(stack[lo:hi], f"frames {lo + 1}-{hi}")
    return block[index - lo]
