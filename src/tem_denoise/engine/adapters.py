"""Intensity adapters: bring the user's intensities to what a model was trained on, and back.

``percentile-255`` maps the robust range of the stack (low and high percentiles,
default 0.1 and 99.9) linearly to 0..255, the scale of the SCGN/SFIN/U-Net
training images, so counting-mode data (0-5 counts) and linear-mode data
(hundreds to thousands) both land in range; for ``restore`` models the output is
mapped back to the input's units. ``none`` is the identity, for the
scale-equivariant blind-spot nets and the classical filters.

The range is fitted once per stack from a sample of frames, so every frame (and
every temporal window) of a stack is scaled the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tem_denoise.arrays import as_float32
from tem_denoise.physics.noise_level import (
    POISSON,
    NoiseLevel,
    estimate_level,
    has_measured_spectrum,
    is_poisson,
    local_mean,
    sigma_map,
)
from tem_denoise.physics.noise_spectrum import NoiseSpectrum, estimate_spectrum
from tem_denoise.sampling import (
    factor_for,
    noise_gain,
    to_native,
    to_working,
    working_shape,
)

SAMPLE_FRAMES = 16
SAMPLE_PIXELS = 1 << 21


@dataclass(frozen=True)
class IdentityAdapter:
    """The ``none`` adapter: values pass unchanged."""

    name = "none"

    def forward(self, x: np.ndarray) -> np.ndarray:
        return x

    def inverse(self, y: np.ndarray) -> np.ndarray:
        return y

    def working_shape(self, height: int, width: int) -> tuple[int, int]:
        return height, width

    def to_dict(self) -> dict:
        return {"adapter": self.name}


@dataclass(frozen=True)
class PercentileAdapter:
    """Linear map of ``[low, high]`` (input units) to ``[0, 255]``.

    Attributes
    ----------
    low, high : float
        Input values sent to 0 and 255.
    clip : bool
        Clip the forward output to ``[0, 255]`` (the training images were uint8);
        the inverse is then exact only for inputs inside ``[low, high]``.
    """

    low: float
    high: float
    clip: bool = True
    name = "percentile-255"

    def __post_init__(self) -> None:
        if not np.isfinite(self.low) or not np.isfinite(self.high) or self.high <= self.low:
            raise ValueError(f"percentile adapter needs finite low < high, got low={self.low}, high={self.high}")

    @property
    def gain(self) -> float:
        """0..255 units per input unit."""
        return 255.0 / (self.high - self.low)

    def forward(self, x: np.ndarray) -> np.ndarray:
        y = (np.asarray(x, dtype=np.float32) - np.float32(self.low)) * np.float32(self.gain)
        return np.clip(y, 0.0, 255.0, out=y) if self.clip else y

    def inverse(self, y: np.ndarray) -> np.ndarray:
        return np.asarray(y, dtype=np.float32) / np.float32(self.gain) + np.float32(self.low)

    def working_shape(self, height: int, width: int) -> tuple[int, int]:
        return height, width

    def to_dict(self) -> dict:
        return {"adapter": self.name, "low": self.low, "high": self.high, "clip": self.clip}


def sample_frames(stack, max_frames: int = SAMPLE_FRAMES) -> list:
    """Up to ``max_frames`` evenly spaced frames of a ``(t, y, x)`` stack (``[stack]`` for a
    ``(y, x)`` frame), indexed one by one so that a dask or memory-mapped stack is not loaded whole."""
    if stack.ndim == 2:
        return [stack]
    n = stack.shape[0]
    picks = np.unique(np.linspace(0, n - 1, min(n, max_frames)).round().astype(int))
    return [stack[int(i)] for i in picks]


def sample_pixels(stack, max_frames: int = SAMPLE_FRAMES, max_pixels: int = SAMPLE_PIXELS) -> np.ndarray:
    """Flat float32 sample of a ``(y, x)`` frame or ``(t, y, x)`` stack.

    Up to ``max_frames`` evenly spaced frames are read (:func:`sample_frames`), each
    subsampled on a regular grid so that the sample holds about ``max_pixels`` values.
    """
    frames = sample_frames(stack, max_frames)
    per_frame = max(1, max_pixels // len(frames))
    h, w = frames[0].shape[-2:]
    stride = max(1, int(np.ceil(np.sqrt(h * w / per_frame))))
    return np.concatenate([np.asarray(f[::stride, ::stride], dtype=np.float32).ravel() for f in frames])


def fit_adapter(name: str, stack, percentiles: tuple[float, float] = (0.1, 99.9), clip: bool = True):
    """Adapter ``name`` (``"percentile-255"`` or ``"none"``) fitted to ``stack``.

    For ``percentile-255`` the low and high percentiles of a sample of the stack
    (see :func:`sample_pixels`) give the range; non-finite values are ignored; a
    range of zero width (constant data) is widened to one input unit.

    Raises
    ------
    ValueError
        If the adapter name is unknown or the stack has no finite value.
    """
    if name == "none":
        return IdentityAdapter()
    if name != "percentile-255":
        raise ValueError(f"unknown intensity adapter {name!r}; use 'percentile-255' or 'none'")
    sample = sample_pixels(stack)
    sample = sample[np.isfinite(sample)]
    if sample.size == 0:
        raise ValueError("the image has no finite values; cannot scale its intensities")
    low, high = (float(v) for v in np.percentile(sample, percentiles))
    if high <= low:
        high = low + 1.0
    return PercentileAdapter(low, high, clip)


@dataclass(frozen=True)
class RestoreAdapter:
    """The ``restore`` adapter of restoration models: sampling, scale and noise level.

    Forward, each frame is brought down to the model's working sampling (by ``factor``, see
    :mod:`tem_denoise.sampling`), its noise standard deviation map is computed from
    ``level`` on the frame's own grid and resampled the same way, and both are scaled by
    ``(x - low) / span``: the model reads ``(F, 2, h, w)`` = (image, noise sigma). Inverse,
    the restored working frame is scaled back and put on the frame's own grid of ``shape``.
    ``low`` and ``span`` are fitted once per stack, so any positive gain and any offset of
    the input change the output the same way.

    Attributes
    ----------
    factor : float
        Down-sampling factor (>= 1) from the frame's pixels to the working sampling.
    level : NoiseLevel
        Noise law of the frames (calibrated, Poisson counts or estimated).
    low, span : float
        Intensity sent to 0, and the intensity range sent to 1.
    shape : (int, int)
        The frames' own (height, width).
    spectrum : NoiseSpectrum or None
        The shape of the noise power spectrum when a camera's blur correlates the noise
        (:mod:`~tem_denoise.physics.noise_spectrum`); None for white noise.
    pixel_size_nm : float or None
        The frames' own pixel size (nm), when the engine fitted the adapter to them.
    """

    factor: float
    level: NoiseLevel
    low: float
    span: float
    shape: tuple[int, int]
    spectrum: NoiseSpectrum | None = None
    pixel_size_nm: float | None = None
    name: str = field(default="restore", init=False)

    def working_shape(self, height: int, width: int) -> tuple[int, int]:
        return working_shape((height, width), self.factor)

    def inputs(self, frame: np.ndarray) -> np.ndarray:
        """``(2, h, w)`` model input of one (y, x) frame in the data's units."""
        frame = np.asarray(frame, dtype=np.float32)
        image = to_working(frame, self.factor)
        sigma = to_working(sigma_map(frame, self.level), self.factor) * noise_gain(self.factor)
        return np.stack([(image - self.low) / self.span, sigma / self.span]).astype(np.float32)

    def target(self, clean: np.ndarray) -> np.ndarray:
        """A clean (y, x) frame on the model's working grid and scale (the training target)."""
        return (to_working(clean, self.factor) - self.low) / self.span

    def forward(self, windows: np.ndarray) -> np.ndarray:
        """``(F, 1, H, W)`` single-frame windows -> ``(F, 2, h, w)`` model inputs."""
        return np.stack([self.inputs(window[-1]) for window in windows])

    def inverse(self, y: np.ndarray) -> np.ndarray:
        """``(F, h, w)`` restored working frames -> ``(F, H, W)`` in the data's units."""
        return np.stack([to_native(frame * self.span + self.low, self.shape) for frame in y])

    def noise_correlation(self, shape: tuple[int, int]) -> np.ndarray | None:
        """The relative noise power spectrum (``fft2`` layout) of ``shape`` frames when a
        calibrated camera's noise is correlated (:meth:`NoiseSpectrum.correlation`, its column
        noise included); None for white noise."""
        if self.spectrum is None or not has_measured_spectrum(self.level):
            return None
        column_variance = float(getattr(self.level.model, "sigma_c", 0.0)) ** 2
        return self.spectrum.correlation(shape, min(column_variance / max(self.spectrum.variance, 1e-30), 1.0))

    def to_dict(self) -> dict:
        return {"adapter": self.name, "sampling_factor": self.factor, "low": self.low, "span": self.span,
                "noise": self.level.to_dict(),
                "noise_spectrum": None if self.spectrum is None else self.spectrum.to_dict(),
                "pixel_size_nm": self.pixel_size_nm}


