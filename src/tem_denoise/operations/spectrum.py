"""Power spectrum of a frame with its Bragg peaks: the Power spectrum (FFT) dock.

The spectrum of the frame (or a rectangle of it) in 1/nm when the image is calibrated,
Bragg peaks standing out of its radial background, and a text listing the distinct
d-spacings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from tem_denoise.io import Calibration
from tem_denoise.operations.options import check_limits, option

MAX_LISTED_SPACINGS = 6


@dataclass(frozen=True)
class SpectrumOptions:
    """Window and Bragg-peak detection."""

    window: Literal["hann", "tukey", "none"] = option("hann", "window applied before the FFT (edges leak otherwise)")
    threshold: float = option(
        20.0, "Bragg threshold: peak power over the median power of its ring; noise exceeds T with "
        "probability 2^-T per bin", minimum=1.0, maximum=1e6, step=1.0, label="Bragg threshold")
    streak_bins: int = option(
        0, "ignore peaks within this many frequency bins of kx = 0, where STEM scan-line noise puts a "
        "vertical streak of power (read its half-width off the spectrum); 0 = off", minimum=0, maximum=512,
        label="skip |kx| ≤ (bins)")

    def __post_init__(self) -> None:
        check_limits(self)


@dataclass
class Spectrum:
    """A power spectrum and its Bragg peaks (table ky, kx, k, d_spacing, angle, ratio, y_px, x_px)."""

    spectrum: Any
    peaks: dict

    def describe(self) -> str:
        """One line per distinct d-spacing (Friedel pairs and symmetric peaks grouped to 1 %)."""
        return describe_peaks(self.peaks, self.spectrum.unit)


def spectrum_of(frame: np.ndarray, calibration: Calibration, options: SpectrumOptions,
                roi: tuple[int, int, int, int] | None = None) -> Spectrum:
    """The power spectrum of ``frame`` (or of ``roi`` = (y0, x0, y1, x1) px) and its Bragg peaks."""
    from tem_denoise.analysis import find_bragg_peaks, power_spectrum

    window = None if options.window == "none" else options.window
    spectrum = power_spectrum(frame, pixel_size_nm=calibration.pixel_size, roi=roi, window=window)
    peaks = find_bragg_peaks(spectrum, threshold=options.threshold, exclude_kx0_bins=options.streak_bins)
    return Spectrum(spectrum, peaks)


def describe_peaks(peaks: dict, unit: str) -> str:
    """One line per distinct d-spacing (Friedel pairs and symmetric peaks grouped to 1 %)."""
    if len(peaks["k"]) == 0:
        return "No Bragg peaks above the threshold."
    length = "nm" if unit == "1/nm" else "px"
    order = np.argsort(peaks["d_spacing"])[::-1]
    groups: list[list[int]] = []
    for i in order:
        if groups and abs(peaks["d_spacing"][i] / peaks["d_spacing"][groups[-1][0]] - 1) < 0.01:
            groups[-1].append(i)
        else:
            groups.append([i])
    lines = [f"{len(peaks['k'])} Bragg peaks:"]
    for group in groups[:MAX_LISTED_SPACINGS]:
        d = float(np.mean(peaks["d_spacing"][group]))
        k = float(np.mean(peaks["k"][group]))
        lines.append(f"  d = {d:.4g} {length} (|k| = {k:.4g} {unit}) ×{len(group)}")
    if len(groups) > MAX_LISTED_SPACINGS:
        lines.append(f"  … {len(groups) - MAX_LISTED_SPACINGS} more spacings")
    return "\n".join(lines)
