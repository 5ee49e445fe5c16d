"""Drift correction of a (t, y, x) stack: the Drift correction dock and ``tem-denoise drift``.

Shifts are estimated on the stack itself (Gaussian pre-filtered) or on another stack with
the same frames (e.g. its denoised copy), or given (a shifts CSV, or the shifts estimated on
another stack), and applied by a sub-pixel Fourier shift or an integer shift cropped to the
common field. The corrected stack keeps the input's calibration; a crop moves its origin.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, replace
from os import PathLike
from pathlib import Path
from typing import Any, Literal

import numpy as np

from tem_denoise.io import Calibration, Stack
from tem_denoise.operations.options import check_limits, option
from tem_denoise.progress import Progress, run_to_end

REFERENCE_LABELS = {"first": "first frame", "previous": "previous frame (cumulative)", "mean": "running mean"}
MODE_LABELS = {"fourier": "Fourier shift (sub-pixel)", "crop": "integer shift, crop to common field"}


@dataclass(frozen=True)
class DriftOptions:
    """How shifts are estimated and applied (see :func:`tem_denoise.analysis.estimate_drift`)."""

    reference: Literal["first", "previous", "mean"] = option(
        "first", "register to the first frame, the previous one (cumulative) or the running mean",
        labels=REFERENCE_LABELS)
    prefilter: float = option(
        1.0, "Gaussian sigma (px) applied before correlating, 0 for none; about the atom-column sigma "
        "works best on raw low-dose frames", minimum=0.0, maximum=50.0, step=0.25, metavar="SIGMA_PX",
        label="pre-filter σ (px)")
    mode: Literal["fourier", "crop"] = option(
        "fourier", "sub-pixel Fourier shift (same size) or integer shift cropped to the common field",
        labels=MODE_LABELS, label="apply by")

    def __post_init__(self) -> None:
        check_limits(self)


@dataclass
class DriftCorrection:
    """Shifts and the corrected stack.

    Attributes
    ----------
    stack : Stack or None
        The corrected stack (None when no frame could be registered).
    shifts : numpy.ndarray
        (t, 2) shifts (dy, dx) in px estimated or given (crop mode applies them rounded).
    origin_px : numpy.ndarray
        (2,) input pixel (y, x) of the corrected stack's pixel (0, 0) (non-zero after a crop).
    calibration : Calibration
        Of the input; shifts are reported in its nm.
    estimate : DriftResult or None
        The estimation's details (None when the shifts were given).
    shifts_from : str
        Name of the stack (or file) the shifts were estimated on.
    """

    stack: Stack | None
    shifts: np.ndarray
    origin_px: np.ndarray
    calibration: Calibration
    estimate: Any
    shifts_from: str

    @property
    def registered(self) -> bool:
        """False when every frame after the first failed to register (nothing corrected)."""
        return self.stack is not None

    def table(self) -> dict[str, np.ndarray]:
        """Shifts as columns frame, shift_y_px, shift_x_px[, shift_y_nm, shift_x_nm][, quality...]."""
        from tem_denoise.analysis.drift import shift_table

        if self.estimate is not None and np.array_equal(self.shifts, self.estimate.shifts):
            return self.estimate.to_table(self.calibration.pixel_size)
        return shift_table(self.shifts, self.calibration.pixel_size)

    def write_shifts(self, path: str | PathLike) -> None:
        """Write :meth:`table` as CSV (read back by :func:`~tem_denoise.analysis.read_shifts_csv`)."""
        from tem_denoise.analysis import write_csv

        write_csv(path, self.table())

    def summary(self) -> str:
        """Largest drift (nm when calibrated), failures and re-based references; one line each."""
        drift = np.hypot(self.shifts[:, 0], self.shifts[:, 1])
        largest = float(drift.max())
        text = f"{largest:.2f} px"
        if self.calibration.calibrated:
            text = f"{self.calibration.to_user(largest):.3f} nm ({largest:.2f} px)"
        lines = [f"{len(self.shifts)} frames; largest drift {text}; last frame {drift[-1]:.2f} px"]
        if self.estimate is not None:
            if self.estimate.failed.any():
                lines.append(f"{int(self.estimate.failed.sum())} frame(s) failed and were interpolated")
            if len(self.estimate.rebased_at):
                lines.append(f"reference re-based at frame(s) {', '.join(map(str, self.estimate.rebased_at))}")
            lines += [f"⚠ {warning}" for warning in self.estimate.warnings]
        return "\n".join(lines)


class NotRegistered(ValueError):
    """No frame after the first could be registered: there is no corrected stack to write."""


def shifts_path(output: str | PathLike) -> Path:
    """Where the shifts of a corrected stack go: ``OUT_shifts.csv`` beside ``OUT.tif``."""
    output = Path(output)
    return output.with_name(f"{output.stem}_shifts.csv")


def write_correction(result: DriftCorrection, output: str | PathLike, inputs: Any = (), **extra: Any
                     ) -> tuple[Path, Path]:
    """Write the shifts CSV (:func:`shifts_path`), then the corrected stack as a calibrated TIFF.

    Each file is written atomically and neither may be one of ``inputs``; the TIFF comes last, so
    its presence means both are complete. ``extra`` goes into the TIFF's provenance record.

    Raises
    ------
    NotRegistered
        When no frame registered (``result.stack`` is None): nothing is written.
    """
    from tem_denoise import io
    from tem_denoise.outputs import refuse_inputs

    if result.stack is None:
        reason = result.estimate.warnings[0] if result.estimate is not None and result.estimate.warnings else ""
        raise NotRegistered(f"no drift could be measured; nothing written. {reason}".strip())
    csv = shifts_path(output)
    refuse_inputs([output, csv], [result.stack.provenance.get("source"), *inputs])
    result.write_shifts(csv)
    return io.write(result.stack, Path(output), inputs=inputs, **extra), csv


def check_same_frames(stack: Stack, other: Stack, what: str) -> None:
    """Refuse ``other`` unless its frames match ``stack``'s shape."""
    if tuple(other.shape) != tuple(stack.shape):
        raise ValueError(f"'{other.name}' has shape {other.shape} but '{stack.name}' has {stack.shape}; "
                         f"{what} a stack with the same frames")


