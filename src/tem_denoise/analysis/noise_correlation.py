"""Spatial autocorrelation of the noise of a frame or a movie.

Detector blur (a scintillator's point spread) correlates the noise of neighbouring pixels;
readout electronics add noise constant along a column or a row. Both decide how a network
can learn the noise away: a one-pixel blind spot sees a correlated pixel's noise through its
neighbours (seed 002), a blind region as wide as the correlation does not, and pairs of frames
(Noise2Noise) are immune to any spatial correlation.

The noise is isolated in one of two ways:

* a movie (>= 2 frames): differences of consecutive frames, each pair registered first by an
  integer shift (no interpolation, which would correlate the noise itself); the scene cancels,
  the noise of two independent frames adds, with the same normalised autocorrelation;
* a single frame: the smooth part of its power spectrum (a lattice's sharp peaks removed by a
  median filter), after a wide Gaussian background (sigma :data:`BACKGROUND_SIGMA_PX`) is
  subtracted; see :func:`single_frame_autocorrelation`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from skimage.registration import phase_cross_correlation

from tem_denoise.arrays import as_float32, check_image

MAX_PAIRS = 16
BLOCK_PX = 32
BACKGROUND_SIGMA_PX = 6.0
THRESHOLD = 0.15
"""Normalised correlation below which the noise counts as uncorrelated at a lag."""


@dataclass(frozen=True)
class NoiseCorrelation:
    """Normalised noise autocorrelation around lag 0.

    Attributes
    ----------
    acf : numpy.ndarray
        ``(2 m + 1, 2 m + 1)`` float64, axes (dy, dx) from ``-m`` to ``m`` pixels; 1 at the
        centre (lag 0).
    source : str
        How the noise was isolated (frame differences or the frame's spectrum).
    samples : int
        Noise pixels the estimate is made of.
    """

    acf: np.ndarray
    source: str
    samples: int

    @property
    def max_lag(self) -> int:
        """``m``: the largest lag in pixels."""
        return self.acf.shape[0] // 2

    def at(self, dy: int, dx: int) -> float:
        """Correlation at lag ``(dy, dx)`` pixels."""
        m = self.max_lag
        return float(self.acf[m + dy, m + dx])

    def ring(self, distance: int) -> float:
        """Largest ``|correlation|`` over the lags at Chebyshev distance ``distance`` px."""
        m = self.max_lag
        yy, xx = np.mgrid[-m:m + 1, -m:m + 1]
        return float(np.abs(self.acf[np.maximum(abs(yy), abs(xx)) == distance]).max())

    def length_px(self, threshold: float = THRESHOLD) -> int:
        """Correlation length: the largest lag ``r`` with every ring up to ``r`` at or above
        ``threshold`` (0 for white noise)."""
        length = 0
        for distance in range(1, self.max_lag + 1):
            if self.ring(distance) < threshold:
                break
            length = distance
        return length

    def streaks(self, threshold: float = THRESHOLD) -> str | None:
        """``"columns"`` or ``"rows"`` when the noise stays correlated along that axis beyond 3 px
        (per-column or per-row readout offsets), else None."""
        m = self.max_lag
        along_y = float(np.mean(self.acf[m + 3:, m]))
        along_x = float(np.mean(self.acf[m, m + 3:]))
        if max(along_y, along_x) < threshold:
            return None
        return "columns" if along_y >= along_x else "rows"


def circular_autocorrelation(noise: list[np.ndarray], max_lag: int) -> np.ndarray:
    """Mean circular autocorrelation of zero-mean patches, cropped to ``max_lag``, normalised."""
    total = np.zeros((2 * max_lag + 1, 2 * max_lag + 1))
    for patch in noise:
        patch = patch - patch.mean()
        power = np.abs(np.fft.rfft2(patch)) ** 2
        acf = np.fft.fftshift(np.fft.irfft2(power, s=patch.shape))
        cy, cx = patch.shape[0] // 2, patch.shape[1] // 2
        total += acf[cy - max_lag:cy + max_lag + 1, cx - max_lag:cx + max_lag + 1]
    if total[max_lag, max_lag] <= 0:
        raise ValueError("the image has no noise to measure (constant frames); nothing to diagnose")
    return total / total[max_lag, max_lag]


def _integer_shift(reference: np.ndarray, moving: np.ndarray) -> tuple[int, int]:
    smooth = [ndimage.gaussian_filter(f, 1.0) for f in (reference, moving)]
    shift, _, _ = phase_cross_correlation(*smooth, upsample_factor=1, normalization=None)
    return round(shift[0]), round(shift[1])


def _overlap(a: np.ndarray, b: np.ndarray, shift: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The parts of ``a`` and of ``b`` moved by ``shift`` that cover the same pixels."""
    dy, dx = shift
    h, w = a.shape
    ay, by = (slice(dy, h), slice(0, h - dy)) if dy >= 0 else (slice(0, h + dy), slice(-dy, h))
    ax, bx = (slice(dx, w), slice(0, w - dx)) if dx >= 0 else (slice(0, w + dx), slice(-dx, w))
    return a[ay, ax], b[by, bx]


def frame_difference_noise(stack: np.ndarray, max_pairs: int = MAX_PAIRS) -> list[np.ndarray]:
    """Differences of up to ``max_pairs`` pairs of consecutive frames of a ``(t, y, x)`` stack,
    each pair registered by an integer shift."""
    n = stack.shape[0]
    starts = np.unique(np.linspace(0, n - 2, min(n - 1, max_pairs)).round().astype(int))
    differences = []
    for t in starts:
        first, second = (as_float32(stack[int(i)], "a frame") for i in (t, t + 1))
        a, b = _overlap(first, second, _integer_shift(first, second))
        if min(a.shape) >= 8:
            differences.append(a - b)
    return differences


def single_frame_autocorrelation(frame: np.ndarray, max_lag: int, block: int = BLOCK_PX) -> tuple[np.ndarray, int]:
    """Noise autocorrelation of one (y, x) frame from its smooth part of the power spectrum.

    The frame less a wide Gaussian background is cut into half-overlapping ``block``-pixel
    Hann-windowed blocks whose power spectra are averaged (Welch); a 5 x 5 median filter over
    the spectrum then removes the sharp peaks of a lattice, keeping the smooth spectrum of
    the noise (a detector's blur makes it smooth), whose inverse transform is the
    autocorrelation. Returns the normalised ``(2 max_lag + 1)^2`` autocorrelation and the
    pixels used. Noise constant along whole lines is a line in the spectrum and is filtered
    away too: streaks are measured on movies only.
    """
    frame = as_float32(frame, "the frame")
    block = min(block, *frame.shape) // 2 * 2
    high = frame - ndimage.gaussian_filter(frame, BACKGROUND_SIGMA_PX, mode="reflect")
    window = np.outer(np.hanning(block), np.hanning(block))
    power, pixels = np.zeros((block, block)), 0
    for y in range(0, frame.shape[0] - block + 1, block // 2):
        for x in range(0, frame.shape[1] - block + 1, block // 2):
            patch = high[y:y + block, x:x + block]
            power += np.abs(np.fft.fft2((patch - patch.mean()) * window)) ** 2
            pixels += patch.size
    power = ndimage.median_filter(power, 5, mode="wrap")
    acf = np.fft.fftshift(np.fft.ifft2(power).real)
    c = block // 2
    acf = acf[c - max_lag:c + max_lag + 1, c - max_lag:c + max_lag + 1]
    if acf[max_lag, max_lag] <= 0:
        raise ValueError("the image has no noise to measure (a constant frame); nothing to diagnose")
    return acf / acf[max_lag, max_lag], pixels


def noise_autocorrelation(stack: np.ndarray, max_lag: int = 6) -> NoiseCorrelation:
    """Noise autocorrelation of a (y, x) frame or a (t, y, x) stack.

    Parameters
    ----------
    stack : array_like
        Raw frames (counts or camera units), not filtered.
    max_lag : int
        Largest lag kept, in pixels.

    Returns
    -------
    NoiseCorrelation
        From differences of consecutive frames when there are at least 2, else from the
        frame's spectrum.
    """
    data = check_image(stack, "the stack")
    if data.ndim == 3 and data.shape[0] == 1:
        data = data[0]
    if min(data.shape[-2:]) < 2 * max_lag + 4:
        raise ValueError(f"frames of at least {2 * max_lag + 4} px a side are needed to measure the noise "
                         f"correlation; these are {data.shape[-2:]}")
    if data.ndim == 3:
        noise = frame_difference_noise(data)
        source = f"differences of {len(noise)} pairs of consecutive frames"
        if not noise:
            raise ValueError("the frames move too much between each other to compare them; "
                             "correct the drift first")
        return NoiseCorrelation(circular_autocorrelation(noise, max_lag), source, int(sum(n.size for n in noise)))
    acf, pixels = single_frame_autocorrelation(data, max_lag)
    return NoiseCorrelation(acf, "the smooth part of the frame's power spectrum", pixels)