def restore_scale(frames: list) -> tuple[float, float]:
    """``(low, span)`` of a restore adapter: the 0.5th percentile of the frames' local mean and
    the range to its 99.5th percentile (widened to be positive)."""
    values = np.concatenate([local_mean(np.asarray(f, dtype=np.float32))[::2, ::2].ravel() for f in frames])
    low, high = (float(v) for v in np.percentile(values, [0.5, 99.5]))
    span = high - low
    return low, span if span > 0 else max(abs(low), 1.0) * 1e-3


def _with_pixel_variance(level: NoiseLevel, variance: float, mean: float) -> NoiseLevel:
    """``level`` scaled to give ``variance`` (units²) at the frames' ``mean`` intensity: the
    noise law read at the highest frequencies raised to every pixel's variance."""
    factor = max(1.0, variance / max(level.gain * mean + level.offset, 1e-30))
    return NoiseLevel(level.gain * factor, level.offset * factor, f"{level.source}, corrected for the detector's blur")


def calibrated_spectrum(level: NoiseLevel, frames: list) -> NoiseSpectrum | None:
    """The noise spectrum a camera calibration measured on its vacuum frames
    (:attr:`~tem_denoise.physics.noise_models.HRTEMNoise.noise_spectrum`), with the ``frames``'
    mean pixel variance under its law; None for other levels or a calibration without one."""
    if not has_measured_spectrum(level):
        return None
    mtf_f2, white = getattr(level.model, "noise_spectrum")  # noqa: B009 - HRTEMNoise's, checked above
    variance = float(np.mean([np.mean(level.sigma(frame).astype(np.float64) ** 2) for frame in frames]))
    return NoiseSpectrum(float(mtf_f2), float(white), variance)


