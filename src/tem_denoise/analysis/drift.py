"""Drift correction of (t, y, x) time series by sub-pixel phase cross-correlation.

Seed 002 (Lee et al.) registers HRTEM series with the Guizar-Sicairos algorithm
(``skimage.registration.phase_cross_correlation``) *after a first denoise*, because raw
low-dose frames defeat the correlation. Here the shifts can be estimated on a Gaussian
pre-filtered copy or on any other array of the same shape (e.g. a denoised layer) and then
applied to the raw data.

Sign convention: ``shifts[t] = (dy, dx)`` in pixels is the translation that, applied to frame
``t`` (as by ``scipy.ndimage.shift``), registers it onto the grid of frame 0. If the specimen
content of frame ``t`` has moved by ``d`` pixels relative to frame 0, ``shifts[t] == -d``;
:attr:`DriftResult.drift` gives ``d``.
"""

from __future__ import annotations

import warnings
from collections.abc import Generator
from dataclasses import dataclass
from os import PathLike
from typing import Literal

import numpy as np
from scipy import ndimage as ndi
from skimage.filters import window as make_window
from skimage.registration import phase_cross_correlation

from tem_denoise.arrays import as_float32, check_image
from tem_denoise.memory import require, require_frame
from tem_denoise.progress import Progress, run_to_end

from .table import Table, read_csv, write_csv

Reference = Literal["first", "previous", "mean"]
_REFERENCES = ("first", "previous", "mean")


_ADVICE = ("Estimate the shifts on a denoised copy (CLI --estimate-on FILE, dock 'estimate on') "
           "or raise the pre-filter (CLI --prefilter SIGMA_PX, dock 'pre-filter σ (px)').")
"""What helps when frames fail to correlate, in the words of both the CLI and the dock."""


class DriftWarning(UserWarning):
    """Correlation failed for some frames; their shifts were interpolated."""


@dataclass(frozen=True)
class DriftResult:
    """Per-frame shifts estimated by :func:`estimate_drift`.

    Attributes
    ----------
    shifts : numpy.ndarray
        (t, 2) float64, (dy, dx) in pixels to apply to each frame to register it onto
        frame 0. Frame 0 is (0, 0). Frames whose correlation failed hold values
        interpolated from their neighbours.
    significance : numpy.ndarray
        (t,) float64 correlation quality: height of the cross-correlation peak in units of
        the standard deviation expected at that shift if the two frames were unrelated
        but had the same power spectra (a z-score). NaN for frame 0. Lattice images whose
        power sits in a few Bragg reflections score low (around 3-5) even when correct.
    consistent : numpy.ndarray
        (t,) bool, True where the left and right frame halves, correlated separately,
        found the whole-frame peak again (within 2 px).
    failed : numpy.ndarray
        (t,) bool, True where the significance was below the threshold and the halves
        were not consistent.
    rebased_at : numpy.ndarray
        Frame indices at which the reference was replaced by the current frame.
    reference : str
        The reference mode used.
    warnings : tuple of str
        Messages also emitted as :class:`DriftWarning`.
    """

    shifts: np.ndarray
    significance: np.ndarray
    consistent: np.ndarray
    failed: np.ndarray
    rebased_at: np.ndarray
    reference: str
    warnings: tuple[str, ...]

    @property
    def drift(self) -> np.ndarray:
        """(t, 2) specimen displacement (dy, dx) in pixels relative to frame 0."""
        return -self.shifts

    def to_table(self, pixel_size_nm: float | tuple[float, float] | None = None) -> Table:
        """Return the shifts as a column table (frame, shift_y_px, shift_x_px, ...).

        Parameters
        ----------
        pixel_size_nm : float or (float, float), optional
            Pixel size (y, x) in nm; when given, ``shift_y_nm`` and ``shift_x_nm`` are added.

        Returns
        -------
        dict[str, numpy.ndarray]
            Columns ``frame``, ``shift_y_px``, ``shift_x_px``, optionally ``shift_y_nm``,
            ``shift_x_nm``, then ``significance``, ``consistent`` and ``failed``.
        """
        table = shift_table(self.shifts, pixel_size_nm)
        table["significance"] = self.significance
        table["consistent"] = self.consistent
        table["failed"] = self.failed
        return table


