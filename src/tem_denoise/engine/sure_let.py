"""SURE-LET: the network's restoration combined with its pilot Wiener filter and Gaussian filters
of the frame, weighted by Stein's unbiased risk estimate.

For raw electron counts the noise law is known exactly (Poisson: variance = mean count), so
the mean squared error of any restoration ``f(y)`` of a frame ``y`` against its unknown
noise-free counts can be estimated from ``y`` alone (Stein's unbiased risk estimate, with the
Gaussian approximation of Poisson noise, variance ``v`` read from the frame's local mean
through the law):

    SURE(f) = ||y - f(y)||^2 - sum(v) + 2 sum_i v_i d f_i / d y_i

The output is ``y + sum_k w_k (f_k(y) - y)`` over the candidates ``f_k``: the network, the
pilot Wiener filters (:mod:`~tem_denoise.engine.pilot_wiener`: in windows, and over the whole
frame, guided by a first such combination, :func:`pilot`) and Gaussian filters of the frame
(:data:`SIGMAS_PX`). SURE is quadratic in the weights, so the
ones that minimise it solve a small linear system (:func:`let_weights`; the linear expansion
of thresholds, LET, of Blu and Luisier, IEEE Trans. Image Process. 16, 2007). With the frame's
own weight they sum to one, so an offset of the input moves the output the same way. They are
not bounded: where SURE says so, the output may lean past the frame (a negative weight on a
filter sharpens what the network over-smoothed); a weight bounded to [0, 1] cost up to 2.4 dB
on the outside benchmark's high-dose frames (docs/outside_benchmark.md). The divergence of a Gaussian filter is its
kernel's centre weight per pixel; the network's is estimated by one Monte-Carlo probe
(Ramani, Blu and Unser, IEEE Trans. Image Process. 17, 2008): the network is run once more on
``y + eps * b`` with ``b`` of unit variance, and ``sum v b (f(y + eps b) - f(y)) / eps``
estimates ``sum v div f``; the pilot Wiener filters' the same way, filtering the probed frame
with the probed pilot (the first combination's weights applied to the probed frame's
candidates).

One set of weights for the whole frame is a compromise between its regions: where a frame
holds fine detail (an amorphous film, a crystal) SURE may lean on the frame itself, which
leaves the noise of its vacuum in place. With the frame's pixel size the weights are therefore
let vary with a structure map ``m`` of the network's restoration (its local variance over
:data:`STRUCTURE_SIGMA_NM`, ``m = P / (P + median P)``, near 0 in vacuum and near 1 on
columns): each candidate enters twice, as ``r_k`` and as ``(m - mean m) r_k``, and SURE sets
both weights (a LET whose basis holds the map). The map depends on the frame through the
network, so the divergence of the second basis includes its change, estimated by the same probe
from the probed restoration's map.

Noise correlated between pixels (a camera's blur, its column offsets), of covariance ``Sigma``,
asks for ``SURE(f) = ||y - f(y)||^2 - tr Sigma + 2 tr(Sigma J_f)``: where a calibration knows
the noise's spectrum the probe is drawn correlated like the noise, a Gaussian filter's term is
its kernel times the noise's correlation at its offsets, and the noise's share of each weight's
uncertainty is computed in the Fourier domain (``correlation`` below).

The engine uses it for raw counts (in counts, or in units linear in them with the law scaled
to match), and for a camera calibrated with its noise spectrum
(:func:`~tem_denoise.physics.noise_level.has_measured_spectrum`), of at least
:data:`MIN_MEAN_COUNT` electrons per pixel on average (below that the Gaussian approximation of
Poisson noise, and with it the estimate, fails); elsewhere the discrepancy step
(:mod:`tem_denoise.engine.discrepancy`) applies. Where
the network restores better than any Gaussian its weight stays near 1; where it does worse,
the output leans on the filters. What it changes on the outside benchmark is in
docs/outside_benchmark.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache, partial

import numpy as np
from scipy import fft, ndimage, sparse

from tem_denoise.engine.device import run_threaded
from tem_denoise.engine.discrepancy import effective_dose, is_exact, noise_variance
from tem_denoise.physics.noise_level import NoiseLevel, half_spectrum_counts, has_measured_spectrum

SIGMAS_PX = (0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0)
"""Standard deviations (px, the frame's own grid) of the Gaussian filters combined with the network."""
MIN_MEAN_COUNT = 0.1
"""Mean electrons per pixel from which the estimate is used. Sparser counts break the Gaussian
approximation of Poisson noise it rests on: on the outside benchmark's validation part, frames
of 0.11-0.6 e-/px gained 1.2-2.9 dB from it over the discrepancy step, frames of 0.01-0.06
lost up to 4 dB or columns (docs/restoration.md); it was 1 e-/px before."""
PROBE_STEP = 0.05
"""Size of the Monte-Carlo probe, in units of the frame's mean noise standard deviation."""
BLOCK_PX = 16384
"""Pixels (whole rows, at least one) per block when inner products are accumulated in float64:
a block's bases stay in the CPU's cache (2-3x faster than 256 rows of a 1024² frame)."""
SIGNIFICANCE = 1.5
"""A direction of the weights is used where SURE's linear term along it exceeds this many
standard deviations of its own noise (:func:`let_weights`): the risk it removes must exceed
2.25 times the variance of that estimate, a rule like Mallows' Cp (which asks 2 noise
variances of every parameter it adds); chosen between 1.5 and 3 on the outside benchmark's
validation part (docs/restoration.md)."""
EIGEN_FLOOR = 1e-6
"""Directions along which the candidates differ by less than this share of the frame's noise
energy (``sum v``) are not used: candidates that coincide up to noise."""
BYTES_PER_PX = 550
"""Peak working memory of the SURE-LET step per frame pixel: the pilot's combination, the
filters and :func:`combine` with three probed candidates (tracemalloc over the engine's whole
step on 1024² frames: 248 bytes with white noise, 481 with correlated noise; a margin above)."""
STRUCTURE_SIGMA_NM = 0.4
"""Gaussian (standard deviation, nm) over which the structure map measures the restoration's
local variance: a few lattice spacings (chosen on the outside benchmark's validation part among
0.2-0.8 nm, docs/restoration.md)."""


def applies(frame: np.ndarray, level: NoiseLevel, variance: np.ndarray | None = None) -> bool:
    """True for frames whose noise is known: raw counts (an exact Poisson law, in counts or units
    linear in them), or a camera whose calibration measured its noise spectrum
    (:func:`~tem_denoise.physics.noise_level.has_measured_spectrum`); either of at least
    :data:`MIN_MEAN_COUNT` electrons per pixel on average (``variance``: the frame's
    :func:`~tem_denoise.engine.discrepancy.noise_variance`, when the caller has it)."""
    if not (is_exact(level) or has_measured_spectrum(level)):
        return False
    dose = effective_dose(frame, level, variance)
    return dose is not None and dose >= MIN_MEAN_COUNT


def probe(frames: np.ndarray, level: NoiseLevel, variances=None,
          correlation: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Unit-variance probes ``(F, y, x)`` float32 for ``frames`` and their steps ``(F,)`` in the
    frames' units (:data:`PROBE_STEP` noise standard deviations). Every frame of a shape gets the
    same probe (independent of its noise all the same), so a frame's output does not depend on its
    place in a stack or a batch chunk, nor on the units it is given in. ``variances``: the
    frames' noise variance maps, when the caller has them. With the noise's ``correlation``
    (:meth:`~tem_denoise.physics.noise_spectrum.NoiseSpectrum.correlation`) the probe is
    correlated like the noise, so that it measures the divergence the risk of correlated noise
    asks for, ``sum_ij Sigma_ij df_i/dy_j``."""
    frames = np.asarray(frames, dtype=np.float32)
    probe_ = _white_probe(tuple(frames.shape[-2:]))
    if correlation is not None:
        probe_ = correlated(probe_, correlation)
    probes = np.broadcast_to(probe_, frames.shape)
    if variances is None:
        variances = [noise_variance(frame, level) for frame in frames]
    steps = [PROBE_STEP * float(np.sqrt(np.mean(variance))) for variance in variances]
    return probes, np.array(steps, np.float32)


@lru_cache(maxsize=2)
def _white_probe(shape: tuple[int, ...]) -> np.ndarray:
    """The standard-normal probe of frames of ``shape`` (y, x), float32, read-only: one per
    shape, drawn once (every batch and frame of a stack, and the correlated terms, use it)."""
    probe_ = np.random.default_rng([0x5E7E, *shape]).standard_normal(tuple(shape), dtype=np.float32)
    probe_.flags.writeable = False
    return probe_


def _decorrelated_terms(fields: list[np.ndarray], correlation: np.ndarray) -> list[np.ndarray]:
    """Per-pixel Monte-Carlo terms ``w * C^1/2 x`` of the sums ``p' x`` for each ``(y, x)`` field
    ``x`` (``p = C^1/2 w`` the correlated probe, ``w`` its white source): the same sums, in terms
    that are nearly independent from pixel to pixel, so that their squares estimate the sums'
    variance (``v p dx/eps`` itself is correlated over the blur and along columns)."""
    white = _white_probe(tuple(fields[0].shape))
    return [white * correlated(np.asarray(field, np.float32), correlation) for field in fields]


def _check_correlation(correlation: np.ndarray, shape: tuple[int, ...]) -> None:
    """Refuse a ``correlation`` made for frames of another shape than ``shape`` (y, x)."""
    if tuple(correlation.shape) != tuple(shape):
        raise ValueError(f"the noise correlation is for {correlation.shape[0]} x {correlation.shape[1]} px "
                         f"frames, the frame is {shape[0]} x {shape[1]} px")


def correlated(white: np.ndarray, correlation: np.ndarray) -> np.ndarray:
    """``C^1/2 x``, ``C`` the correlation of noise of relative power spectrum ``correlation``
    (``fft2`` layout, mean 1): white noise of unit variance made correlated like that noise,
    still of unit variance (float32)."""
    _check_correlation(correlation, white.shape)
    half = np.sqrt(correlation[:, : white.shape[-1] // 2 + 1])
    return fft.irfft2(fft.rfft2(white) * half, s=white.shape).astype(np.float32)


def perturbed(windows: np.ndarray, probes: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """``(F, window, y, x)`` windows with each last (restored) frame moved by ``step * probe``."""
    moved = np.array(windows, dtype=np.float32, copy=True)
    moved[:, -1] += steps[:, None, None] * probes
    return moved


def gaussian_divergence(sigma_px: float, between: np.ndarray | None = None) -> float:
    """d f_i / d y_i of a Gaussian filter of ``sigma_px``: the centre weight of its kernel; with
    the noise's correlation ``between`` pixels (``(y, x)``, 1 at offset ``[0, 0]``, offsets
    wrapping: :func:`pixel_correlation`), the kernel's weights summed times the correlation at
    their offsets, ``sum_j C_ij df_i/dy_j``."""
    half = int(4 * sigma_px + 0.5)
    delta = np.zeros((2 * half + 1, 2 * half + 1))
    delta[half, half] = 1.0
    kernel = ndimage.gaussian_filter(delta, sigma_px, mode="constant")
    if between is None:
        return float(kernel[half, half])
    offsets = np.arange(-half, half + 1)
    return float(np.sum(kernel * between[np.ix_(offsets % between.shape[0], offsets % between.shape[1])]))


def pixel_correlation(correlation: np.ndarray) -> np.ndarray:
    """The correlation between pixels (``(y, x)`` by offset, wrapping; 1 at ``[0, 0]``) of noise
    of relative power spectrum ``correlation``."""
    return fft.ifft2(correlation).real


def _let_system(residuals: list[np.ndarray], divergences: list, variance: np.ndarray,
                modulation: tuple[np.ndarray, np.ndarray | None] | None = None,
                correlation: np.ndarray | None = None,
                modulated_terms: list[np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """SURE's quadratic system for the bases ``B = r_k`` and, with a ``modulation``
    ``(c, v dc/dy)`` (the centred structure map and its change with the frame, per pixel),
    ``B = c r_k``, whose Monte-Carlo terms per pixel are ``r_k v dc/dy`` plus, for probed
    candidates, ``c v div f_k``, or the ``modulated_terms`` given (:func:`_decorrelated_terms`;
    ``v dc/dy`` may then be None); accumulated in float64 by blocks of rows.
    Returns the Gram matrix, the linear
    terms ``sum_i v_i (c_i (1 - div f_k) - r_k dc_i/dy_i)`` (``c`` = 1 for the first bases),
    and their estimate's covariance: that of the Monte-Carlo terms (their per-pixel products
    summed) plus ``sum v B_j B_l``, the noise's own share (the covariance of ``<B, noise>``;
    with a ``correlation``, :func:`_correlated_share`).

    ``divergences``: per candidate, its per-pixel map of ``v div f_k`` (a Monte-Carlo
    estimate) or, for a Gaussian filter, its exact constant ``div f_k``."""
    n = len(residuals)
    probed_at = [i for i, d in enumerate(divergences) if isinstance(d, np.ndarray)]
    exact = np.array([0.0 if isinstance(d, np.ndarray) else d for d in divergences])
    k = n * (1 if modulation is None else 2)
    rows_probed = probed_at + ([] if modulation is None else list(range(n, 2 * n)))
    gram, noise, probed_products = np.zeros((k, k)), np.zeros((k, k)), np.zeros((len(rows_probed),) * 2)
    sums = np.zeros(2)  # sum v, sum c v
    probed_totals = np.zeros(len(rows_probed))
    width = residuals[0].shape[1]
    block = max(1, BLOCK_PX // width)
    basis = np.empty((k, block * width))  # float64 buffers, reused by every block
    probed = np.empty((len(rows_probed), block * width))
    scaled_basis = np.empty((k, block * width))
    for start in range(0, residuals[0].shape[0], block):
        rows = slice(start, start + block)
        v = variance[rows].ravel().astype(np.float64)
        size = v.size
        b, p = basis[:, :size], probed[:, :size]
        for i, r in enumerate(residuals):
            b[i] = r[rows].ravel()
        for j, i in enumerate(probed_at):
            p[j] = divergences[i][rows].ravel()
        sums[0] += float(np.sum(v))
        if modulation is not None:
            centred = modulation[0][rows].ravel()
            np.multiply(b[:n], centred, out=b[n:])
            m = p[len(probed_at):]
            if modulated_terms is not None:
                for j, term in enumerate(modulated_terms):
                    m[j] = term[rows].ravel()
            else:
                np.multiply(b[:n], modulation[1][rows].ravel(), out=m)  # type: ignore[index]
                m[probed_at] += p[:len(probed_at)] * centred
            sums[1] += float(np.sum(centred * v))
        gram += b @ b.T
        if correlation is None:
            scaled = np.multiply(b, np.sqrt(v), out=scaled_basis[:, :size])
            noise += scaled @ scaled.T
        probed_products += p @ p.T
        probed_totals += p.sum(axis=1)
    covariance, probed_sums = np.zeros((k, k)), np.zeros(k)
    covariance[np.ix_(rows_probed, rows_probed)] = probed_products
    probed_sums[rows_probed] = probed_totals
    gains = np.concatenate([(1.0 - exact) * sums[0]] + ([] if modulation is None else [(1.0 - exact) * sums[1]]))
    if correlation is not None:
        bases = residuals + ([] if modulation is None else [modulation[0] * r for r in residuals])
        noise = _correlated_share(bases, variance, correlation)
    return gram, gains - probed_sums, covariance + noise


def _correlated_share(bases: list[np.ndarray], variance: np.ndarray, correlation: np.ndarray) -> np.ndarray:
    """``(k, k)`` matrix ``B_j' Sigma B_l`` (data units squared times the bases' squared) of the
    ``k`` bases for correlated noise, ``Sigma = sqrt(v) C sqrt(v)`` with ``C`` of relative power
    spectrum ``correlation``: in the Fourier domain, over the half spectrum (single precision: it
    only sets how far a weight must stand out of the noise)."""
    _check_correlation(correlation, variance.shape)
    height, width = variance.shape
    root = np.sqrt(np.asarray(variance, np.float32))
    weight = np.sqrt(correlation[:, : width // 2 + 1] * half_spectrum_counts((height, width))).astype(np.float32)
    rows = np.empty((len(bases), 2) + weight.shape, np.float32)  # real and imaginary parts
    for row, basis in zip(rows, bases, strict=True):
        spectrum = fft.rfft2(root * np.asarray(basis, np.float32)) * weight
        row[0], row[1] = spectrum.real, spectrum.imag
    rows = rows.reshape(len(bases), -1)
    return (rows @ rows.T).astype(np.float64) / (height * width)


def _smoothed(image: np.ndarray, sigma: float) -> np.ndarray:
    """``image`` (y, x) smoothed by a Gaussian of ``sigma`` px, computed on blocks of up to
    ``sigma / 4`` px (their means) and brought back by linear interpolation: a map this smooth
    needs no finer grid, and a 20-px Gaussian costs a quarter as much there."""
    block = max(1, int(sigma // 4))
    h, w = image.shape
    padded = np.pad(image, ((0, -h % block), (0, -w % block)), mode="reflect")
    means = padded.reshape(padded.shape[0] // block, block, -1, block).mean(axis=(1, 3))
    coarse = ndimage.gaussian_filter(means, sigma / block, mode="reflect")
    if block == 1:
        return coarse
    rows, columns = _linear_upsampling(h, coarse.shape[0], block), _linear_upsampling(w, coarse.shape[1], block)
    return np.asarray(columns @ (rows @ coarse).T).T


def _linear_upsampling(size: int, coarse: int, block: int) -> sparse.csr_matrix:
    """``(size, coarse)`` sparse matrix of linear interpolation from ``coarse`` block centres
    (blocks of ``block`` px) to the first ``size`` pixels, constant beyond the outer centres (as
    ``ndimage.zoom(..., order=1, mode="nearest", grid_mode=True)``, as a product of matrices:
    two weights per row)."""
    position = np.clip((np.arange(size) + 0.5) / block - 0.5, 0, coarse - 1)
    below = np.minimum(np.floor(position).astype(int), max(coarse - 2, 0))
    above = np.minimum(below + 1, coarse - 1)
    fraction = position - below
    pixels = np.arange(size)
    return sparse.csr_matrix((np.concatenate([1 - fraction, fraction]),
                              (np.concatenate([pixels, pixels]), np.concatenate([below, above]))),
                             shape=(size, coarse))


def structure_map(restored: np.ndarray, pixel_size_nm: float, reference: float | None = None
                  ) -> tuple[np.ndarray, float]:
    """``(y, x)`` map in [0, 1) of where a restoration holds structure: its local variance ``P``
    over a Gaussian of :data:`STRUCTURE_SIGMA_NM`, as ``P / (P + reference)``; ``reference`` is
    the median of ``P`` unless given (the probed restoration uses the unprobed one's). Returns
    the map and the reference."""
    sigma = STRUCTURE_SIGMA_NM / pixel_size_nm
    image = np.asarray(restored, np.float64)
    power = _smoothed((image - _smoothed(image, sigma)) ** 2, sigma)
    reference = max(float(np.median(power)), 1e-30) if reference is None else reference
    return power / (power + reference), reference


def let_weights(gram: np.ndarray, gain: np.ndarray, covariance: np.ndarray | None = None,
                floor: float = 0.0) -> np.ndarray:
    """The weights ``w`` that minimise ``w' gram w - 2 w' gain`` (SURE of ``y + sum_k w_k r_k``).

    Solved along the eigenvectors ``u`` of ``gram``: a direction is used only where its
    eigenvalue exceeds ``floor`` (and 1e-9 of the largest: candidates that coincide) and, with
    the ``covariance`` of ``gain``'s estimate, where its linear term stands out of that noise,
    ``|u' gain|`` > :data:`SIGNIFICANCE` ``sqrt(u' covariance u)``. Without the test, a
    candidate close to another (a network that acts like one of the Gaussian filters) lets the
    estimate's noise alone set large weights of opposite signs.
    """
    values, vectors = np.linalg.eigh(gram)
    projected = vectors.T @ gain
    keep = values > max(1e-9 * float(values.max()), floor, 1e-300)
    if covariance is not None:
        noise = np.sqrt(np.maximum(np.einsum("ij,ik,kj->j", vectors, covariance, vectors), 0.0))
        keep &= np.abs(projected) > SIGNIFICANCE * noise
    return vectors[:, keep] @ (projected[keep] / values[keep])


def gaussians(frame: np.ndarray) -> list[np.ndarray]:
    """The frame (y, x) filtered by each Gaussian of :data:`SIGMAS_PX` (mirrored borders; on
    the thread budget)."""
    frame = np.asarray(frame, np.float32)
    return run_threaded([partial(ndimage.gaussian_filter, frame, s, mode="reflect") for s in SIGMAS_PX])


@dataclass(frozen=True, eq=False)
class FrameTerms:
    """What the SURE-LET combinations of one frame share: the frame's :func:`gaussians` and,
    with a pixel size, the structure maps (:func:`structure_map`) of the network's restoration
    and of its probed copy (the latter on the former's reference); None without one."""

    gaussians: list[np.ndarray]
    structure: np.ndarray | None
    moved_structure: np.ndarray | None


def frame_terms(noisy: np.ndarray, restored: np.ndarray, moved: np.ndarray,
                pixel_size_nm: float | None) -> FrameTerms:
    """The :class:`FrameTerms` of a frame ``noisy`` whose restoration is ``restored`` and the
    probed frame's ``moved`` (all ``(y, x)``), at ``pixel_size_nm`` (nm; None: no maps)."""
    smoothed = gaussians(noisy)
    if pixel_size_nm is None:
        return FrameTerms(smoothed, None, None)
    structure, reference = structure_map(restored, pixel_size_nm)
    return FrameTerms(smoothed, structure, structure_map(moved, pixel_size_nm, reference)[0])


@dataclass(frozen=True, eq=False)
class _Weighing:
    """A frame's SURE-LET solution: its learned candidates (their probed copies beside them), all
    its candidates (learned, then the Gaussian filters), the weights (the modulated ones after
    the first ``len(candidates)``), and the centred structure maps of the restoration and of its
    probed copy (None without a pixel size)."""

    frame: np.ndarray
    learned: list[tuple[np.ndarray, np.ndarray]]
    candidates: list[np.ndarray]
    weights: np.ndarray
    centred: np.ndarray | None
    moved_centred: np.ndarray | None

    def applied(self, frame: np.ndarray, candidates: list[np.ndarray], centred: np.ndarray | None) -> np.ndarray:
        """``frame + sum_k (w_k + w'_k c) (f_k - frame)`` (float32, ``(y, x)``) for ``candidates``
        ``f_k`` in the order of :attr:`candidates`, by blocks of :data:`BLOCK_PX` pixels: each
        block's residuals (single precision, as the candidates) stacked and weighed by one
        matrix product in double precision."""
        k = len(candidates)
        weights = self.weights.reshape(1 if centred is None else 2, k)
        out = np.empty(frame.shape, np.float32)
        block = max(1, BLOCK_PX // frame.shape[1])
        residuals = np.empty((k, block * frame.shape[1]), np.float32)  # reused by every block
        for start in range(0, frame.shape[0], block):
            rows = slice(start, start + block)
            here = np.asarray(frame[rows], np.float32).ravel()
            r = residuals[:, :here.size]
            for i, candidate in enumerate(candidates):
                np.subtract(candidate[rows].ravel(), here, out=r[i])
            change = weights @ r.astype(np.float64)
            total = change[0] if centred is None else change[0] + centred[rows].ravel() * change[1]
            out[rows] = (here + total).reshape(-1, frame.shape[1])
        return out


def _weigh(noisy: np.ndarray, restored: np.ndarray, moved: np.ndarray, probe_: np.ndarray, step: float,
           level: NoiseLevel, variance: np.ndarray | None, filters: dict[str, tuple[np.ndarray, np.ndarray]],
           pixel_size_nm: float | None, correlation: np.ndarray | None,
           terms: FrameTerms | None) -> _Weighing:
    """Solve SURE-LET for one frame (the arguments of :func:`combine`)."""
    y = np.asarray(noisy, dtype=np.float32)
    variance = noise_variance(y, level) if variance is None else variance
    terms = frame_terms(y, restored, moved, pixel_size_nm) if terms is None else terms
    if (terms.structure is None) != (pixel_size_nm is None):
        raise ValueError("the frame's terms were computed for another pixel size")
    learned = [(np.asarray(restored, np.float32), moved), *filters.values()]
    between = None if correlation is None else pixel_correlation(correlation)
    candidates = [out for out, _ in learned] + list(terms.gaussians)
    if correlation is None:  # v p df/eps per pixel: its sum estimates sum v div f
        divergences = [variance * probe_ * (np.asarray(shifted, np.float64) - out) / step for out, shifted in learned]
    else:
        changes = [variance * (np.asarray(shifted, np.float64) - out) / step for out, shifted in learned]
        divergences = _decorrelated_terms(changes, correlation)
    divergences += [gaussian_divergence(s, between) for s in SIGMAS_PX]
    residuals = [c - y for c in candidates]
    modulation: tuple[np.ndarray, np.ndarray | None] | None = None
    modulated_terms = None
    centred = moved_centred = None
    if terms.structure is not None and terms.moved_structure is not None:
        structure, moved_map = terms.structure, terms.moved_structure
        centred, moved_centred = structure - structure.mean(), moved_map - structure.mean()
        if correlation is None:
            modulation = (centred, variance * probe_ * (moved_map - structure) / step)
        else:  # the modulated bases' terms, each a sum p' x over its own field x
            map_change = variance * (moved_map - structure) / step
            fields = [r * map_change + (centred * changes[i] if i < len(changes) else 0.0)
                      for i, r in enumerate(residuals)]
            modulation, modulated_terms = (centred, None), _decorrelated_terms(fields, correlation)
    floor = EIGEN_FLOOR * float(np.sum(variance))
    system = _let_system(residuals, divergences, variance, modulation, correlation, modulated_terms)
    return _Weighing(y, learned, candidates, let_weights(*system, floor), centred, moved_centred)


def combine(noisy: np.ndarray, restored: np.ndarray, moved: np.ndarray, probe_: np.ndarray, step: float,
            level: NoiseLevel, variance: np.ndarray | None = None,
            filters: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
            pixel_size_nm: float | None = None, correlation: np.ndarray | None = None,
            terms: FrameTerms | None = None) -> tuple[np.ndarray, dict]:
    """The SURE-optimal combination of a network's restoration, its pilot Wiener filters and
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
        The probe (:func:`probe`): unit variance, correlated like the noise with a
        ``correlation``.
    step : float
        The probe's step (the frame's units).
    level : NoiseLevel
        The frame's exact noise law (:func:`applies`).
    variance : ndarray (y, x), optional
        ``noisy``'s noise variance map, when the caller has it.
    filters : dict of name -> (ndarray (y, x), ndarray (y, x)), optional
        Further candidates, such as the pilot Wiener filters
        (:mod:`~tem_denoise.engine.pilot_wiener`): each a filter of ``noisy`` with a pilot made
        from the network's restoration (:func:`pilot`), and of the probed frame with the pilot made
        the same way from ``moved``, so that its divergence (pilot included) is estimated by the
        same probe.
    pixel_size_nm : float, optional
        The frame's pixel size (nm): the weights then vary with the restoration's structure map
        (:func:`structure_map`); one set of weights for the frame when None.
    correlation : ndarray (y, x), optional
        The relative power spectrum of correlated noise (a calibrated camera's:
        :meth:`~tem_denoise.physics.noise_spectrum.NoiseSpectrum.correlation`), with which the
        probe was drawn (:func:`probe`); white noise when None.
    terms : FrameTerms, optional
        The frame's :func:`frame_terms` for these restorations and pixel size, when the caller
        has them (another combination of the same frame).

    Returns
    -------
    (ndarray (y, x) float32, dict)
        The output in the frame's units, and the weights (frame means): ``network``, one per
        name of ``filters``, ``gaussians`` (their sum) and ``frame`` (one minus the others).
    """
    filters = filters or {}
    weighing = _weigh(noisy, restored, moved, probe_, step, level, variance, filters, pixel_size_nm, correlation,
                      terms)
    return weighing.applied(weighing.frame, weighing.candidates, weighing.centred), _record(weighing, filters)


def _record(weighing: _Weighing, filters: dict) -> dict:
    """The weights of a solution as frame means: ``network``, one per name of ``filters``,
    ``gaussians`` (their sum) and ``frame`` (one minus the others)."""
    weights = weighing.weights[:len(weighing.candidates)]  # the modulated weights average to zero over the frame
    n_learned = len(weighing.learned)
    return {"network": float(weights[0]), **{name: float(w) for name, w in zip(filters, weights[1:])},
            "gaussians": float(weights[n_learned:].sum()), "frame": float(1.0 - weights.sum())}


def pilot(noisy: np.ndarray, restored: np.ndarray, moved: np.ndarray, probe_: np.ndarray, step: float,
          level: NoiseLevel, variance: np.ndarray | None = None,
          filters: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
          pixel_size_nm: float | None = None, correlation: np.ndarray | None = None,
          terms: FrameTerms | None = None) -> tuple[np.ndarray, np.ndarray, dict]:
    """:func:`combine`'s output as a pilot for a second round of Wiener filters, and the same
    combination (the same weights) of the probed frame's candidates: the probed pilot, so that
    the second round's divergences, pilot included, are estimated by the same probe (the
    weights' own change with the frame, sums over all pixels, is left out). Arguments as
    :func:`combine`; returns two ``(y, x)`` float32 images in the frame's units and the
    weights (as :func:`combine`'s)."""
    filters = filters or {}
    weighing = _weigh(noisy, restored, moved, probe_, step, level, variance, filters, pixel_size_nm,
                      correlation, terms)
    probed = weighing.frame + np.float32(step) * np.asarray(probe_, np.float32)
    moved_candidates = [shifted for _, shifted in weighing.learned] + gaussians(probed)
    return (weighing.applied(weighing.frame, weighing.candidates, weighing.centred),
            weighing.applied(probed, moved_candidates, weighing.moved_centred),
            _record(weighing, filters))
