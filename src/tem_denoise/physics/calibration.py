"""Noise calibration from real frames: HRTEM vacuum stacks and STEM atom images.

:func:`calibrate_hrtem_vacuum` follows seed 000 §3.5: vacuum stacks (one per beam
current) hold only noise; removing the temporal mean image leaves column noise (the
per-frame column means) and pointwise noise (the rest), whose sigma is fitted linearly
against the mean intensity across the stacks.

:func:`calibrate_stem` follows seed 001 §3.2 on an image with atoms: a row-wise smoothing
keeps clean image, background and scan noise (smooth along the scan rows) and removes
pointwise noise; a further smoothing across rows removes the scan noise. The differences
give the pointwise noise (sigma versus intensity, Tukey-lambda shape) and the scan noise
(sigma versus gradient magnitude). Where the paper uses Gaussian blurs this module uses
cubic Savitzky-Golay smoothing, which keeps the atom peaks, and corrects the variances
for the filters' exact gains, so synthetic images calibrate back to their parameters.

Both return a noise model and a :class:`FitReport` holding what a GUI needs to plot.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Generator, Sequence
from typing import Any

import numpy as np
from scipy import ndimage, stats
from scipy.signal import savgol_coeffs, savgol_filter

from tem_denoise.progress import Progress, run_to_end

from .noise_models import HRTEMNoise, STEMNoise, gradient_magnitude, tukey_lambda_std
from .noise_spectrum import BLOCK_PX, vacuum_spectrum
from .rng import as_rng

MAX_SAMPLES = 20000
VARIANCE_LAW_RATIO = 0.25
"""Share of the sigma law's residual below which a calibration takes the variance law."""


# --------------------------------------------------------------------------- report


@dataclasses.dataclass
class LineFit:
    """A weighted straight-line fit ``y = slope * x + intercept`` through binned points.

    Attributes
    ----------
    x, y : numpy.ndarray
        The data points (bin centres and the statistic measured in each bin).
    counts : numpy.ndarray
        Number of pixels (or samples) behind each point; the fit weights are their
        square roots.
    slope, intercept, r2 : float
        The line and its weighted coefficient of determination.
    x_label, y_label : str
        Axis labels with units.
    """

    x: np.ndarray
    y: np.ndarray
    counts: np.ndarray
    slope: float
    intercept: float
    r2: float
    x_label: str
    y_label: str

    def predict(self, x: np.ndarray | float) -> np.ndarray:
        """The fitted line at ``x``."""
        return self.slope * np.asarray(x, dtype=np.float64) + self.intercept


@dataclasses.dataclass
class HistogramFit:
    """Samples of a noise component and the distribution fitted to them.

    Attributes
    ----------
    samples : numpy.ndarray
        A random subset (at most 20,000) of the measured values, float32.
    model : str
        ``"norm"`` or ``"tukeylambda"`` (scipy.stats names).
    loc, scale : float
        Location and scale of the fitted distribution.
    shape : float or None
        Tukey lambda, None for the normal law.
    ppcc : float
        Probability-plot correlation coefficient of the samples against the fitted law
        (1 is a perfect fit).
    label : str
        What the samples are, with units.
    """

    samples: np.ndarray
    model: str
    loc: float
    scale: float
    shape: float | None
    ppcc: float
    label: str

    def distribution(self):
        """The fitted frozen ``scipy.stats`` distribution."""
        if self.model == "norm":
            return stats.norm(self.loc, self.scale)
        return stats.tukeylambda(self.shape, loc=self.loc, scale=self.scale)

    def curve(self, n: int = 200) -> tuple[np.ndarray, np.ndarray]:
        """``(x, pdf)`` of the fitted law over the samples' 0.1-99.9 % range, for plots."""
        lo, hi = np.percentile(self.samples, [0.1, 99.9])
        x = np.linspace(lo, hi, n)
        return x, self.distribution().pdf(x)


@dataclasses.dataclass
class FitReport:
    """Everything a calibration measured, for plotting and for judging the fit.

    Attributes
    ----------
    kind : str
        ``"hrtem_vacuum"`` or ``"stem"``.
    lines : dict of str to LineFit
        HRTEM: ``"pointwise_sigma"`` (sigma_p vs intensity) and, with currents,
        ``"intensity_vs_current"``. STEM: ``"pointwise_sigma"`` (vs intensity),
        ``"scan_sigma"`` (vs gradient magnitude) and ``"tukey_ppcc"`` (PPCC vs lambda).
    histograms : dict of str to HistogramFit
        HRTEM: ``"pointwise"`` (normalised residuals with N(0, 1)) and ``"column"``
        (column offsets with N(0, sigma_c)). STEM: ``"pointwise"`` (normalised residuals
        with the fitted Tukey-lambda law).
    figures : dict of str to float
        Scalar goodness figures (R², PPCC, skewness, kurtosis, structure score...).
    notes : list of str
        Remarks on the data (e.g. integer data, excluded pixels).
    """

    kind: str
    lines: dict[str, LineFit]
    histograms: dict[str, HistogramFit]
    figures: dict[str, float]
    notes: list[str]

    def summary(self) -> str:
        """A few lines of text with the fitted lines and goodness figures."""
        out = [f"{self.kind} calibration"]
        for name, line in self.lines.items():
            out.append(
                f"  {name}: slope {line.slope:.5g}, intercept {line.intercept:.5g}, "
                f"R2 {line.r2:.4f} ({len(line.x)} points)"
            )
        out += [f"  {name}: {value:.4g}" for name, value in self.figures.items()]
        out += [f"  note: {note}" for note in self.notes]
        return "\n".join(out)


