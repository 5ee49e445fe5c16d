"""Atom-column localisation: peak finding and vectorised sub-pixel refinement.

Candidates come from ``skimage.feature.peak_local_max`` (optionally on a scale-normalised
Laplacian-of-Gaussian response). Each candidate is refined on a small patch either by the
centre of mass or by a 2D Gaussian fit ``background + amplitude * exp(-r^2 / (2 sigma^2))``
solved for all atoms at once by batched Levenberg-Marquardt on stacked patches (seed 000
§4.3 locates atoms after denoising; the fit is our choice).

Tables are ``dict[str, numpy.ndarray]`` with the columns listed in :data:`ATOM_COLUMNS`;
positions are in pixels of the frame, (y, x) with pixel centres at integer coordinates.
"""

from __future__ import annotations

from collections.abc import Generator
from os import PathLike
from typing import Literal

import numpy as np
from scipy import ndimage as ndi
from scipy.spatial import cKDTree
from skimage.feature import peak_local_max

from tem_denoise.arrays import as_float32, check_image
from tem_denoise.memory import require_frame
from tem_denoise.progress import Progress, run_to_end

from .table import Table, validate_table, write_csv

Method = Literal["gaussian", "com"]

ATOM_COLUMNS = ("frame", "y_px", "x_px", "intensity", "sigma_px", "background", "residual", "quality")
"""Columns of an atom table: frame index; position (px); fitted peak height above the local
background (image units); Gaussian sigma (px); local background; RMS fit residual; quality
(fraction of the patch variance explained by the Gaussian model, 0..1)."""

_LM_ITERATIONS = 30


BYTES_PER_PIXEL = 48
"""Working memory of atom finding per frame pixel: float64 frame, filtered copies, peak masks."""


def _check_frame(frame: np.ndarray) -> np.ndarray:
    """One (y, x) frame as float64; colour, complex and NaN/Inf input refused; memory checked."""
    check_image(frame, "the frame", ndims=(2,))
    require_frame(np.shape(frame), BYTES_PER_PIXEL, "atom finding")
    return as_float32(frame, "the frame").astype(np.float64)


def find_atoms(
    frame: np.ndarray,
    min_separation_px: float,
    *,
    threshold_rel: float | None = 0.2,
    threshold_abs: float | None = None,
    log_sigma_px: float | None = None,
) -> np.ndarray:
    """Find candidate atom columns as local maxima.

    Parameters
    ----------
    frame : array_like
        (y, x) image, atoms bright (invert dark-atom HRTEM contrast first).
    min_separation_px : float
        Minimum distance between two atoms in pixels (Euclidean).
    threshold_rel : float, optional
        Keep peaks above ``median + threshold_rel * (max - median)`` of the searched image
        (our definition: the median stands for the background, so that neither an offset
        nor the negative rings of the LoG response shift the threshold, unlike skimage's
        fraction of the maximum). Default 0.2 (our choice).
    threshold_abs : float, optional
        Keep peaks above this absolute value; if both thresholds are given the higher wins.
    log_sigma_px : float, optional
        Search the scale-normalised Laplacian-of-Gaussian response ``-sigma^2 LoG`` at this
        sigma (about the atom sigma) instead of the image; suppresses noise and background.

    Returns
    -------
    numpy.ndarray
        (n, 2) int64 candidate positions (y, x) in pixels, strongest first.
    """
    image = _check_frame(frame)
    if not min_separation_px >= 1:
        raise ValueError(f"min_separation_px must be >= 1 pixel; got {min_separation_px}")
    if log_sigma_px is not None:
        if log_sigma_px <= 0:
            raise ValueError(f"log_sigma_px must be positive; got {log_sigma_px}")
        image = -(log_sigma_px**2) * ndi.gaussian_laplace(image, log_sigma_px)
    thresholds = []
    if threshold_rel is not None:
        if not 0 <= threshold_rel <= 1:
            raise ValueError(f"threshold_rel must be within [0, 1]; got {threshold_rel}")
        low, high = np.median(image), image.max()
        thresholds.append(low + threshold_rel * (high - low))
    if threshold_abs is not None:
        thresholds.append(float(threshold_abs))
    peaks = peak_local_max(
        image,
        min_distance=1,
        threshold_abs=max(thresholds) if thresholds else None,
        exclude_border=False,
    ).astype(np.int64)
    peaks = peaks[np.argsort(-image[peaks[:, 0], peaks[:, 1]], kind="stable")]
    # the peak pixels of atoms min_separation_px apart can be up to sqrt(2) px closer
    return peaks[_thin(peaks, max(1.0, min_separation_px - np.sqrt(2) - 1e-6))]


