"""SURE-LET: the network's restoration combined with its pilot Wiener filter and Gaussian filters
of the frame, weighted by Stein's unbiased risk estimate.

For raw electron counts the noise law is known exactly (Poisson: variance = mean count), so
the mean squared error of any restoration ``f(y)`` of a frame ``y`` against its unknown
noise-free counts can be estimated from ``y`` alone (Stein's unbiased risk estimate, with the
Gaussian approximation of Poisson noise, variance ``v`` read from the frame's local mean
through the law):

    SURE(f) = ||y - f(y)||^2 - sum(v) + 2 sum_i v_i d f_i / d y_i

The output is ``y + sum_k w_k (f_k(y) - y)`` over the candidates ``f_k``: the network, the
pilot Wiener filter it guides (:mod:`~tem_denoise.engine.pilot_wiener`) and Gaussian filters of
the frame (:data:`SIGMAS_PX`). SURE is quadratic in the weights, so the
ones that minimise it solve a small linear system (:func:`let_weights`; the linear expansion
of thresholds, LET, of Blu and Luisier, IEEE Trans. Image Process. 16, 2007). With the frame's
own weight they sum to one, so an offset of the input moves the output the same way. They are
not bounded: where SURE says so, the output may lean past the frame (a negative weight on a
filter sharpens what the network over-smoothed); a weight bounded to [0, 1] cost up to 2.4 dB
on the outside benchmark's high-dose frames (docs/outside_benchmark.md). The divergence of a Gaussian filter is its
kernel's centre weight per pixel; the network's is estimated by one Monte-Carlo probe
(Ramani, Blu and Unser, IEEE Trans. Image Process. 17, 2008): the network is run once more on
``y + eps * b`` with ``b`` standard normal, and ``sum v b (f(y + eps b) - f(y)) / eps``
estimates ``sum v div f``; the pilot Wiener filter's the same way, with the probed frame's
restoration as its pilot.

The engine uses it for raw counts (in counts, or in units linear in them with the law scaled
to match) of at least :data:`MIN_MEAN_COUNT` electrons per pixel on average (below that the
Gaussian approximation of Poisson noise, and with it the estimate, fails); elsewhere the
discrepancy step (:mod:`tem_denoise.engine.discrepancy`) applies. Where
the network restores better than any Gaussian its weight stays near 1; where it does worse,
the output leans on the filters. What it changes on the outside benchmark is in
docs/outside_benchmark.md.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from tem_denoise.engine.discrepancy import effective_dose, is_exact, noise_variance
from tem_denoise.physics.noise_level import NoiseLevel

SIGMAS_PX = (0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0)
"""Standard deviations (px, the frame's own grid) of the Gaussian filters combined with the network."""
MIN_MEAN_COUNT = 1.0
"""Mean electrons per pixel from which the estimate is used."""
PROBE_STEP = 0.05
"""Size of the Monte-Carlo probe, in units of the frame's mean noise standard deviation."""
ROW_BLOCK = 256
"""Rows per block when inner products are accumulated in float64."""


def applies(frame: np.ndarray, level: NoiseLevel, variance: np.ndarray | None = None) -> bool:
    """True for raw counts (an exact Poisson law, in counts or units linear in them) of at least
    :data:`MIN_MEAN_COUNT` electrons per pixel on average (``variance``: the frame's
    :func:`~tem_denoise.engine.discrepancy.noise_variance`, when the caller has it)."""
    if not is_exact(level):
        return False
    dose = effective_dose(frame, level, variance)
    return dose is not None and dose >= MIN_MEAN_COUNT


def probe(frames: np.ndarray, level: NoiseLevel, variances=None) -> tuple[np.ndarray, np.ndarray]:
    """Standard-normal probes ``(F, y, x)`` float32 for ``frames`` and their steps ``(F,)`` in the
    frames' units (:data:`PROBE_STEP` noise standard deviations). Every frame of a shape gets the
    same probe (independent of its noise all the same), so a frame's output does not depend on its
    place in a stack or a batch chunk, nor on the units it is given in. ``variances``: the
    frames' noise variance maps, when the caller has them."""
    frames = np.asarray(frames, dtype=np.float32)
    probe_ = np.random.default_rng([0x5E7E, *frames.shape[-2:]]).standard_normal(frames.shape[-2:], dtype=np.float32)
    probes = np.broadcast_to(probe_, frames.shape)
    if variances is None:
        variances = [noise_variance(frame, level) for frame in frames]
    steps = [PROBE_STEP * float(np.sqrt(np.mean(variance))) for variance in variances]
    return probes, np.array(steps, np.float32)


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


def let_weights(gram: np.ndarray, gain: np.ndarray) -> np.ndarray:
    """The weights ``w`` that minimise ``w' gram w - 2 w' gain`` (SURE of ``y + sum_k w_k r_k``),
    with a ridge of 1e-9 of the mean diagonal for filters that nearly coincide."""
    ridge = 1e-9 * float(np.trace(gram)) / len(gram)
    return np.linalg.solve(gram + ridge * np.eye(len(gram)), gain)


def _divergence(variance: np.ndarray, probe_: np.ndarray, out: np.ndarray, moved: np.ndarray, step: float) -> float:
    """Monte-Carlo estimate of ``sum v df/dy`` from a restoration and that of the probed frame."""
    return float(np.sum(variance * probe_ * (np.asarray(moved, np.float64) - out))) / step


def combine(noisy: np.ndarray, restored: np.ndarray, moved: np.ndarray, probe_: np.ndarray, step: float,
            level: NoiseLevel, variance: np.ndarray | None = None,
            wiener: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, dict]:
    """The SURE-optimal combination of a network's restoration, its pilot Wiener filter and
    Gaussian filters of a frame.

    Parameters
    ----------
    noisy : ndarray (y, x)
        Raw counts (electrons per pixel, or units linear in them).
    restored : ndarray (y, x)
        The network's restoration of ``noisy``.
    moved : ndarray (y, x)
        The network's restoration of ``noisy + step * probe_``, with the same adapter.
    probe_ : ndarray (y, x)
        The standard-normal probe.
    step : float
        The probe's step (the frame's units).
    level : NoiseLevel
        The frame's exact noise law (:func:`applies`).
    variance : ndarray (y, x), optional
        ``noisy``'s noise variance map, when the caller has it.
    wiener : (ndarray (y, x), ndarray (y, x)), optional
        The pilot Wiener filter (:mod:`~tem_denoise.engine.pilot_wiener`) of ``noisy`` with the
        network's restoration as pilot, and of the probed frame with ``moved`` as pilot: a further
        candidate, its divergence (pilot included) estimated by the same probe.

    Returns
    -------
    (ndarray (y, x) float32, dict)
        The output in the frame's units, and the weights: ``network``, ``wiener`` (with
        ``wiener`` given), ``gaussians`` (their sum) and ``frame`` (one minus the others).
    """
    y = np.asarray(noisy, dtype=np.float32)
    variance = noise_variance(y, level) if variance is None else variance
    total = float(variance.sum())
    learned = [(np.asarray(restored, np.float32), moved)] + ([wiener] if wiener is not None else [])
    candidates = [out for out, _ in learned] + [ndimage.gaussian_filter(y, s, mode="reflect") for s in SIGMAS_PX]
    divergences = np.array([_divergence(variance, probe_, out, shifted, step) for out, shifted in learned]
                           + [gaussian_divergence(s) * total for s in SIGMAS_PX])
    residuals = [c - y for c in candidates]
    weights = let_weights(_gram(residuals), total - divergences)
    out = y.astype(np.float64)
    for w, r in zip(weights, residuals, strict=True):
        out += w * r
    record = {"network": float(weights[0]), **({"wiener": float(weights[1])} if wiener is not None else {}),
              "gaussians": float(weights[len(learned):].sum()), "frame": float(1.0 - weights.sum())}
    return out.astype(np.float32), record
