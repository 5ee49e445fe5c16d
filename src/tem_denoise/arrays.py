"""Checks at the API edge: what counts as an image, and what the functions do with bad pixels.

Every engine and analysis entry point takes images as ``(y, x)`` frames or ``(t, y, x)``
stacks of real numbers. :func:`check_image` refuses, with a message that says what to do,
everything else: 0-D/1-D/4-D arrays, empty arrays, RGB(A) colour images (a trailing axis of
3 or 4 samples), complex, boolean, object and structured arrays. Integer and float arrays of
any width are accepted as they are.

Non-finite pixels (NaN, ±Inf) are **refused** consistently, by :func:`check_finite`: every
filter, FFT and fit would otherwise spread one bad pixel over its neighbourhood (a Fourier
shift spreads it over the whole frame). :func:`fill_non_finite` is the documented way to
repair such frames first (local median of the finite neighbours). Finite values that do not
fit in float32, the precision of the engine and of most analysis, are refused too
(:func:`check_float32_range`), with a different message.
"""

from __future__ import annotations

from typing import Any

import numpy as np

FLOAT32_MAX = float(np.finfo(np.float32).max)


class ArrayError(ValueError):
    """An array that is not an image the function can take; the message says what to do."""


def _kind(dtype: np.dtype) -> str | None:
    """Why a dtype is not real pixel values, or None when it is."""
    if dtype.names is not None:
        return "a structured (record) array, e.g. an RGB colour image; convert it to one intensity per pixel"
    if dtype == np.bool_:
        return "a boolean mask, not an image; convert it with .astype(np.float32) if that is what you mean"
    if np.issubdtype(dtype, np.complexfloating):
        return "complex-valued (e.g. an exit wave or an FFT); pass np.abs(data) or data.real"
    if not (np.issubdtype(dtype, np.integer) or np.issubdtype(dtype, np.floating)):
        return f"of dtype {dtype}; pass real numbers (integers or floats)"
    return None


def looks_like_colour(shape: tuple[int, ...]) -> bool:
    """True for ``(y, x, 3)``/``(y, x, 4)`` shapes: RGB(A) colour, not 3 or 4 px wide frames."""
    return len(shape) == 3 and shape[-1] in (3, 4) and shape[-2] >= 4 * shape[-1]


def check_image(data: Any, name: str = "the image", ndims: tuple[int, ...] = (2, 3)) -> Any:
    """Refuse ``data`` unless it is a real-valued image with one of ``ndims`` dimensions.

    ``data`` may be a numpy or dask array (or anything with ``shape`` and ``dtype``); it is not
    read, so this is cheap. Lists are converted with ``np.asarray``. Returns ``data``.

    Raises
    ------
    ArrayError
        For colour, complex, boolean, object or structured arrays, a wrong number of
        dimensions or an empty array.
    """
    if not (hasattr(data, "shape") and hasattr(data, "dtype")):
        data = np.asarray(data)
    shape, dtype = tuple(data.shape), np.dtype(data.dtype)
    why = _kind(dtype)
    if why:
        raise ArrayError(f"{name} is {why}.")
    if looks_like_colour(shape):
        raise ArrayError(
            f"{name} of shape {shape} looks like an RGB(A) colour image, not {shape[0]} frames of "
            f"{shape[1]} x {shape[2]} px; convert it to greyscale (one intensity per pixel) first."
        )
    if len(shape) not in ndims:
        wanted = " or ".join({2: "a (y, x) frame", 3: "a (t, y, x) stack"}[n] for n in ndims)
        raise ArrayError(f"{name} must be {wanted}; got {len(shape)}-D data of shape {shape}.")
    if 0 in shape:
        raise ArrayError(f"{name} is empty: shape {shape}.")
    return data


def check_finite(values: np.ndarray, name: str = "the image") -> np.ndarray:
    """Refuse ``values`` (an in-memory array) holding NaN or ±Inf; returns it unchanged.

    The message gives the count and the first bad position (in the array's own axes) and
    names :func:`fill_non_finite` as the repair.
    """
    bad = ~np.isfinite(values)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ArrayError(
            f"{name} holds {int(bad.sum())} NaN/Inf pixel(s) (the first at index {first}); "
            "they would spread through filters and Fourier transforms. Replace them first, e.g. "
            "with tem_denoise.arrays.fill_non_finite (local median of the finite neighbours)."
        )
    return values


def check_float32_range(values: np.ndarray, name: str = "the image") -> np.ndarray:
    """Refuse finite values beyond float32's range (about ±3.4e38); returns ``values``."""
    if np.issubdtype(values.dtype, np.floating) and values.dtype.itemsize > 4:
        largest = float(np.max(np.abs(values))) if values.size else 0.0
        if largest > FLOAT32_MAX:
            raise ArrayError(
                f"{name} holds values up to {largest:.3g}, beyond the float32 range (3.4e38) these "
                "computations use; divide the data by a constant first."
            )
    return values


def as_float32(values: Any, name: str = "the image") -> np.ndarray:
    """``values`` as a float32 numpy array, after the range and finiteness checks."""
    array = np.asarray(values)
    check_float32_range(array, name)
    return check_finite(array.astype(np.float32, copy=False), name)


def fill_non_finite(image: np.ndarray, size: int = 3) -> np.ndarray:
    """A float32 copy of a ``(y, x)`` frame or ``(t, y, x)`` stack with NaN/Inf replaced.

    Each bad pixel gets the median of the finite pixels in the ``size`` x ``size`` window
    around it in its own frame (the window grows by 2 px until it holds a finite pixel);
    finite pixels are unchanged. A frame with no finite pixel at all is refused.
    """
    check_image(image)
    out = np.array(image, dtype=np.float32)
    for index, frame in enumerate(out if out.ndim == 3 else out[None]):
        if np.isfinite(frame).all():
            continue
        if not np.isfinite(frame).any():
            raise ArrayError(f"frame {index} has no finite pixel to fill from.")
        width = size
        while not np.isfinite(frame).all():
            _fill_from_window(frame, width)
            width += 2
    return out


def _fill_from_window(frame: np.ndarray, width: int) -> None:
    """Set each non-finite pixel of ``frame`` (in place) to the nanmedian of its window."""
    half = width // 2
    marked = np.where(np.isfinite(frame), frame, np.nan)
    padded = np.pad(marked, half, mode="constant", constant_values=np.nan)
    windows = np.lib.stride_tricks.sliding_window_view(padded, (width, width))
    ys, xs = np.nonzero(~np.isfinite(frame))
    local = windows[ys, xs].reshape(len(ys), -1)
    has_finite = np.isfinite(local).any(axis=1)
    with np.errstate(all="ignore"):
        frame[ys[has_finite], xs[has_finite]] = np.nanmedian(local[has_finite], axis=1)
