"""Per-pixel noise level of an image: from a calibration, from counting statistics, or estimated.

Restoration models take, beside the image, a map of the noise standard deviation of every
pixel. Its source, best first:

* a calibrated noise model (the Noise calibration dock's JSON): :func:`level_from_model`;
* raw electron counts: Poisson, variance = counts (:data:`POISSON`);
* an estimate from the data themselves (:func:`estimate_level`), for linear cameras and
  detectors: a Poisson-Gaussian law ``variance = gain * mean + offset`` fitted to the noise
  that a second-difference filter leaves in bins of local brightness.

The map is the law evaluated on a smoothed copy of the image (:func:`sigma_map`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from tem_denoise.physics.noise_models import Counting, HRTEMNoise, NoiseModel, STEMNoise

SMOOTHING_PX = 1.5
"""Gaussian sigma (px) of the local mean the noise law is evaluated on."""
IMMERKAER = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float32) / 6.0
"""Second-difference kernel whose output has the input's white-noise variance (Immerkaer 1996)."""


@dataclass(frozen=True)
class NoiseLevel:
    """Noise variance ``gain * intensity + offset`` (intensity in the data's units), or a
    calibrated model's own law.

    Attributes
    ----------
    gain : float
        Variance per unit of intensity (1 for raw electron counts).
    offset : float
        Variance at zero intensity (readout noise squared, less ``gain`` times the dark level).
    source : str
        ``"calibration"``, ``"counts (Poisson)"`` or ``"estimated from the data"``.
    model : NoiseModel or None
        The calibrated model whose law is used instead of ``gain``/``offset``.
    """

    gain: float
    offset: float
    source: str
    model: NoiseModel | None = None

    def sigma(self, intensity: np.ndarray) -> np.ndarray:
        """Noise standard deviation (data units) at ``intensity``; at least 1e-6 of its range."""
        intensity = np.asarray(intensity, dtype=np.float32)
        if self.model is not None:
            sigma = _model_sigma(self.model, intensity)
        else:
            sigma = np.sqrt(np.maximum(self.gain * intensity + self.offset, 0.0))
        floor = 1e-6 * max(float(np.ptp(intensity)), 1e-12)
        return np.maximum(sigma, floor).astype(np.float32)

    def scaled(self, factor: float, shift: float = 0.0) -> NoiseLevel:
        """The law for data changed to ``factor * data + shift`` (``factor > 0``)."""
        if self.model is not None:
            raise ValueError("a calibrated model's law applies to its own units only")
        return NoiseLevel(self.gain * factor, self.offset * factor**2 - self.gain * factor * shift, self.source)

    def to_dict(self) -> dict:
        """JSON-ready record for provenance."""
        record = {"source": self.source, "gain": self.gain, "offset": self.offset}
        if self.model is not None:
            record["model"] = self.model.to_dict()
        return record


POISSON = NoiseLevel(1.0, 0.0, "counts (Poisson)")


def _model_sigma(model: NoiseModel, intensity: np.ndarray) -> np.ndarray:
    if isinstance(model, HRTEMNoise):
        return np.sqrt(model.sigma_p(intensity) ** 2 + model.sigma_c**2)
    if isinstance(model, STEMNoise):
        return np.maximum(model.pointwise_k * intensity + model.pointwise_b, 0.0)
    if isinstance(model, Counting):
        variance = model.gain * np.maximum(intensity - model.offset, 0.0) + model.read_sigma**2
        return np.sqrt(variance)
    raise ValueError(f"a {type(model).__name__} cannot give a per-pixel noise level; calibrate the "
                     "camera (HRTEM), the STEM detector or use counting statistics")


def level_from_model(model: NoiseModel) -> NoiseLevel:
    """The noise level of a calibrated model (Noise calibration dock or ``tem-denoise calibrate``)."""
    _model_sigma(model, np.zeros(1, np.float32))
    return NoiseLevel(0.0, 0.0, "calibration", model)


def local_mean(frame: np.ndarray) -> np.ndarray:
    """Gaussian-smoothed frame (sigma :data:`SMOOTHING_PX`), the intensity a noise law is read at."""
    return ndimage.gaussian_filter(np.asarray(frame, dtype=np.float32), SMOOTHING_PX, mode="nearest")


def sigma_map(frame: np.ndarray, level: NoiseLevel) -> np.ndarray:
    """Per-pixel noise standard deviation of a (y, x) frame under ``level`` (data units)."""
    return level.sigma(local_mean(frame))


