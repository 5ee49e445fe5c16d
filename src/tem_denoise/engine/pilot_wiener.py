"""Empirical Wiener filter with a pilot: the network's restoration sets, window by window, how
much of each spatial frequency of the noisy frame to keep.

The network's output is a good *estimate* of the image's power spectrum even where it is not
the best image: it knows where a lattice puts its reflections and where there is only noise.
The filter keeps, in every window of the noisy frame, the fraction

    W(k) = S(k) / (S(k) + N)

of each frequency ``k``, where ``S`` is the pilot's power in that window and ``N`` the noise's
(the sum of the windowed noise variance, spread over the frequencies like white noise or, for a
camera whose blur correlates the noise, like its measured spectrum:
:mod:`~tem_denoise.physics.noise_spectrum`). This is the second step of BM3D (Dabov
et al., IEEE Trans. Image Process. 16, 2007) with the network as first step and short-time
Fourier windows in place of patch groups (the empirical Wiener filter of Ghael, Sayeed and
Baraniuk, Proc. SPIE 3169, 1997). Short windows keep what is local (point defects, vacuum
beside a crystal, the edge of a particle); a lattice fills many periods of a window, so its
reflections stand far above the noise there and everything between them is removed.

A single window's power spectrum is a noisy estimate of the signal's: where the pilot holds
texture rather than a lattice (amorphous support, contamination in vacuum), its power scatters
from one frequency to the next, and a gain that follows it shapes the noise it lets through
into streaks and fringes (the "musical noise" of spectral filters). Outside a lattice the gain
is therefore set by the pilot's power averaged over :data:`SMOOTH_BINS` ² neighbouring
frequencies; a window whose pilot puts more of its power into reflections (frequencies
:data:`REFLECTION_RATIO` times above that average) than texture would (:data:`LATTICE_SHARE`)
keeps the pilot's own spectrum, whose sharp reflections make the filter's gain on a lattice.

Real STEM frames also carry offsets shared by whole scan rows (and camera frames by columns),
noise that is not white: it puts its power along the ``kx = 0`` (``ky = 0``) line of a
window's spectrum. Its variance is measured from the residual ``noisy - pilot``
(:func:`line_noise`) and added to the noise power there; the part of it a pilot kept is taken
off the pilot's power, so that the filter does not hand stripes on as signal.

Windows are square, on the frame's own grid but as wide in nanometres as at the model's working
sampling when the frame is finer, with sine tapers at half overlap whose squares sum
to one, so a pilot that is the noise-free frame and noise of zero give back the frame. A first
pass in windows of :data:`WINDOW_PX` gathers a lattice's periods; a second one filters what is
left of the frame, in windows of :data:`DETAIL_WINDOW_PX`, by what the pilot holds beyond the
first result, so that detail the large windows averaged away (a vacancy, a dopant) comes back
where the pilot shows it. Each pass takes frame and pilot relative to the pilot's
:data:`OFFSET_PERCENTILE` th percentile, so an offset of the input moves the output the same
way, and a gain changes signal and noise power alike: the output is linear in the input like
the network's. What it changes on the outside benchmark is in docs/restoration.md.

:func:`whole_frame` is the same filter with a single window, the whole frame: one gain for all
of it, from the pilot's cosine transform (the Fourier transform of the frame mirrored at its
edges, so a frame's borders do not wrap onto each other). Over a whole frame a lattice's
reflections stand far higher above the noise than in a window, and everything between them is
removed; a defect, an edge or vacuum beside the lattice are not local to it, so it is offered
only where an unbiased risk estimate can weigh it against the windowed filter, region by
region (:mod:`~tem_denoise.engine.sure_let`).
"""

from __future__ import annotations

import numpy as np
from scipy import fft, ndimage

from tem_denoise.physics.noise_spectrum import NoiseSpectrum

