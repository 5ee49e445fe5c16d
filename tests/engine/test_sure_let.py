"""SURE-LET: the network's restoration of raw counts combined with Gaussian filters by an unbiased risk estimate."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from stand_in_networks import Identity
from tem_denoise.engine import Denoiser
from tem_denoise.engine.discrepancy import noise_variance
from tem_denoise.engine.sure_let import (
    SIGMAS_PX,
    _let_system,
    _smoothed,
    _weigh,
    applies,
    combine,
    gaussian_divergence,
    let_weights,
    perturbed,
    pilot,
    pixel_correlation,
    probe,
    structure_map,
)
from tem_denoise.models.card import ModelCard
from tem_denoise.physics.noise_level import POISSON, NoiseLevel


def lattice(dose: float = 50.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A smooth clean lattice in electrons per pixel and its Poisson counts, (96, 96)."""
    y, x = np.mgrid[:96, :96]
    clean = dose * (1.0 + 0.3 * np.cos(2 * np.pi * x / 24) * np.cos(2 * np.pi * y / 24))
    return clean, np.random.default_rng(seed).poisson(clean).astype(np.float32)


def mse(a, b) -> float:
    return float(np.mean((np.asarray(a, np.float64) - b) ** 2))


def test_it_applies_to_counts_of_a_tenth_of_an_electron_per_pixel_or_more():
    _, counts = lattice(50.0)
    assert applies(counts, POISSON)
    assert applies(counts * 0 + 0.2, POISSON)
    assert not applies(counts * 0 + 0.05, POISSON)
    assert applies(3.0 * counts + 7.0, POISSON.scaled(3.0, 7.0))
    assert not applies(counts, NoiseLevel(1.0, 4.0, "estimated from the data"))


def test_a_gaussian_kernel_divergence_is_its_centre_weight():
    assert abs(gaussian_divergence(2.0) - 1 / (2 * np.pi * 4.0)) < 1e-3
    assert 0 < gaussian_divergence(4.0) < gaussian_divergence(1.0) < gaussian_divergence(0.5) < 1


def _combined(network, counts):
    probes, steps = probe(counts[None], POISSON)
    moved = network(perturbed(counts[None, None], probes, steps)[0, 0])
    return combine(counts, network(counts), moved, probes[0], float(steps[0]), POISSON)


def test_a_network_that_only_returns_its_input_is_replaced_by_the_filters():
    clean, counts = lattice()
    out, weights = _combined(lambda frame: frame.copy(), counts)
    best_gaussian = min(mse(ndimage.gaussian_filter(counts, s), clean) for s in (1, 2, 3, 4))
    assert mse(out, clean) < 1.2 * best_gaussian < mse(counts, clean)
    assert weights["gaussians"] > 0.5


def test_a_network_better_than_any_gaussian_keeps_its_weight():
    clean, counts = lattice()
    oracle = clean.astype(np.float32) + np.random.default_rng(1).normal(0, 0.5, clean.shape).astype(np.float32)
    out, weights = _combined(lambda frame: oracle, counts)  # a near-perfect restoration, independent of the input
    best_gaussian = min(mse(ndimage.gaussian_filter(counts, s), clean) for s in (1, 2, 3, 4))
    assert weights["network"] > 0.6
    assert mse(out, clean) < 0.1 * best_gaussian


def test_the_engine_combines_restorations_of_counts_and_records_the_weights():
    clean, counts = lattice()
    card = ModelCard("identity-restore", "restore", {"base_channels": 4, "depth": 2}, modality="HRTEM",
                     adapter="restore", pixel_size_nm=0.02, sampling_range_nm=(0.008, 0.08), tile_size=64)
    denoiser = Denoiser(Identity(), device="cpu", card=card, tile=0)
    out = denoiser.denoise(np.stack([counts, counts]), pixel_size_nm=0.02)
    record = denoiser.provenance()["last_run"]["sure_let"]
    np.testing.assert_array_equal(out[0], out[1])  # a frame's output does not depend on its place in the stack
    weights = record["mean_weights"]
    assert record["frames"] == 2 and abs(weights["network"]) < 0.1  # the frame itself: no use
    # the filters, whose pilot is the Gaussians' combination, and the Gaussians do the work
    assert weights["wiener"] + weights["whole_frame_wiener"] + weights["gaussians"] > 0.5
    pilot_weights = record["pilot_mean_weights"]  # the first combination, the filters' pilot
    assert set(pilot_weights) == {"network", "whole_frame_wiener", "gaussians", "frame"}
    assert denoiser.provenance()["last_run"]["significant_residual"]["frames"] == 2  # then the residual step
    assert mse(out[0], clean) < 0.5 * mse(counts, clean)
    scaled = denoiser.denoise(2.5 * counts + 100.0, pixel_size_nm=0.02)  # no law given, none recognised
    assert "sure_let" not in denoiser.provenance()["last_run"]  # the network, then its pilot Wiener filter
    assert denoiser.provenance()["last_run"]["pilot_wiener"]["frames"] == 1
    assert mse(scaled, 2.5 * clean + 100.0) < mse(2.5 * counts + 100.0, 2.5 * clean + 100.0)
    exact = denoiser.denoise(2.5 * counts + 100.0, pixel_size_nm=0.02, noise=POISSON.scaled(2.5, 100.0))
    np.testing.assert_allclose(exact, 2.5 * out[0] + 100.0, rtol=1e-4, atol=1e-2)  # counts in other units