def fit_line(x, y, counts, x_label: str, y_label: str) -> LineFit:
    """Weighted least-squares line through points (weights ``sqrt(counts)``).

    Raises
    ------
    ValueError
        With fewer than two points or no spread in ``x``.
    """
    x, y, counts = (np.asarray(a, dtype=np.float64) for a in (x, y, counts))
    if len(x) < 2 or np.ptp(x) <= 0:
        raise ValueError(f"cannot fit {y_label} against {x_label}: need points at two or more values")
    w = np.sqrt(counts)
    slope, intercept = np.polyfit(x, y, 1, w=w)
    resid = y - (slope * x + intercept)
    mean = np.average(y, weights=w**2)
    total = np.sum(w**2 * (y - mean) ** 2)
    r2 = 1.0 - np.sum(w**2 * resid**2) / total if total > 0 else 1.0
    return LineFit(x, y, counts, float(slope), float(intercept), float(r2), x_label, y_label)


def _subsample(values: np.ndarray, gen: np.random.Generator, n: int = MAX_SAMPLES) -> np.ndarray:
    values = np.asarray(values).ravel()
    if len(values) > n:
        values = values[gen.choice(len(values), n, replace=False)]
    return values.astype(np.float32)


def _normal_histogram(samples: np.ndarray, scale: float, label: str) -> HistogramFit:
    ppcc = stats.probplot(samples, dist="norm")[1][2]
    return HistogramFit(samples, "norm", 0.0, float(scale), None, float(ppcc), label)


def _binned(values, key, edges, min_count):
    """Mean of ``values`` in bins of ``key``; returns centres, means, counts of full bins."""
    idx = np.digitize(key, edges) - 1
    ok = (idx >= 0) & (idx < len(edges) - 1)
    counts = np.bincount(idx[ok], minlength=len(edges) - 1)
    sums = np.bincount(idx[ok], weights=values[ok], minlength=len(edges) - 1)
    keys = np.bincount(idx[ok], weights=key[ok], minlength=len(edges) - 1)
    full = counts >= min_count
    return keys[full] / counts[full], sums[full] / counts[full], counts[full]


# --------------------------------------------------------------------------- HRTEM


def _check_stack(stack: np.ndarray, index: int) -> np.ndarray:
    name = f"vacuum stack {index}"
    stack = np.asarray(stack)
    if stack.ndim != 3:
        raise ValueError(f"{name} must be a (t, y, x) stack, got shape {stack.shape}")
    if stack.shape[0] < 2:
        raise ValueError(
            f"{name} has {stack.shape[0]} frame(s); calibration needs at least 2 frames of the "
            "same vacuum area (the paper records 100 per beam current)"
        )
    if min(stack.shape[1:]) < 16:
        raise ValueError(f"{name} frames are {stack.shape[1:]}; need at least 16 x 16 pixels")
    data = stack.astype(np.float64)
    if not np.all(np.isfinite(data)):
        raise ValueError(f"{name} holds NaN or inf values; remove those frames or pixels first")
    flat = data.reshape(len(data), -1)
    constant = np.flatnonzero(flat.max(axis=1) == flat.min(axis=1))
    if len(constant):
        raise ValueError(
            f"{name}: frame(s) {constant.tolist()} are constant (blank or dropped frames); "
            "remove them before calibrating"
        )
    top = data.max()
    saturated = float(np.mean(data == top))
    if saturated > 0.01:
        raise ValueError(
            f"{name}: {saturated:.1%} of the pixels sit at the maximum value {top:g}, so the "
            "detector is saturated; record vacuum at a lower beam current or shorter exposure"
        )
    return data


