"""Image-quality and localisation metrics, with and without ground truth.

- Reference metrics: PSNR and SSIM (scikit-image), IoU of thresholded atom maps (seed 000
  Table 2), matching of found to true atom positions (precision, recall, F1, RMS error).
- No-reference metrics for real series: uMSE/uPSNR from temporally adjacent noisy frames
  (seed 002 eqs. 1-2, after Marcos-Morales et al. 2023) and the consecutive-frame
  structural similarity CSS (seed 004 eq. 10).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from tem_denoise.arrays import check_finite, check_image
from tem_denoise.memory import require


WORKING_COPIES = 4
"""float64 copies of an input that scoring holds at once (inputs, differences, SSIM terms)."""


def _real(values: np.ndarray, name: str, ndims: tuple[int, ...] = (2, 3)) -> np.ndarray:
    """``values`` as float64 after the API-edge checks: a real-valued image, NaN/Inf refused."""
    shape = tuple(check_image(values, name, ndims).shape)
    require(8.0 * WORKING_COPIES * float(np.prod(shape, dtype=np.float64)), f"scoring {name} of shape {shape}")
    return check_finite(np.asarray(values, dtype=np.float64), name)


def _pair(reference: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two images of one shape as float64; NaN/Inf refused in either."""
    reference, test = _real(reference, "the reference"), _real(test, "the test image")
    if reference.shape != test.shape:
        raise ValueError(f"shapes differ: reference {reference.shape}, test {test.shape}")
    return reference, test


def _range(reference: np.ndarray, data_range: float | None) -> float:
    value = float(np.ptp(reference)) if data_range is None else float(data_range)
    if not value > 0:
        raise ValueError("data_range must be positive; the reference is constant, pass data_range explicitly")
    return value


def _per_frame(metric, reference: np.ndarray, test: np.ndarray, data_range: float | None) -> float | np.ndarray:
    """``metric(reference, test, data_range=...)`` of a frame, or per frame of a stack (one range for all)."""
    reference, test = _pair(reference, test)
    value = _range(reference, data_range)
    if reference.ndim == 2:
        return float(metric(reference, test, data_range=value))
    return np.array([metric(r, t, data_range=value) for r, t in zip(reference, test)])


def psnr(reference: np.ndarray, test: np.ndarray, data_range: float | None = None) -> float | np.ndarray:
    """Peak signal-to-noise ratio in dB.

    Parameters
    ----------
    reference, test : array_like
        (y, x) frames or (t, y, x) stacks of the same shape; ``reference`` is the ground truth.
    data_range : float, optional
        Peak value range; default ``max - min`` of the whole reference.

    Returns
    -------
    float or numpy.ndarray
        PSNR of a frame, or (t,) PSNR per frame of a stack.
    """
    return _per_frame(peak_signal_noise_ratio, reference, test, data_range)


def ssim(reference: np.ndarray, test: np.ndarray, data_range: float | None = None) -> float | np.ndarray:
    """Structural similarity (scikit-image defaults: 7 x 7 uniform window).

    Parameters
    ----------
    reference, test : array_like
        (y, x) frames or (t, y, x) stacks of the same shape.
    data_range : float, optional
        Default ``max - min`` of the whole reference.

    Returns
    -------
    float or numpy.ndarray
        SSIM of a frame, or (t,) SSIM per frame of a stack.
    """
    return _per_frame(structural_similarity, reference, test, data_range)


def _binary(atom_map: np.ndarray, threshold_rel: float) -> np.ndarray:
    frames = atom_map if atom_map.ndim == 3 else atom_map[None]
    peak = frames.max(axis=(1, 2), keepdims=True)
    return (frames >= threshold_rel * peak) & (peak > 0)


