"""Per-pixel noise level of an image: from a calibration, from counting statistics, or estimated.

Restoration models take, beside the image, a map of the noise standard deviation of every
pixel. Its source, best first:

* a calibrated noise model (the Noise calibration dock's JSON): :func:`level_from_model`;
* raw electron counts: Poisson, variance = counts (:data:`POISSON`);
* an estimate from the data themselves (:func:`estimate_level`), for linear cameras and
  detectors: a Poisson-Gaussian law ``variance = gain * mean + offset`` fitted to the noise
  residual (:func:`noise_residual`) in bins of local brightness.

The map is the law evaluated on a smoothed copy of the image (:func:`sigma_map`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import fft, ndimage, signal

from tem_denoise.physics.noise_models import Counting, HRTEMNoise, NoiseModel, STEMNoise

SMOOTHING_PX = 1.5
"""Gaussian sigma (px) of the local mean the noise law is evaluated on."""
FOURTH_DIFFERENCE = np.array([1, -4, 6, -4, 1], dtype=np.float32) / np.sqrt(70.0)
"""Taps of the separable filter of :func:`noise_residual`: a fourth difference along y and
along x (Immerkaer's 1996 second-difference kernel applied twice), scaled so that its output
has the input's white-noise variance. Its power response, ``sin(pi fy)**8 sin(pi fx)**8``,
reads almost only the corners of the spectrum, the frequencies where an image's signal is
weakest."""
CROP_PX = 256
"""Frames larger than two crops along an axis are read in 2 x 2 crops of this size (px), which
holds the cost of an estimate on a 1024 x 1024 frame to tens of milliseconds."""
TAPER = 0.25
"""Share of each axis over which :func:`noise_residual` tapers the residual to zero."""
PEAK_THRESHOLD = 8.0
"""Spectral bins of the residual above this multiple of the noise floor are signal (lattice
reflections): the chance that a bin of white noise exceeds it is exp(-8) = 0.03 %."""


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


def has_measured_spectrum(level: NoiseLevel) -> bool:
    """True for a camera calibration that measured its noise's spectrum on vacuum frames
    (:attr:`~tem_denoise.physics.noise_models.HRTEMNoise.noise_spectrum`): its noise is known,
    law and correlation."""
    return getattr(level.model, "noise_spectrum", None) is not None


def _stem_mode(modality: str) -> str:
    """The ``tem-denoise calibrate --stem`` choice for STEM data of ``modality``."""
    return "bf" if modality == "STEM-BF" else "haadf"


def check_detector(model: NoiseModel, modality: str, what: str) -> None:
    """Refuse a calibrated noise model of another kind of detector than the one that records
    images of ``modality`` (a model card's, e.g. ``"STEM-HAADF"``; ``"any"`` is not checked).

    A TEM camera's noise (:class:`HRTEMNoise` from vacuum stacks) and a STEM detector's
    (:class:`STEMNoise`, from one atomic-resolution image) follow different laws in different
    units; either given for the other's images is a mistake, which would condition the network
    on a wrong noise level. Counted electrons (:class:`Counting`) are Poisson on either
    microscope and pass. A STEM model calibrated on the other STEM
    detector (HAADF for BF) has the right form of law, so it is only warned about.

    Parameters
    ----------
    model : NoiseModel
        The calibrated noise model.
    modality : str
        The modality the noise model is used for.
    what : str
        What it is used for, for the message (e.g. ``"model 'restore-haadf'"``).

    Raises
    ------
    ValueError
        If a camera's model is given for STEM images or a STEM detector's for TEM images.
    """
    if modality.startswith("STEM") and isinstance(model, HRTEMNoise):
        raise ValueError(
            f"the noise model is a TEM camera's ({model.kind}, from vacuum stacks), but {what} is for {modality} "
            f"images: give the noise model calibrated on a STEM image of that detector (`tem-denoise calibrate "
            f"--stem {_stem_mode(modality)} IMAGE -o noise.json`, or the Noise calibration dock), or no noise "
            "model, and the noise is estimated from the data")
    if modality.startswith("HRTEM") and isinstance(model, STEMNoise):
        raise ValueError(
            f"the noise model is a STEM detector's (from a {model.mode.upper()} image), but {what} is for "
            f"{modality} images: give the camera's noise model, calibrated on vacuum stacks at two or more beam "
            "currents (`tem-denoise calibrate VACUUM_1.tif VACUUM_2.tif -o noise.json`, or the Noise calibration "
            "dock), or no noise model, and the noise is estimated from the data")
    if modality in ("STEM-HAADF", "STEM-BF") and isinstance(model, STEMNoise) and model.mode != _stem_mode(modality):
        warnings.warn(f"the noise model was calibrated on a STEM {model.mode.upper()} image, but {what} is for "
                      f"{modality} images; calibrate it on an image of that detector if you have one", stacklevel=3)


def local_mean(frame: np.ndarray) -> np.ndarray:
    """Gaussian-smoothed frame (sigma :data:`SMOOTHING_PX`), the intensity a noise law is read at."""
    return ndimage.gaussian_filter(np.asarray(frame, dtype=np.float32), SMOOTHING_PX, mode="nearest")


def sigma_map(frame: np.ndarray, level: NoiseLevel) -> np.ndarray:
    """Per-pixel noise standard deviation of a (y, x) frame under ``level`` (data units)."""
    return level.sigma(local_mean(frame))


def _power_response(shape: tuple[int, int]) -> np.ndarray:
    """Power response of the :data:`FOURTH_DIFFERENCE` filter (up to a factor) on the half
    spectrum of ``shape``."""
    along_y = np.sin(np.pi * fft.fftfreq(shape[0])).astype(np.float32) ** 8
    along_x = np.sin(np.pi * fft.rfftfreq(shape[1])).astype(np.float32) ** 8
    return along_y[:, None] * along_x[None, :]


def half_spectrum_counts(shape: tuple[int, int]) -> np.ndarray:
    """How many bins of the full spectrum each bin of the half spectrum of ``shape`` stands for."""
    counts = np.full((shape[0], shape[1] // 2 + 1), 2.0, np.float32)
    counts[:, 0] = 1.0
    if shape[1] % 2 == 0:
        counts[:, -1] = 1.0
    return counts


def noise_residual(frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """What is left of a (y, x) frame without its signal, where white noise keeps its variance;
    and the mask of the pixels where it holds.

    The frame goes through the :data:`FOURTH_DIFFERENCE` filter, which cancels smooth signal.
    A sharp or undersampled lattice (atoms one or two pixels wide) still leaves its reflections
    there, which a variance taken over pixels would count as noise; in the spectrum they are
    few bright peaks over the flat floor of the noise (white noise with a brightness-dependent
    variance still has a flat spectrum). The residual is tapered to zero over the outer
    :data:`TAPER` of each axis (a Tukey window, so that the peaks do not leak over the
    spectrum) and transformed; the floor is the median of its power over the bins where the
    filter responds most, divided by the filter's response and by ln 2 (the median of an
    exponential distribution); bins above :data:`PEAK_THRESHOLD` times the floor and their
    neighbours are removed, and the rest scaled up by the share of noise power removed with
    them. The mask is the untapered middle of the frame less the filter's 2-px margin.
    """
    residual = np.asarray(frame, dtype=np.float32)
    for axis in (0, 1):
        residual = ndimage.correlate1d(residual, FOURTH_DIFFERENCE, axis=axis, mode="reflect")
    taper_y, taper_x = (signal.windows.tukey(n, TAPER).astype(np.float32) for n in residual.shape)
    flat = (taper_y[:, None] == 1) & (taper_x[None, :] == 1)
    flat[:2], flat[-2:], flat[:, :2], flat[:, -2:] = False, False, False, False
    spectrum = fft.rfft2(residual * taper_y[:, None] * taper_x[None, :])
    power = spectrum.real**2 + spectrum.imag**2
    response = _power_response(residual.shape)
    strong = response > 0.25 * response.max()
    floor = float(np.median(power[strong] / response[strong])) / np.log(2)
    peaks = ndimage.binary_dilation(power > PEAK_THRESHOLD * floor * np.maximum(response, 1e-3 * response.max()))
    if floor <= 0 or not peaks.any():
        return residual, flat
    noise_power = half_spectrum_counts(residual.shape) * response
    removed = float(np.sum(noise_power[peaks]) / np.sum(noise_power))
    spectrum[peaks] = 0
    kept = fft.irfft2(spectrum, s=residual.shape) / np.sqrt(max(1.0 - removed, 0.05))
    return kept.astype(np.float32), flat


def _crops(frame: np.ndarray) -> list[np.ndarray]:
    """The (y, x) frame, cut along each axis longer than two :data:`CROP_PX` into two crops
    of that size, evenly spread."""
    def spans(length: int) -> list[slice]:
        if length <= 2 * CROP_PX:
            return [slice(0, length)]
        gap = (length - 2 * CROP_PX) // 3
        return [slice(gap, gap + CROP_PX), slice(length - gap - CROP_PX, length - gap)]

    return [frame[ys, xs] for ys in spans(frame.shape[0]) for xs in spans(frame.shape[1])]


def _binned_variance(frame: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Local mean, robust noise variance and pixel count in ``bins`` bins of brightness holding
    equal numbers of pixels. The variance is read from the median absolute value of
    :func:`noise_residual` (whose median is zero: the filter cancels any local mean)."""
    residual, flat = noise_residual(frame)
    residual, mean = residual[flat], local_mean(frame)[flat]
    centres, variances, counts = [], [], []
    for pixels in np.array_split(np.argsort(mean), bins):
        if len(pixels) < 64:
            continue
        mad = np.median(np.abs(residual[pixels]))
        centres.append(float(np.mean(mean[pixels])))
        variances.append(float((1.4826 * mad) ** 2))
        counts.append(len(pixels))
    return np.array(centres), np.array(variances), np.array(counts, dtype=np.float64)


def _overall_variance(frames: list[np.ndarray]) -> float:
    """Robust noise variance of :func:`noise_residual` over all pixels of small frames."""
    residual = np.concatenate([noise_residual(f)[0].ravel() for f in frames])
    return float((1.4826 * np.median(np.abs(residual - np.median(residual)))) ** 2)


POISSON_BIN_RATIO = (0.6, 1.5)
"""Accepted noise variance / mean of the flatter brightness bins for :func:`is_poisson`."""


def is_poisson(frames: np.ndarray | list, bins: int = 16, min_mean: float = 0.5) -> bool:
    """True when (y, x) frames are whole numbers >= 0 with Poisson noise (variance = mean).

    Image structure only adds to the residual variance (:func:`noise_residual`) of
    :func:`estimate_level`'s brightness bins, so the bins with the smallest variance-to-mean ratios (among bins with a
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
    parts = [_binned_variance(crop, bins) for frame in stacked for crop in _crops(frame)]
    mean, variance, _ = (np.concatenate(p) for p in zip(*parts))
    usable = mean >= min_mean
    if not usable.any():
        return False
    ratio = float(np.percentile(variance[usable] / mean[usable], 25))
    return POISSON_BIN_RATIO[0] <= ratio <= POISSON_BIN_RATIO[1]


def estimate_level(frames: np.ndarray | list, bins: int = 16) -> NoiseLevel:
    """Fit ``variance = gain * intensity + offset`` to one frame or several (y, x) frames.

    The noise of each pixel is read from :func:`noise_residual` (a fourth-difference filter
    that cancels smooth signal, with the lattice reflections it leaves taken out in the
    spectrum, so that atoms one or two pixels wide are not counted as noise); its robust
    variance (median absolute deviation) is taken in ``bins`` quantile bins of the local mean,
    and a line is fitted to variance against mean, weighted by the pixels in each bin (the gain
    is kept >= 0). Noise correlated between neighbouring pixels (a scintillator's point-spread)
    is read at the highest frequencies only, so its variance per pixel is underestimated
    (:mod:`~tem_denoise.physics.noise_spectrum` measures how much, where it can).
    """
    stacked = [np.asarray(f, dtype=np.float32) for f in (frames if np.ndim(frames) == 3 or
                                                          isinstance(frames, list) else [frames])]
    parts = [_binned_variance(crop, bins) for frame in stacked if min(frame.shape) >= 16
             for crop in _crops(frame)]
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
