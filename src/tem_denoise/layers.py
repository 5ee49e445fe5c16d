"""Convert between :class:`~tem_denoise.io.Stack` and napari layer data, without importing napari.

Layer-data tuples ``(data, kwargs, layer_type)`` are what npe2 readers and sample-data
providers return; :func:`layer_to_stack` reads the same attributes back from a napari layer
(or from the ``meta`` dict a writer receives).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tem_denoise.io import Calibration, Stack

CONTRAST_PERCENTILES = (0.5, 99.5)


def contrast_limits(stack: Stack) -> tuple[float, float]:
    """Robust display range of the first frame (see :func:`robust_range`).

    Only one frame is read, so this is cheap for lazy stacks.
    """
    return robust_range(stack.frame(0))


def robust_range(frame: np.ndarray) -> tuple[float, float]:
    """The 0.5 and 99.5 percentiles of the finite pixels; never an empty range."""
    finite = frame[np.isfinite(frame)]
    if finite.size == 0:
        return 0.0, 1.0
    low, high = (float(v) for v in np.percentile(finite, CONTRAST_PERCENTILES))
    if high <= low:
        low, high = float(finite.min()), float(finite.max())
    return (low, high) if high > low else (low, low + 1.0)


def layer_metadata(stack: Stack) -> dict:
    """What a layer made from ``stack`` carries in ``layer.metadata``."""
    return {
        "modality": stack.modality,
        "provenance": stack.provenance,
        "original_metadata": stack.metadata,
    }


def stack_to_layer_data(stack: Stack, **overrides: Any) -> tuple[Any, dict, str]:
    """An npe2 layer-data tuple for an Image layer showing ``stack`` in its physical units."""
    kwargs = {
        "name": stack.name,
        "scale": stack.scale,
        "translate": stack.translate,
        "units": stack.units,
        "axis_labels": stack.axis_labels,
        "contrast_limits": contrast_limits(stack),
        "colormap": "gray",
        "metadata": layer_metadata(stack),
    }
    kwargs.update(overrides)
    return stack.data, kwargs, "image"


def layer_to_stack(layer: Any) -> Stack:
    """A Stack viewing a napari Image layer's data (no copy), with its calibration.

    Accepts a napari layer or the ``meta`` dict of an npe2 writer (with ``data`` added). The
    calibration is read once, by :meth:`~tem_denoise.io.Calibration.of_axes`: lengths in nm,
    the frame interval in seconds, anything else uncalibrated.
    """
    get = layer.get if isinstance(layer, dict) else lambda key, default=None: getattr(layer, key, default)
    data = get("data")
    ndim = len(data.shape)
    labels = get("axis_labels") or (("t", "y", "x") if ndim == 3 else ("y", "x"))
    metadata = dict(get("metadata") or {})
    calibration = Calibration.of_axes(get("scale"), get("translate"), get("units") or ("pixel",) * ndim)
    t_origin = 0.0
    if ndim == 3:
        t_scale = float(get("scale")[0])
        t_origin = float(get("translate")[0]) * ((calibration.frame_interval or t_scale) / t_scale)
    scale, translate, units = calibration_axes(calibration, ndim, t_origin)
    return Stack(
        data=data, scale=scale, translate=translate, units=units,
        axis_labels=tuple(str(label) for label in labels),
        name=str(get("name") or "image"),
        metadata=metadata.get("original_metadata", {}),
        provenance=metadata.get("provenance", {}),
        modality=metadata.get("modality"),
    )


def calibration_axes(calibration: Calibration, ndim: int, t_origin: float = 0.0) -> tuple[tuple, tuple, tuple]:
    """Per-axis ``(scale, translate, units)`` of a Stack with ``calibration`` (2 or 3 axes; the
    time axis starts at ``t_origin``)."""
    size = calibration.pixel_size
    scale, units = (size, ("nm", "nm")) if size else ((1.0, 1.0), ("pixel", "pixel"))
    translate = calibration.origin
    if ndim == 3:
        interval = calibration.frame_interval
        scale, units = ((interval or 1.0), *scale), ("s" if interval else "pixel", *units)
        translate = (t_origin, *translate)
    return tuple(scale), tuple(translate), tuple(units)
