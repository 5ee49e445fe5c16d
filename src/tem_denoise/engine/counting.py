"""Recognising raw electron counts, so that a counting-mode movie gets the counting-mode model.

A direct detector in electron-counting mode records whole numbers of electrons per pixel and
frame, a few per pixel at low dose, with Poisson statistics (variance equal to the mean).
Gain-corrected, offset or summed high-dose data and ordinary 8-bit images do not look like
that. Which model a modality gets is decided in :mod:`tem_denoise.models.registry`.
"""

from __future__ import annotations

import numpy as np

from tem_denoise.engine.adapters import sample_frames
from tem_denoise.models.registry import data_modality, default_model_name

COUNTS_MAX_MEAN = 20.0  # e-/px/frame: raw counts above this are not low-dose counting data
POISSON_RATIO = (0.5, 2.0)  # accepted noise variance / mean (1 for pure Poisson counts)


def looks_like_counts(stack, max_frames: int = 4, patch: int = 512) -> bool:
    """True when a ``(y, x)`` frame or ``(t, y, x)`` stack looks like raw low-dose electron counts.

    Up to ``max_frames`` frames (:func:`~tem_denoise.engine.adapters.sample_frames`; a
    ``patch``-pixel corner of each) must hold finite whole numbers >= 0, not all zero, with
    a mean of at most :data:`COUNTS_MAX_MEAN` per pixel, and Poisson statistics: half the
    variance of neighbour differences along x (the pixel noise variance plus a little
    structure) divided by the mean must lie in :data:`POISSON_RATIO`.
    """
    if stack.size == 0 or stack.shape[-1] < 2:
        return False
    frames = [np.asarray(f[:patch, :patch], dtype=np.float32) for f in sample_frames(stack, max_frames)]
    values = np.concatenate([f.ravel() for f in frames])
    if not np.isfinite(values).all() or values.min() < 0 or not values.any():
        return False
    mean = float(values.mean())
    if mean > COUNTS_MAX_MEAN or not np.all(values == np.round(values)):
        return False
    noise_variance = float(np.mean([np.var(np.diff(f, axis=-1)) for f in frames])) / 2
    return POISSON_RATIO[0] <= noise_variance / mean <= POISSON_RATIO[1]


def default_model_for(modality: str | None, data=None, n_frames: int = 1) -> str:
    """The default model for ``data`` (a frame or stack; None skips the look at the data) whose
    file states ``modality``: ``HRTEM-counting`` models for raw counts (:func:`looks_like_counts`)."""
    counts = data is not None and looks_like_counts(data)
    return default_model_name(data_modality(modality, counts, n_frames), n_frames)
