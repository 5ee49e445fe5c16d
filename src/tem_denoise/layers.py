"""Convert between :class:`~tem_denoise.io.Stack` and napari layer data, without importing napari.

Layer-data tuples ``(data, kwargs, layer_type)`` are what npe2 readers and sample-data
providers return; :func:`layer_to_stack` reads the same attributes back from a napari layer
(or from the ``meta`` dict a writer receives).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tem_denoise.io import Stack
from tem_denoise.io.units import to_napari_units

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

    Accepts a napari layer or the ``meta`` dict of an npe2 writer (with ``data`` added).
    Lengths are converted to nm and times to s (see :func:`~tem_denoise.io.units.to_napari_units`).
    """
    get = layer.get if isinstance(layer, dict) else lambda key, default=None: getattr(layer, key, default)
    data = get("data")
    ndim = len(data.shape)
    units = get("units") or ("pixel",) * ndim
    labels = get("axis_labels") or (("t", "y", "x") if ndim == 3 else ("y", "x"))
    metadata = dict(get("metadata") or {})
    calibrated = [to_napari_units(float(s), _unit_text(u)) for s, u in zip(get("scale"), units, strict=True)]
    factors = [c[0] / float(s) if c[1] != "pixel" else 1.0 for c, s in zip(calibrated, get("scale"), strict=True)]
    return Stack(
        data=data,
        scale=tuple(c[0] for c in calibrated),
        translate=tuple(float(t) * f for t, f in zip(get("translate"), factors, strict=True)),
        units=tuple(c[1] for c in calibrated),
        axis_labels=tuple(str(label) for label in labels),
        name=str(get("name") or "image"),
        metadata=metadata.get("original_metadata", {}),
        provenance=metadata.get("provenance", {}),
        modality=metadata.get("modality"),
    )


def _unit_text(unit: Any) -> str:
    """A pint unit (or string) as the short string used in Stack.units."""
    if hasattr(unit, "dimensionality") and str(unit) not in ("pixel", "dimensionless"):
        return f"{unit:~}".replace(" ", "")
    return str(unit)
