"""The discrepancy principle (Morozov): a restoration removes no more than the noise.

When the noise law of a frame is known exactly (raw electron counts: Poisson, white, no
detector blur), the residual ``noisy - restored`` of a faithful restoration has the noise's
variance. A network that has also smoothed away signal leaves a larger residual; its output
is then moved back towards the frame, ``noisy + alpha * (restored - noisy)``, with the one
``alpha`` per frame that makes the residual variance equal to the noise variance (plus three
standard errors of a variance measured over the frame's pixels, so that a perfect restoration
is never touched). A residual within the noise is left alone (``alpha = 1``).

The engine applies it to raw counts, and to frames whose noise is lower than any the model was
trained on (an effective dose above the card's range), where a network trained on noisier data
is known to smooth signal away. It is not applied otherwise to linear-camera data:
deconvolving the detector's blur rightly changes the frame by more than its noise, and an
estimated noise level is not exact. What it changes on the outside benchmark is in
docs/outside_benchmark.md.
"""

from __future__ import annotations

import numpy as np

from tem_denoise.physics.noise_level import POISSON, NoiseLevel, local_mean, sigma_map

BEAM_PERCENTILE = 99.5
"""Percentile of the smoothed frame taken as the beam's level (vacuum in HRTEM, the brightest
columns in HAADF, the background in BF): the level a card's training dose range refers to."""


def is_exact(level: NoiseLevel) -> bool:
    """True when the frames' noise law is known exactly and white: raw electron counts, in
    counts or in any units linear in them (Poisson, :meth:`NoiseLevel.scaled`)."""
    return level.model is None and level.source == POISSON.source and level.gain > 0


def noise_variance(frame: np.ndarray, level: NoiseLevel) -> np.ndarray:
    """Per-pixel noise variance (float64, data units squared) of a (y, x) frame under ``level``,
    read at the frame's local mean. The functions below take it as ``variance`` when the caller
    has it already, so that a frame's variance is computed once."""
    return sigma_map(np.asarray(frame, dtype=np.float32), level).astype(np.float64) ** 2


def _dose(frame: np.ndarray, level: NoiseLevel, variance: np.ndarray | None, reduce) -> float | None:
    """``reduce(variance / gain**2)`` in electrons per pixel, ``gain`` the law's change of
    variance per unit of intensity (for a calibrated model, its local slope at each pixel's
    smoothed intensity, over the pixels where it is positive); None without a signal-dependent
    law."""
    variance = noise_variance(frame, level) if variance is None else variance
    if level.model is None:
        return float(reduce(variance)) / level.gain**2 if level.gain > 0 else None
    intensity = local_mean(np.asarray(frame, dtype=np.float32)).astype(np.float64)
    step = 1e-3 * max(float(np.mean(np.abs(intensity))), 1e-12)
    slope = (level.sigma(intensity + step).astype(np.float64) ** 2
             - level.sigma(intensity - step).astype(np.float64) ** 2) / (2 * step)
    if float(np.median(slope)) <= 0:
        return None
    valid = slope > 0  # a law with an offset below zero holds no noise under some intensity
    return float(reduce((variance / np.maximum(slope, 1e-30) ** 2)[valid]))


def effective_dose(frame: np.ndarray, level: NoiseLevel, variance: np.ndarray | None = None) -> float | None:
    """Electrons per pixel that would give ``frame`` its noise, ``mean(variance) / gain**2``
    (the mean count for raw counts; a calibrated model's law gives its local slope as ``gain``);
    None for a law with no signal-dependent part."""
    return _dose(frame, level, variance, np.mean)


def beam_dose(frame: np.ndarray, level: NoiseLevel, variance: np.ndarray | None = None) -> float | None:
    """Electrons per pixel at the beam's level of ``frame``: its noise variance (read at the
    smoothed intensity) at the :data:`BEAM_PERCENTILE` th percentile over ``gain**2``, the count
    itself for raw counts; the quantity a card's ``dose_range_e_per_px`` states. None for a
    noise law with no signal-dependent part."""
    return _dose(frame, level, variance, lambda v: np.percentile(v, BEAM_PERCENTILE))


def limit_to_noise(noisy: np.ndarray, restored: np.ndarray, level: NoiseLevel,
                   variance: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """``restored`` moved towards ``noisy`` until its residual is no larger than the noise.

    Parameters
    ----------
    noisy, restored : ndarray (y, x)
        The frame and its restoration, in the data's units.
    level : NoiseLevel
        The frame's noise law (see :func:`is_exact`).
    variance : ndarray (y, x), optional
        ``noisy``'s :func:`noise_variance`, when the caller has it.

    Returns
    -------
    (ndarray (y, x) float32, float)
        The output and ``alpha`` (1: unchanged; 0: the noisy frame).
    """
    noisy = np.asarray(noisy, dtype=np.float64)
    residual = np.asarray(restored, dtype=np.float64) - noisy
    residual_power = float(np.mean(residual**2))
    noise_power = float(np.mean(noise_variance(noisy, level) if variance is None else variance))
    allowed = noise_power * (1.0 + 3.0 * np.sqrt(2.0 / noisy.size))
    alpha = 1.0 if residual_power <= allowed else float(np.sqrt(allowed / residual_power))
    return (noisy + alpha * residual).astype(np.float32), alpha