def _structure_score(mean_image: np.ndarray, residuals: np.ndarray, n_bands: int = 12) -> float:
    """Largest excess of the temporal mean image's power over its noise power.

    The spectrum of the mean image is compared with the spectrum the noise alone would
    give (the frame-to-frame residuals' power divided by the frame count), in
    ``n_bands`` radial bands of equal numbers of Fourier coefficients between 1/16 and
    1/2 cycles per pixel. The column pattern (the ``k_y = 0`` line) and the slow
    illumination profile are left out. A vacuum gives about 1 in every band; a white
    fixed pattern raises all bands alike, so the score is the largest band ratio
    divided by the median band ratio.
    """
    n_frames = len(residuals)
    window = np.outer(np.hanning(mean_image.shape[0]), np.hanning(mean_image.shape[1]))
    p_mean = np.abs(np.fft.rfft2((mean_image - mean_image.mean()) * window)) ** 2
    p_noise = np.zeros_like(p_mean)
    for frame in residuals:
        p_noise += np.abs(np.fft.rfft2(frame * window)) ** 2
    p_noise /= n_frames * (n_frames - 1)
    fy = np.fft.fftfreq(mean_image.shape[0])[:, None]
    fx = np.fft.rfftfreq(mean_image.shape[1])[None, :]
    radius = np.hypot(fy, fx)
    usable = (radius >= 1 / 16) & (radius < 0.5) & (np.abs(fy) > 0)
    order = np.argsort(radius[usable], kind="stable")
    band = np.empty(order.size, dtype=np.int64)
    band[order] = np.arange(order.size) * n_bands // order.size
    num = np.bincount(band, weights=p_mean[usable], minlength=n_bands)
    den = np.bincount(band, weights=p_noise[usable], minlength=n_bands)
    ratios = num / np.maximum(den, 1e-300)
    return float(ratios.max() / np.median(ratios))


@dataclasses.dataclass
class _StackStats:
    intensity: np.ndarray
    pointwise_var: np.ndarray
    counts: np.ndarray
    column_var: float
    column_dof: int
    mean_intensity: float
    column_samples: np.ndarray
    pointwise_samples: np.ndarray
    structure: float


def _analyse_stack(data: np.ndarray, bins: int, gen: np.random.Generator, integer: bool,
                   column_gain: float = 1.0) -> _StackStats:
    """One vacuum stack's statistics; ``column_gain``: the variance of a column's mean of the
    pointwise noise over that of white noise (more where a detector's blur correlates pixels
    along the column: :meth:`~tem_denoise.physics.noise_spectrum.NoiseSpectrum.column_mean_gain`),
    taken off before the rest is counted as column noise."""
    n_t, n_y, _ = data.shape
    mean_image = data.mean(axis=0)
    resid = data - mean_image
    level = ndimage.gaussian_filter(mean_image, 4.0)
    columns = resid.mean(axis=1)
    point = resid - columns[:, None, :]
    factor = (1.0 - 1.0 / n_t) * (1.0 - 1.0 / n_y)
    quantisation = 1.0 / 12.0 if integer else 0.0
    edges = np.quantile(level, np.linspace(0, 1, bins + 1))
    edges[-1] = np.nextafter(edges[-1], np.inf)
    pixel_bin = np.clip(np.digitize(level, edges) - 1, 0, bins - 1).ravel()
    sq = (point**2).mean(axis=0).ravel()
    counts = np.bincount(pixel_bin, minlength=bins)
    keep = counts > 0
    var = np.bincount(pixel_bin, weights=sq, minlength=bins)[keep] / counts[keep] / factor - quantisation
    inten = np.bincount(pixel_bin, weights=level.ravel(), minlength=bins)[keep] / counts[keep]
    total_pointwise = float(np.mean(sq) / factor - quantisation)
    column_var = float(np.mean(columns**2) / (1.0 - 1.0 / n_t) - column_gain * total_pointwise / n_y)
    sigma_here = np.sqrt(max(total_pointwise, 1e-12))
    return _StackStats(
        intensity=inten,
        pointwise_var=var,
        counts=counts[keep] * n_t,
        column_var=column_var,
        column_dof=columns.size,
        mean_intensity=float(mean_image.mean()),
        column_samples=_subsample(columns / np.sqrt(1.0 - 1.0 / n_t), gen, 2000),
        pointwise_samples=_subsample(point / (sigma_here * np.sqrt(factor)), gen, 5000),
        structure=_structure_score(mean_image, resid),
    )


