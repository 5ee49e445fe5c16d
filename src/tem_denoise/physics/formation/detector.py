"""Detectors and scans: from an expected intensity to a recorded noisy image.

Each function takes the clean intensity (1 = the beam's level: vacuum in HRTEM, the
brightest column in HAADF) and a dose (electrons per pixel at that level) and returns the
recorded noisy image, the clean image in the same recorded units (the restoration target)
and the exact noise law as a :class:`~tem_denoise.physics.noise_level.NoiseLevel`.

* :func:`linear_camera`: a scintillator camera (HRTEM): each electron spreads over a few
  pixels (detector point-spread), so shot noise is correlated between neighbours; gain,
  dark level, readout noise and per-column offsets.
* :func:`counting_camera`: a direct detector in counting mode: integer Poisson counts.
* :func:`scintillator_stem`: a STEM detector: Poisson electrons with excess noise from the
  detector's gain spread, dark level, readout noise.
* :func:`scan_distort`: STEM scan row jitter and slow drift, applied to the clean image
  before the noise (the distortion is part of the recorded scene).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from tem_denoise.physics.noise_level import POISSON, NoiseLevel


def _recorded(counts: np.ndarray, gain: float, dark: float) -> np.ndarray:
    return (gain * counts + dark).astype(np.float32)


def linear_camera(intensity: np.ndarray, dose: float,
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, NoiseLevel]:
    """Scintillator camera: Poisson electrons blurred by a Gaussian PSF (0-1.2 px), gain 1-50
    units per electron, dark level, readout noise (0-3 electrons) and column offsets."""
    psf = rng.uniform(0.0, 1.2)
    gain, dark = rng.uniform(1, 50), rng.uniform(0, 500)
    readout = rng.uniform(0, 3) * gain
    column = rng.uniform(0, 0.5) * gain * np.sqrt(dose)
    expected = dose * np.maximum(intensity, 0)
    electrons = rng.poisson(expected).astype(np.float64)
    if psf > 0:
        electrons = ndimage.gaussian_filter(electrons, psf, mode="nearest")
        expected = ndimage.gaussian_filter(expected, psf, mode="nearest")
    spread = _psf_variance_share(psf)
    noisy = _recorded(electrons, gain, dark) + rng.normal(0, readout, intensity.shape).astype(np.float32)
    noisy += rng.normal(0, column, (1, intensity.shape[1])).astype(np.float32)
    variance_gain = gain * spread
    level = NoiseLevel(variance_gain, readout**2 + column**2 - variance_gain * dark, "simulated linear camera")
    return noisy, _recorded(expected, gain, dark), level


def _psf_variance_share(sigma_px: float) -> float:
    """Variance of white unit Poisson noise after a Gaussian blur of ``sigma_px`` (sum of the
    squared kernel), measured on a discrete kernel."""
    if sigma_px <= 0:
        return 1.0
    impulse = np.zeros((33, 33))
    impulse[16, 16] = 1.0
    return float(np.sum(ndimage.gaussian_filter(impulse, sigma_px) ** 2))


def counting_camera(intensity: np.ndarray, dose: float,
                    rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, NoiseLevel]:
    """Direct detector in counting mode: Poisson counts, gain 1, no dark level or readout."""
    expected = dose * np.maximum(intensity, 0)
    return rng.poisson(expected).astype(np.float32), expected.astype(np.float32), POISSON


def scintillator_stem(intensity: np.ndarray, dose: float,
                      rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, NoiseLevel]:
    """STEM detector: Poisson electrons with an excess-noise factor 1-2 (gain spread of the
    scintillator/photomultiplier), gain 1-100, dark level and readout noise."""
    excess = rng.uniform(1.0, 2.0)
    gain, dark = rng.uniform(1, 100), rng.uniform(0, 2000)
    readout = rng.uniform(0, 2) * gain
    expected = dose * np.maximum(intensity, 0)
    electrons = rng.poisson(expected).astype(np.float64)
    electrons += rng.normal(0, 1, electrons.shape) * np.sqrt((excess - 1) * electrons)
    noisy = _recorded(electrons, gain, dark) + rng.normal(0, readout, intensity.shape).astype(np.float32)
    level = NoiseLevel(gain * excess, readout**2 - gain * excess * dark, "simulated STEM detector")
    return noisy, _recorded(expected, gain, dark), level


def scan_distort(image: np.ndarray, rng: np.random.Generator, max_jitter_px: float = 0.4) -> np.ndarray:
    """Shift every scan row (x) by a random jitter (up to ``max_jitter_px`` px rms, correlated
    over a few rows) plus a slow linear drift (up to 2 % shear); linear interpolation."""
    height, width = image.shape
    jitter = ndimage.gaussian_filter1d(rng.normal(0, 1, height), rng.uniform(0.5, 3))
    jitter *= rng.uniform(0, max_jitter_px) / max(float(jitter.std()), 1e-9)
    shear = rng.uniform(-0.02, 0.02) * np.arange(height)
    xs = np.arange(width)[None, :] - (jitter + shear - shear.mean())[:, None]
    ys = np.broadcast_to(np.arange(height)[:, None], xs.shape)
    return ndimage.map_coordinates(image, [ys, xs], order=1, mode="nearest")
