"""The noise power spectrum of a camera frame: a detector's blur correlates its noise.

A scintillator (or a direct detector read without counting) spreads each electron over a few
pixels, so the shot noise of a TEM camera is not white: its power spectrum falls towards the
Nyquist frequency like the square of the detector's modulation transfer function (MTF). The
noise level of :func:`~tem_denoise.physics.noise_level.estimate_level` is read at the highest
frequencies, where that power is lowest, so it underestimates the noise of every pixel (by a
factor of three for an MTF of 0.5 at Nyquist), and a filter that takes the noise for white
keeps the noise at low frequencies and removes too much signal at high ones.

The spectrum's shape is measured on the frame itself, in the band where an HRTEM image holds
no signal: beyond :data:`SIGNAL_LIMIT_PER_NM` (0.05 nm, the information limit of the best aberration-
corrected microscopes), where only noise is left. A frame sampled coarser than
:data:`MAX_BAND_START` cycles per pixel at that limit has no such band, and its noise is taken
for white (a calibration from vacuum frames is then the way to know it). In the band, the ring
medians of the frame's averaged power spectrum (Welch; medians, so that a lattice's reflections
do not count) are fitted by ``A exp(-k² / f²) + B``: a Gaussian MTF squared plus white readout
noise; their sum over the spectrum is every pixel's noise variance. A fitted fall of less than
:data:`MIN_FALL` from zero frequency to Nyquist (0.5 cycles/px along an axis) is taken for
white noise.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from scipy import fft, optimize

SIGNAL_LIMIT_PER_NM = 20.0
"""Spatial frequency (1/nm) beyond which an HRTEM image holds noise only (0.05 nm)."""
MAX_BAND_START = 0.3
"""Largest start of the signal-free band (cycles/px): it then holds about 25 rings up to the
spectrum's corners (0.71 cycles/px), so the frame's pixels must be 15 pm or finer."""
BLOCK_PX = 64
"""Side of the half-overlapping blocks whose power spectra are averaged."""
MIN_FALL = 0.2
"""Smallest relative fall of the fitted noise power from zero frequency to (0.5, 0) cycles/px
taken for correlated noise."""
MIN_MTF_F2 = 0.25 / np.log(100.0)
"""Smallest ``mtf_f2`` fitted: an MTF of 0.1 at Nyquist, the blurriest of scintillator cameras
(a steeper fall in the band is signal, not noise)."""
MIN_BLOCKS = 4
"""Blocks needed for an average spectrum."""


@dataclass(frozen=True)
class NoiseSpectrum:
    """A frame's noise power spectrum ``white + (1 - white) exp(-k² / mtf_f2)`` (relative,
    ``k`` in cycles/px), and the noise variance per pixel it adds up to.

    Attributes
    ----------
    mtf_f2 : float
        Squared frequency (cycles/px)² at which the blurred part of the noise power falls to 1/e.
    white : float
        Share of the noise power at zero frequency that is white (readout noise), 0-1.
    variance : float
        Mean noise variance per pixel of the frames it was measured on (data units²).
    """

    mtf_f2: float
    white: float
    variance: float

    def relative_power(self, side: int) -> np.ndarray:
        """``(side, side // 2 + 1)`` float32 noise power relative to white noise of the same
        pixel variance (mean 1 over the whole spectrum), on the ``rfft2`` grid of a square
        window of ``side`` px."""
        ky, kx = fft.fftfreq(side)[:, None], fft.rfftfreq(side)[None, :]
        shape = _shape(ky**2 + kx**2, self.mtf_f2, self.white)
        return (shape / _mean_shape(side, self.mtf_f2, self.white)).astype(np.float32)

    def relative_power_cosine(self, shape: tuple[int, int]) -> np.ndarray:
        """``shape`` float32 noise power relative to white noise of the same pixel variance on the
        grid of the orthonormal cosine transform of a ``shape`` frame (frequencies ``u / 2n``)."""
        ky = np.arange(shape[0])[:, None] / (2.0 * shape[0])
        kx = np.arange(shape[1])[None, :] / (2.0 * shape[1])
        power = _shape(ky**2 + kx**2, self.mtf_f2, self.white)
        return (power / power.mean()).astype(np.float32)

    def correlation(self, shape: tuple[int, int], column_share: float = 0.0) -> np.ndarray:
        """``shape`` float64 relative power spectrum (mean 1, ``fft2`` layout) of noise with this
        spectrum, ``column_share`` of whose variance is in offsets shared by whole columns (a
        camera's column noise: all its power on the ``ky = 0`` row). Its inverse transform is
        the noise's correlation between pixels."""
        ky, kx = fft.fftfreq(shape[0])[:, None], fft.fftfreq(shape[1])[None, :]
        power = _shape(ky**2 + kx**2, self.mtf_f2, self.white)
        power = (1.0 - column_share) * power / power.mean()
        power[0, :] += column_share * shape[0]
        return power

    def column_mean_gain(self, shape: tuple[int, int]) -> float:
        """Variance of the mean along a column of ``shape`` (y, x) frames' noise over what white
        noise of the same pixel variance gives (``variance / height``): the relative power along
        ``ky = 0``, averaged over ``kx``. A blur correlates the pixels of a column, so their mean
        keeps more of the noise."""
        return float(self.correlation(shape)[0].mean())

    def mtf_at_nyquist(self) -> float:
        """The blur's MTF at 0.5 cycles/px along an axis (1 for white noise)."""
        return 1.0 if self.white >= 1.0 else float(np.exp(-0.125 / self.mtf_f2))

    def to_dict(self) -> dict:
        """JSON-ready record for provenance."""
        return {"mtf_f2_cycles2_per_px2": self.mtf_f2, "white_share": self.white, "pixel_variance": self.variance}


def _shape(k_squared: np.ndarray, mtf_f2: float, white: float) -> np.ndarray:
    """Relative noise power ``white + (1 - white) exp(-k² / mtf_f2)`` at ``k²`` (cycles/px)²."""
    return white + (1.0 - white) * np.exp(-k_squared / mtf_f2)


def _mean_shape(side: int, mtf_f2: float, white: float) -> float:
    """Mean of :func:`_shape` over the whole spectrum of a ``side`` px window."""
    f = fft.fftfreq(side)
    return float(np.mean(_shape(f[:, None] ** 2 + f[None, :] ** 2, mtf_f2, white)))


def _taper(side: int) -> np.ndarray:
    """``(side, side)`` sine taper."""
    ramp = np.sin(np.pi * (np.arange(side) + 0.5) / side)
    return np.outer(ramp, ramp)


def _mean_power(frame: np.ndarray, side: int) -> tuple[np.ndarray, int]:
    """Average power spectrum ``(side, side // 2 + 1)`` (``rfft2`` layout) of the
    half-overlapping sine-tapered blocks of a (y, x) frame (each less its mean), and the number
    of blocks; one row of blocks at a time, so a 4k frame needs a few MB."""
    taper = _taper(side)
    total, count = np.zeros((side, side // 2 + 1)), 0
    for top in range(0, frame.shape[0] - side + 1, side // 2):
        strip = frame[top:top + side]
        blocks = np.stack([strip[:, x:x + side] for x in range(0, frame.shape[1] - side + 1, side // 2)])
        spectrum = fft.rfft2((blocks - blocks.mean(axis=(1, 2), keepdims=True)) * taper)
        total += np.sum(spectrum.real**2 + spectrum.imag**2, axis=0)
        count += len(blocks)
    return total / max(count, 1), count


def _ring_medians(power: np.ndarray, side: int, start: float) -> tuple[np.ndarray, np.ndarray]:
    """Ring centres (cycles/px) from ``start`` outwards and the median power in each ring (one
    bin wide) of an ``rfft2`` power spectrum."""
    ky, kx = fft.fftfreq(side)[:, None], fft.rfftfreq(side)[None, :]
    k = np.hypot(ky, kx)
    edges = np.arange(start, np.sqrt(0.5) + 1.0 / side, 1.0 / side)
    centres, medians = [], []
    for low, high in zip(edges[:-1], edges[1:]):
        ring = power[(k >= low) & (k < high)]
        if ring.size >= 4:
            centres.append((low + high) / 2)
            medians.append(float(np.median(ring)))
    return np.array(centres), np.array(medians)


def _fit(k: np.ndarray, power: np.ndarray) -> tuple[float, float, float] | None:
    """``(blurred, white, f2)`` of ``blurred exp(-k² / f2) + white`` fitted to ring powers in
    log; None without a positive power."""
    if k.size < 4 or np.any(power <= 0):
        return None

    def residual(params: np.ndarray) -> np.ndarray:
        blurred, white, f2 = np.exp(params)
        return np.log(blurred * np.exp(-k**2 / f2) + white) - np.log(power)

    start = np.log([power[0], 0.1 * power[-1], 0.2])
    bounds = ([-60, -60, np.log(MIN_MTF_F2)], [60, 60, 60])
    blurred, white, f2 = np.exp(optimize.least_squares(residual, start, bounds=bounds).x)
    return float(blurred), float(white), float(f2)


def _fitted(power: np.ndarray, start: float) -> NoiseSpectrum | None:
    """The :class:`NoiseSpectrum` fitted to the ring medians of an averaged block power spectrum
    (per pixel, ``BLOCK_PX`` blocks) from ``start`` cycles/px outwards, or None without a fit;
    white (``white`` = 1) when its fall to Nyquist is under :data:`MIN_FALL`."""
    fitted = _fit(*_ring_medians(power, BLOCK_PX, start))
    if fitted is None:
        return None
    blurred, white, f2 = fitted
    white_share = white / (blurred + white)
    variance = (blurred + white) * _mean_shape(BLOCK_PX, f2, white_share)
    if (1.0 - white_share) * (1.0 - np.exp(-0.25 / f2)) < MIN_FALL:
        return NoiseSpectrum(f2, 1.0, float(np.mean(power)))
    return NoiseSpectrum(f2, white_share, variance)


def vacuum_spectrum(stacks: Iterable) -> NoiseSpectrum | None:
    """The noise spectrum of a camera from ``(t, y, x)`` stacks of vacuum frames (read one at a
    time: a generator keeps one stack in memory; every
    frequency of a vacuum frame is noise, at any sampling), or None when the frames are smaller
    than :data:`BLOCK_PX` or too few.

    Each frame less its stack's temporal mean (the illumination) and its own column means (the
    column noise, which a calibration models apart); the blocks' averaged power spectrum fitted
    like :func:`estimate_spectrum`'s from the first ring past zero frequency. A flat spectrum
    (a fall of less than :data:`MIN_FALL`) gives white noise (``white`` = 1).
    """
    total, frames, blocks = np.zeros((BLOCK_PX, BLOCK_PX // 2 + 1)), 0, 0
    for stack in stacks:
        data = np.asarray(stack)
        if data.ndim != 3 or data.shape[0] < 2 or min(data.shape[1:]) < BLOCK_PX:
            continue
        mean = data.mean(axis=0, dtype=np.float64)
        for frame in data:  # less the illumination and the frame's column offsets
            residual = (frame - mean) / np.sqrt(1.0 - 1.0 / data.shape[0])
            power, count = _mean_power(residual - residual.mean(axis=0), BLOCK_PX)
            total, frames, blocks = total + power, frames + 1, blocks + count
    if blocks < MIN_BLOCKS:
        return None
    power = total / frames / np.sum(_taper(BLOCK_PX) ** 2)
    return _fitted(power, 1.5 / BLOCK_PX)


def estimate_spectrum(frames: list, pixel_size_nm: float | None) -> NoiseSpectrum | None:
    """The noise spectrum of (y, x) camera frames of an HRTEM image, or None for white noise.

    None also when the pixel size is unknown, or the frames are too coarse (no band beyond
    :data:`SIGNAL_LIMIT_PER_NM` below :data:`MAX_BAND_START` cycles/px) or too small (fewer
    than :data:`MIN_BLOCKS` blocks of :data:`BLOCK_PX`) to measure it. Frames are averaged.
    """
    if not pixel_size_nm or pixel_size_nm <= 0:
        return None
    start = SIGNAL_LIMIT_PER_NM * pixel_size_nm
    if start > MAX_BAND_START:
        return None
    spectra = [_mean_power(np.asarray(frame, np.float64), BLOCK_PX) for frame in frames
               if min(np.shape(frame)) >= BLOCK_PX]
    if sum(blocks for _, blocks in spectra) < MIN_BLOCKS:
        return None
    power = np.mean([spectrum for spectrum, _ in spectra], axis=0) / np.sum(_taper(BLOCK_PX) ** 2)
    spectrum = _fitted(power, start)
    return None if spectrum is None or spectrum.white == 1.0 else spectrum