def iter_calibrate_hrtem_vacuum(
    stacks: np.ndarray | Sequence[np.ndarray],
    currents: Sequence[float] | None = None,
    *,
    bins_per_stack: int | None = None,
    max_structure: float = 2.0,
    max_skew: float = 0.3,
    max_excess_kurtosis: float = 1.0,
    rng: int | None = 0,
) -> Generator[Progress, None, tuple[HRTEMNoise, FitReport]]:
    """Generator variant of :func:`calibrate_hrtem_vacuum`; yields one
    :class:`~tem_denoise.progress.Progress` per stack and returns
    ``(HRTEMNoise, FitReport)``."""
    if isinstance(stacks, np.ndarray) and stacks.ndim == 3:
        stacks = [stacks]
    stacks = list(stacks)
    if not stacks:
        raise ValueError("no vacuum stacks given")
    if currents is not None and len(currents) != len(stacks):
        raise ValueError(f"got {len(currents)} currents for {len(stacks)} stacks; give one per stack")
    gen = as_rng(rng)
    bins = bins_per_stack or (1 if len(stacks) > 1 else 8)
    # the blur's correlation, which column means feel too; one stack in memory at a time
    spectrum = vacuum_spectrum(_check_stack(stack, i) for i, stack in enumerate(stacks))
    results = []
    for i, stack in enumerate(stacks):
        data = _check_stack(stack, i)
        integer = bool(np.all(data == np.round(data)))
        gain = 1.0 if spectrum is None else spectrum.column_mean_gain(data.shape[1:])
        results.append((_analyse_stack(data, bins, gen, integer, gain), integer))
        yield Progress(i + 1, len(stacks) + 1, f"vacuum stack {i + 1}/{len(stacks)}")

    for i, (res, _) in enumerate(results):
        if res.structure > max_structure:
            raise ValueError(
                f"vacuum stack {i} holds structure: its mean image has {res.structure:.1f}x "
                "more power in one frequency band than noise explains. Record frames of an "
                "empty (vacuum) area, or crop the stack to one"
            )
        skew = float(stats.skew(res.pointwise_samples))
        kurt = float(stats.kurtosis(res.pointwise_samples))
        if abs(skew) > max_skew or abs(kurt) > max_excess_kurtosis:
            raise ValueError(
                f"vacuum stack {i}: the pointwise residuals are not normal (skewness {skew:.2f}, "
                f"excess kurtosis {kurt:.2f}); the frames may hold moving structure, or be "
                "low-dose counting data, for which the Counting (Poisson) model applies"
            )

    intensity = np.concatenate([r.intensity for r, _ in results])
    sigma = np.sqrt(np.clip(np.concatenate([r.pointwise_var for r, _ in results]), 0, None))
    counts = np.concatenate([r.counts for r, _ in results])
    means = np.array([r.mean_intensity for r, _ in results])
    if np.ptp(intensity) < 0.2 * abs(intensity.mean()):
        raise ValueError(
            "all vacuum frames have about the same intensity "
            f"({intensity.min():.4g}-{intensity.max():.4g}), so sigma_p cannot be fitted against "
            "it; record vacuum stacks at two or more beam currents (the paper uses six, 1-2 nA)"
        )
    pointwise, law = _pointwise_law(intensity, sigma, counts)
    dof = np.array([r.column_dof for r, _ in results], dtype=np.float64)
    column_var = float(np.average([r.column_var for r, _ in results], weights=dof))
    sigma_c = float(np.sqrt(max(column_var, 0.0)))
    lines = {"pointwise_sigma" if law == "sigma" else "pointwise_variance": pointwise}
    gain, offset = None, 0.0
    if currents is not None:
        cur = np.asarray(currents, dtype=np.float64)
        if np.ptp(cur) > 0:
            line = fit_line(cur, means, np.ones_like(cur), "beam current or dose", "mean intensity")
            lines["intensity_vs_current"] = line
            gain, offset = line.slope, line.intercept
    column_samples = np.concatenate([r.column_samples for r, _ in results])
    point_samples = np.concatenate([r.pointwise_samples for r, _ in results])
    histograms = {
        "pointwise": _normal_histogram(point_samples, 1.0, "pointwise residual / sigma_p"),
        "column": _normal_histogram(column_samples, sigma_c, "column offset (intensity)"),
    }
    figures = {
        "pointwise_r2": pointwise.r2,
        "pointwise_normal_ppcc": histograms["pointwise"].ppcc,
        "column_normal_ppcc": histograms["column"].ppcc,
        "pointwise_skewness": float(stats.skew(point_samples)),
        "pointwise_excess_kurtosis": float(stats.kurtosis(point_samples)),
        "pointwise_tukey_lambda": float(
            stats.ppcc_max(point_samples, brack=(-0.2, 0.5), dist="tukeylambda")
        ),
        "structure_score_max": float(max(r.structure for r, _ in results)),
    }
    notes = []
    if any(integer for _, integer in results):
        notes.append("integer-valued frames: the quantisation variance 1/12 was subtracted")
    if spectrum is not None:
        figures["noise_mtf_at_nyquist"] = spectrum.mtf_at_nyquist()
    else:
        notes.append(f"frames under {BLOCK_PX} px: the noise spectrum (a detector's blur) was not measured")
    model = HRTEMNoise(
        k=pointwise.slope, b=pointwise.intercept, sigma_c=sigma_c, gain=gain, offset=offset, law=law,
        noise_spectrum=None if spectrum is None else (spectrum.mtf_f2, spectrum.white),
    )
    yield Progress(len(stacks) + 1, len(stacks) + 1, "fit")
    return model, FitReport("hrtem_vacuum", lines, histograms, figures, notes)


