"""Put back what a restoration removed that is not noise: a matched-filter test of the residual.

A restoration that leans on what it has seen (a network trained on lattices, a Wiener filter
whose gain a lattice's reflections set) pulls whatever departs from that towards it: a vacancy,
a dopant, an adatom keeps only part of its contrast. What was removed is in the residual
``noisy - restored``. Where the restoration is faithful the residual is noise, and its mean over
a column-sized Gaussian (:data:`SIGMA_NM`) stays within that noise's spread; where signal was
removed, the mean stands out. Each pixel's smoothed residual is measured in units of its own
spread, ``z`` (what white noise of the frame's per-pixel variance keeps after the same
Gaussian; scaled over the frame by the median ``|z|`` when the noise is correlated or larger
than stated, never below the stated noise), and put back with a weight that ramps from 0 at
``|z|`` = ``Z_RANGE[0]`` to 1 at ``Z_RANGE[1]``.

Pure noise passes the first threshold at 4.6 % of its pixels, borders included, and then only
in part, so the step changes a faithful restoration little; a removed column, a few standard
deviations above the smoothed noise, comes back (most of it: it returns smoothed). The result
is linear in the input like the restoration (an offset cancels in the residual, a gain scales
residual and spread alike). What it changes on the outside benchmark is in
docs/restoration.md.

At low doses a vacancy's residual is often not significant on its own, yet the network, which
has learnt what a missing column looks like, shows it before the filters that follow it pull it
back to the lattice. The network's restoration is therefore a second witness: where the
network departs from the result (smoothed the same way, in units of the same spread, ``z_net``)
and the frame's residual departs the same way, the smaller of the two departures is put back,
with a weight that ramps over :data:`WITNESS_Z_RANGE` in ``|z|`` times one that ramps over
:data:`NETWORK_Z_RANGE` in ``|z_net|``. Neither witness alone is enough: the network may
invent, and below ``Z_RANGE[1]`` the frame alone puts back specks of noise in vacuum, so there
the test above too asks the network to depart the same way (:data:`NETWORK_GATE_Z_RANGE`).
"""

from __future__ import annotations

from functools import partial

import numpy as np
from scipy import ndimage

from tem_denoise.engine.device import run_threaded
from tem_denoise.engine.pilot_wiener import significant_lines

SIGMA_NM = 0.03
"""Standard deviation (nm) of the Gaussian over which the residual is averaged: about a
projected column's radius, the size of what a restoration erases (chosen with the outside
benchmark's validation part among 0.015-0.08 nm, docs/restoration.md)."""
MIN_SIGMA_PX = 1.5
"""The Gaussian's standard deviation is at least this many pixels on coarse frames: a test over
fewer pixels puts back single noisy pixels (at 0.7 px, salt-and-pepper specks on the 70 pm/px
demo movie, and twice the columns invented in the outside benchmark's low-dose vacuum)."""
Z_RANGE = (2.0, 4.0)
"""``|z|`` where the smoothed residual starts to be put back, and where it is put back whole."""
WITNESS_Z_RANGE = (1.0, 2.0)
"""``|z|`` over which the frame's residual backs a departure the network shows."""
NETWORK_Z_RANGE = (1.0, 3.0)
"""``|z_net|`` over which the network's departure from the result counts (both ranges chosen on
the outside benchmark's validation part, docs/restoration.md)."""
NETWORK_GATE_Z_RANGE = (0.5, 1.5)
"""With the network's restoration given, a residual between ``Z_RANGE`` is put back only as far
as the network departs from the result the same way, by this many spreads (0 to whole): noise
specks in vacuum, which the network does not show, stay out (outside benchmark, BaTiO3 ABF
vacuum at the middle dose: 26 columns invented with the frame alone, 8 with the gate)."""
MAD_TO_SD = 0.6745
"""Median absolute value of a standard normal variable."""