def atom_map_iou(predicted: np.ndarray, truth: np.ndarray, threshold_rel: float = 0.5) -> float:
    """Intersection over union of atom maps binarised at a fraction of each frame's maximum.

    Seed 000 reports IoU of localisation maps (Table 2) without stating the threshold; we
    binarise each frame at half its maximum (``threshold_rel=0.5``) by default, which for the
    ground-truth maps (Gaussians of sigma 0.75 px on black) gives discs of radius ~0.9 px.

    Parameters
    ----------
    predicted, truth : array_like
        (y, x) or (t, y, x) non-negative maps with bright atoms on a dark background.
    threshold_rel : float
        Fraction of each frame's maximum above which a pixel counts as atom.

    Returns
    -------
    float
        |A and B| / |A or B| pooled over all frames; 1.0 when both maps are empty.
    """
    predicted, truth = _pair(predicted, truth)
    if not 0 < threshold_rel <= 1:
        raise ValueError(f"threshold_rel must be in (0, 1]; got {threshold_rel}")
    a, b = _binary(predicted, threshold_rel), _binary(truth, threshold_rel)
    union = np.count_nonzero(a | b)
    return 1.0 if union == 0 else np.count_nonzero(a & b) / union


@dataclass(frozen=True)
class MatchResult:
    """Outcome of :func:`match_positions`.

    Attributes
    ----------
    precision, recall, f1 : float
        Matched / found, matched / true, and their harmonic mean (1.0 when both sets are empty).
    rms_error : float
        Root-mean-square distance of matched pairs, in the units of the positions (NaN if none).
    pairs : numpy.ndarray
        (k, 2) int indices (found, true) of the matched pairs.
    n_found, n_true : int
        Sizes of the two sets.
    """

    precision: float
    recall: float
    f1: float
    rms_error: float
    pairs: np.ndarray
    n_found: int
    n_true: int


def _as_points(points: np.ndarray, name: str) -> np.ndarray:
    points = np.asarray(points, dtype=np.float64)
    if points.size == 0:
        points = points.reshape(0, points.shape[-1] if points.ndim == 2 else 2)
    if points.ndim != 2 or points.shape[1] not in (2, 3):
        raise ValueError(f"{name} must be (n, 2) rows of (y, x) or (n, 3) rows of (frame, y, x); got {points.shape}")
    if not np.all(np.isfinite(points)):
        raise ValueError(f"{name} contains NaN or inf")
    return points


def match_positions(found: np.ndarray, true: np.ndarray, radius: float) -> MatchResult:
    """Match found to true positions one-to-one within a radius (minimum total distance).

    Candidate pairs within ``radius`` come from a KD-tree; each connected group of
    candidates is solved with the Hungarian algorithm (``linear_sum_assignment``), so
    thousands of atoms are cheap.

    Parameters
    ----------
    found, true : array_like
        (n, 2) positions (y, x), or (n, 3) rows (frame, y, x) that only match within the
        same frame. Any consistent unit (px or nm).
    radius : float
        Largest distance of a match, same unit (e.g. half the atom separation).

    Returns
    -------
    MatchResult
        Precision, recall, F1, RMS error of matched pairs and the pairs.
    """
    found, true = _as_points(found, "found"), _as_points(true, "true")
    if found.shape[1] != true.shape[1]:
        raise ValueError("found and true must both have frame columns or both lack them")
    if not radius > 0:
        raise ValueError(f"radius must be positive; got {radius}")
    if found.shape[1] == 3:
        # put frames far apart so that no pair crosses frames
        found, true = found.copy(), true.copy()
        found[:, 0] *= 4 * radius
        true[:, 0] *= 4 * radius
    pairs = _assign(found, true, radius)
    n_found, n_true, n_matched = len(found), len(true), len(pairs)
    precision = n_matched / n_found if n_found else float(n_true == 0)
    recall = n_matched / n_true if n_true else float(n_found == 0)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    distances = np.linalg.norm(found[pairs[:, 0]] - true[pairs[:, 1]], axis=1)
    rms = float(np.sqrt(np.mean(distances**2))) if n_matched else float("nan")
    return MatchResult(precision, recall, f1, rms, pairs, n_found, n_true)


