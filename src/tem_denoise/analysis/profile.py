"""Line scans across atomic columns: profile, Michelson contrast, peak positions and spacing.

Seed 002 (Fig. 3) averages the intensity across a 25-pixel-wide line over atomic columns
and reports the Michelson contrast ``(I_max - I_min) / (I_max + I_min)``.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from os import PathLike

import numpy as np
from scipy.signal import find_peaks
from skimage.measure import profile_line

from tem_denoise.arrays import as_float32, check_image

from .table import write_csv


@dataclass(frozen=True)
class LineProfile:
    """Intensity sampled along a line.

    Attributes
    ----------
    distance : numpy.ndarray
        (n,) distance of each sample from the start point, in ``unit``.
    values : numpy.ndarray
        (n,) float64 intensities (mean across the line width).
    unit : str
        Unit of ``distance``: "nm", "px" or "1/nm" for spectra.
    """

    distance: np.ndarray
    values: np.ndarray
    unit: str


@dataclass(frozen=True)
class ProfilePeaks:
    """Peaks of a profile found by :func:`profile_peaks`.

    Attributes
    ----------
    positions : numpy.ndarray
        (k,) sub-sample peak positions along the profile, in the profile's unit.
    heights : numpy.ndarray
        (k,) profile values at the peaks.
    mean_spacing : float
        Mean distance between neighbouring peaks (NaN with fewer than two peaks).
    unit : str
        Unit of positions and spacing.
    """

    positions: np.ndarray
    heights: np.ndarray
    mean_spacing: float
    unit: str


def _sizes(pixel_size: float | tuple[float, float] | None) -> np.ndarray:
    size = np.broadcast_to(np.asarray(1.0 if pixel_size is None else pixel_size, dtype=np.float64), (2,))
    if np.any(size <= 0) or not np.all(np.isfinite(size)):
        raise ValueError(f"pixel size must be positive; got {pixel_size}")
    return size


class ProfileClippedWarning(UserWarning):
    """A profile line reached outside the image and was cut to the part inside."""


def clip_line(start: np.ndarray, end: np.ndarray, shape: tuple[int, ...]) -> tuple[float, float]:
    """Fractions ``(first, last)`` of the segment start->end inside the pixel centres' box.

    The box is ``[0, shape[0] - 1] x [0, shape[1] - 1]`` in (y, x) pixel coordinates
    (Liang-Barsky clipping). Warns with :class:`ProfileClippedWarning` when the line is
    cut and raises ValueError when no part of it (or only a point) is inside.
    """
    first, last = 0.0, 1.0
    delta = end - start
    for axis in range(2):
        upper = shape[axis] - 1.0
        for p, q in ((-delta[axis], start[axis]), (delta[axis], upper - start[axis])):
            if p == 0:
                if q < 0:
                    first, last = 1.0, 0.0
                continue
            t = q / p
            first, last = (max(first, t), last) if p < 0 else (first, min(last, t))
    if last - first <= 1e-9:
        raise ValueError(
            f"the line from ({start[0]:.1f}, {start[1]:.1f}) to ({end[0]:.1f}, {end[1]:.1f}) (y, x px) lies outside "
            f"the {shape[0]} x {shape[1]} px image; draw it across the image"
        )
    if first > 0 or last < 1:
        warnings.warn(f"the line reaches outside the image; profiled the {100 * (last - first):.0f} % "
                      "of it that lies inside", ProfileClippedWarning, stacklevel=3)
    return first, last


def line_profile(
    image: np.ndarray,
    start: tuple[float, float],
    end: tuple[float, float],
    *,
    width_px: float = 1.0,
    pixel_size_nm: float | tuple[float, float] | None = None,
    order: int = 1,
    unit: str | None = None,
) -> LineProfile:
    """Intensity profile along a line, averaged over a width perpendicular to it.

    Uses ``skimage.measure.profile_line``: samples about one pixel apart including both
    end points, interpolated (linear by default), averaged across ``width_px`` pixels.

    Parameters
    ----------
    image : array_like
        (y, x) frame (take the displayed frame of a stack).
    start, end : (float, float)
        Line end points (y, x) in pixel coordinates of ``image``. A line partly outside the
        image is clipped to it with a :class:`ProfileClippedWarning` (distances still count
        from ``start``); a line wholly outside is refused. NaN/Inf pixels are refused.
    width_px : float
        Line width in pixels (seed 002 uses 25). Convert a width in nm with
        ``width_nm / pixel_size_nm``.
    pixel_size_nm : float or (float, float), optional
        Pixel size (y, x); distances are in nm when given, else in px.
    order : int
        Spline interpolation order (0 nearest, 1 linear, 3 cubic).
    unit : str, optional
        Overrides the distance unit label (e.g. "1/nm" for spectra).

    Returns
    -------
    LineProfile
        Distances from ``start`` and averaged values.
    """
    image = as_float32(check_image(image, "the frame", ndims=(2,)), "the frame").astype(np.float64)
    start_arr, end_arr = np.asarray(start, dtype=np.float64), np.asarray(end, dtype=np.float64)
    if start_arr.shape != (2,) or end_arr.shape != (2,) or not np.isfinite([start_arr, end_arr]).all():
        raise ValueError("start and end must be finite (y, x) pairs")
    if np.allclose(start_arr, end_arr):
        raise ValueError("the line has zero length; drag its end point away from the start")
    if not width_px >= 1:
        raise ValueError(f"width_px must be at least 1 pixel; got {width_px}")
    size = _sizes(pixel_size_nm)
    first, last = clip_line(start_arr, end_arr, image.shape)
    values = profile_line(
        image,
        start_arr + first * (end_arr - start_arr),
        start_arr + last * (end_arr - start_arr),
        linewidth=max(1, int(round(width_px))),
        order=order,
        mode="reflect",
        reduce_func=np.mean,
    )
    length = float(np.hypot(*((end_arr - start_arr) * size)))
    distance = np.linspace(first * length, last * length, len(values))
    label = unit or ("px" if pixel_size_nm is None else "nm")
    return LineProfile(distance=distance, values=np.asarray(values, dtype=np.float64), unit=label)


def michelson_contrast(values: np.ndarray, percentile: float | None = None) -> float:
    """Michelson contrast ``(I_max - I_min) / (I_max + I_min)`` of a profile (seed 002).

    Parameters
    ----------
    values : array_like
        Intensities, e.g. :attr:`LineProfile.values`. The contrast depends on the
        intensity zero, so use data whose zero means "no electrons".
    percentile : float, optional
        Use the ``percentile`` and ``100 - percentile`` percentiles instead of the
        extremes (e.g. 99) to resist single noisy samples; default the paper's extremes.

    Returns
    -------
    float
        Contrast, 0 for a flat profile, 1 when the minimum is 0.

    Raises
    ------
    ValueError
        If ``I_max + I_min <= 0`` (contrast undefined, e.g. background-subtracted data).
    """
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0 or not np.all(np.isfinite(values)):
        raise ValueError("the profile is empty or contains NaN/inf")
    if percentile is None:
        low, high = values.min(), values.max()
    else:
        if not 50 < percentile <= 100:
            raise ValueError(f"percentile must be in (50, 100]; got {percentile}")
        low, high = np.percentile(values, [100 - percentile, percentile])
    if high + low <= 0:
        raise ValueError(
            f"Michelson contrast is undefined for I_max + I_min = {high + low:.3g} <= 0; "
            "use intensities with a physical zero (not background-subtracted)"
        )
    return float((high - low) / (high + low))


def profile_peaks(
    profile: LineProfile,
    *,
    prominence: float | None = None,
    min_spacing: float | None = None,
) -> ProfilePeaks:
    """Find peaks along a profile (``scipy.signal.find_peaks``) and their mean spacing.

    Peak positions are refined by a parabola through each peak and its two neighbours.

    Parameters
    ----------
    profile : LineProfile
        Profile from :func:`line_profile`.
    prominence : float, optional
        Minimum peak prominence in intensity units; default 20 % of the profile's range
        (our choice).
    min_spacing : float, optional
        Minimum distance between peaks in the profile's unit.

    Returns
    -------
    ProfilePeaks
        Positions, heights and mean spacing in the profile's unit.
    """
    values, distance = profile.values, profile.distance
    if len(values) < 3:
        raise ValueError("the profile needs at least 3 samples to find peaks; draw a longer line")
    step = distance[1] - distance[0]
    threshold = 0.2 * float(np.ptp(values)) if prominence is None else float(prominence)
    spacing = None if min_spacing is None else max(1.0, min_spacing / step)
    index, _ = find_peaks(values, prominence=threshold if threshold > 0 else None, distance=spacing)
    # find_peaks never reports the end samples, so every peak has two neighbours
    left, centre, right = values[index - 1], values[index], values[index + 1]
    curvature = left - 2 * centre + right
    offset = np.where(curvature < 0, 0.5 * (left - right) / np.where(curvature < 0, curvature, 1.0), 0.0)
    positions = distance[index] + offset * step
    heights = values[index]
    mean_spacing = float(np.mean(np.diff(positions))) if len(positions) > 1 else float("nan")
    return ProfilePeaks(positions=positions, heights=heights, mean_spacing=mean_spacing, unit=profile.unit)


def write_profiles_csv(path: str | PathLike, profiles: Mapping[str, LineProfile]) -> None:
    """Write one or more profiles (e.g. raw and denoised) to a long-format CSV.

    Parameters
    ----------
    path : str or PathLike
        Output file with columns ``layer``, ``distance_<unit>`` (``distance_nm``,
        ``distance_px`` or ``distance_per_nm``), ``value``.
    profiles : Mapping[str, LineProfile]
        Layer name to profile; all must share the distance unit.
    """
    if not profiles:
        raise ValueError("no profiles to write")
    units = {profile.unit for profile in profiles.values()}
    if len(units) != 1:
        raise ValueError(f"profiles use different distance units {sorted(units)}; convert them to one unit")
    unit = units.pop().replace("1/", "per_").replace("/", "_per_")
    write_csv(
        path,
        {
            "layer": np.concatenate([[name] * len(p.values) for name, p in profiles.items()]).astype(str),
            f"distance_{unit}": np.concatenate([p.distance for p in profiles.values()]),
            "value": np.concatenate([p.values for p in profiles.values()]),
        },
    )