_VECTORISED_PAIRS = 1_000_000
"""Most close pairs (estimated) thinned at once, 16 MB of index pairs (our choice); beyond,
points are thinned one kept point at a time, in memory proportional to the number of points."""


def _thin(points: np.ndarray, radius: float) -> np.ndarray:
    """Greedy thinning of points ordered strongest first: keep a point unless a stronger
    kept point lies within ``radius``. Returns a boolean mask.

    Memory and time stay bounded by the number of points whatever the radius: when few points
    are close (estimated from an evenly spread sample of 1000) the close pairs are thinned at
    once, otherwise each kept point suppresses its neighbours in turn. Both give the same mask.
    """
    if len(points) == 0:
        return np.zeros(0, dtype=bool)
    tree = cKDTree(points)
    sample = points[:: max(1, len(points) // 1000)]
    neighbours = tree.query_ball_point(sample, radius, return_length=True).mean() - 1
    if neighbours * len(points) / 2 <= _VECTORISED_PAIRS:
        return _thin_pairs(tree.query_pairs(radius, output_type="ndarray"), len(points))
    return _thin_greedy(tree, points, radius)


def _thin_pairs(pairs: np.ndarray, n: int) -> np.ndarray:
    """Greedy thinning as a fixed-point iteration over the close pairs; it reaches the greedy
    result after as many rounds as the longest chain of close points."""
    stronger, weaker = pairs.min(axis=1), pairs.max(axis=1)
    keep = np.ones(n, dtype=bool)
    while True:
        suppressed = np.zeros(n, dtype=bool)
        suppressed[weaker[keep[stronger]]] = True
        if np.array_equal(~suppressed, keep):
            return keep
        keep = ~suppressed


def _thin_greedy(tree: cKDTree, points: np.ndarray, radius: float) -> np.ndarray:
    """Greedy thinning one kept point at a time. Kept points are more than ``radius`` apart,
    so each point lies near a handful of them and the total work is linear in the points."""
    keep = np.zeros(len(points), dtype=bool)
    suppressed = np.zeros(len(points), dtype=bool)
    for i in range(len(points)):
        if suppressed[i]:
            continue
        keep[i] = True
        suppressed[tree.query_ball_point(points[i], radius)] = True
    return keep


def _patches(frame: np.ndarray, centres: np.ndarray, radius: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stacked (n, m, m) patches around integer centres, NaN outside the frame or the disc."""
    offsets = np.arange(-radius, radius + 1)
    padded = np.pad(frame, radius, mode="constant", constant_values=np.nan)
    rows = centres[:, 0, None, None] + radius + offsets[None, :, None]
    cols = centres[:, 1, None, None] + radius + offsets[None, None, :]
    patches = padded[rows, cols]
    dy, dx = np.meshgrid(offsets, offsets, indexing="ij")
    patches[:, dy**2 + dx**2 > (radius + 0.5) ** 2] = np.nan
    return patches, dy.astype(np.float64), dx.astype(np.float64)


def _centre_of_mass(patches: np.ndarray, dy: np.ndarray, dx: np.ndarray) -> tuple[np.ndarray, ...]:
    background = np.nanmin(patches, axis=(1, 2))
    weights = np.nan_to_num(patches - background[:, None, None], nan=0.0)
    total = weights.sum(axis=(1, 2))
    total = np.where(total > 0, total, 1.0)
    y0 = (weights * dy).sum(axis=(1, 2)) / total
    x0 = (weights * dx).sum(axis=(1, 2)) / total
    r2 = (dy - y0[:, None, None]) ** 2 + (dx - x0[:, None, None]) ** 2
    sigma = np.sqrt((weights * r2).sum(axis=(1, 2)) / (2 * total))
    amplitude = np.nanmax(patches, axis=(1, 2)) - background
    return amplitude, y0, x0, np.maximum(sigma, 0.3), background


def _gaussian(params: np.ndarray, dy: np.ndarray, dx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Model values (n, k) and Jacobian (n, k, 5) for params (n, 5) = A, y0, x0, sigma, B."""
    amplitude, y0, x0, sigma, _ = (params[:, i, None] for i in range(5))
    ry, rx = dy[None, :] - y0, dx[None, :] - x0
    r2 = ry**2 + rx**2
    g = np.exp(-r2 / (2 * sigma**2))
    ag = amplitude * g
    jacobian = np.stack(
        [g, ag * ry / sigma**2, ag * rx / sigma**2, ag * r2 / sigma**3, np.ones_like(g)], axis=-1
    )
    return params[:, 4, None] + ag, jacobian


def _fit_gaussians(patches: np.ndarray, dy: np.ndarray, dx: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Batched Levenberg-Marquardt fit of one Gaussian per patch; returns params (n, 5).

    Each fit stops after 30 iterations, once an accepted step improves its cost by less
    than 1e-9 relative, or once its damping exceeds 1e8 (no step helps any more).
    """
    n = len(patches)
    values = patches.reshape(n, -1)
    weights = np.isfinite(values).astype(np.float64)
    values = np.where(weights > 0, values, 0.0)
    dy, dx = dy.ravel(), dx.ravel()
    params = start.copy()
    damping = np.full(n, 1e-3)
    model, jacobian = _gaussian(params, dy, dx)
    cost = np.sum(weights * (values - model) ** 2, axis=1)
    active = np.arange(n)
    eye = np.eye(5)
    for _ in range(_LM_ITERATIONS):
        if len(active) == 0:
            break
        w, jac = weights[active], jacobian[active]
        transposed = (jac * w[:, :, None]).transpose(0, 2, 1)
        jtj = transposed @ jac
        jtr = (transposed @ (values[active] - model[active])[:, :, None])[:, :, 0]
        scale = np.einsum("nii->ni", jtj)
        scale = scale + 1e-9 * scale.max(axis=1, keepdims=True) + np.finfo(float).tiny
        system = jtj + (damping[active, None] * scale)[:, :, None] * eye
        try:
            step = np.linalg.solve(system, jtr[:, :, None])[:, :, 0]
        except np.linalg.LinAlgError:  # a flat patch made one system singular: least-norm steps
            step = (np.linalg.pinv(system) @ jtr[:, :, None])[:, :, 0]
        trial = params[active] + step
        trial[:, 3] = np.abs(trial[:, 3])
        trial_model, trial_jacobian = _gaussian(trial, dy, dx)
        trial_cost = np.sum(w * (values[active] - trial_model) ** 2, axis=1)
        better = np.isfinite(trial_cost) & (trial_cost < cost[active])
        improved = active[better]
        converged = better & (cost[active] - trial_cost <= 1e-9 * cost[active])
        params[improved] = trial[better]
        model[improved] = trial_model[better]
        jacobian[improved] = trial_jacobian[better]
        cost[improved] = trial_cost[better]
        damping[active] = np.where(better, damping[active] / 3, damping[active] * 4)
        active = active[~converged & (damping[active] < 1e8)]
    return params


def _quality(patches: np.ndarray, params: np.ndarray, dy: np.ndarray, dx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """RMS residual and R^2 (clipped to [0, 1]) of the Gaussian model on each patch."""
    n = len(patches)
    values = patches.reshape(n, -1)
    valid = np.isfinite(values)
    model, _ = _gaussian(params, dy.ravel(), dx.ravel())
    residual = np.where(valid, values - model, 0.0)
    count = valid.sum(axis=1)
    ssr = np.sum(residual**2, axis=1)
    mean = np.nanmean(values, axis=1)
    sst = np.sum(np.where(valid, values - mean[:, None], 0.0) ** 2, axis=1)
    r2 = np.where(sst > 0, 1 - ssr / np.where(sst > 0, sst, 1.0), 0.0)
    return np.sqrt(ssr / count), np.clip(r2, 0.0, 1.0)


def refine_atoms(
    frame: np.ndarray,
    candidates: np.ndarray,
    *,
    method: Method = "gaussian",
    patch_radius_px: int = 3,
    sigma_guess_px: float | None = None,
) -> Table:
    """Refine candidate positions to sub-pixel precision.

    Parameters
    ----------
    frame : array_like
        (y, x) image.
    candidates : array_like
        (n, 2) integer (y, x) pixel positions, e.g. from :func:`find_atoms`.
    method : {"gaussian", "com"}
        2D Gaussian fit (amplitude, sigma, background; batched Levenberg-Marquardt, at most
        30 iterations) or centre of mass above the patch minimum. A fit that leaves the
        patch or gives a non-physical sigma falls back to the centre of mass.
    patch_radius_px : int
        Radius of the disc of pixels used per atom. Keep it below the atom separation so
        neighbours do not bias the fit; default 3 (our choice).
    sigma_guess_px : float, optional
        Starting sigma of the fit; default the second moment of the patch.

    Returns
    -------
    dict[str, numpy.ndarray]
        Columns ``y_px``, ``x_px``, ``intensity``, ``sigma_px``, ``background``,
        ``residual``, ``quality`` (see :data:`ATOM_COLUMNS`); one row per candidate.
    """
    image = _check_frame(frame)
    centres = np.asarray(candidates)
    if centres.size == 0:
        centres = centres.reshape(0, 2)
    if centres.ndim != 2 or centres.shape[1] != 2:
        raise ValueError(f"candidates must be an (n, 2) array of (y, x); got shape {centres.shape}")
    centres = np.rint(centres).astype(np.int64)
    if np.any(centres < 0) or np.any(centres >= image.shape):
        raise ValueError(f"candidates must lie inside the frame of shape {image.shape}")
    radius = int(patch_radius_px)
    if radius < 1:
        raise ValueError(f"patch_radius_px must be >= 1; got {patch_radius_px}")
    if method not in ("gaussian", "com"):
        raise ValueError(f"method must be 'gaussian' or 'com'; got {method!r}")
    if len(centres) == 0:
        return {name: np.zeros(0) for name in ATOM_COLUMNS[1:]}
    patches, dy, dx = _patches(image, centres, radius)
    params = np.stack(_centre_of_mass(patches, dy, dx), axis=1)
    if method == "gaussian":
        start = params.copy()
        if sigma_guess_px is not None:
            start[:, 3] = float(sigma_guess_px)
        fitted = _fit_gaussians(patches, dy, dx, start)
        sane = (
            np.all(np.isfinite(fitted), axis=1)
            & (np.abs(fitted[:, 1]) <= radius)
            & (np.abs(fitted[:, 2]) <= radius)
            & (fitted[:, 3] > 0.2)
            & (fitted[:, 3] < 2 * radius)
            & (fitted[:, 0] > 0)
        )
        params = np.where(sane[:, None], fitted, params)
    residual, quality = _quality(patches, params, dy, dx)
    return {
        "y_px": centres[:, 0] + params[:, 1],
        "x_px": centres[:, 1] + params[:, 2],
        "intensity": params[:, 0],
        "sigma_px": params[:, 3],
        "background": params[:, 4],
        "residual": residual,
        "quality": quality,
    }


def locate_atoms(
    frame: np.ndarray,
    min_separation_px: float,
    *,
    threshold_rel: float | None = 0.2,
    threshold_abs: float | None = None,
    log_sigma_px: float | None = None,
    method: Method = "gaussian",
    patch_radius_px: int | None = None,
) -> Table:
    """Find and refine the atoms of one frame.

    Parameters
    ----------
    frame : array_like
        (y, x) image, atoms bright.
    min_separation_px, threshold_rel, threshold_abs, log_sigma_px
        As in :func:`find_atoms`.
    method : {"gaussian", "com"}
        As in :func:`refine_atoms`.
    patch_radius_px : int, optional
        As in :func:`refine_atoms`; default ``max(2, round(min_separation_px / 2))``.

    Returns
    -------
    dict[str, numpy.ndarray]
        The atom table (:data:`ATOM_COLUMNS`) with ``frame`` = 0. Of two atoms refined to
        less than ``0.9 * min_separation_px`` apart only the stronger candidate (higher
        peak in the searched image) is kept (the 10 %
        margin, our choice, spares true neighbours at the minimum distance whose fitted
        positions scatter by a fraction of a pixel).
    """
    candidates = find_atoms(
        frame,
        min_separation_px,
        threshold_rel=threshold_rel,
        threshold_abs=threshold_abs,
        log_sigma_px=log_sigma_px,
    )
    radius = max(2, int(round(min_separation_px / 2))) if patch_radius_px is None else patch_radius_px
    refined = refine_atoms(frame, candidates, method=method, patch_radius_px=radius)
    keep = _thin(np.stack([refined["y_px"], refined["x_px"]], axis=1), 0.9 * min_separation_px)
    return {"frame": np.zeros(int(keep.sum()), dtype=np.int64), **{k: v[keep] for k, v in refined.items()}}


SEPARATION_PER_SPACING = 0.5
"""Minimum atom separation as a fraction of :func:`lattice_spacing` (our choice): below the
nearest neighbours of lattices with a basis (MoS2, graphene: about 0.58 of the spacing found),
well above the sub-pixel scatter of one atom's noisy peaks."""


def _autocorrelation(frames: list[np.ndarray], reach: int) -> np.ndarray:
    """Mean autocorrelation of Hann-windowed, mean-free frames within ``reach`` px of zero lag,
    corrected for the window's own overlap; zero lag at ``[reach, reach]``."""
    ny, nx = frames[0].shape
    window = np.outer(np.hanning(ny), np.hanning(nx))
    padded = (2 * ny, 2 * nx)
    power = sum(np.abs(np.fft.rfft2((f - f.mean()) * window, s=padded)) ** 2 for f in frames)
    overlap = np.fft.irfft2(np.abs(np.fft.rfft2(window, s=padded)) ** 2, s=padded)
    correlation = np.fft.irfft2(power, s=padded) / np.maximum(overlap, 1e-12 * overlap.max())
    correlation = np.fft.fftshift(correlation)
    return correlation[ny - reach: ny + reach + 1, nx - reach: nx + reach + 1]


def lattice_spacing(frames: np.ndarray, max_frames: int = 4, max_spacing_px: float | None = None) -> float:
    """The shortest repeat distance of the atom columns in pixels, read off the image.

    The autocorrelation of the image peaks at vectors between columns. Past its central peak
    (the columns' own width and the noise at zero lag, which ends at the first minimum of the
    radially averaged autocorrelation) the nearest local maximum above the mean that holds at
    least a quarter of the strongest one's height gives the spacing. That is the nearest-neighbour
    distance of simple lattices and of amorphous or nucleating clusters, and the lattice constant
    where a weaker basis column sits between (MoS2, graphene: 1.7 times the nearest-neighbour
    distance). The sign of the contrast does not matter (dark HRTEM atoms give the same
    autocorrelation); up to ``max_frames`` evenly spread frames of a stack are averaged.

    Parameters
    ----------
    frames : array_like
        (y, x) frame or (t, y, x) stack.
    max_frames : int
        Frames of a stack used.
    max_spacing_px : float, optional
        Longest spacing (px) looked for: repeats further apart (a particle's size, a field of
        particles) are not atom columns, and variations slower than that (a Gaussian of half
        this sigma) are taken off the frames first.

    Returns
    -------
    float
        Spacing in pixels.

    Raises
    ------
    ValueError
        When the image shows no repeat (no autocorrelation peak beside the centre).
    """
    shape = tuple(check_image(frames, "the image").shape)
    times = [None] if len(shape) == 2 else np.unique(np.linspace(0, shape[0] - 1, max_frames).round()).astype(int)
    picked = [_check_frame(frames if t is None else frames[t]) for t in times]
    reach = max(4, min(shape[-2:]) // 3)
    if max_spacing_px is not None:
        reach = min(reach, max(4, int(np.ceil(max_spacing_px)) + 2))
        picked = [f - ndi.gaussian_filter(f, max_spacing_px / 2) for f in picked]  # particles, thickness
    correlation = _autocorrelation(picked, reach)
    yy, xx = np.indices(correlation.shape)
    distance = np.hypot(yy - reach, xx - reach)
    profile = ndi.mean(correlation, labels=np.rint(distance).astype(int), index=np.arange(reach))
    rising = np.flatnonzero(np.diff(profile[1:]) >= 0)
    peaks = peak_local_max(correlation, min_distance=1, exclude_border=True) if len(rising) else np.zeros((0, 2), int)
    if len(peaks):
        heights = correlation[peaks[:, 0], peaks[:, 1]]
        peaks = peaks[(distance[peaks[:, 0], peaks[:, 1]] > rising[0] + 1) & (heights > 0)]
    if len(peaks) == 0:
        within = "" if max_spacing_px is None else f" within {max_spacing_px:.0f} px"
        raise ValueError(f"no repeat distance between atoms was found in the image{within}; give the minimum "
                         "atom separation instead (--min-separation-nm, or the dock's 'min separation (nm)')")
    heights = correlation[peaks[:, 0], peaks[:, 1]]
    strong = peaks[heights >= 0.25 * heights.max()]
    return float(distance[strong[:, 0], strong[:, 1]].min())


def iter_locate_atoms_stack(
    stack: np.ndarray, min_separation_px: float, **kwargs
) -> Generator[Progress, None, Table]:
    """Locate atoms frame by frame, yielding progress; returns one table for all frames.

    Parameters
    ----------
    stack : array_like
        (t, y, x) stack or a single (y, x) frame (treated as one frame).
    min_separation_px : float
        Minimum atom separation in pixels.
    **kwargs
        Options of :func:`locate_atoms`.

    Yields
    ------
    Progress
        One record per frame.

    Returns
    -------
    dict[str, numpy.ndarray]
        Atom table (:data:`ATOM_COLUMNS`) with the frame index of every atom.
    """
    shape = tuple(check_image(stack, "the stack").shape)
    frames = [stack] if len(shape) == 2 else stack
    n_frames = 1 if len(shape) == 2 else shape[0]
    tables = []
    for t in range(n_frames):
        table = locate_atoms(np.asarray(frames[t]), min_separation_px, **kwargs)
        table["frame"][:] = t
        tables.append(table)
        yield Progress(t + 1, n_frames, "atoms")
    return {name: np.concatenate([table[name] for table in tables]) for name in ATOM_COLUMNS}


def locate_atoms_stack(stack: np.ndarray, min_separation_px: float, **kwargs) -> Table:
    """Locate atoms in every frame; see :func:`iter_locate_atoms_stack`.

    Parameters
    ----------
    stack : array_like
        (t, y, x) stack or a (y, x) frame.
    min_separation_px : float
        Minimum atom separation in pixels.
    **kwargs
        Options of :func:`locate_atoms`.

    Returns
    -------
    dict[str, numpy.ndarray]
        Atom table (:data:`ATOM_COLUMNS`).
    """
    return run_to_end(iter_locate_atoms_stack(stack, min_separation_px, **kwargs))


def atoms_in_nm(
    table: Table,
    pixel_size_nm: float | tuple[float, float],
    origin_nm: tuple[float, float] = (0.0, 0.0),
) -> Table:
    """Add ``y_nm``, ``x_nm`` and ``sigma_nm`` columns to an atom table.

    Parameters
    ----------
    table : dict[str, numpy.ndarray]
        Atom table with ``y_px``, ``x_px`` and ``sigma_px``.
    pixel_size_nm : float or (float, float)
        Pixel size (y, x) in nm.
    origin_nm : (float, float)
        World position (y, x) in nm of pixel (0, 0), i.e. the image layer's translate.

    Returns
    -------
    dict[str, numpy.ndarray]
        A new table with the nm columns inserted after ``x_px``; ``sigma_nm`` uses the
        mean of the two pixel sizes.
    """
    size = np.broadcast_to(np.asarray(pixel_size_nm, dtype=np.float64), (2,))
    if np.any(size <= 0) or not np.all(np.isfinite(size)):
        raise ValueError(f"pixel_size_nm must be positive; got {pixel_size_nm}")
    table = validate_table(table)
    out: Table = {}
    for name, values in table.items():
        out[name] = values
        if name == "x_px":
            out["y_nm"] = origin_nm[0] + table["y_px"] * size[0]
            out["x_nm"] = origin_nm[1] + table["x_px"] * size[1]
    if "sigma_px" in table:
        out["sigma_nm"] = table["sigma_px"] * size.mean()
    return out


def write_atoms_csv(
    path: str | PathLike,
    table: Table,
    pixel_size_nm: float | tuple[float, float] | None = None,
    origin_nm: tuple[float, float] = (0.0, 0.0),
) -> None:
    """Write an atom table to CSV, adding nm columns when the pixel size is known.

    Parameters
    ----------
    path : str or PathLike
        Output file.
    table : dict[str, numpy.ndarray]
        Atom table (:data:`ATOM_COLUMNS`).
    pixel_size_nm : float or (float, float), optional
        Adds ``y_nm``, ``x_nm``, ``sigma_nm`` (see :func:`atoms_in_nm`).
    origin_nm : (float, float)
        World position of pixel (0, 0) in nm.
    """
    write_csv(path, table if pixel_size_nm is None else atoms_in_nm(table, pixel_size_nm, origin_nm))
