"""Scores of a denoised image against the noise-free simulation (numpy + scipy).

Every output is first mapped onto the truth by an affine fit (least-squares gain and
offset), so a method may return any units; all scores below use the fitted image.

* ``psnr`` (dB): ``10 log10(R^2 / MSE)`` with ``R`` = max - min of the truth.
* ``ssim``: mean structural similarity (Gaussian window, sigma 1.5 px; K1 0.01, K2 0.03; data
  range ``R``).
* ``f1`` (STEM only): atomic-column detection. Peaks are local maxima (HAADF) or minima
  (ABF) within a disc of 0.45 x the closest column spacing, whose prominence over the lowest
  value within ~1.2 column spacings exceeds half the 10th percentile of the truth's own
  prominences at its columns; a peak matches a true column within
  ``min(0.07 nm, 0.45 x closest spacing)`` (one-to-one); pixels within 3 px of the border
  are ignored. ``f1_truth`` is the same detector on the truth (a check: near 1).
* ``defects_kept`` / ``defects`` and ``defect_ratio``: for each vacancy or dopant site, its
  contrast relative to the lattice, ``(I_site - I_ref) / (I_ref - I_local)``: means in a
  0.05 nm disc at the site and (averaged) at its intact reference sites, and the mean within
  0.5 nm of the site; it does not change under any affine change of the image, so it needs no
  fit. ratio = output's / truth's; kept when within 30 % of 1.
* ``light_heavy_err`` (perovskite): the Z-contrast ratio (I_light - I_vacuum) / (I_heavy -
  I_vacuum) from 0.05 nm disc means averaged over the light (B-O) and over the heavy (A)
  columns, and the vacuum mean (averages, not medians: linear, so noise adds no bias);
  output's over truth's, minus 1 (-1: the light lattice is gone). Light over heavy, so that a
  vanished light lattice does not divide by zero; for small errors it is the heavy/light error
  with the sign flipped.
* ``invented``: peaks found in the vacuum (0.4 nm or more from any atom, eroded by 2 px)
  by the same detector, minus those found there in the truth (at least 0). HRTEM uses
  peaks of the absolute deviation from the vacuum level, either contrast polarity.

:func:`evaluate` scores any callable ``denoise(noisy, pixel_size_nm, modality, dose)``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
from scipy import ndimage
from scipy.optimize import linear_sum_assignment
from scipy.spatial import cKDTree

DEFECT_TOLERANCE = 0.30
DISC_RADIUS_NM = 0.05
LOCAL_HALF_WIDTH_NM = 0.5
MATCH_RADIUS_NM = 0.07
BORDER_PX = 3
SSIM_SIGMA_PX = 1.5


# --- image similarity ------------------------------------------------------------------------


def affine_fit(output: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """``gain * output + offset`` with gain and offset fitted to ``truth`` by least squares."""
    x = np.asarray(output, np.float64).ravel()
    y = np.asarray(truth, np.float64).ravel()
    x_mean, y_mean = x.mean(), y.mean()
    var = np.mean((x - x_mean) ** 2)
    gain = np.mean((x - x_mean) * (y - y_mean)) / var if var > 0 else 0.0
    return (gain * (np.asarray(output, np.float64) - x_mean) + y_mean)


def data_range(truth: np.ndarray) -> float:
    return float(np.max(truth) - np.min(truth))


def psnr(fitted: np.ndarray, truth: np.ndarray) -> float:
    """PSNR in dB of an (already fitted) image against the truth; range = truth max - min."""
    mse = float(np.mean((np.asarray(fitted, np.float64) - truth) ** 2))
    return float(10 * np.log10(data_range(truth) ** 2 / mse)) if mse > 0 else float("inf")


def ssim(fitted: np.ndarray, truth: np.ndarray) -> float:
    """Mean SSIM (Wang et al. 2004) with a Gaussian window of sigma :data:`SSIM_SIGMA_PX` pixels."""
    x, y = np.asarray(fitted, np.float64), np.asarray(truth, np.float64)
    c1, c2 = (0.01 * data_range(truth)) ** 2, (0.03 * data_range(truth)) ** 2

    def blur(a):
        return ndimage.gaussian_filter(a, SSIM_SIGMA_PX, mode="reflect", truncate=3.5)

    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx**2, blur(y * y) - my**2, blur(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    return float(s.mean())


# --- columns -------------------------------------------------------------------------------------


def inside(yx: np.ndarray, shape: tuple[int, int], border: float = BORDER_PX) -> np.ndarray:
    """Rows of ``yx`` (px) at least ``border`` px from every edge."""
    yx = np.asarray(yx, float).reshape(-1, 2)
    return ((yx[:, 0] >= border) & (yx[:, 0] <= shape[0] - 1 - border)
            & (yx[:, 1] >= border) & (yx[:, 1] <= shape[1] - 1 - border))


def column_spacing_px(columns_yx: np.ndarray) -> tuple[float, float]:
    """(closest, typical) nearest-neighbour column spacing in px: 5th percentile and median."""
    if len(columns_yx) < 2:
        return 4.0, 8.0
    dist, _ = cKDTree(columns_yx).query(columns_yx, k=2)
    nn = dist[:, 1]
    return float(np.percentile(nn, 5)), float(np.median(nn))


def prominence_map(signal: np.ndarray, background_radius: int) -> np.ndarray:
    """``signal`` minus its minimum within a square of half-width ``background_radius`` px."""
    return signal - ndimage.minimum_filter(signal, size=2 * background_radius + 1, mode="nearest")


def detect_peaks(signal: np.ndarray, min_distance: int, background_radius: int, threshold: float,
                 region: np.ndarray | None = None) -> np.ndarray:
    """``(row, column)`` of local maxima of ``signal`` (the largest value within a disc of radius
    ``min_distance`` px) whose prominence exceeds ``threshold``; only inside ``region`` (bool
    image) when given."""
    r = np.arange(-min_distance, min_distance + 1)
    disc = np.hypot(r[:, None], r[None, :]) <= min_distance
    local_max = signal >= ndimage.maximum_filter(signal, footprint=disc, mode="nearest")
    keep = local_max & (prominence_map(signal, background_radius) > threshold)
    if region is not None:
        keep &= region
    labels, n = ndimage.label(keep)  # a flat top counts once
    if n == 0:
        return np.zeros((0, 2))
    return np.array(ndimage.center_of_mass(keep, labels, range(1, n + 1))).reshape(-1, 2)


def match_count(found: np.ndarray, truth: np.ndarray, radius: float) -> int:
    """Number of one-to-one matches between two point sets within ``radius`` px."""
    if len(found) == 0 or len(truth) == 0:
        return 0
    d = np.hypot(*(found[:, None, :] - truth[None, :, :]).transpose(2, 0, 1))
    cost = np.where(d <= radius, d, 1e6)
    rows, cols = linear_sum_assignment(cost)
    return int(np.sum(cost[rows, cols] <= radius))


class ColumnDetector:
    """The column detector of one item, set from its truth (identical for every method).

    ``polarity`` is +1 for bright columns (HAADF), -1 for dark ones (ABF).
    """

    def __init__(self, truth: np.ndarray, columns_yx: np.ndarray, pixel_size_nm: float, polarity: int):
        self.polarity = polarity
        self.columns = np.asarray(columns_yx, float).reshape(-1, 2)
        closest, typical = column_spacing_px(self.columns)
        self.min_distance = max(1, int(round(0.45 * closest)))
        self.background_radius = max(2, int(round(1.2 * typical)))
        self.radius = min(MATCH_RADIUS_NM / pixel_size_nm, 0.45 * closest)
        prominence = prominence_map(polarity * truth, self.background_radius)
        at_columns = [_peak_near(prominence, yx) for yx in self.columns[inside(self.columns, truth.shape)]]
        self.threshold = 0.5 * float(np.percentile(at_columns, 10)) if at_columns else 0.0

    def peaks(self, image: np.ndarray, region: np.ndarray | None = None) -> np.ndarray:
        peaks = detect_peaks(self.polarity * image, self.min_distance, self.background_radius, self.threshold,
                             region)
        return peaks[inside(peaks, image.shape)]

    def f1(self, image: np.ndarray) -> float:
        found = self.peaks(image)
        truth = self.columns[inside(self.columns, image.shape)]
        tp = match_count(found, truth, self.radius)
        return 2 * tp / (len(found) + len(truth)) if len(found) + len(truth) else float("nan")


def _peak_near(image: np.ndarray, yx, radius: int = 1) -> float:
    """Largest value of ``image`` within ``radius`` px of ``yx`` (the sampled top of a column)."""
    y, x = int(round(yx[0])), int(round(yx[1]))
    return float(image[max(0, y - radius):y + radius + 1, max(0, x - radius):x + radius + 1].max())


# --- site intensities ---------------------------------------------------------------------------


def disc_means(image: np.ndarray, yx: np.ndarray, radius_px: float) -> np.ndarray:
    """Mean of ``image`` in a disc of ``radius_px`` around each ``(row, column)`` position."""
    yx = np.asarray(yx, float).reshape(-1, 2)
    r = max(radius_px, 1.0)
    offsets = np.array([(dy, dx) for dy in range(-int(r) - 1, int(r) + 2) for dx in range(-int(r) - 1, int(r) + 2)])
    out = np.empty(len(yx))
    for i, (y, x) in enumerate(yx):
        pix = np.round([y, x]).astype(int) + offsets
        d = np.hypot(pix[:, 0] - y, pix[:, 1] - x)
        ok = (d <= r) & np.all((pix >= 0) & (pix < image.shape), axis=1)
        out[i] = image[pix[ok, 0], pix[ok, 1]].mean()
    return out


def local_mean(image: np.ndarray, yx, half_width_px: float) -> float:
    """Mean of ``image`` in a square of half-width ``half_width_px`` around ``yx``."""
    y, x, h = int(round(yx[0])), int(round(yx[1])), int(round(half_width_px))
    return float(image[max(0, y - h):y + h + 1, max(0, x - h):x + h + 1].mean())


def defect_contrasts(image: np.ndarray, defects: list, radius_px: float, pixel_size_nm: float) -> np.ndarray:
    """Relative contrast of each defect site, unchanged by any affine change of ``image``:
    ``(I_site - I_ref) / (I_ref - I_local)``, with disc means at the site and (averaged) at its
    intact reference sites, and ``I_local`` the mean within :data:`LOCAL_HALF_WIDTH_NM` of the site."""
    half = LOCAL_HALF_WIDTH_NM / pixel_size_nm
    out = []
    for d in defects:
        site = disc_means(image, d["yx_px"], radius_px)[0]
        ref = float(np.mean(disc_means(image, d["ref_yx_px"], radius_px)))
        out.append((site - ref) / (ref - local_mean(image, d["yx_px"], half)))
    return np.array(out)


def light_heavy_ratio(image: np.ndarray, item, radius_px: float) -> float:
    """(I_light - I_vacuum) / (I_heavy - I_vacuum) of the item's light and heavy column classes
    (light over heavy, so that a light lattice that vanishes gives 0 rather than a division by 0)."""
    heavy, light = item.meta["heavy_light"]
    keep = inside(item.columns_yx_px, image.shape)
    vac = float(image[item.vacuum].mean())
    i_heavy = np.mean(disc_means(image, item.columns_yx_px[keep & (item.column_class == heavy)], radius_px))
    i_light = np.mean(disc_means(image, item.columns_yx_px[keep & (item.column_class == light)], radius_px))
    return float((i_light - vac) / (i_heavy - vac))


# --- vacuum -------------------------------------------------------------------------------------


def vacuum_region(item) -> np.ndarray:
    return ndimage.binary_erosion(item.vacuum, iterations=2)


class VacuumCounter:
    """Counts structure in the vacuum with the item's column detector (HRTEM: either polarity)."""

    def __init__(self, item, detector: ColumnDetector | None):
        self.region = vacuum_region(item)
        self.hrtem = item.modality == "HRTEM"
        truth = item.truth
        self.level = float(np.median(truth[item.vacuum])) if item.vacuum.any() else 0.0
        if self.hrtem:
            dev = np.abs(truth - self.level)
            if len(item.columns_yx_px) >= 2:
                self.detector = ColumnDetector(dev, item.columns_yx_px, item.pixel_size_nm, +1)
            else:
                self.detector = ColumnDetector(dev, np.zeros((0, 2)), item.pixel_size_nm, +1)
                self.detector.min_distance = max(1, int(round(0.1 / item.pixel_size_nm)))
                self.detector.background_radius = max(2, int(round(0.3 / item.pixel_size_nm)))
                self.detector.threshold = 0.5 * float(np.std(truth[~item.vacuum]))
        else:
            self.detector = detector
        self.truth_count = self.count(truth) if self.active else 0

    @property
    def active(self) -> bool:
        return bool(self.region.any()) and self.detector is not None

    def count(self, image: np.ndarray) -> int:
        signal = np.abs(image - self.level) if self.hrtem else image
        return len(self.detector.peaks(signal, self.region))