WINDOW_PX = 128
"""Window side of the first pass, in pixels of the model's working sampling (2.56 nm at 20
pm/px; a finer frame gets windows as many of its own pixels wider)."""
DETAIL_WINDOW_PX = 64
"""Window side of the second pass, in pixels of the working sampling (1.28 nm), which keeps
local detail (a point defect) the first pass averaged away: a window a quarter the area holds
four times less noise power per frequency (the window sizes were chosen on the outside
benchmark's validation part, docs/restoration.md)."""
OFFSET_PERCENTILE = 0.5
"""Percentile of the pilot taken as the frame's zero (the vacuum of a dark-field image, the
darkest columns of a bright-field one): a window's mean above it is kept whole, so local
intensities pass the filter."""
SMOOTH_BINS = 5
"""Frequencies (per side) over which the pilot's power is averaged outside a lattice."""
REFLECTION_RATIO = 6.0
"""A frequency counts as a lattice reflection where the pilot's power exceeds this many times
its :data:`SMOOTH_BINS` ² mean. Texture's power scatters about its mean like an exponential
variable, so only (1 + 6) e⁻⁶ ≈ 1.7 % of it lies that high."""
LOWEST_BINS = 2
"""Frequencies within this many bins of zero (a window's mean and slow gradients) are left out
of the share of power in reflections."""
LATTICE_SHARE = (0.03, 0.12)
"""Share of a window's power in reflections below which the smoothed spectrum sets the gain,
and above which the pilot's own spectrum does (linear in between); chosen on the outside
benchmark's validation part and the real Au frame (docs/restoration.md)."""
BYTES_PER_PX = 104
"""Peak working memory of :func:`filter_frame` per frame pixel (tracemalloc on 1024² frames:
95–102 bytes; about 25 float32 copies of the frame)."""
WHOLE_FRAME_SMOOTH_BINS = 3
"""Cosine coefficients (per side) over which :func:`whole_frame` averages the pilot's power: a
reflection between coefficients puts its power into a few neighbours of alternating sign, which
the average joins (1, 3, 5 and 7 were measured on the outside benchmark's validation part, and
3 chosen: docs/restoration.md)."""
MIN_WINDOW_PX = 16
"""Frames narrower than this are left as the pilot."""


def window_for(shape: tuple[int, int], window_px: int = WINDOW_PX) -> int:
    """The window side (px, even) for a frame of ``shape``: ``window_px``, or the largest even
    side that fits a smaller frame; 0 when the frame is narrower than :data:`MIN_WINDOW_PX`."""
    side = min(window_px, *shape) // 2 * 2
    return side if side >= MIN_WINDOW_PX else 0


def _ramp(side: int) -> np.ndarray:
    """``(side,)`` sine ramp whose squares, shifted by half a side, sum to one."""
    return np.sin(np.pi * (np.arange(side) + 0.5) / side)


def _taper(side: int) -> np.ndarray:
    """``(side, side)`` sine taper: the :func:`_ramp` along both axes."""
    ramp = _ramp(side)
    return np.outer(ramp, ramp)


def _padded(image: np.ndarray, half: int) -> np.ndarray:
    """``image`` mirrored by ``half`` px before, and to a whole number of half windows after."""
    h, w = image.shape
    after = (half - h % half) % half + half, (half - w % half) % half + half
    return np.pad(image, ((half, after[0]), (half, after[1])), mode="reflect")


def _blocks(image: np.ndarray, top: int, left: int, side: int) -> tuple[tuple[slice, slice], np.ndarray]:
    """The region of ``image`` tiled by ``(ny, nx, side, side)`` windows that start at
    ``(top, left)`` and touch without overlapping, and those windows (a view)."""
    ny, nx = (image.shape[0] - top) // side, (image.shape[1] - left) // side
    region = (slice(top, top + ny * side), slice(left, left + nx * side))
    return region, image[region].reshape(ny, side, nx, side).transpose(0, 2, 1, 3)


def _signal_power(power: np.ndarray) -> np.ndarray:
    """The signal power spectrum the gain is set by, from the pilot's windowed power
    ``(ny, nx, side, side // 2 + 1)`` (rfft2 layout): the power itself in windows where it shows
    a lattice, its mean over :data:`SMOOTH_BINS` ² neighbouring frequencies elsewhere, blended in
    between by the share of the window's power in reflections (:data:`LATTICE_SHARE`)."""
    smooth = ndimage.uniform_filter(power, (1, 1, SMOOTH_BINS, SMOOTH_BINS),
                                    mode=("nearest", "nearest", "wrap", "nearest"))  # ky wraps in the rfft2 layout
    side = power.shape[2]
    ky, kx = np.fft.fftfreq(side)[:, None] * side, np.arange(power.shape[3])[None, :]
    beyond = np.where(ky**2 + kx**2 > LOWEST_BINS**2, power, 0)
    reflections = np.where(power > REFLECTION_RATIO * smooth, beyond, 0).sum(axis=(2, 3))
    share = reflections / np.maximum(beyond.sum(axis=(2, 3)), 1e-30)
    low, high = LATTICE_SHARE
    weight = np.clip((share - low) / (high - low), 0, 1).astype(np.float32)[:, :, None, None]
    return weight * power + (1 - weight) * smooth


