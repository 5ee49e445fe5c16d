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


def applies_to(level: NoiseLevel) -> bool:
    """True when the frames' noise law is known exactly and white (:func:`is_exact`)."""
    return is_exact(level)


def effective_dose(frame: np.ndarray, level: NoiseLevel) -> float | None:
    """Electrons per pixel that would give ``frame`` its noise, ``mean(variance) / gain**2``
    (the mean count for raw counts); None for a calibrated model's own law."""
    if level.model is not None or level.gain <= 0:
        return None
    variance = sigma_map(np.asarray(frame, dtype=np.float32), level).astype(np.float64) ** 2
    return float(np.mean(variance) / level.gain**2)


def beam_dose(frame: np.ndarray, level: NoiseLevel) -> float | None:
    """Electrons per pixel at the beam's level of ``frame``: its smoothed intensity at the
    :data:`BEAM_PERCENTILE` th percentile read through ``level`` (``variance / gain**2``, the
    count itself for raw counts), the quantity a card's ``dose_range_e_per_px`` states; None for a
    calibrated model's own law or a noise law with no signal-dependent part."""
    if level.model is not None or level.gain <= 0:
        return None
    bright = float(np.percentile(local_mean(frame), BEAM_PERCENTILE))
    return max(level.gain * bright + level.offset, 0.0) / level.gain**2


def limit_to_noise(noisy: np.ndarray, restored: np.ndarray, level: NoiseLevel) -> tuple[np.ndarray, float]:
    """``restored`` moved towards ``noisy`` until its residual is no larger than the noise.

    Parameters
    ----------
    noisy, restored : ndarray (y, x)
        The frame and its restoration, in the data's units.
    level : NoiseLevel
        The frame's noise law (see :func:`applies_to`).

    Returns
    -------
    (ndarray (y, x) float32, float)
        The output and ``alpha`` (1: unchanged; 0: the noisy frame).
    """
    noisy = np.asarray(noisy, dtype=np.float64)
    residual = np.asarray(restored, dtype=np.float64) - noisy
    residual_power = float(np.mean(residual**2))
    noise_power = float(np.mean(sigma_map(noisy.astype(np.float32), level).astype(np.float64) ** 2))
    allowed = noise_power * (1.0 + 3.0 * np.sqrt(2.0 / noisy.size))
    alpha = 1.0 if residual_power <= allowed else float(np.sqrt(allowed / residual_power))
    return (noisy + alpha * residual).astype(np.float32), alpha