@dataclass(frozen=True)
class CorrectedStack:
    """Output of :func:`apply_shifts`.

    Attributes
    ----------
    data : numpy.ndarray
        (t, y', x') drift-corrected stack.
    origin_px : numpy.ndarray
        (2,) position (y, x) in pixels of ``data[:, 0, 0]`` in the input pixel grid. Add
        ``origin_px * scale`` to the layer's ``translate`` to keep it registered in world
        coordinates. Zero for Fourier mode.
    shifts : numpy.ndarray
        (t, 2) shifts actually applied (rounded to integers in crop mode).
    """

    data: np.ndarray
    origin_px: np.ndarray
    shifts: np.ndarray


BYTES_PER_PIXEL = 64
"""Working memory of drift estimation per frame pixel: float64 frames and complex128 spectra."""


def _check_stack(stack: object, name: str) -> tuple[int, int, int]:
    """Shape of a (t, y, x) stack of real numbers with frames of at least 8 px, checked for memory."""
    shape = tuple(check_image(stack, name, ndims=(3,)).shape)
    if min(shape[1:]) < 8:
        raise ValueError(f"{name} frames of shape {shape[1:]} are too small to register (need >= 8 px)")
    require_frame(shape, BYTES_PER_PIXEL, "drift correction")
    return shape  # type: ignore[return-value]


def _frame(stack: object, t: int, sigma: float | None) -> np.ndarray:
    """Frame ``t`` as float64, NaN/Inf refused, optionally Gaussian-filtered (sigma in px)."""
    frame = as_float32(stack[t], f"frame {t}").astype(np.float64)  # type: ignore[index]
    if sigma:
        frame = ndi.gaussian_filter(frame, sigma)
    return frame


_HALF_AGREEMENT_PX = 2.0