def _pointwise_law(intensity: np.ndarray, sigma: np.ndarray, counts: np.ndarray) -> tuple[LineFit, str]:
    """The pointwise noise's line against intensity, and its law: sigma linear in intensity
    (seed 000's), unless variance linear (shot noise plus readout: a camera's electrons) leaves
    under :data:`VARIANCE_LAW_RATIO` of its weighted squared residual in sigma (stacks of a
    camera simulated with Poisson shot noise and readout: 0.003-0.03, or 0.5 where readout
    dominates; of seed 000's law: 0.96). A sigma line through shot noise measured at half, one
    and two times a dose is 7 % low in variance in the middle, enough to bias a risk estimate."""
    by_sigma = fit_line(intensity, sigma, counts, "mean intensity", "pointwise sigma")
    if len(intensity) < 3:  # two points: both lines pass through them, nothing to choose by
        return by_sigma, "sigma"
    by_variance = fit_line(intensity, sigma**2, counts, "mean intensity", "pointwise variance")
    miss_sigma = np.sum(counts * (sigma - (by_sigma.slope * intensity + by_sigma.intercept)) ** 2)
    variance_sigma = np.sqrt(np.maximum(by_variance.slope * intensity + by_variance.intercept, 0.0))
    miss_variance = np.sum(counts * (sigma - variance_sigma) ** 2)
    return (by_variance, "variance") if miss_variance < VARIANCE_LAW_RATIO * miss_sigma else (by_sigma, "sigma")


def calibrate_hrtem_vacuum(
    stacks: np.ndarray | Sequence[np.ndarray],
    currents: Sequence[float] | None = None,
    **kwargs: Any,
) -> tuple[HRTEMNoise, FitReport]:
    """Calibrate the HRTEM noise model from vacuum stacks (seed 000 §3.5).

    Parameters
    ----------
    stacks : numpy.ndarray or sequence of numpy.ndarray
        One ``(t, y, x)`` stack, or several, of an empty area in raw camera units, each
        recorded at one beam current (at least 2 frames each; more frames and two or more
        currents make the fit reliable).
    currents : sequence of float or None
        Beam current (nA) or dose (e-/px) of each stack. When given, the mean intensity
        is fitted against it and the line becomes the model's ``gain`` and ``offset``.
    bins_per_stack : int or None
        Intensity bins (quantiles of the mean image) per stack for the sigma_p fit;
        default 1 (one point per stack, as in the paper) with several stacks, 8 for a
        single stack (which then needs an illumination gradient spanning at least 20 %).
        Pixels are binned by their smoothed (sigma 4 px) temporal mean, so the bins
        follow the illumination, not the noise.
    max_structure : float
        Refusal threshold of the structure score (vacuum gives about 1-1.3).
    max_skew, max_excess_kurtosis : float
        Refusal thresholds for non-normal pointwise residuals.
    rng : int or None
        Seed for the subsamples kept in the report.

    Returns
    -------
    model : HRTEMNoise
        ``k``, ``b`` (sigma_p = k I + b, or sigma_p^2 = k I + b: its ``law``), ``sigma_c`` in
        the frames' units, and the noise spectrum of the vacuum frames (``noise_spectrum``).
    report : FitReport
        Data points, fitted lines, histograms and goodness figures.

    Raises
    ------
    ValueError
        Fewer than 2 frames, constant or saturated frames, NaN values, structure in the
        "vacuum", non-normal residuals, or intensities spanning less than 20 % (one
        beam current).

    Notes
    -----
    Per stack, the temporal mean image removes the illumination; the per-frame column
    means of what is left are the column noise; the rest is the pointwise noise. The
    variances are corrected for the degrees of freedom the two means remove:
    ``E[p^2] = sigma_p^2 (1 - 1/T)(1 - 1/H)`` and
    ``E[c^2] = (sigma_c^2 + sigma_p^2 / H)(1 - 1/T)``. Integer-valued data get
    Sheppard's correction (-1/12) on the pointwise variance.
    """
    return run_to_end(iter_calibrate_hrtem_vacuum(stacks, currents, **kwargs))


# --------------------------------------------------------------------------- STEM


@dataclasses.dataclass
class _StemRaw:
    """Raw (uncorrected) STEM noise statistics of one set of images."""

    pointwise: LineFit
    scan: LineFit
    tukey_lambda: float
    z: np.ndarray
    notes: list[str]

    @property
    def vector(self) -> np.ndarray:
        return np.array(
            [self.pointwise.slope, self.pointwise.intercept, self.scan.slope, self.scan.intercept,
             self.tukey_lambda]
        )


