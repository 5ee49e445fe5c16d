"""A line profile across atomic columns: the Line-scan contrast dock and ``tem-denoise profile``.

The profile of one frame along a line, averaged over a width, with its Michelson contrast
and the positions and mean spacing of its peaks, in nm when the image is calibrated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from tem_denoise.io import Calibration
from tem_denoise.operations.options import check_limits, option


@dataclass(frozen=True)
class ProfileOptions:
    """The line's width and the unit of its end points and width."""

    line_width: float = option(1.0, "averaging width across the line", minimum=0.01, step=0.5, flag="--width",
                               metavar="WIDTH")
    width_unit: Literal["px", "nm"] = option(
        "px", "unit of the line's end points and width (nm: world position, the image's origin included)",
        flag="--units")

    def __post_init__(self) -> None:
        check_limits(self)


@dataclass
class LineScan:
    """A profile and what is read off it.

    Attributes
    ----------
    profile : LineProfile
        Distances (nm when calibrated, else px) and averaged values.
    peaks : ProfilePeaks
        Peak positions, heights and mean spacing.
    contrast : float
        Michelson contrast of the profile.
    width_px : float
        The averaging width in pixels.
    """

    profile: Any
    peaks: Any
    contrast: float
    width_px: float

    def summary(self) -> str:
        """Length, contrast, peaks and spacing, one line each."""
        unit = self.profile.unit
        lines = [(f"length {self.profile.distance[-1]:.4g} {unit}, {len(self.profile.values)} samples, "
                 f"width {self.width_px:.3g} px"),
                 f"Michelson contrast {self.contrast:.4f}",
                 f"{len(self.peaks.positions)} peaks at " + ", ".join(f"{p:.4g}" for p in self.peaks.positions)
                 + f" {unit}"]
        if len(self.peaks.positions) > 1:
            lines.append(f"mean spacing {self.peaks.mean_spacing:.4g} {unit}")
        return "\n".join(lines)


def line_scan(frame: np.ndarray, calibration: Calibration, start: Any, end: Any,
              options: ProfileOptions) -> LineScan:
    """Profile ``frame`` from ``start`` to ``end`` ((y, x) in ``options.width_unit``).

    Parameters
    ----------
    frame : array_like
        (y, x) image.
    calibration : Calibration
        Of the frame: converts nm end points and widths to pixels and distances to nm.
    start, end : (float, float)
        End points (y, x): pixels, or world nm (origin included) when ``options.width_unit`` is nm.
    options : ProfileOptions
        Width and unit.
    """
    from tem_denoise.analysis import line_profile, michelson_contrast, profile_peaks

    start_px, end_px = np.asarray(start, dtype=np.float64), np.asarray(end, dtype=np.float64)
    width = calibration.to_px(options.line_width, options.width_unit)
    if options.width_unit == "nm":
        start_px, end_px = calibration.world_to_px(np.stack([start_px, end_px]))
    profile = line_profile(frame, tuple(start_px), tuple(end_px), width_px=max(1.0, width),
                           pixel_size_nm=calibration.pixel_size)
    return LineScan(profile, profile_peaks(profile), michelson_contrast(profile.values), width)