class _Correlator:
    """Windowed cross-correlation of whole frames and of their left and right halves.

    The significance of the whole-frame peak is its height over the standard deviation
    expected at that shift for unrelated frames with the same spectra (random relative
    phases; by Parseval the mean square of the correlation over all shifts, scaled by the
    window overlap at that shift). Frames dominated by a few Bragg reflections score low
    on it, so a frame also counts as registered when both halves, correlated on their
    own, find the whole-frame peak again: unrelated frames agree that way by chance with
    a probability of well under 1e-5.
    """

    def __init__(self, shape: tuple[int, int], window: str | tuple, normalization: str | None):
        ny, nx = shape
        self.normalization = normalization
        self.parts = [(slice(None), slice(None))]
        if nx >= 32:
            self.parts += [(slice(None), slice(0, nx // 2)), (slice(None), slice(nx // 2, None))]
        self.windows = []
        self.overlaps = []
        for part in self.parts:
            part_shape = (ny, len(range(nx)[part[1]]))
            win = make_window(window, part_shape)
            spectrum = np.fft.fft2(win**2)
            overlap = np.fft.ifft2(spectrum * np.conj(spectrum)).real
            self.windows.append(win)
            self.overlaps.append(overlap / overlap.mean())

    def spectra(self, frame: np.ndarray) -> list[np.ndarray]:
        """FFTs of the mean-subtracted, windowed whole frame and halves."""
        out = []
        for part, win in zip(self.parts, self.windows, strict=True):
            piece = frame[part]
            out.append(np.fft.fft2((piece - piece.mean()) * win))
        return out

    def _peak(self, ref: np.ndarray, mov: np.ndarray, overlap: np.ndarray) -> tuple[float, np.ndarray]:
        cross = ref * np.conj(mov)
        if self.normalization == "phase":
            cross = cross / np.maximum(np.abs(cross), np.finfo(float).tiny)
        correlation = np.fft.ifft2(cross).real
        null_std = np.sqrt(np.sum(np.abs(cross) ** 2)) / cross.size
        if null_std == 0.0:
            return 0.0, np.zeros(2)
        z_map = np.where(overlap > 0.3, correlation / (null_std * np.sqrt(np.maximum(overlap, 0.05))), -np.inf)
        peak = np.array(np.unravel_index(np.argmax(correlation), correlation.shape))
        best = np.array(np.unravel_index(np.argmax(z_map), z_map.shape))
        shape = np.array(correlation.shape)
        signed = np.where(best > shape // 2, best - shape, best)
        return float(z_map[tuple(peak)]) if np.isfinite(z_map[tuple(peak)]) else 0.0, signed

    def compare(self, ref: list[np.ndarray], mov: list[np.ndarray]) -> tuple[float, bool]:
        """Significance of the whole-frame peak and whether both halves find it again."""
        results = [self._peak(r, m, o) for r, m, o in zip(ref, mov, self.overlaps, strict=True)]
        significance, whole = results[0]
        halves_agree = len(results) == 3 and all(
            np.hypot(*(shift - whole)) <= _HALF_AGREEMENT_PX for _, shift in results[1:]
        )
        return significance, halves_agree


def _shift_frame(frame: np.ndarray, shift: np.ndarray) -> np.ndarray:
    spectrum = np.fft.rfft2(frame)
    moved = ndi.fourier_shift(spectrum, shift, n=frame.shape[1])
    return np.fft.irfft2(moved, s=frame.shape)


def _interpolate_failed(shifts: np.ndarray, failed: np.ndarray) -> np.ndarray:
    frames = np.arange(len(shifts))
    good = ~failed
    return np.stack(
        [np.interp(frames, frames[good], shifts[good, axis]) for axis in range(2)], axis=1
    )


def iter_estimate_drift(
    stack: np.ndarray,
    *,
    reference: Reference = "first",
    estimate_on: np.ndarray | None = None,
    prefilter_sigma_px: float | None = None,
    upsample_factor: int = 20,
    rebase_threshold_px: float | None = None,
    min_significance: float | None = None,
    normalization: Literal["phase"] | None = None,
    window: str | tuple = ("tukey", 0.25),
) -> Generator[Progress, None, DriftResult]:
    """Estimate drift frame by frame, yielding progress; returns a :class:`DriftResult`.

    Parameters
    ----------
    stack : array_like
        (t, y, x) time series (numpy, dask or memmap; read one frame at a time). Frames
        with NaN/Inf pixels are refused (see :func:`tem_denoise.arrays.fill_non_finite`).
    reference : {"first", "previous", "mean"}
        Register each frame to frame 0, to the previous frame (shifts accumulate), or to
        the running mean of the frames registered so far.
    estimate_on : array_like, optional
        (t, y, x) array of the same shape as ``stack`` on which the correlation is computed
        instead, e.g. a denoised copy (seed 002 registers after a first denoise).
    prefilter_sigma_px : float, optional
        Gaussian sigma in pixels applied to each frame (of ``estimate_on`` if given) before
        correlation. Half to one atom-column sigma works best in
        ``benchmarks/drift_accuracy.py`` (e.g. 0.05 px RMS at 5 e-/px/frame with sigma 1 px
        on 2 px columns, against 0.28 px without it).
    upsample_factor : int
        Sub-pixel precision 1/upsample_factor px (DFT upsampling of Guizar-Sicairos et al.).
        Default 20 (0.05 px) is our choice; the paper does not state one.
    rebase_threshold_px : float, optional
        For "first" and "mean": when a frame's shift relative to the current reference
        exceeds this length, that frame becomes the new reference (its accumulated shift is
        carried over), so the overlap stays large. Default 10 % of the smaller frame side
        (our choice). ``numpy.inf`` disables it.
    min_significance : float, optional
        Frames whose correlation peak is less significant than this z-score, and whose
        left and right halves do not find the same shift on their own (frames at least
        32 px wide), are marked failed, excluded from the reference and given shifts
        interpolated from their neighbours. Default ``sqrt(2 ln(N / 1e-3))`` for N pixels
        per frame: unrelated frames exceed it with probability of about 1e-3 (about 6.0
        for 256 x 256).
    normalization : {None, "phase"}
        Plain cross-correlation (default, robust at low dose) or phase correlation.
    window : str or tuple
        Radial window applied before the FFT (``skimage.filters.window``) so that the frame
        edges do not correlate. Default ``("tukey", 0.25)`` (our choice: in
        ``benchmarks/drift_accuracy.py`` it beat Hann, which discards more of the frame,
        and no window, which biases shifts towards zero at high dose).

    Yields
    ------
    Progress
        One record per registered frame.

    Returns
    -------
    DriftResult
        Shifts, per-frame significance and failure flags.

    Notes
    -----
    Shifts of a periodic lattice are only defined modulo a lattice vector; the window and
    any non-periodic content (particle edges, support, defects) break the tie. Below about
    1-2 e-/px/frame a crystalline specimen can occasionally be registered one lattice
    vector off without being flagged; estimate on a denoised copy in that regime.
    """
    shape = _check_stack(stack, "stack")
    if reference not in _REFERENCES:
        raise ValueError(f"reference must be one of {_REFERENCES}; got {reference!r}")
    if normalization not in (None, "phase"):
        raise ValueError(f"normalization must be None or 'phase'; got {normalization!r}")
    if int(upsample_factor) < 1:
        raise ValueError(f"upsample_factor must be a positive integer; got {upsample_factor}")
    if prefilter_sigma_px is not None and prefilter_sigma_px < 0:
        raise ValueError(f"prefilter_sigma_px must be >= 0; got {prefilter_sigma_px}")
    source = stack
    if estimate_on is not None:
        if tuple(estimate_on.shape) != shape:
            raise ValueError(
                f"estimate_on has shape {tuple(estimate_on.shape)} but stack has {shape}; "
                "they must match frame for frame (crop or pad the denoised copy first)"
            )
        source = estimate_on
    n_frames, ny, nx = shape
    rebase = 0.1 * min(ny, nx) if rebase_threshold_px is None else float(rebase_threshold_px)
    threshold = (
        np.sqrt(2.0 * np.log(ny * nx / 1e-3)) if min_significance is None else float(min_significance)
    )

    correlator = _Correlator((ny, nx), window, normalization)
    shifts = np.zeros((n_frames, 2))
    significance = np.full(n_frames, np.nan)
    consistent = np.zeros(n_frames, dtype=bool)
    failed = np.zeros(n_frames, dtype=bool)
    rebased: list[int] = []

    base = _frame(source, 0, prefilter_sigma_px)
    base_count = 1
    base_offset = np.zeros(2)
    base_spectra = correlator.spectra(base)
    yield Progress(1, n_frames, "drift")
    for t in range(1, n_frames):
        moving = _frame(source, t, prefilter_sigma_px)
        mov_spectra = correlator.spectra(moving)
        significance[t], consistent[t] = correlator.compare(base_spectra, mov_spectra)
        if significance[t] < threshold and not consistent[t]:
            failed[t] = True
            yield Progress(t + 1, n_frames, "drift")
            continue
        relative = phase_cross_correlation(
            base_spectra[0],
            mov_spectra[0],
            space="fourier",
            upsample_factor=int(upsample_factor),
            normalization=normalization,
        )[0]
        shifts[t] = base_offset + relative
        too_far = np.hypot(*relative) > rebase
        if reference == "previous" or too_far:
            if reference != "previous":
                rebased.append(t)
            base, base_count, base_offset = moving, 1, shifts[t].copy()
            base_spectra = correlator.spectra(base)
        elif reference == "mean":
            aligned = _shift_frame(moving, relative)
            base = (base * base_count + aligned) / (base_count + 1)
            base_count += 1
            base_spectra = correlator.spectra(base)
        yield Progress(t + 1, n_frames, "drift")

    messages: list[str] = []
    if failed.any():
        bad = np.flatnonzero(failed)
        listed = ", ".join(map(str, bad[:20])) + (" ..." if len(bad) > 20 else "")
        if failed[1:].all():
            messages.append(
                f"drift correlation failed for every frame (peak significance below "
                f"{threshold:.1f} and frame halves disagreeing); no drift could be measured. "
                f"The frames look like pure noise. {_ADVICE}"
            )
        else:
            messages.append(
                f"drift correlation failed for {len(bad)} of {n_frames} frames ({listed}); "
                f"their shifts were interpolated from neighbouring frames. {_ADVICE}"
            )
        shifts = _interpolate_failed(shifts, failed)
    for message in messages:
        warnings.warn(message, DriftWarning, stacklevel=2)
    return DriftResult(
        shifts=shifts,
        significance=significance,
        consistent=consistent,
        failed=failed,
        rebased_at=np.asarray(rebased, dtype=np.int64),
        reference=reference,
        warnings=tuple(messages),
    )


def estimate_drift(stack: np.ndarray, **kwargs) -> DriftResult:
    """Estimate per-frame drift of a (t, y, x) stack; see :func:`iter_estimate_drift`.

    Parameters
    ----------
    stack : array_like
        (t, y, x) time series.
    **kwargs
        Keyword arguments of :func:`iter_estimate_drift`.

    Returns
    -------
    DriftResult
        Shifts in pixels, significance and failure flags.
    """
    return run_to_end(iter_estimate_drift(stack, **kwargs))


def _check_shifts(shifts: np.ndarray, n_frames: int) -> np.ndarray:
    shifts = np.asarray(shifts, dtype=np.float64)
    if shifts.shape != (n_frames, 2):
        raise ValueError(
            f"shifts must have shape ({n_frames}, 2) to match the stack's {n_frames} frames; "
            f"got {shifts.shape}. Shifts estimated on a stack with fewer frames (e.g. a "
            "denoised output without its first and last frame) need the matching frames of "
            "the other stack."
        )
    if not np.all(np.isfinite(shifts)):
        raise ValueError("shifts contain NaN or inf")
    return shifts


def iter_apply_shifts(
    stack: np.ndarray,
    shifts: np.ndarray,
    *,
    mode: Literal["fourier", "crop"] = "fourier",
    fill_value: float = 0.0,
    dtype: np.dtype | type | None = None,
) -> Generator[Progress, None, CorrectedStack]:
    """Apply per-frame shifts, yielding progress; returns a :class:`CorrectedStack`.

    Parameters
    ----------
    stack : array_like
        (t, y, x) stack to correct (may differ from the one the shifts were estimated on,
        e.g. raw data corrected with shifts estimated on its denoised copy). Frames with
        NaN/Inf pixels are refused in both modes, since a Fourier shift would spread them
        over the whole frame (see :func:`tem_denoise.arrays.fill_non_finite`).
    shifts : array_like
        (t, 2) shifts (dy, dx) in pixels, as in :attr:`DriftResult.shifts`.
    mode : {"fourier", "crop"}
        "fourier": sub-pixel Fourier shift, same shape; pixels that wrapped around the
        frame edge are set to ``fill_value``; if the input has no negative values the
        output is clipped at 0 (Fourier ringing). "crop": shifts rounded to integers, no
        interpolation, frames cropped to the field of view common to all frames.
    fill_value : float
        Value of uncovered border pixels in Fourier mode.
    dtype : numpy dtype, optional
        Output dtype. Default float32 in Fourier mode and the input dtype in crop mode. An
        integer dtype rounds and clips to its range.

    Yields
    ------
    Progress
        One record per frame.

    Returns
    -------
    CorrectedStack
        Corrected data, the position of its origin in input pixels and the shifts applied.
    """
    n_frames, ny, nx = _check_stack(stack, "stack")
    shifts = _check_shifts(shifts, n_frames)
    if mode == "crop":
        return (yield from _iter_crop(stack, shifts, dtype))
    if mode != "fourier":
        raise ValueError(f"mode must be 'fourier' or 'crop'; got {mode!r}")
    out_dtype = np.dtype(np.float32 if dtype is None else dtype)
    out = _allocate((n_frames, ny, nx), out_dtype)
    for t in range(n_frames):
        frame = _frame(stack, t, None)
        moved = _shift_frame(frame, shifts[t])
        if frame.min() >= 0:
            np.maximum(moved, 0.0, out=moved)
        _fill_wrapped(moved, shifts[t], fill_value)
        out[t] = _cast(moved, out_dtype)
        yield Progress(t + 1, n_frames, "apply shifts")
    return CorrectedStack(data=out, origin_px=np.zeros(2), shifts=shifts)


def _fill_wrapped(frame: np.ndarray, shift: np.ndarray, fill_value: float) -> None:
    for axis, value in enumerate(shift):
        width = min(int(np.ceil(abs(value))), frame.shape[axis])
        if width == 0:
            continue
        index = [slice(None), slice(None)]
        index[axis] = slice(0, width) if value > 0 else slice(frame.shape[axis] - width, None)
        frame[tuple(index)] = fill_value


def _cast(frame: np.ndarray, dtype: np.dtype) -> np.ndarray:
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return np.clip(np.rint(frame), info.min, info.max).astype(dtype)
    return frame.astype(dtype)


def _allocate(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """The corrected stack's output array, after checking that it fits in memory."""
    require(float(np.prod(shape, dtype=np.float64)) * dtype.itemsize, "the corrected stack",
            "correct a shorter part of the series, or crop the frames")
    return np.empty(shape, dtype=dtype)


def _iter_crop(
    stack: np.ndarray, shifts: np.ndarray, dtype: np.dtype | type | None
) -> Generator[Progress, None, CorrectedStack]:
    n_frames, ny, nx = stack.shape
    integer = np.rint(shifts).astype(np.int64)
    start = integer.max(axis=0)
    stop = np.array([ny, nx]) + integer.min(axis=0)
    size = stop - start
    if np.any(size <= 0):
        raise ValueError(
            f"the drift range {integer.min(axis=0)}..{integer.max(axis=0)} px leaves no field "
            f"of view common to all frames of {ny} x {nx} px; use mode='fourier' or correct "
            "a shorter part of the series"
        )
    out_dtype = np.dtype(np.asarray(stack[0]).dtype if dtype is None else dtype)
    out = _allocate((n_frames, *size), out_dtype)
    for t in range(n_frames):
        y0, x0 = start - integer[t]
        out[t] = _cast(_frame(stack, t, None)[y0 : y0 + size[0], x0 : x0 + size[1]], out_dtype)
        yield Progress(t + 1, n_frames, "apply shifts")
    return CorrectedStack(data=out, origin_px=start.astype(np.float64), shifts=integer.astype(np.float64))


def apply_shifts(stack: np.ndarray, shifts: np.ndarray, **kwargs) -> CorrectedStack:
    """Apply per-frame shifts to a stack; see :func:`iter_apply_shifts`.

    Parameters
    ----------
    stack : array_like
        (t, y, x) stack.
    shifts : array_like
        (t, 2) shifts (dy, dx) in pixels.
    **kwargs
        ``mode``, ``fill_value``, ``dtype`` of :func:`iter_apply_shifts`.

    Returns
    -------
    CorrectedStack
        Corrected data, origin in input pixels, shifts applied.
    """
    return run_to_end(iter_apply_shifts(stack, shifts, **kwargs))


def transform_points(
    points: np.ndarray,
    shifts: np.ndarray,
    origin_px: np.ndarray | tuple[float, float] = (0.0, 0.0),
    *,
    inverse: bool = False,
) -> np.ndarray:
    """Map (frame, y, x) pixel coordinates between raw and drift-corrected stacks.

    Parameters
    ----------
    points : array_like
        (n, 3) rows of (frame index, y, x) in pixels of the raw stack (or of the corrected
        stack if ``inverse``).
    shifts : array_like
        (t, 2) shifts that were applied (:attr:`CorrectedStack.shifts`).
    origin_px : (float, float)
        :attr:`CorrectedStack.origin_px`.
    inverse : bool
        Map corrected coordinates back to raw ones.

    Returns
    -------
    numpy.ndarray
        (n, 3) float64 transformed coordinates; the frame column is unchanged.
    """
    points = np.asarray(points, dtype=np.float64)
    shifts = np.asarray(shifts, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 3:
        raise ValueError(f"points must be (n, 3) rows of (frame, y, x); got shape {points.shape}")
    frames = points[:, 0].astype(np.int64)
    if np.any(frames != points[:, 0]) or np.any(frames < 0) or np.any(frames >= len(shifts)):
        raise ValueError(f"the frame column must hold integer indices in [0, {len(shifts)})")
    offset = shifts[frames] - np.asarray(origin_px, dtype=np.float64)
    out = points.copy()
    out[:, 1:] += -offset if inverse else offset
    return out


def shift_table(shifts: np.ndarray, pixel_size_nm: float | tuple[float, float] | None) -> Table:
    """(t, 2) pixel shifts as columns frame, shift_y_px, shift_x_px (and shift_y_nm, shift_x_nm)."""
    table: Table = {
        "frame": np.arange(len(shifts)),
        "shift_y_px": shifts[:, 0],
        "shift_x_px": shifts[:, 1],
    }
    if pixel_size_nm is not None:
        size = np.broadcast_to(np.asarray(pixel_size_nm, dtype=np.float64), (2,))
        table["shift_y_nm"] = shifts[:, 0] * size[0]
        table["shift_x_nm"] = shifts[:, 1] * size[1]
    return table


def write_shifts_csv(
    path: str | PathLike,
    shifts: DriftResult | np.ndarray,
    pixel_size_nm: float | tuple[float, float] | None = None,
) -> None:
    """Write shifts to CSV (columns frame, shift_y_px, shift_x_px[, _nm][, significance, failed]).

    Parameters
    ----------
    path : str or PathLike
        Output file.
    shifts : DriftResult or array_like
        A drift result or a (t, 2) array of (dy, dx) pixel shifts.
    pixel_size_nm : float or (float, float), optional
        Adds columns in nm when given.
    """
    if isinstance(shifts, DriftResult):
        write_csv(path, shifts.to_table(pixel_size_nm))
        return
    array = np.asarray(shifts, dtype=np.float64)
    write_csv(path, shift_table(_check_shifts(array, len(array)), pixel_size_nm))


def read_shifts_csv(path: str | PathLike) -> np.ndarray:
    """Read a (t, 2) array of pixel shifts from a CSV written by :func:`write_shifts_csv`.

    Parameters
    ----------
    path : str or PathLike
        CSV with columns ``shift_y_px`` and ``shift_x_px`` (and optionally ``frame``).

    Returns
    -------
    numpy.ndarray
        (t, 2) float64 shifts (dy, dx) in pixels, ordered by frame.

    Raises
    ------
    ValueError
        If the columns are missing or the frame column is not 0..t-1.
    """
    table = read_csv(path)
    missing = {"shift_y_px", "shift_x_px"} - set(table)
    if missing:
        raise ValueError(f"{path} lacks the column(s) {sorted(missing)}; found {sorted(table)}")
    shifts = np.stack([table["shift_y_px"], table["shift_x_px"]], axis=1).astype(np.float64)
    if "frame" in table:
        order = np.argsort(table["frame"])
        if not np.array_equal(table["frame"][order], np.arange(len(shifts))):
            raise ValueError(f"{path}: the frame column must list each frame 0..{len(shifts) - 1} once")
        shifts = shifts[order]
    return _check_shifts(shifts, len(shifts))