def line_noise(noisy: np.ndarray, pilot: np.ndarray, variance: np.ndarray) -> tuple[float, float]:
    """Variances (units squared) of offsets shared by whole rows and by whole columns of
    ``noisy`` beyond its pixel noise (STEM scan lines, camera columns), from the residual
    ``noisy - pilot``: the level of its line means' power spectrum (the median over
    frequencies, so that lattice rows the pilot missed, which make peaks there, do not count),
    less what the pixel noise puts there; 0 when there is no excess."""
    residual = np.asarray(noisy, np.float64) - pilot
    pixel = float(np.mean(variance))
    levels = []
    for axis in (1, 0):
        means = residual.mean(axis=axis)
        power = np.abs(np.fft.rfft(means - means.mean()))[1:] ** 2 / means.size
        level = float(np.median(power)) / np.log(2) if power.size else 0.0  # the median of an exponential
        levels.append(max(0.0, level - pixel / residual.shape[axis]))
    return levels[0], levels[1]


def significant_lines(noisy: np.ndarray, pilot: np.ndarray, variance: np.ndarray) -> tuple[float, float]:
    """:func:`line_noise`'s variances, each set to 0 unless it reaches the pixel noise's own
    share of a line mean (mean variance / line length): below that, what the measure finds is
    more likely lattice rows the pilot missed than offsets of the scan or the camera."""
    rows, columns = line_noise(noisy, pilot, variance)
    pixel = float(np.mean(variance))
    height, width = np.shape(noisy)
    return (rows if rows > pixel / width else 0.0), (columns if columns > pixel / height else 0.0)


def _line_power(side: int, rows: float, columns: float) -> np.ndarray:
    """``(side, side // 2 + 1)`` windowed noise power (rfft2 layout: ky, kx) of row offsets of
    variance ``rows`` and column offsets of variance ``columns`` under the sine taper: the
    taper's power spectrum along the line times its energy across it."""
    ramp = _ramp(side)
    energy = float(np.sum(ramp**2))
    along_x = np.abs(np.fft.rfft(ramp)) ** 2  # row offsets are constant along x: power near kx = 0
    along_y = np.abs(np.fft.fft(ramp)) ** 2  # column offsets: near ky = 0
    return (energy * (rows * along_x[None, :] + columns * along_y[:, None])).astype(np.float32)


def _stage(noisy: np.ndarray, pilot: np.ndarray, variance: np.ndarray, side: int,
           lines: tuple[float, float] = (0.0, 0.0), noise_spectrum: NoiseSpectrum | None = None) -> np.ndarray:
    """One pass of windows of ``side`` (even, at most the frame's; 0: no pass, the pilot back):
    ``noisy`` filtered by the gain ``pilot``'s spectrum sets, both taken relative to the pilot's
    :data:`OFFSET_PERCENTILE` th percentile (float64), the noise power spread over the
    frequencies by ``noise_spectrum`` (evenly when None). Windows at half overlap form four
    groups that touch without overlapping, each filtered at once."""
    if not side:
        return np.asarray(pilot, np.float64)
    half = side // 2
    offset = float(np.percentile(pilot, OFFSET_PERCENTILE))
    frame = _padded(np.asarray(noisy, np.float32) - np.float32(offset), half)
    guide = _padded(np.asarray(pilot, np.float32) - np.float32(offset), half)
    noise = _padded(np.asarray(variance, np.float32), half)
    taper = _taper(side).astype(np.float32)
    line_power = _line_power(side, *lines)
    shape = np.float32(1.0) if noise_spectrum is None else noise_spectrum.relative_power(side)
    out = np.zeros(frame.shape, np.float64)
    for top in (0, half):
        for left in (0, half):
            region, tiles = _blocks(frame, top, left, side)
            spectrum = fft.rfft2(_blocks(guide, top, left, side)[1] * taper)
            power = _signal_power(spectrum.real**2 + spectrum.imag**2)
            noise_power = np.asarray(np.sum(_blocks(noise, top, left, side)[1] * taper**2, axis=(2, 3)), np.float32)
            power = np.maximum(power - line_power, 0)  # line offsets the pilot kept are noise too
            gain = power / (power + noise_power[:, :, None, None] * shape + line_power + np.float32(1e-30))
            filtered = fft.irfft2(fft.rfft2(tiles * taper) * gain, s=(side, side)) * taper
            out[region] += filtered.transpose(0, 2, 1, 3).reshape(out[region].shape)
    h, w = noisy.shape
    return out[half:half + h, half:half + w] + offset


def windows_for(shape: tuple[int, int], scale: float = 1.0) -> tuple[int, int]:
    """The two passes' window sides (px of the frame) for a frame of ``shape`` and ``scale``
    (see :func:`filter_frame`); 0 for a pass that does not run."""
    return window_for(shape, round(WINDOW_PX * scale)), window_for(shape, round(DETAIL_WINDOW_PX * scale))