def _assign(found: np.ndarray, true: np.ndarray, radius: float) -> np.ndarray:
    """One-to-one pairs (found index, true index) within radius minimising the total distance."""
    empty = np.zeros((0, 2), dtype=np.int64)
    if len(found) == 0 or len(true) == 0:
        return empty
    edges = cKDTree(found).sparse_distance_matrix(cKDTree(true), radius, output_type="ndarray")
    if len(edges) == 0:
        return empty
    rows, cols, distances = edges["i"], edges["j"], edges["v"]
    n, m = len(found), len(true)
    # found and true as one node set (true offset by n) for connected components
    graph = coo_matrix((np.ones(len(rows)), (rows, cols + n)), shape=(n + m, n + m))
    _, labels = connected_components(graph, directed=False)
    edge_label = labels[rows]
    found_count = np.bincount(labels[:n], minlength=n + m)
    true_count = np.bincount(labels[n:], minlength=n + m)
    single = (found_count[edge_label] == 1) & (true_count[edge_label] == 1)
    matched = [np.stack([rows[single], cols[single]], axis=1)]
    for label in np.unique(edge_label[~single]):
        edge = edge_label == label
        found_ids, found_pos = np.unique(rows[edge], return_inverse=True)
        true_ids, true_pos = np.unique(cols[edge], return_inverse=True)
        cost = np.full((len(found_ids), len(true_ids)), 1e6 * radius)
        cost[found_pos, true_pos] = distances[edge]
        chosen_found, chosen_true = linear_sum_assignment(cost)
        keep = cost[chosen_found, chosen_true] <= radius
        matched.append(np.stack([found_ids[chosen_found[keep]], true_ids[chosen_true[keep]]], axis=1))
    return np.concatenate(matched).astype(np.int64)


def _check_series(noisy: np.ndarray, name: str) -> np.ndarray:
    return _real(noisy, name, ndims=(3,))


@dataclass(frozen=True)
class UnsupervisedMSE:
    """Outcome of :func:`umse`.

    Attributes
    ----------
    umse : float
        Mean over the evaluated frames of eq. 1 (image units squared); can be negative
        when the denoising error is below the estimation noise.
    upsnr : float
        Eq. 2, ``10 log10(peak^2 / umse)`` in dB; +inf when ``umse <= 0``.
    per_frame : numpy.ndarray
        uMSE of each evaluated frame.
    frames : numpy.ndarray
        Indices (into ``noisy``) of the evaluated frames.
    peak : float
        The M of eq. 2.
    """

    umse: float
    upsnr: float
    per_frame: np.ndarray
    frames: np.ndarray
    peak: float