def test_weights_follow_the_structure_so_vacuum_beside_a_fine_lattice_is_smoothed():
    y, x = np.mgrid[:256, :256]
    clean = 50.0 * (1.0 + 0.5 * np.cos(2 * np.pi * x / 5) * np.cos(2 * np.pi * y / 5) * (x < 128))  # vacuum at right
    counts = np.random.default_rng(2).poisson(clean).astype(np.float32)
    network = lambda frame: ndimage.gaussian_filter(frame, 0.7)  # noqa: E731 - keeps the fine lattice, and noise
    probes, steps = probe(counts[None], POISSON)
    moved = network(perturbed(counts[None, None], probes, steps)[0, 0])
    args = (counts, network(counts), moved, probes[0], float(steps[0]), POISSON)
    one, _ = combine(*args)
    mapped, weights = combine(*args, pixel_size_nm=0.05)  # a structure map over 8 px
    vacuum, lattice = (slice(8, -8), slice(152, -8)), (slice(8, -8), slice(8, 104))
    assert mse(mapped[vacuum], clean[vacuum]) < 0.3 * mse(one[vacuum], clean[vacuum])
    assert mse(mapped[lattice], clean[lattice]) < 1.1 * mse(one[lattice], clean[lattice])
    assert set(weights) == {"network", "gaussians", "frame"}
    # a network that acts like one of the Gaussian filters does not let the probe's noise set the weights
    best_gaussian = min(mse(ndimage.gaussian_filter(counts, s), clean) for s in (0.5, 0.75, 1, 2))
    assert max(mse(one, clean), mse(mapped, clean)) < best_gaussian


def test_only_directions_that_stand_out_of_their_noise_get_a_weight():
    gram = np.diag([100.0, 1.0, 1e-9])
    gain = np.array([50.0, 2.0, 1e-3])
    np.testing.assert_allclose(let_weights(gram, gain), [0.5, 2.0, 0.0], atol=1e-9)  # the last: candidates coincide
    noisy_second = np.diag([1.0, 4.0, 0.0])  # the second term's estimate has a spread of 2: 2 is 1 sd, dropped
    np.testing.assert_allclose(let_weights(gram, gain, noisy_second), [0.5, 0.0, 0.0], atol=1e-9)
    np.testing.assert_allclose(let_weights(gram, gain, None, floor=10.0), [0.5, 0.0, 0.0], atol=1e-9)


def test_the_structure_map_is_near_zero_in_vacuum_and_its_smoothing_near_exact():
    y, x = np.mgrid[:200, :240]
    image = 1.0 + 0.5 * np.cos(2 * np.pi * x / 8) * (x < 120)
    structure, _ = structure_map(image, 0.02)  # a 20-px Gaussian
    assert structure[:, 200:].max() < 0.01 and structure[20:-20, 20:100].min() > 0.5
    power = image + ndimage.gaussian_filter(np.random.default_rng(4).standard_normal((200, 240)), 2.0)
    exact = ndimage.gaussian_filter(power, 20.0)  # what the block means stand in for
    assert np.abs(_smoothed(power, 20.0) - exact).max() < 0.01 * np.abs(exact).max()