def _in_noise_units(noisy: np.ndarray, pilot: np.ndarray, variance: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Frame, pilot and variance (float64) divided by the frame's mean noise standard deviation
    (its range, or 1, without noise), and that unit: the filters work on numbers near one."""
    variance = np.asarray(variance, np.float64)
    unit = float(np.sqrt(np.mean(variance))) or float(np.ptp(pilot)) or 1.0
    return np.asarray(noisy, np.float64) / unit, np.asarray(pilot, np.float64) / unit, variance / unit**2, unit


def filter_frame(noisy: np.ndarray, pilot: np.ndarray, variance: np.ndarray, scale: float = 1.0,
                 spectrum: NoiseSpectrum | None = None) -> np.ndarray:
    """The noisy frame filtered by the Wiener gains the pilot's spectrum sets: windows of
    :data:`WINDOW_PX`, then what the pilot holds beyond that result in windows of
    :data:`DETAIL_WINDOW_PX`, both times ``scale`` (:func:`windows_for`).

    Parameters
    ----------
    noisy : ndarray (y, x)
        The raw frame, in its own units.
    pilot : ndarray (y, x)
        An estimate of the noise-free frame (the network's restoration), same units and grid.
    variance : ndarray (y, x)
        The noise variance of every pixel of ``noisy`` (units squared).
    scale : float
        Frame pixels per pixel of the model's working sampling (the restore adapter's
        ``factor``, ≥ 1), so that a window spans the same nanometres on a finer grid.
    spectrum : NoiseSpectrum, optional
        The shape of the noise power spectrum when a camera's blur correlates the noise
        (:mod:`~tem_denoise.physics.noise_spectrum`); white noise when None.

    Returns
    -------
    ndarray (y, x) float32
        The filtered frame; ``pilot`` itself when the frame is narrower than
        :data:`MIN_WINDOW_PX`.
    """
    noisy, pilot, variance, unit = _in_noise_units(noisy, pilot, variance)
    lines = line_noise(noisy, pilot, variance)
    lattice_side, detail_side = windows_for(noisy.shape, scale)
    lattice = _stage(noisy, pilot, variance, lattice_side, lines, spectrum)
    detail = _stage(noisy - lattice, pilot - lattice, variance, detail_side, lines, spectrum)
    return ((lattice + detail) * unit).astype(np.float32)


def whole_frame(noisy: np.ndarray, pilot: np.ndarray, variance: np.ndarray,
                spectrum: NoiseSpectrum | None = None) -> np.ndarray:
    """The noisy frame filtered by one Wiener gain for the whole frame, set by the pilot's power
    in the orthonormal cosine transform (averaged over :data:`WHOLE_FRAME_SMOOTH_BINS` ²
    neighbouring coefficients) against the frame's mean noise variance, which white noise puts
    into every coefficient (correlated noise by its ``spectrum``); scan-line offsets are held
    back as in :func:`filter_frame`, when they reach the pixel noise's share of a line mean
    (:func:`significant_lines`: over a whole frame a spurious measure would cost the lattice's
    reflections on its axes). Frame and pilot are
    taken relative to the pilot's :data:`OFFSET_PERCENTILE` th percentile, so the output is
    linear in the input.

    Parameters
    ----------
    noisy, pilot, variance : ndarray (y, x)
        The raw frame, an estimate of its noise-free version (same units and grid) and the
        noise variance of every pixel (units squared).
    spectrum : NoiseSpectrum, optional
        The shape of the noise power spectrum when a camera's blur correlates the noise; white
        noise when None.

    Returns
    -------
    ndarray (y, x) float32
    """
    noisy, pilot, variance, unit = _in_noise_units(noisy, pilot, variance)
    rows, columns = significant_lines(noisy, pilot, variance)
    offset = float(np.percentile(pilot, OFFSET_PERCENTILE))
    coefficients = fft.dctn((noisy - offset).astype(np.float32), norm="ortho")
    power = ndimage.uniform_filter(fft.dctn((pilot - offset).astype(np.float32), norm="ortho") ** 2,
                                   WHOLE_FRAME_SMOOTH_BINS, mode="nearest")
    lines = np.zeros_like(power)  # offsets shared by a row are constant along x: all in the kx = 0 column
    lines[:, 0] += np.float32(rows * noisy.shape[1])
    lines[0, :] += np.float32(columns * noisy.shape[0])
    power = np.maximum(power - lines, 0)
    shape = np.float32(1.0) if spectrum is None else spectrum.relative_power_cosine(power.shape)
    gain = power / (power + np.float32(np.mean(variance)) * shape + lines + np.float32(1e-30))
    filtered = fft.idctn(coefficients * gain, norm="ortho")
    return ((filtered + np.float32(offset)) * np.float32(unit)).astype(np.float32)