def umse(
    denoised: np.ndarray,
    noisy: np.ndarray,
    *,
    first_frame: int = 0,
    offsets: tuple[int, int, int] = (-1, 1, 2),
    peak: float | None = None,
) -> UnsupervisedMSE:
    """Unsupervised MSE and PSNR from temporally adjacent noisy frames (seed 002 eqs. 1-2).

    For denoised frame ``f(y_i)`` the noisy frames ``a = y_{i+o_a}``, ``b = y_{i+o_b}``,
    ``c = y_{i+o_c}`` serve as independent noisy views of the same scene::

        uMSE_i = mean((f(y_i) - a)^2) - mean((b - c)^2) / 2
        uPSNR  = 10 log10(M^2 / mean_i uMSE_i)

    The paper does not say which neighbours are a, b, c; the default offsets (-1, +1, +2)
    are our choice. The estimate is unbiased only if the noise of a, b, c is independent of
    ``f(y_i)``: a video denoiser that saw frame i-1 makes it optimistic, so pick offsets
    outside its temporal window. Scene motion between frames inflates uMSE.

    Parameters
    ----------
    denoised : array_like
        (t', y, x) denoised frames.
    noisy : array_like
        (t, y, x) raw frames; ``denoised[k]`` corresponds to ``noisy[k + first_frame]``.
    first_frame : int
        Index in ``noisy`` of ``denoised[0]`` (1 for outputs that drop the first frame).
    offsets : (int, int, int)
        Frame offsets of a, b, c relative to i; b and c must differ.
    peak : float, optional
        M of eq. 2, "the intensity peak of the experimental images"; default
        ``noisy.max()``.

    Returns
    -------
    UnsupervisedMSE
        uMSE, uPSNR and per-frame values.

    Raises
    ------
    ValueError
        If shapes disagree or no denoised frame has all three neighbours.
    """
    denoised, noisy = _check_series(denoised, "denoised"), _check_series(noisy, "noisy")
    if denoised.shape[1:] != noisy.shape[1:]:
        raise ValueError(f"frame shapes differ: denoised {denoised.shape[1:]}, noisy {noisy.shape[1:]}")
    o_a, o_b, o_c = (int(o) for o in offsets)
    if o_b == o_c or 0 in (o_a, o_b, o_c):
        raise ValueError(f"offsets must be non-zero and b != c; got {offsets}")
    index = np.arange(len(denoised)) + first_frame
    lowest, highest = min(o_a, o_b, o_c), max(o_a, o_b, o_c)
    usable = (index + lowest >= 0) & (index + highest < len(noisy))
    if not usable.any():
        raise ValueError(
            f"no denoised frame has neighbours at offsets {offsets} inside the {len(noisy)} noisy "
            "frames; uMSE needs at least 4 frames (check first_frame)"
        )
    k, i = np.flatnonzero(usable), index[usable]
    error = np.mean((denoised[k] - noisy[i + o_a]) ** 2, axis=(1, 2))
    noise = np.mean((noisy[i + o_b] - noisy[i + o_c]) ** 2, axis=(1, 2)) / 2
    per_frame = error - noise
    value = float(per_frame.mean())
    m = float(noisy.max()) if peak is None else float(peak)
    if value <= 0:
        warnings.warn(
            f"uMSE = {value:.3g} <= 0: the denoising error is below the estimation noise; "
            "uPSNR is reported as +inf",
            RuntimeWarning,
            stacklevel=2,
        )
        upsnr = float("inf")
    else:
        upsnr = float(10 * np.log10(m**2 / value))
    return UnsupervisedMSE(value, upsnr, per_frame, i, m)


def css(
    first: np.ndarray, second: np.ndarray, *, c1: float = 1e-4, c2: float = 9e-4, data_range: float = 1.0
) -> float:
    """Consecutive-frame structural similarity of two frames (seed 004 eq. 10).

    A single global SSIM term: ``(2 mu1 mu2 + C1)(2 cov12 + C2) /
    ((mu1^2 + mu2^2 + C1)(var1 + var2 + C2))`` over the whole frame.

    Parameters
    ----------
    first, second : array_like
        (y, x) denoised frames n and n+1.
    c1, c2 : float
        Stabilising constants of the paper (1e-4 and 9e-4, i.e. (0.01 L)^2 and (0.03 L)^2
        for intensities scaled to [0, 1]).
    data_range : float
        L: the constants are multiplied by ``data_range**2``, so pass the intensity range
        of unnormalised data (1.0 reproduces the paper for [0, 1] images).

    Returns
    -------
    float
        CSS, at most 1 (identical frames).
    """
    a, b = _pair(first, second)
    if a.ndim != 2:
        raise ValueError(f"css compares two (y, x) frames; got shape {a.shape}. Use css_series for stacks.")
    k1, k2 = c1 * data_range**2, c2 * data_range**2
    mu_a, mu_b = a.mean(), b.mean()
    covariance = np.mean((a - mu_a) * (b - mu_b))
    return float(
        (2 * mu_a * mu_b + k1) * (2 * covariance + k2) / ((mu_a**2 + mu_b**2 + k1) * (a.var() + b.var() + k2))
    )


def css_series(stack: np.ndarray, **kwargs) -> np.ndarray:
    """CSS of every pair of consecutive frames of a stack.

    Parameters
    ----------
    stack : array_like
        (t, y, x) denoised frames, t >= 2.
    **kwargs
        ``c1``, ``c2``, ``data_range`` of :func:`css`.

    Returns
    -------
    numpy.ndarray
        (t - 1,) CSS(frame n, frame n + 1).
    """
    stack = _check_series(stack, "stack")
    if len(stack) < 2:
        raise ValueError("css_series needs at least two frames")
    return np.array([css(stack[n], stack[n + 1], **kwargs) for n in range(len(stack) - 1)])