# --- one frame ----------------------------------------------------------------------------------


class ItemScorer:
    """Everything about an item that does not depend on the method (built once per item)."""

    def __init__(self, item):
        self.item = item
        self.radius_px = DISC_RADIUS_NM / item.pixel_size_nm
        polarity = {"STEM-HAADF": 1, "STEM-BF": -1}.get(item.modality)
        has_columns = len(item.columns_yx_px) >= 2
        self.detector = (ColumnDetector(item.truth, item.columns_yx_px, item.pixel_size_nm, polarity)
                         if polarity and has_columns else None)
        self.vacuum = VacuumCounter(item, self.detector)
        self.defects = item.meta.get("defects") or []
        self.truth_defects = (defect_contrasts(item.truth, self.defects, self.radius_px, item.pixel_size_nm)
                              if self.defects else None)
        self.truth_ratio = (light_heavy_ratio(item.truth, item, self.radius_px)
                            if item.meta.get("heavy_light") and item.vacuum.any() else None)

    def score(self, output: np.ndarray) -> dict:
        """All scores of one output (any units; fitted to the truth first)."""
        truth = self.item.truth
        if output.shape != truth.shape:
            raise ValueError(f"output shape {output.shape} differs from the truth's {truth.shape}")
        fitted = affine_fit(output, truth)
        row = {"psnr": psnr(fitted, truth), "ssim": ssim(fitted, truth)}
        if self.detector is not None:
            row["f1"] = self.detector.f1(fitted)
            row["f1_truth"] = self.detector.f1(truth)
        if self.defects:
            contrasts = defect_contrasts(fitted, self.defects, self.radius_px, self.item.pixel_size_nm)
            ratios = contrasts / self.truth_defects
            row["defect_ratio"] = [round(float(r), 3) for r in ratios]
            row["defects_kept"] = int(np.sum(np.abs(ratios - 1) <= DEFECT_TOLERANCE))
            row["defects"] = len(ratios)
        if self.truth_ratio is not None:
            row["light_heavy_err"] = light_heavy_ratio(fitted, self.item, self.radius_px) / self.truth_ratio - 1
        if self.vacuum.active:
            row["invented"] = max(0, self.vacuum.count(fitted) - self.vacuum.truth_count)
        return row