def fit_restore_adapter(stack, pixel_size_nm: float, working_nm: float,
                        level: NoiseLevel | None = None, camera: bool = False) -> RestoreAdapter:
    """A :class:`RestoreAdapter` for ``stack`` (``(y, x)`` or ``(t, y, x)``).

    ``level`` is the calibrated noise level when the user has one; otherwise, from one sample
    of frames (read once), Poisson when they are raw electron counts
    (:func:`~tem_denoise.engine.counting.looks_like_counts` for low-dose counting data,
    :func:`~tem_denoise.physics.noise_level.is_poisson` at any dose), else estimated
    (:func:`~tem_denoise.physics.noise_level.estimate_level`). The noise spectrum's shape comes
    from a calibration that measured it on its vacuum frames (:func:`calibrated_spectrum`) or,
    for a ``camera`` (HRTEM) image whose noise the detector's blur correlates, from the frames
    (:func:`~tem_denoise.physics.noise_spectrum.estimate_spectrum`); an estimated level is then
    raised to every pixel's variance.
    """
    from tem_denoise.engine.counting import (
        looks_like_counts,  # counting imports this module
    )

    frames = [as_float32(f, "a sampled frame") for f in sample_frames(stack, 4)]
    calibrated = level is not None
    if level is None:
        level = POISSON if looks_like_counts(np.stack(frames)) or is_poisson(frames) else estimate_level(frames)
    spectrum = calibrated_spectrum(level, frames) if calibrated else None
    if spectrum is None and camera and level is not POISSON:
        spectrum = estimate_spectrum(frames, pixel_size_nm)
    if spectrum is not None and not calibrated:
        level = _with_pixel_variance(level, spectrum.variance, float(np.mean(frames)))
    low, span = restore_scale(frames)
    return RestoreAdapter(factor_for(pixel_size_nm, working_nm), level, low, span, tuple(frames[0].shape), spectrum,
                          pixel_size_nm)