def test_the_smoothed_map_is_brought_back_like_a_linear_zoom():
    image = np.random.default_rng(8).random((203, 117))
    block, sigma = 5, 20.0
    padded = np.pad(image, ((0, -203 % block), (0, -117 % block)), mode="reflect")
    means = padded.reshape(padded.shape[0] // block, block, -1, block).mean(axis=(1, 3))
    zoomed = ndimage.zoom(ndimage.gaussian_filter(means, sigma / block, mode="reflect"), block, order=1,
                          mode="nearest", grid_mode=True)[:203, :117]
    np.testing.assert_allclose(_smoothed(image, sigma), zoomed, rtol=1e-12, atol=1e-12)


def test_the_risk_system_does_not_depend_on_its_block_size(monkeypatch):
    rng = np.random.default_rng(9)
    shape = (37, 29)
    residuals = [rng.standard_normal(shape).astype(np.float32) for _ in range(3)]
    divergences = [rng.standard_normal(shape), 0.2, 0.05]
    variance = rng.random(shape) + 0.5
    centred, change = rng.random(shape) - 0.5, rng.standard_normal(shape)
    terms = [rng.standard_normal(shape) for _ in range(3)]
    cases = [((centred, change), None), ((centred, None), terms), (None, None)]
    whole = [_let_system(residuals, divergences, variance, modulation, None, given) for modulation, given in cases]
    bases = np.stack([r.ravel() for r in residuals] + [(centred * r).ravel() for r in residuals]).astype(np.float64)
    np.testing.assert_allclose(whole[0][0], bases @ bases.T, rtol=1e-12)  # the Gram matrix, unblocked
    spread = np.sum(divergences[0] ** 2) + np.sum(variance.ravel() * bases[0] ** 2)  # probed terms + noise's share
    assert whole[0][2][0, 0] == pytest.approx(spread, rel=1e-12)
    monkeypatch.setattr("tem_denoise.engine.sure_let.BLOCK_PX", 60)  # two rows, the last block one row
    for (modulation, given), full in zip(cases, whole, strict=True):
        for blocked, expected in zip(_let_system(residuals, divergences, variance, modulation, None, given), full,
                                     strict=True):
            np.testing.assert_allclose(blocked, expected, rtol=1e-10, atol=1e-10)


def test_the_map_terms_match_the_divergence_taken_pixel_by_pixel():
    """The linear terms of the map's bases, averaged over probes, against finite differences."""
    rng = np.random.default_rng(6)
    clean = 20.0 * (1.0 + 0.5 * np.cos(2 * np.pi * np.mgrid[:24, :24][1] / 6) * (np.mgrid[:24, :24][1] < 12))
    counts = rng.poisson(clean).astype(np.float64)
    network = lambda frame: ndimage.gaussian_filter(frame, 1.0) ** 1.5 / 5.0  # noqa: E731 - nonlinear
    pixel_nm = 0.1  # a structure map over 4 px
    variance = noise_variance(counts.astype(np.float32), POISSON).astype(np.float64)
    restored = network(counts)
    structure, reference = structure_map(restored, pixel_nm)
    centred = structure - structure.mean()

    def modulated(frame):  # c r of the network, the map's reference and mean held as the estimate holds them
        return (structure_map(network(frame), pixel_nm, reference)[0] - structure.mean()) * (network(frame) - frame)

    base, delta = modulated(counts), 1e-4
    exact = 0.0
    for i in np.ndindex(counts.shape):
        moved = counts.copy()
        moved[i] += delta
        exact += variance[i] * (modulated(moved)[i] - base[i]) / delta
    estimates = []
    for seed in range(200):
        probe_ = np.random.default_rng(seed).standard_normal(counts.shape)
        step = 0.05 * float(np.sqrt(variance.mean()))
        moved = network(counts + step * probe_)
        divergence = variance * probe_ * (moved - restored) / step
        change = variance * probe_ * (structure_map(moved, pixel_nm, reference)[0] - structure) / step
        _, gains, _ = _let_system([restored - counts], [divergence], variance, (centred, change))
        estimates.append(-gains[1])  # SURE's linear term is minus sum v d(c r)/dy
    assert np.mean(estimates) == pytest.approx(exact, rel=0.1, abs=0.05 * np.std(estimates))


def test_the_probed_pilot_is_the_same_combination_of_the_probed_candidates():
    """The pilot is combine's output; its probed copy the same weights applied to the probed
    frame's candidates: the network's restoration of it and its own Gaussian filters."""
    clean, counts = lattice(dose=8.0, seed=5)
    network = lambda frame: ndimage.gaussian_filter(frame, 1.2) ** 1.1  # noqa: E731 - nonlinear
    probes, steps = probe(counts[None], POISSON)
    step = float(steps[0])
    probed = counts + step * probes[0]
    restored, moved = network(counts), network(probed)
    guide, moved_guide, _ = pilot(counts, restored, moved, probes[0], step, POISSON, pixel_size_nm=0.05)
    out, _ = combine(counts, restored, moved, probes[0], step, POISSON, pixel_size_nm=0.05)
    np.testing.assert_array_equal(guide, out)
    weighing = _weigh(counts, restored, moved, probes[0], step, POISSON, None, {}, 0.05, None, None)
    candidates = [moved] + [ndimage.gaussian_filter(probed, s, mode="reflect") for s in SIGMAS_PX]
    expected = weighing.applied(probed, candidates, weighing.moved_centred)
    np.testing.assert_allclose(moved_guide, expected, rtol=1e-5, atol=1e-4)
    assert mse(moved_guide, guide) > 0.01 * step**2  # the probe moved it


def test_pilot_filters_enter_as_candidates_weighed_by_the_risk_estimate():
    from tem_denoise.engine.pilot_wiener import filter_frame, whole_frame

    y, x = np.mgrid[:192, :192]
    clean = 5.0 * (1.0 + 0.8 * np.cos(2 * np.pi * x / 6) * np.cos(2 * np.pi * y / 6))  # a perfect lattice
    counts = np.random.default_rng(3).poisson(clean).astype(np.float32)
    network = lambda frame: ndimage.gaussian_filter(frame, 1.0)  # noqa: E731 - a poor restoration
    probes, steps = probe(counts[None], POISSON)
    probed = counts + float(steps[0]) * probes[0]
    out, moved = network(counts), network(probed)
    variance = noise_variance(counts, POISSON)
    filters = {name: (fn(counts, out, variance), fn(probed, moved, variance))
               for name, fn in (("wiener", filter_frame), ("whole_frame_wiener", whole_frame))}
    args = (counts, out, moved, probes[0], float(steps[0]), POISSON, variance)
    without, _ = combine(*args, pixel_size_nm=0.05)
    with_filters, weights = combine(*args, filters, pixel_size_nm=0.05)
    assert set(weights) == {"network", "wiener", "whole_frame_wiener", "gaussians", "frame"}
    assert weights["whole_frame_wiener"] > 0.3 and weights["network"] < 0.3  # the filters win
    assert mse(with_filters, clean) < 0.5 * mse(without, clean)


def correlated_lattice(seed: int = 4):
    """A lattice (192², 40 e-/px) with a camera's noise: variance 40 per pixel, correlated by a
    Gaussian MTF of 0.5 at Nyquist; its relative power spectrum."""
    from tem_denoise.physics.noise_spectrum import NoiseSpectrum

    y, x = np.mgrid[:192, :192]
    clean = 40.0 * (1.0 + 0.3 * np.cos(2 * np.pi * x / 12) * np.cos(2 * np.pi * y / 12))
    correlation = NoiseSpectrum(0.25 / np.log(4.0), 0.0, 40.0).correlation(clean.shape)
    white = np.random.default_rng(seed).standard_normal(clean.shape)
    noise = np.sqrt(40.0) * np.fft.ifft2(np.fft.fft2(white) * np.sqrt(correlation)).real
    return clean, (clean + noise).astype(np.float32), correlation


def test_a_gaussian_filters_divergence_under_correlated_noise_is_its_kernel_times_the_correlation():
    _, _, correlation = correlated_lattice()
    between = pixel_correlation(correlation)
    for sigma in (0.5, 1.0, 3.0):
        exact = gaussian_divergence(sigma, between)
        assert exact > gaussian_divergence(sigma)  # neighbours' noise moves with a pixel's own
        # tr(C J) of the filter, from the transfer functions: the mean of C times the kernel's
        delta = np.zeros(correlation.shape)
        delta[0, 0] = 1.0
        transfer = np.fft.fft2(ndimage.gaussian_filter(delta, sigma, mode="wrap")).real
        assert exact == pytest.approx(float(np.mean(correlation * transfer)), rel=1e-3)


def test_with_the_noises_correlation_the_risk_estimate_picks_a_better_combination():
    clean, frame, correlation = correlated_lattice()
    variance = np.full(frame.shape, 40.0)
    network = lambda image: ndimage.gaussian_filter(image, 0.7)  # noqa: E731 - keeps the lattice, and noise
    results = {}
    for name, corr in (("white", None), ("correlated", correlation)):
        probes, steps = probe(frame[None], POISSON, [variance], corr)
        moved = network(perturbed(frame[None, None], probes, steps)[0, 0])
        out, _ = combine(frame, network(frame), moved, probes[0], float(steps[0]), POISSON, variance,
                         pixel_size_nm=0.05, correlation=corr)
        results[name] = mse(out, clean)
    # taken for white, correlated noise looks like signal, and the estimate keeps too much of it
    assert results["correlated"] < 0.6 * results["white"]
    assert results["correlated"] < 0.2 * mse(frame, clean)


def test_a_noise_correlation_for_frames_of_another_shape_is_refused():
    from tem_denoise.engine.sure_let import correlated
    from tem_denoise.physics.noise_spectrum import NoiseSpectrum

    correlation = NoiseSpectrum(0.18, 0.0, 1.0).correlation((64, 96))
    with pytest.raises(ValueError, match="64 x 96 px frames, the frame is 64 x 48 px"):
        correlated(np.zeros((64, 48), np.float32), correlation)
    with pytest.raises(ValueError, match="the frame is"):
        probe(np.zeros((1, 64, 48), np.float32), POISSON, [np.ones((64, 48))], correlation)