def _squared_weights(length: int, sigma: float) -> np.ndarray:
    """``sum_j K_ij**2`` for every position ``i`` of an axis of ``length`` px, ``K`` the sampled
    Gaussian of ``sigma`` px that ``scipy.ndimage`` applies with mirrored borders: the variance a
    unit white noise keeps after the filter along that axis (larger at the borders, where the
    kernel folds onto itself)."""
    half = int(4.0 * sigma + 0.5)  # scipy's kernel radius (truncate = 4)
    size = min(length, 4 * half + 4)  # a border's reach, from each end
    kernel = ndimage.gaussian_filter1d(np.eye(size), sigma, axis=0, mode="reflect")
    sums = np.sum(kernel**2, axis=1)
    if size == length:
        return sums
    full = np.full(length, sums[size // 2])
    full[:size // 2], full[length - size // 2:] = sums[:size // 2], sums[size - size // 2:]
    return full


def noise_spread(variance: np.ndarray, sigma: float) -> np.ndarray:
    """``(y, x)`` standard deviation of white noise of per-pixel ``variance`` after a Gaussian of
    ``sigma`` px (mirrored borders): ``sqrt(sum_j g_ij**2 v_j)``, as the local mean of ``v``
    over ``g**2`` (a Gaussian of ``sigma / sqrt(2)``) times the kernel's squared weights
    (:func:`_squared_weights`)."""
    local = ndimage.gaussian_filter(np.asarray(variance, np.float64), sigma / np.sqrt(2), mode="reflect")
    rows, columns = (_squared_weights(n, sigma) for n in local.shape)
    return np.sqrt(local * rows[:, None] * columns[None, :])


def _without_line_offsets(residual: np.ndarray, noisy: np.ndarray, restored: np.ndarray,
                          variance: np.ndarray) -> np.ndarray:
    """``residual`` less its row means and its column means where the frame carries offsets
    shared by whole rows (STEM scan lines) or columns (camera columns) at least as large as
    its pixel noise's share of a line mean (:func:`~tem_denoise.engine.pilot_wiener.significant_lines`):
    noise the restoration rightly removed, which would otherwise stand out as streaks."""
    rows, columns = significant_lines(noisy, restored, variance)
    if rows:
        residual = residual - residual.mean(axis=1, keepdims=True)
    if columns:
        residual = residual - residual.mean(axis=0, keepdims=True)
    return residual


def smoothed_residual(noisy: np.ndarray, restored: np.ndarray, variance: np.ndarray,
                      pixel_size_nm: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The residual ``noisy - restored`` averaged over a Gaussian of :data:`SIGMA_NM`, its size
    in units of the noise's spread there, ``z``, and that spread (all ``(y, x)`` float64).

    ``variance`` is the per-pixel noise variance of ``noisy`` (units squared); the spread is
    :func:`noise_spread`, scaled by the frame's robust spread of ``z`` (median ``|z|`` /
    :data:`MAD_TO_SD`) where that exceeds 1, which covers noise the detector correlates and
    noise larger than ``variance`` states.
    """
    sigma = _sigma_px(pixel_size_nm)
    residual = _without_line_offsets(np.asarray(noisy, np.float64) - restored, noisy, restored, variance)
    residual, spread = run_threaded([partial(ndimage.gaussian_filter, residual, sigma, mode="reflect"),
                                     partial(noise_spread, variance, sigma)])
    spread = np.maximum(spread, 1e-30) * max(float(np.median(np.abs(residual / spread))) / MAD_TO_SD, 1.0)
    return residual, residual / spread, spread


def _sigma_px(pixel_size_nm: float) -> float:
    """The Gaussian's standard deviation in pixels: :data:`SIGMA_NM`, at least :data:`MIN_SIGMA_PX`."""
    return max(SIGMA_NM / pixel_size_nm, MIN_SIGMA_PX)


def weights(z: np.ndarray, z_range: tuple[float, float] = Z_RANGE) -> np.ndarray:
    """Share of the smoothed residual put back at each pixel: 0 below ``z_range[0]``, 1 above
    ``z_range[1]``, linear in ``|z|`` between."""
    low, high = z_range
    return np.clip((np.abs(z) - low) / (high - low), 0.0, 1.0)


def witnessed(residual: np.ndarray, z: np.ndarray, departure: np.ndarray, z_network: np.ndarray) -> np.ndarray:
    """``(y, x)`` departures of the network's restoration from the result (``departure``,
    smoothed like the ``residual``; of size ``z_network``) that the frame's smoothed ``residual``
    (of size ``z``) backs: the smaller of the two where they share a sign, weighted by
    :data:`WITNESS_Z_RANGE` in ``|z|`` and :data:`NETWORK_Z_RANGE` in ``|z_network|``."""
    weight = weights(z, WITNESS_Z_RANGE) * weights(z_network, NETWORK_Z_RANGE) * (np.sign(z_network) == np.sign(z))
    return weight * np.sign(residual) * np.minimum(np.abs(residual), np.abs(departure))


def put_back(noisy: np.ndarray, restored: np.ndarray, variance: np.ndarray,
             pixel_size_nm: float, network: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """``restored`` with the significant part of its smoothed residual added back, and where
    that is not all of it, the part the ``network``'s restoration backs (:func:`witnessed`).
    With the network's restoration, a residual under ``Z_RANGE[1]`` needs its backing too
    (:data:`NETWORK_GATE_Z_RANGE`).

    Parameters
    ----------
    noisy, restored : ndarray (y, x)
        The raw frame and its restoration, same units and grid.
    variance : ndarray (y, x)
        Noise variance of every pixel of ``noisy`` (units squared).
    pixel_size_nm : float
        The frames' pixel size (nm).
    network : ndarray (y, x), optional
        The network's restoration of ``noisy`` that ``restored`` was made from (same grid).

    Returns
    -------
    (ndarray (y, x) float32, float)
        The corrected restoration and the share of its pixels that received any of the
        residual (0-1).
    """
    residual, z, spread = smoothed_residual(noisy, restored, variance, pixel_size_nm)
    weight = weights(z)
    if network is None:
        change = weight * residual
    else:
        departure = ndimage.gaussian_filter(np.asarray(network, np.float64) - restored, _sigma_px(pixel_size_nm),
                                            mode="reflect")
        z_network = departure / spread
        backed = weights(z_network, NETWORK_GATE_Z_RANGE) * (np.sign(z_network) == np.sign(z))
        weight = weight * np.where(np.abs(z) >= Z_RANGE[1], 1.0, backed)
        change = weight * residual + (1.0 - weight) * witnessed(residual, z, departure, z_network)
    return (restored + change).astype(np.float32), float(np.mean(change != 0))
