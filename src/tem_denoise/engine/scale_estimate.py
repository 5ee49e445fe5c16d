"""The pixel size of an image that does not state it, read from its lattice.

A restoration model must see atoms at the scale it was trained on. When a file or layer has no
pixel size, the repeat distance of the atomic columns in pixels
(:func:`tem_denoise.analysis.atoms.lattice_spacing`) is taken to be
:data:`TYPICAL_SPACING_NM`, the middle of the lattice constants the models were trained on
(0.22-0.45 nm): right within a factor of 1.5 for most crystals, against a factor of 2-5 when a
fixed working sampling is assumed for an image recorded at 7 or 80 pm/px.
"""

from __future__ import annotations

import numpy as np

from tem_denoise.analysis.atoms import lattice_spacing
from tem_denoise.analysis.noise_correlation import circular_autocorrelation
from tem_denoise.engine.adapters import sample_frames

TYPICAL_SPACING_NM = 0.3
CROP_PX = 512
SIGNIFICANCE = 5.0
"""A repeat counts when its correlation exceeds this many standard errors of pure noise's."""


def central_crops(stack, size: int = CROP_PX) -> np.ndarray:
    """``(t, size, size)`` centre crops (at most) of a few evenly spaced frames of ``stack``."""
    frames = sample_frames(stack, 4)
    h, w = frames[0].shape[-2:]
    y0, x0 = max(0, (h - size) // 2), max(0, (w - size) // 2)
    return np.stack([np.asarray(f[y0:y0 + size, x0:x0 + size], dtype=np.float32) for f in frames])


def repeat_correlation(crops: np.ndarray, spacing_px: float) -> float:
    """Strongest normalised autocorrelation (1 at zero lag) of ``(t, y, x)`` crops at lags
    ``spacing_px`` +- 0.5 px long (circular, mean-free crops, summed over the crops)."""
    reach = int(np.ceil(spacing_px + 0.5))
    correlation = circular_autocorrelation(list(crops), reach)
    yy, xx = np.indices(correlation.shape)
    lag = np.hypot(yy - reach, xx - reach)
    return float(correlation[np.abs(lag - spacing_px) <= 0.5].max())


def pixel_size_from_lattice(stack) -> tuple[float, float] | None:
    """``(pixel size nm, lattice repeat px)`` of a ``(y, x)`` or ``(t, y, x)`` image, or None when
    the image shows no repeat distance (amorphous, vacuum, too noisy): none is found, or its
    correlation is within :data:`SIGNIFICANCE` standard errors of what pure noise gives."""
    crops = central_crops(stack)
    try:
        spacing_px = lattice_spacing(crops)
        significant = repeat_correlation(crops, spacing_px) >= SIGNIFICANCE / np.sqrt(crops.size)
    except ValueError:  # no repeat, or constant frames
        return None
    if not significant:
        return None
    return TYPICAL_SPACING_NM / spacing_px, spacing_px
