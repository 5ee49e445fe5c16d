"""The same scene restored alike at different pixel sizes (issue #11, item 9), on small
synthetic frames of raw counts."""

from __future__ import annotations

import numpy as np

from tem_denoise.engine import Denoiser

FIELD_NM = 4.8
COMMON_NM = 0.05


def columns(pixel_nm: float) -> np.ndarray:
    """HAADF-like columns (Gaussian, sigma 0.045 nm) on a slightly oblique 0.31 nm lattice over
    the field, point-sampled at ``pixel_nm``: at 40 pm/px they are two pixels wide."""
    n = int(round(FIELD_NM / pixel_nm))
    y, x = (np.mgrid[:n, :n] + 0.5) * pixel_nm
    u, v = x + 0.05 * y, y - 0.05 * x
    du = (u % 0.31) - 0.155
    dv = (v % 0.31) - 0.155
    return 0.1 + np.exp(-(du**2 + dv**2) / (2 * 0.045**2))


def on_common_grid(image: np.ndarray) -> np.ndarray:
    """``image`` low-passed and sampled on the common grid (its Fourier transform cropped)."""
    n = int(round(FIELD_NM / COMMON_NM))
    spectrum = np.fft.fftshift(np.fft.fft2(image))
    start = image.shape[0] // 2 - n // 2
    cropped = spectrum[start:start + n, start:start + n]
    return np.fft.ifft2(np.fft.ifftshift(cropped)).real * n**2 / image.size


def psnr(output: np.ndarray, truth: np.ndarray) -> float:
    """PSNR (dB) on the common grid after a least-squares gain and offset, 3-px border left out."""
    out, truth = on_common_grid(output)[3:-3, 3:-3].ravel(), on_common_grid(truth)[3:-3, 3:-3].ravel()
    design = np.stack([out, np.ones_like(out)], axis=1)
    fitted = design @ np.linalg.lstsq(design, truth, rcond=None)[0]
    return float(10 * np.log10(np.ptp(truth) ** 2 / np.mean((fitted - truth) ** 2)))


def counts(model: str, pixel_nm: float, dose_per_a2: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Raw counts and their expectation of the scene at ``pixel_nm``, at the same dose per square
    angstrom whatever the pixel size: HAADF columns bright, BF columns dark on a bright field."""
    image = columns(pixel_nm)
    if model == "restore-bf":
        image = 1.2 - 0.8 * (image - 0.1)
    expected = dose_per_a2 * (10 * pixel_nm) ** 2 * image
    return np.random.default_rng(seed).poisson(expected).astype(np.float32), expected


def test_a_scene_is_restored_alike_at_12_5_and_25_pm_per_pixel():
    denoiser = Denoiser("restore-haadf", device="cpu")
    scores = []
    for seed, pixel in enumerate((0.0125, 0.025)):
        noisy, expected = counts("restore-haadf", pixel, 3000.0, seed)
        restored = denoiser.denoise(noisy, pixel_size_nm=pixel)
        scores.append((psnr(noisy, expected), psnr(restored, expected)))
        assert scores[-1][1] > scores[-1][0] + 2, scores
    assert abs(scores[0][1] - scores[1][1]) < 1.0, scores


def test_atoms_two_pixels_wide_are_not_taken_for_noise():
    """At 50 pm/px the columns are about two pixels wide. Taken for noise, they made the raw
    counts fail the Poisson test and the noise estimate far too high: the restoration lost
    5.7 dB against the noisy frame here. With the true law it loses 1.9 dB (the model itself
    smooths atoms this narrow; the issue's 1 dB aim is not met at this sampling)."""
    noisy, expected = counts("restore-haadf", 0.05, 20000.0, 2)
    denoiser = Denoiser("restore-haadf", device="cpu")
    restored = denoiser.denoise(noisy, pixel_size_nm=0.05)
    assert denoiser.provenance()["last_run"]["adapter"]["noise"]["source"] == "counts (Poisson)"
    assert psnr(restored, expected) > psnr(noisy, expected) - 3.0
