"""SURE-LET: the network's restoration combined with Gaussian filters of the frame, weighted by
Stein's unbiased risk estimate.

For raw electron counts the noise law is known exactly (Poisson: variance = mean count), so
the mean squared error of any restoration ``f(y)`` of a frame ``y`` against its unknown
noise-free counts can be estimated from ``y`` alone (Stein's unbiased risk estimate, with the
Gaussian approximation of Poisson noise, variance ``v`` read from the frame's local mean):

    SURE(f) = ||y - f(y)||^2 - sum(v) + 2 sum_i v_i d f_i / d y_i

The output is ``y + sum_k w_k (f_k(y) - y)`` over the candidates ``f_k``: the network and
Gaussian filters of the frame (:data:`SIGMAS_PX`). SURE is quadratic in the weights, so the
ones that minimise it solve a small linear system (the LET approach of Blu and Luisier, IEEE
Trans. Image Process. 16, 2007). The weights sum to one with the frame's own weight, so an
offset of the input moves the output the same way. The divergence of a Gaussian filter is its
kernel's centre weight per pixel; the network's is estimated by one Monte-Carlo probe
(Ramani, Blu and Unser, IEEE Trans. Image Process. 17, 2008): the network is run once more on
``y + eps * b`` with ``b`` standard normal, and ``sum v b (f(y + eps b) - f(y)) / eps``
estimates ``sum v div f``.

The engine uses it for raw counts of at least :data:`MIN_MEAN_COUNT` electrons per pixel on
average (below that the Gaussian approximation of Poisson noise, and with it the estimate,
fails); elsewhere the discrepancy step (:mod:`tem_denoise.engine.discrepancy`) applies. Where
the network restores better than any Gaussian its weight stays near 1; where it does worse,
the output leans on the filters. What it changes on the outside benchmark is in
docs/outside_benchmark.md.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from tem_denoise.physics.noise_level import POISSON, NoiseLevel, sigma_map

SIGMAS_PX = (0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0)
"""Standard deviations (px, the frame's own grid) of the Gaussian filters combined with the network."""
MIN_MEAN_COUNT = 1.0
"""Mean electrons per pixel from which the estimate is used."""
PROBE_STEP = 0.05
"""Size of the Monte-Carlo probe, in units of the frame's mean noise standard deviation."""
ROW_BLOCK = 256
"""Rows per block when inner products are accumulated in float64."""


def applies(frame: np.ndarray, level: NoiseLevel) -> bool:
    """True for raw counts (Poisson law) of at least :data:`MIN_MEAN_COUNT` e-/px on average."""
    return level == POISSON and float(np.mean(frame)) >= MIN_MEAN_COUNT


def probe(frames: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Standard-normal probes ``(F, y, x)`` float32 for ``frames`` and their steps ``(F,)`` in
    counts (:data:`PROBE_STEP` noise standard deviations); the same for the same ``seed``."""
    rng = np.random.default_rng([0x5E7E, seed])
    probes = rng.standard_normal(frames.shape, dtype=np.float32)
    steps = PROBE_STEP * np.sqrt(np.maximum(np.mean(frames, axis=(-2, -1)), 1e-6))
    return probes, steps.astype(np.float32)


def perturbed(windows: np.ndarray, probes: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """``(F, window, y, x)`` windows with each last (restored) frame moved by ``step * probe``."""
    moved = np.array(windows, dtype=np.float32, copy=True)
    moved[:, -1] += steps[:, None, None] * probes
    return moved


def gaussian_divergence(sigma_px: float) -> float:
    """d f_i / d y_i of a Gaussian filter of ``sigma_px``: the centre weight of its kernel."""
    half = int(4 * sigma_px + 0.5)
    delta = np.zeros((2 * half + 1, 2 * half + 1))
    delta[half, half] = 1.0
    return float(ndimage.gaussian_filter(delta, sigma_px, mode="constant")[half, half])


def _gram(residuals: list[np.ndarray]) -> np.ndarray:
    """Inner products of the ``(y, x)`` residuals, accumulated in float64 by blocks of rows."""
    k = len(residuals)
    gram = np.zeros((k, k))
    for start in range(0, residuals[0].shape[0], ROW_BLOCK):
        block = np.stack([r[start:start + ROW_BLOCK].ravel() for r in residuals]).astype(np.float64)
        gram += block @ block.T
    return gram


def combine(noisy: np.ndarray, restored: np.ndarray, moved: np.ndarray, probe_: np.ndarray,
            step: float) -> tuple[np.ndarray, dict]:
    """The SURE-optimal combination of a network's restoration and Gaussian filters of a frame.

    Parameters
    ----------
    noisy : ndarray (y, x)
        Raw counts (electrons per pixel).
    restored : ndarray (y, x)
        The network's restoration of ``noisy`` (counts).
    moved : ndarray (y, x)
        The network's restoration of ``noisy + step * probe_``, with the same adapter.
    probe_ : ndarray (y, x)
        The standard-normal probe.
    step : float
        The probe's step (counts).

    Returns
    -------
    (ndarray (y, x) float32, dict)
        The output in counts, and the weights: ``network``, ``gaussians`` (their sum) and
        ``frame`` (one minus the others).
    """
    y = np.asarray(noisy, dtype=np.float32)
    variance = sigma_map(y, POISSON).astype(np.float64) ** 2
    total = float(variance.sum())
    net_divergence = float(np.sum(variance * probe_ * (np.asarray(moved, np.float64) - restored))) / step
    candidates = [np.asarray(restored, np.float32)] + [ndimage.gaussian_filter(y, s, mode="reflect")
                                                       for s in SIGMAS_PX]
    divergences = np.array([net_divergence] + [gaussian_divergence(s) * total for s in SIGMAS_PX])
    residuals = [c - y for c in candidates]
    gram = _gram(residuals)
    gram += 1e-9 * np.trace(gram) / len(gram) * np.eye(len(gram))
    weights = np.linalg.solve(gram, total - divergences)
    out = y.astype(np.float64)
    for w, r in zip(weights, residuals, strict=True):
        out += w * r
    record = {"network": float(weights[0]), "gaussians": float(weights[1:].sum()),
              "frame": float(1.0 - weights.sum())}
    return out.astype(np.float32), record