_SCORERS: dict[str, ItemScorer] = {}


def scorer_for(item) -> ItemScorer:
    """The (cached) :class:`ItemScorer` of an item."""
    if item.item_id not in _SCORERS:
        _SCORERS[item.item_id] = ItemScorer(item)
    return _SCORERS[item.item_id]


def score_frame(output: np.ndarray, frame) -> dict:
    """Scores of ``output`` for ``frame`` (a :class:`frames.Frame`), with the frame's labels."""
    row = {"frame": frame.frame_id, "scene": frame.item.scene, "signal": frame.item.meta["signal"],
           "modality": frame.modality, "variant": frame.variant, "level": frame.level, "dose_e_per_A2": frame.dose,
           "pixel_size_nm": round(frame.pixel_size_nm, 5)}
    row.update(scorer_for(frame.item).score(np.asarray(output, np.float64)))
    return row


DenoiseFn = Callable[[np.ndarray, float, str, float], np.ndarray]


def evaluate(denoise: DenoiseFn, frames: list, method: str = "callable") -> list[dict]:
    """Score a callable on frames.

    ``denoise(noisy, pixel_size_nm, modality, dose)`` gets the noisy frame ``(y, x)`` in
    electrons per pixel (float32), the pixel size in nm, the modality (``HRTEM``,
    ``STEM-HAADF`` or ``STEM-BF``) and the dose in e-/Å², and returns an image of the same
    shape in any units. Returns one row of scores per frame, with its run time in seconds.
    """
    rows = []
    for frame in frames:
        start = time.perf_counter()
        output = denoise(frame.noisy.copy(), frame.pixel_size_nm, frame.modality, frame.dose)
        seconds = time.perf_counter() - start
        rows.append({**score_frame(output, frame), "method": method, "seconds": seconds})
    return rows