def _residual_weights(window: int) -> tuple[np.ndarray, float]:
    """Normalised squared taps of ``delta - savgol`` and their sum (variance gain)."""
    taps = -savgol_coeffs(window, 3)
    taps[window // 2] += 1.0
    gain = float(np.sum(taps**2))
    return taps**2 / gain, gain


def _stem_maps(data: np.ndarray, window: int, value_range, gradient_sigma):
    """Per-pixel residuals, covariates and the usable mask of one image."""
    smooth_x = savgol_filter(data, window, 3, axis=1)
    clean = savgol_filter(smooth_x, window, 3, axis=0)
    point = data - smooth_x
    across = data - savgol_filter(data, window, 3, axis=0)
    usable = np.zeros(data.shape, dtype=bool)
    r = 2 * window
    usable[r:-r, r:-r] = True
    clipped_fraction = 0.0
    if value_range is not None:
        clipped_fraction = float(np.mean((data <= value_range[0]) | (data >= value_range[1])))
        if clipped_fraction > 0:
            # leave out pixels whose clean level is within 3 noise sigmas of a limit;
            # choosing them by the clean estimate, not by which pixels happened to clip,
            # keeps the noise of the kept pixels unselected
            _, gain = _residual_weights(window)
            sigma = 1.4826 * np.median(np.abs(across[usable])) / np.sqrt(gain)
            usable &= (clean > value_range[0] + 3 * sigma) & (clean < value_range[1] - 3 * sigma)
    grad = gradient_magnitude(clean, gradient_sigma)
    return clean, point, across, grad, usable, clipped_fraction


def _stem_raw(
    images: list[np.ndarray], window: int, n_bins: int, min_count: int, value_range,
    gradient_sigma: float, gen: np.random.Generator,
) -> _StemRaw:
    weights, gain = _residual_weights(window)
    maps = [_stem_maps(im, window, value_range, gradient_sigma) for im in images]
    if sum(m[4].sum() for m in maps) < 0.2 * sum(im.size for im in images):
        raise ValueError(
            "fewer than 20 % of the pixels are usable (the rest are clipped at the detector "
            "range or too near the border); use larger images that are not saturated"
        )
    # pointwise: residual along rows, against the row-weighted intensity
    inten = np.concatenate([ndimage.correlate1d(c, weights, axis=1)[u] for c, _, _, _, u, _ in maps])
    p_stat = np.concatenate([p[u] ** 2 / gain for _, p, _, _, u, _ in maps])
    lo, hi = np.percentile(inten, [0.5, 99.5])
    x, v, n = _binned(p_stat, inten, np.linspace(lo, hi, n_bins + 1), min_count)
    pointwise = fit_line(x, np.sqrt(v), n, "intensity", "pointwise sigma")
    # scan: residual across rows, minus the pointwise part, against the column-weighted gradient
    g_eff, s_stat, z = [], [], []
    for clean, point, across, grad, u, _ in maps:
        var_p = np.maximum(pointwise.predict(clean), 1e-6) ** 2
        g_eff.append(ndimage.correlate1d(grad, weights, axis=0)[u])
        s_stat.append((across**2 / gain - ndimage.correlate1d(var_p, weights, axis=0))[u])
        z.append(point[u] / np.sqrt(gain * ndimage.correlate1d(var_p, weights, axis=1)[u]))
    g_eff, s_stat = np.concatenate(g_eff), np.concatenate(s_stat)
    edges = np.linspace(0.0, np.percentile(g_eff, 99.5), n_bins + 1)
    gx, sv, gn = _binned(s_stat, g_eff, edges, min_count)
    if len(gx) < 3 or np.ptp(gx) < 0.2 * edges[-1]:
        raise ValueError(
            "not enough gradient spread to fit the scan noise; use an image with atoms "
            "(the scan noise is measured at the atoms' edges)"
        )
    scan = fit_line(gx, np.sqrt(np.clip(sv, 0.0, None)), gn, "gradient magnitude (Sobel)", "scan sigma")
    z = _subsample(np.concatenate(z), gen, 50000).astype(np.float64)
    lam = float(stats.ppcc_max(z, brack=(-0.2, 0.5), dist="tukeylambda"))
    clipped = np.mean([m[5] for m in maps])
    notes = (
        [f"{clipped:.2%} of pixels clipped; pixels within 3 sigma of the limits are left out"]
        if clipped else []
    )
    return _StemRaw(pointwise, scan, lam, z, notes)


def _check_stem_images(image, window: int) -> list[np.ndarray]:
    images = [image] if isinstance(image, np.ndarray) and image.ndim == 2 else list(image)
    if not images:
        raise ValueError("no STEM image given")
    out = []
    for i, im in enumerate(images):
        im = np.asarray(im)
        if im.ndim != 2:
            raise ValueError(
                f"STEM calibration needs (y, x) images, image {i} has shape {im.shape}; pick a frame"
            )
        if min(im.shape) < 12 * window:
            raise ValueError(f"image {i} {im.shape} is too small; need at least {12 * window} px per side")
        data = im.astype(np.float64)
        if not np.all(np.isfinite(data)):
            raise ValueError(f"image {i} holds NaN or inf values")
        if np.ptp(data) == 0:
            raise ValueError(f"image {i} is constant; nothing to calibrate")
        out.append(data)
    return out


def _check_structure(proxies, model: STEMNoise, args, gen) -> None:
    """Refuse images whose gradients are no larger than those of their noise alone."""
    window, _, _, _, gradient_sigma = args
    flat = np.full(proxies[0].shape, float(np.median(proxies[0])), np.float32)
    noise_only = model.apply(flat, gen).astype(np.float64)
    smooth = savgol_filter(savgol_filter(noise_only, window, 3, axis=1), window, 3, axis=0)
    core = (slice(2 * window, -2 * window),) * 2
    floor = np.percentile(gradient_magnitude(smooth, gradient_sigma)[core], 99.0)
    found = max(np.percentile(gradient_magnitude(p, gradient_sigma)[core], 99.0) for p in proxies)
    if found < 2.0 * floor:
        raise ValueError(
            f"the image gradients (99th percentile {found:.3g}) are no larger than those of its "
            f"noise alone ({floor:.3g}): not enough gradient spread to fit the scan noise; use "
            "an atomic-resolution image with visible atoms"
        )


def _model_from(vector: np.ndarray, base: STEMNoise) -> STEMNoise:
    return dataclasses.replace(
        base,
        pointwise_k=float(vector[0]),
        pointwise_b=float(vector[1]),
        scan_k=float(vector[2]),
        scan_b=float(vector[3]),
        tukey_lambda=float(np.clip(vector[4], -0.45, 1.5)),
    )


def iter_calibrate_stem(
    image: np.ndarray | Sequence[np.ndarray],
    *,
    mode: str = "haadf",
    value_range: tuple[float, float] | None = (0.0, 255.0),
    window_px: int = 7,
    patch_px: int = 64,
    n_bins: int = 24,
    min_count: int = 200,
    gradient_sigma_px: float = 1.5,
    scan_knot_px: int = 10,
    iterations: int = 3,
    rng: int | None = 0,
) -> Generator[Progress, None, tuple[STEMNoise, FitReport]]:
    """Generator variant of :func:`calibrate_stem`; yields a
    :class:`~tem_denoise.progress.Progress` per correction round."""
    if mode not in ("haadf", "bf"):
        raise ValueError(f"mode must be 'haadf' or 'bf', not {mode!r}")
    if window_px < 5 or window_px % 2 == 0:
        raise ValueError(f"window_px must be odd and >= 5, got {window_px}")
    images = _check_stem_images(image, window_px)
    gen = as_rng(rng)
    args = (window_px, n_bins, min_count, value_range, gradient_sigma_px)
    raw = _stem_raw(images, *args, gen)
    total = iterations + 2
    yield Progress(1, total, "raw statistics")
    proxies = [
        savgol_filter(savgol_filter(im, window_px, 3, axis=1), window_px, 3, axis=0).astype(np.float32)
        for im in images
    ]
    base = STEMNoise(
        mode=mode, scan_knot_px=scan_knot_px, scan_gradient_sigma_px=gradient_sigma_px,
        value_range=value_range,
    )
    _check_structure(proxies, _model_from(raw.vector, base), args, gen)
    target = raw.vector
    theta = target.copy()
    previous = None
    slope = 1.0 - float(savgol_coeffs(window_px, 3)[window_px // 2])
    sim_seed = int(gen.integers(2**31 - 1))
    for it in range(iterations):
        model = _model_from(theta, base)
        sim_gen = np.random.default_rng(sim_seed)
        simulated = _stem_raw(
            [model.apply(p, sim_gen).astype(np.float64) for p in proxies], *args, sim_gen
        )
        found = simulated.vector
        ratio = np.divide(target[:4], found[:4], out=np.ones(4), where=np.abs(found[:4]) > 1e-9)
        if previous is not None and abs(theta[4] - previous[0]) > 1e-3:
            secant = (found[4] - previous[1]) / (theta[4] - previous[0])
            slope = float(np.clip(secant, 0.3, 1.5))
        previous = (theta[4], found[4])
        theta[:4] = theta[:4] * np.clip(ratio, 0.5, 2.0)
        theta[4] = theta[4] + (target[4] - found[4]) / slope
        yield Progress(it + 2, total, f"bias correction {it + 1}/{iterations}")

    model = _model_from(theta, base)
    backgrounds, brightness = _patch_levels(proxies, mode, patch_px)
    model = dataclasses.replace(
        model,
        atom_brightness=(float(brightness.min()), float(brightness.max())),
        background=(float(backgrounds.min()), float(backgrounds.max())),
    )
    svals, ppcc = stats.ppcc_plot(raw.z, -0.3, 1.0, dist="tukeylambda", N=27)
    ppcc_line = fit_line(svals, ppcc, np.ones_like(svals), "Tukey lambda", "PPCC")
    lam = raw.tukey_lambda
    hist = HistogramFit(
        _subsample(raw.z, gen), "tukeylambda", 0.0, 1.0 / tukey_lambda_std(lam), lam,
        float(stats.probplot(raw.z, sparams=(lam,), dist="tukeylambda")[1][2]),
        "pointwise residual / sigma_p",
    )
    figures = {
        "pointwise_r2": raw.pointwise.r2,
        "scan_r2": raw.scan.r2,
        "tukey_ppcc": hist.ppcc,
        "normal_ppcc": float(stats.probplot(raw.z, dist="norm")[1][2]),
        "tukey_lambda_raw": lam,
        "pointwise_k_correction": float(theta[0] / target[0]) if target[0] else 1.0,
        "scan_k_correction": float(theta[2] / target[2]) if target[2] else 1.0,
    }
    lines = {"pointwise_sigma": raw.pointwise, "scan_sigma": raw.scan, "tukey_ppcc": ppcc_line}
    notes = raw.notes + [
        "lines are fitted to the raw binned points; the model holds them after the "
        "simulation-based bias correction (see *_correction figures)"
    ]
    yield Progress(total, total, "report")
    return model, FitReport("stem", lines, {"pointwise": hist}, figures, notes)


def calibrate_stem(
    image: np.ndarray | Sequence[np.ndarray], **kwargs: Any
) -> tuple[STEMNoise, FitReport]:
    """Calibrate the STEM noise model from atomic-resolution images (seed 001 §3.2).

    Parameters
    ----------
    image : numpy.ndarray or sequence of numpy.ndarray
        One ``(y, x)`` HAADF or BF image in 8-bit units (0-255), fast scan along x, with
        atoms; or several images (a sequence, or an ``(n, y, x)`` array) of the same
        detector settings, pooled (the paper
        calibrates 20 images per mode). More pixels give tighter fits; on synthetic
        HAADF images with the paper's noise the slopes came back within about 20 % from
        one 256 x 256 image, 10 % from one 512 x 512 image and 5 % from four.
    mode : {"haadf", "bf"}
        Imaging mode (bright or dark atoms).
    value_range : tuple of float or None
        Detector range; pixels near clipped values are left out of the fits.
    window_px : int
        Odd length of the cubic Savitzky-Golay smoothing along and across rows; atoms
        should have sigma of at least about a third of it (2.5 px for the default 7).
    patch_px : int
        Patch size for the background and atom-brightness ranges (the paper uses 256 px
        patches of larger images; 64 here so that one 256 px image gives 16).
    n_bins, min_count : int
        Number of intensity / gradient bins and the fewest pixels a bin needs (sparse
        bins are discarded, as in the paper's Fig. 3e).
    gradient_sigma_px : float
        Gaussian smoothing before the Sobel gradient; must match the model's
        ``scan_gradient_sigma_px`` (default 1.5).
    scan_knot_px : int
        Written into the model (not measured).
    iterations : int
        Rounds of the simulation-based bias correction (0 gives the raw fits).
    rng : int or None
        Seed of the simulations and the report's subsamples.

    Returns
    -------
    model : STEMNoise
        Ranges of atom brightness and background, scan and pointwise lines, lambda.
    report : FitReport
        Raw binned points and lines, Tukey-lambda PPCC curve and histogram.

    Raises
    ------
    ValueError
        Not 2-D images, too small, constant, NaN, mostly clipped, or without the
        gradient spread needed to fit the scan noise.

    Notes
    -----
    With ``S_x`` and ``S_y`` cubic Savitzky-Golay smoothings along and across rows,
    ``Y - S_x Y`` is pointwise noise (scan noise is smooth along rows) and
    ``Y - S_y Y`` is scan plus pointwise noise (both independent between rows);
    ``S_y S_x Y`` estimates the clean image, its intensity and (smoothed) Sobel
    gradient. The
    residual variances are divided by the filters' noise gain, compared with the
    intensity / gradient averaged with the same filter weights, binned, and fitted with
    lines; the Tukey-lambda shape is ``scipy.stats.ppcc_max`` of the normalised pointwise
    residual. These raw fits are biased: the estimated gradient carries noise
    (errors in variables) and the residuals mix neighbouring pixels (pulling lambda
    toward the normal value 0.14). The bias is measured by simulation: the fitted model
    is applied to the smoothed image, the same raw fits are made on the result, and the
    parameters are scaled by raw / simulated (lambda moved by a secant step, the first
    assuming the response ``1 - h`` of the filter's centre tap ``h``), for ``iterations``
    rounds. Every round reuses the same random numbers, so the rounds converge instead
    of wandering with the simulation noise.
    """
    return run_to_end(iter_calibrate_stem(image, **kwargs))


def _patch_levels(images: list[np.ndarray], mode: str, patch_px: int) -> tuple[np.ndarray, np.ndarray]:
    """Background level and atom brightness ``|b_central - b_background|`` (Eq. 2) per patch."""
    lows, highs = [], []
    for clean in images:
        height, width = clean.shape
        py, px = max(height // patch_px, 1), max(width // patch_px, 1)
        hy, hx = height // py, width // px
        patches = clean[: py * hy, : px * hx].reshape(py, hy, px, hx).transpose(0, 2, 1, 3)
        low, high = np.percentile(patches.reshape(py * px, -1), [1.0, 99.5], axis=1)
        lows.append(low)
        highs.append(high)
    low, high = np.concatenate(lows), np.concatenate(highs)
    return (low, high - low) if mode == "haadf" else (high, high - low)