def _binned_variance(frame: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Local mean, robust noise variance (MAD of the second-difference residual) and pixel
    count in ``bins`` quantile bins of brightness."""
    residual = ndimage.convolve(frame, IMMERKAER, mode="reflect")[2:-2, 2:-2].ravel()
    mean = local_mean(frame)[2:-2, 2:-2].ravel()
    edges = np.unique(np.quantile(mean, np.linspace(0, 1, bins + 1)))
    which = np.clip(np.searchsorted(edges, mean, side="right") - 1, 0, len(edges) - 2)
    centres, variances, counts = [], [], []
    for b in range(len(edges) - 1):
        values = residual[which == b]
        if len(values) < 64:
            continue
        mad = np.median(np.abs(values - np.median(values)))
        centres.append(float(np.mean(mean[which == b])))
        variances.append(float((1.4826 * mad) ** 2))
        counts.append(len(values))
    return np.array(centres), np.array(variances), np.array(counts, dtype=np.float64)


def _overall_variance(frames: list[np.ndarray]) -> float:
    """Robust noise variance of the second-difference residual over all pixels of small frames."""
    residual = np.concatenate([ndimage.convolve(f, IMMERKAER, mode="reflect").ravel() for f in frames])
    return float((1.4826 * np.median(np.abs(residual - np.median(residual)))) ** 2)


POISSON_BIN_RATIO = (0.6, 1.5)
"""Accepted noise variance / mean of the flatter brightness bins for :func:`is_poisson`."""


def is_poisson(frames: np.ndarray | list, bins: int = 16, min_mean: float = 0.5) -> bool:
    """True when (y, x) frames are whole numbers >= 0 with Poisson noise (variance = mean).

    Image structure only adds to the second-difference variance of :func:`estimate_level`'s
    brightness bins, so the bins with the smallest variance-to-mean ratios (among bins with a
    mean of at least ``min_mean`` counts) are the ones least touched by the specimen: the
    lower quartile of the ratios must lie in :data:`POISSON_BIN_RATIO` (a quartile rather than
    the minimum, which scatters low at a few counts per pixel). Unlike a test over the whole
    frame, this holds for raw counts at any dose and sampling, with sharp atoms or not.
    """
    stacked = [np.asarray(f, dtype=np.float32) for f in (frames if np.ndim(frames) == 3 or
                                                          isinstance(frames, list) else [frames])]
    stacked = [f for f in stacked if min(f.shape) >= 16]
    if not stacked or not all(np.isfinite(f).all() and f.min() >= 0 and np.all(f == np.round(f)) for f in stacked):
        return False
    mean, variance, _ = (np.concatenate(p) for p in zip(*(_binned_variance(f, bins) for f in stacked)))
    usable = mean >= min_mean
    if not usable.any():
        return False
    ratio = float(np.percentile(variance[usable] / mean[usable], 25))
    return POISSON_BIN_RATIO[0] <= ratio <= POISSON_BIN_RATIO[1]


def estimate_level(frames: np.ndarray | list, bins: int = 16) -> NoiseLevel:
    """Fit ``variance = gain * intensity + offset`` to one frame or several (y, x) frames.

    The noise of each pixel is read from a 3 x 3 second-difference filter, which cancels
    smooth signal; its robust variance (median absolute deviation) is taken in ``bins``
    quantile bins of the local mean, and a line is fitted to variance against mean, weighted
    by the pixels in each bin (the gain is kept >= 0). Fine lattice detail that the filter
    does not cancel raises the estimate; restoration models are trained with such estimates
    so that they take it into account.
    """
    stacked = [np.asarray(f, dtype=np.float32) for f in (frames if np.ndim(frames) == 3 or
                                                          isinstance(frames, list) else [frames])]
    parts = [_binned_variance(frame, bins) for frame in stacked if min(frame.shape) >= 16]
    if not parts:
        raise ValueError("frames of at least 16 x 16 px are needed to estimate the noise level")
    mean, variance, weight = (np.concatenate(p) for p in zip(*parts))
    if len(mean) == 0:
        return NoiseLevel(0.0, _overall_variance(stacked), "estimated from the data")
    if len(mean) < 2 or np.ptp(mean) <= 0:
        return NoiseLevel(0.0, float(np.average(variance, weights=weight)), "estimated from the data")
    gain, offset = np.polyfit(mean, variance, 1, w=np.sqrt(weight))
    if gain < 0:
        gain, offset = 0.0, float(np.average(variance, weights=weight))
    return NoiseLevel(float(gain), float(offset), "estimated from the data")