def iter_correct_drift(stack: Stack, options: DriftOptions, *, estimate_on: Stack | None = None,
                       shifts: np.ndarray | None = None, shifts_from: str | None = None
                       ) -> Generator[Progress, None, DriftCorrection]:
    """Estimate the drift of ``stack`` (or use ``shifts``) and correct it, yielding per frame.

    Parameters
    ----------
    stack : Stack
        (t, y, x) stack to correct.
    options : DriftOptions
        Reference, pre-filter and how shifts are applied.
    estimate_on : Stack, optional
        Estimate on this stack instead (same frames), e.g. the denoised copy.
    shifts : numpy.ndarray, optional
        (t, 2) shifts (dy, dx) in px to apply instead of estimating them.
    shifts_from : str, optional
        Where ``shifts`` came from, for the provenance.

    Returns
    -------
    DriftCorrection
        Its ``stack`` is None (nothing applied) when no frame after the first registered.

    The inputs' shapes are checked when this is called, before any work.
    """
    if not stack.is_stack:
        raise ValueError(f"'{stack.name}' is a single image; drift correction needs a (t, y, x) stack")
    if shifts is None and estimate_on is not None:
        check_same_frames(stack, estimate_on, "estimate on")
    if shifts is not None and len(shifts) != stack.n_frames:
        raise ValueError(f"'{stack.name}' has {stack.n_frames} frames but the shifts cover {len(shifts)}; "
                         "pick a stack with the same frames")
    return _iter_correct_drift(stack, options, estimate_on, shifts, shifts_from)


def _iter_correct_drift(stack: Stack, options: DriftOptions, estimate_on: Stack | None,
                        shifts: np.ndarray | None, shifts_from: str | None
                        ) -> Generator[Progress, None, DriftCorrection]:
    from tem_denoise.analysis import iter_apply_shifts, iter_estimate_drift

    estimate = None
    if shifts is None:
        source = estimate_on or stack
        estimate = yield from iter_estimate_drift(
            stack.data, reference=options.reference, prefilter_sigma_px=options.prefilter or None,
            estimate_on=None if estimate_on is None else estimate_on.data)
        shifts, shifts_from = estimate.shifts, source.name
        if len(estimate.failed) > 1 and estimate.failed[1:].all():
            return DriftCorrection(None, shifts, np.zeros(2), stack.calibration, estimate, shifts_from)
    corrected = yield from iter_apply_shifts(stack.data, shifts, mode=options.mode)
    step = {"operation": "drift correction", "estimated_on": shifts_from or stack.name, "mode": options.mode,
            "reference": options.reference if estimate is not None else None,
            "prefilter_sigma_px": (options.prefilter or None) if estimate is not None else None,
            "origin_px": corrected.origin_px.tolist()}
    out = stack.derive(corrected.data, f"{stack.name} (drift-corrected)", step)
    translate = np.array(stack.translate, dtype=np.float64)
    translate[-2:] += corrected.origin_px * np.asarray(stack.scale[-2:], dtype=np.float64)
    out = replace(out, translate=tuple(float(v) for v in translate))
    return DriftCorrection(out, np.asarray(shifts, dtype=np.float64), corrected.origin_px,
                           stack.calibration, estimate, shifts_from or stack.name)


def correct_drift(stack: Stack, options: DriftOptions, **kwargs: Any) -> DriftCorrection:
    """:func:`iter_correct_drift` run to the end."""
    return run_to_end(iter_correct_drift(stack, options, **kwargs))
