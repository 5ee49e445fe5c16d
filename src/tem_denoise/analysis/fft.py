"""Power spectra in reciprocal-space units, Bragg peak detection and spectrum line scans.

Seed 002 (Fig. S3, S10) compares methods by the FFT of the denoised frames and by line
scans across its Bragg peaks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi
from skimage.feature import peak_local_max
from skimage.filters import window as make_window

from tem_denoise.arrays import as_float32, check_image
from tem_denoise.memory import require_frame

from .profile import LineProfile, line_profile
from .table import Table

BYTES_PER_PIXEL = 56
"""Working memory of a power spectrum per pixel: float64 frame and window, complex128 FFT, power."""


@dataclass(frozen=True)
class PowerSpectrum:
    """Centred power spectrum ``|FFT|^2`` of a windowed frame.

    Attributes
    ----------
    data : numpy.ndarray
        (ky, kx) float32 power with the zero frequency at ``centre``.
    reciprocal_pixel_size : numpy.ndarray
        (2,) frequency step (y, x) per bin, ``1 / (n * pixel_size)``, in ``unit``.
    unit : str
        "1/nm" when the pixel size was given, else "1/px".
    centre : tuple of int
        Index (y, x) of the zero frequency, ``(ny // 2, nx // 2)``.
    """

    data: np.ndarray
    reciprocal_pixel_size: np.ndarray
    unit: str
    centre: tuple[int, int]

    @property
    def translate(self) -> np.ndarray:
        """(2,) napari layer translate that puts the zero frequency at world (0, 0)."""
        return -np.asarray(self.centre, dtype=np.float64) * self.reciprocal_pixel_size

    def frequency(self, index: np.ndarray) -> np.ndarray:
        """Convert (n, 2) spectrum pixel indices (y, x) to frequencies (ky, kx) in ``unit``."""
        return (np.asarray(index, dtype=np.float64) - self.centre) * self.reciprocal_pixel_size

    def log_power(self) -> np.ndarray:
        """log10 of the power (float32), zeros replaced by the smallest positive value; for display."""
        positive = self.data[self.data > 0]
        floor = positive.min() if positive.size else 1.0
        return np.log10(np.maximum(self.data, floor)).astype(np.float32)


def power_spectrum(
    image: np.ndarray,
    *,
    pixel_size_nm: float | tuple[float, float] | None = None,
    roi: tuple[int, int, int, int] | None = None,
    window: str | tuple | None = "hann",
) -> PowerSpectrum:
    """Power spectrum of a frame or of a rectangular region of it.

    The mean is subtracted and a window applied before the FFT so that the frame edges do
    not add a cross of leakage through the centre.

    Parameters
    ----------
    image : array_like
        (y, x) frame.
    pixel_size_nm : float or (float, float), optional
        Real-space pixel size (y, x) in nm; frequencies are in 1/nm when given.
    roi : (int, int, int, int), optional
        Rectangle ``(y0, x0, y1, x1)`` in pixels (half-open) to transform instead of the
        whole frame.
    window : str, tuple or None
        ``skimage.filters.window`` type; None for no window.

    Returns
    -------
    PowerSpectrum
        Centred power and its reciprocal-space calibration.
    """
    check_image(image, "the image", ndims=(2,))
    require_frame(np.shape(image), BYTES_PER_PIXEL, "the power spectrum")
    image = as_float32(image, "the image").astype(np.float64)
    if roi is not None:
        y0, x0, y1, x1 = (int(v) for v in roi)
        if not (0 <= y0 < y1 <= image.shape[0] and 0 <= x0 < x1 <= image.shape[1]):
            raise ValueError(
                f"roi {roi} must satisfy 0 <= y0 < y1 <= {image.shape[0]} and 0 <= x0 < x1 <= {image.shape[1]}"
            )
        image = image[y0:y1, x0:x1]
    if min(image.shape) < 4:
        raise ValueError(f"the region of shape {image.shape} is too small for a spectrum (need >= 4 px)")
    size = np.broadcast_to(np.asarray(1.0 if pixel_size_nm is None else pixel_size_nm, dtype=np.float64), (2,))
    if np.any(size <= 0):
        raise ValueError(f"pixel_size_nm must be positive; got {pixel_size_nm}")
    centred = image - image.mean()
    if window is not None:
        centred = centred * make_window(window, image.shape)
    power = np.abs(np.fft.fftshift(np.fft.fft2(centred))) ** 2
    ny, nx = image.shape
    return PowerSpectrum(
        data=power.astype(np.float32),
        reciprocal_pixel_size=1.0 / (np.array([ny, nx]) * size),
        unit="1/px" if pixel_size_nm is None else "1/nm",
        centre=(ny // 2, nx // 2),
    )


def _radius(spectrum: PowerSpectrum) -> np.ndarray:
    ny, nx = spectrum.data.shape
    ky = (np.arange(ny) - spectrum.centre[0]) * spectrum.reciprocal_pixel_size[0]
    kx = (np.arange(nx) - spectrum.centre[1]) * spectrum.reciprocal_pixel_size[1]
    return np.hypot(ky[:, None], kx[None, :])


def radial_background(spectrum: PowerSpectrum) -> np.ndarray:
    """Median power in rings one frequency bin wide, broadcast back to the spectrum's shape.

    Parameters
    ----------
    spectrum : PowerSpectrum
        Spectrum from :func:`power_spectrum`.

    Returns
    -------
    numpy.ndarray
        (ky, kx) float64 background estimate (robust to the few Bragg-peak bins per ring).
    """
    ring = np.rint(_radius(spectrum) / spectrum.reciprocal_pixel_size.min()).astype(np.int64)
    labels = np.arange(ring.max() + 1)
    medians = np.asarray(ndi.median(spectrum.data.astype(np.float64), labels=ring, index=labels))
    return medians[ring]


def find_bragg_peaks(
    spectrum: PowerSpectrum,
    *,
    min_frequency: float | None = None,
    threshold: float = 20.0,
    max_peaks: int = 50,
    min_distance_px: int = 2,
    exclude_kx0_bins: int = 0,
) -> Table:
    """Detect Bragg peaks as local maxima standing out of the radial background.

    Parameters
    ----------
    spectrum : PowerSpectrum
        Spectrum from :func:`power_spectrum`.
    min_frequency : float, optional
        Ignore frequencies below this (in ``spectrum.unit``); default 4 frequency bins (our
        choice) to skip the low-frequency blob around the centre.
    threshold : float
        Minimum ratio of peak power to the median power of its ring. For pure noise the
        ratio exceeds T with probability 2**-T per bin, so the default 20 (our choice) gives
        well under one false peak in a 256 x 256 spectrum.
    max_peaks : int
        Keep at most this many peaks, strongest ratio first.
    min_distance_px : int
        Minimum distance between peaks in spectrum pixels.
    exclude_kx0_bins : int
        Ignore the spectrum columns within this many bins of kx = 0. STEM scan-line noise
        (an offset per scan row) puts a streak of power along the ky axis there, whose bins
        would otherwise pass as peaks; 0 (default) keeps every column.

    Returns
    -------
    dict[str, numpy.ndarray]
        Columns ``y_px``, ``x_px`` (sub-pixel position in the spectrum array), ``ky``,
        ``kx``, ``k`` (frequency and its magnitude in ``spectrum.unit``), ``d_spacing``
        (1 / k, in nm or px), ``angle_deg`` (of the (kx, ky) vector, counter-clockwise
        from +x with y pointing down the image), ``power`` and ``ratio``. Friedel pairs
        (k and -k) both appear.
    """
    if threshold <= 0:
        raise ValueError(f"threshold must be positive; got {threshold}")
    power = spectrum.data.astype(np.float64)
    radius = _radius(spectrum)
    low = 4 * spectrum.reciprocal_pixel_size.max() if min_frequency is None else float(min_frequency)
    background = radial_background(spectrum)
    ratio = np.where(background > 0, power / np.where(background > 0, background, 1.0), 0.0)
    ratio[radius < low] = 0.0
    if exclude_kx0_bins > 0:
        columns = np.arange(power.shape[1]) - spectrum.centre[1]
        ratio[:, np.abs(columns) <= int(exclude_kx0_bins)] = 0.0
    index = peak_local_max(
        ratio,
        min_distance=max(1, int(min_distance_px)),
        threshold_abs=threshold,
        exclude_border=1,
        num_peaks=int(max_peaks),
    )
    # sub-pixel position: centre of mass of the background-subtracted 3 x 3 neighbourhood
    offsets = np.arange(-1, 2)
    rows = index[:, 0, None, None] + offsets[None, :, None]
    cols = index[:, 1, None, None] + offsets[None, None, :]
    weights = np.maximum(power[rows, cols] - background[index[:, 0], index[:, 1]][:, None, None], 0.0)
    total = np.maximum(weights.sum(axis=(1, 2)), np.finfo(float).tiny)
    y = index[:, 0] + (weights * offsets[None, :, None]).sum(axis=(1, 2)) / total
    x = index[:, 1] + (weights * offsets[None, None, :]).sum(axis=(1, 2)) / total
    k_yx = spectrum.frequency(np.stack([y, x], axis=1)) if len(index) else np.zeros((0, 2))
    magnitude = np.hypot(k_yx[:, 0], k_yx[:, 1])
    return {
        "y_px": y,
        "x_px": x,
        "ky": k_yx[:, 0],
        "kx": k_yx[:, 1],
        "k": magnitude,
        "d_spacing": 1.0 / magnitude,
        "angle_deg": np.degrees(np.arctan2(-k_yx[:, 0], k_yx[:, 1])),
        "power": power[index[:, 0], index[:, 1]],
        "ratio": ratio[index[:, 0], index[:, 1]],
    }


def fft_line_profile(
    spectrum: PowerSpectrum,
    start: tuple[float, float],
    end: tuple[float, float],
    *,
    width_px: float = 1.0,
    log: bool = True,
) -> LineProfile:
    """Line scan across a power spectrum, e.g. through a pair of Bragg peaks (seed 002 Fig. S10).

    Parameters
    ----------
    spectrum : PowerSpectrum
        Spectrum from :func:`power_spectrum`.
    start, end : (float, float)
        End points (y, x) in spectrum pixel coordinates.
    width_px : float
        Averaging width in spectrum pixels.
    log : bool
        Profile the log10 power (as displayed) instead of the power.

    Returns
    -------
    LineProfile
        Distance from ``start`` in ``spectrum.unit`` and the (log) power.
    """
    values = spectrum.log_power() if log else spectrum.data
    return line_profile(
        values,
        start,
        end,
        width_px=width_px,
        pixel_size_nm=tuple(spectrum.reciprocal_pixel_size),
        unit=spectrum.unit,
    )
