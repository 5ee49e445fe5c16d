"""Classical baselines with the networks' interface, in numpy.

Every class has a ``temporal_window`` (odd number of frames it reads) and is
called on a float32 array ``(B, temporal_window, H, W)`` of windows centred on
the frame to denoise, returning ``(B, 1, H, W)`` in the input's units, exactly as
the torch models do. All are linear or scale-equivariant, so they need no
intensity adapter. Default widths are our choices (the papers compare against
Gaussian and Wiener filters without fixing one width).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage


def _check_windows(x: np.ndarray, window: int) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 4 or x.shape[1] != window:
        raise ValueError(f"expected windows of shape (B, {window}, H, W), got {x.shape}")
    return x


class Gaussian2D:
    """Gaussian blur of each frame.

    Parameters
    ----------
    sigma : float
        Standard deviation in pixels (default 1.5 px, our choice).
    """

    temporal_window = 1

    def __init__(self, sigma: float = 1.5):
        if sigma <= 0:
            raise ValueError(f"sigma must be positive (pixels), got {sigma}")
        self.sigma = float(sigma)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = _check_windows(x, 1)
        return ndimage.gaussian_filter(x, sigma=(0, 0, self.sigma, self.sigma), mode="reflect")


class Gaussian3D:
    """Gaussian blur in space and time over a window of ``2 * radius + 1`` frames.

    Parameters
    ----------
    sigma : float
        Spatial standard deviation in pixels (default 1.5 px, our choice).
    sigma_t : float
        Temporal standard deviation in frames (default 1 frame, our choice).
    temporal_radius : int or None
        Frames on each side of the centre; None uses ``ceil(2 * sigma_t)``.
    """

    def __init__(self, sigma: float = 1.5, sigma_t: float = 1.0, temporal_radius: int | None = None):
        if sigma <= 0 or sigma_t <= 0:
            raise ValueError(f"sigma and sigma_t must be positive, got {sigma}, {sigma_t}")
        self.sigma = float(sigma)
        self.sigma_t = float(sigma_t)
        radius = math.ceil(2 * sigma_t) if temporal_radius is None else int(temporal_radius)
        if radius < 1:
            raise ValueError(f"temporal_radius must be at least 1 frame, got {radius}")
        self.temporal_window = 2 * radius + 1
        offsets = np.arange(-radius, radius + 1, dtype=np.float64)
        weights = np.exp(-0.5 * (offsets / self.sigma_t) ** 2)
        self.temporal_weights = (weights / weights.sum()).astype(np.float32)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = _check_windows(x, self.temporal_window)
        mean = np.tensordot(x, self.temporal_weights, axes=([1], [0]))[:, None]
        return ndimage.gaussian_filter(mean, sigma=(0, 0, self.sigma, self.sigma), mode="reflect")


class Wiener:
    """Adaptive local Wiener filter of each frame (Lee filter; scipy.signal.wiener's rule).

    With local mean ``m`` and variance ``v`` over a ``size x size`` window and
    noise variance ``n``: ``out = m + max(v - n, 0) / max(v, n) * (x - m)``.
    Unlike ``scipy.signal.wiener`` the window statistics use reflect borders
    (``scipy.ndimage.uniform_filter``) and flat regions (``v = 0``) give ``m``
    instead of NaN; frames are filtered together, each with its own noise estimate.

    Parameters
    ----------
    size : int
        Odd window size in pixels (default 5 px, our choice).
    noise : float or None
        Noise variance in squared input units; None estimates it per frame as
        the mean local variance (scipy's rule).
    """

    temporal_window = 1

    def __init__(self, size: int = 5, noise: float | None = None):
        if size < 1 or size % 2 == 0:
            raise ValueError(f"size must be a positive odd number of pixels, got {size}")
        self.size = int(size)
        self.noise = noise

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = _check_windows(x, 1).astype(np.float64)
        window = (1, 1, self.size, self.size)
        mean = ndimage.uniform_filter(x, window, mode="reflect")
        var = np.maximum(ndimage.uniform_filter(x * x, window, mode="reflect") - mean * mean, 0.0)
        noise = var.mean(axis=(1, 2, 3), keepdims=True) if self.noise is None else np.float64(self.noise)
        gain = np.maximum(var - noise, 0.0) / np.maximum(np.maximum(var, noise), np.finfo(np.float64).tiny)
        return (mean + gain * (x - mean)).astype(np.float32)
