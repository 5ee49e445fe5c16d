"""Noisy copies of the noise-free benchmark images, seeded, so every method sees the same frames.

numpy only (importable from the project venv and from the peer venvs).

Dose
----
Doses are electrons per Å² on the specimen (e-/Å²). A pixel of ``p`` Å receives
``dose * p**2`` electrons per unit of the noise-free image, so the expected count in pixel
``i`` is ``dose * p**2 * truth[i]`` (HRTEM: truth 1 in vacuum; STEM: truth is the fraction
of the probe reaching the detector).

The middle dose of each image is set from its contrast, not from a fixed number, so that
every scene is equally hard at the same level: at the middle dose the signal-to-noise ratio
of the image's contrast, collected over one Å², is :data:`MIDDLE_SNR_PER_A2`::

    SNR(1 Å²) = std(truth) / sqrt(mean(truth)) * sqrt(dose)

rounded to 1-2-5 steps. At that dose a single pixel is mostly noise (at 10-20 pm/px),
a Gaussian filter helps a lot and atoms are still guessable. Low and high doses are
:data:`DOSE_FACTORS` times the middle one (a hundredfold span).

Noise variants
--------------
``poisson``
    Counts ~ Poisson(expected count): an ideal counting detector (HRTEM, HAADF, ABF).
``camera`` (HRTEM only)
    A linear camera: the Poisson counts blurred by a detector MTF (a Gaussian-shaped MTF
    that is :data:`CAMERA_MTF_AT_NYQUIST` at the Nyquist frequency; it also correlates the
    noise of neighbouring pixels) plus Gaussian read-out noise of :data:`READOUT_SIGMA_E`
    electrons per pixel. Scored against the unblurred truth.

Every frame is drawn from ``numpy.random.default_rng(frame_seed(frame_id))``.
"""

from __future__ import annotations

import zlib

import numpy as np

MIDDLE_SNR_PER_A2 = 3.0
DOSE_FACTORS = {"low": 0.1, "middle": 1.0, "high": 10.0}
CAMERA_MTF_AT_NYQUIST = 0.5
READOUT_SIGMA_E = 1.0  # e- per pixel, rms
SEED_BASE = 2026_11
VARIANTS = {"HRTEM": ("poisson", "camera"), "STEM-HAADF": ("poisson",), "STEM-BF": ("poisson",)}


def round_125(value: float) -> float:
    """``value`` rounded (in log scale) to the nearest of 1, 2, 5 times a power of ten."""
    exponent = np.floor(np.log10(value))
    steps = np.array([1.0, 2.0, 5.0, 10.0]) * 10.0**exponent
    return float(steps[np.argmin(np.abs(np.log(steps / value)))])


def middle_dose(truth: np.ndarray) -> float:
    """Middle dose (e-/Å²) of a noise-free image: :data:`MIDDLE_SNR_PER_A2` over one Å², 1-2-5 rounded."""
    mean, std = float(np.mean(truth)), float(np.std(truth))
    if mean <= 0 or std <= 0:
        raise ValueError("the noise-free image needs a positive mean and some contrast")
    return round_125(MIDDLE_SNR_PER_A2**2 * mean / std**2)


def doses(truth: np.ndarray) -> dict[str, float]:
    """``{"low", "middle", "high"}`` doses in e-/Å² for one noise-free image."""
    middle = middle_dose(truth)
    return {level: float(f"{middle * factor:.6g}") for level, factor in DOSE_FACTORS.items()}


def frame_seed(frame_id: str) -> int:
    """A stable 32-bit seed for a frame id (the same on every machine and Python)."""
    return (zlib.crc32(frame_id.encode("utf-8")) ^ SEED_BASE) & 0xFFFFFFFF


def expected_counts(truth: np.ndarray, pixel_size_nm: float, dose: float) -> np.ndarray:
    """Expected electrons per pixel: ``dose`` (e-/Å²) x pixel area (Å²) x ``truth``."""
    area_A2 = (pixel_size_nm * 10.0) ** 2
    return np.clip(truth.astype(np.float64), 0, None) * dose * area_A2


def camera_mtf(shape: tuple[int, int], at_nyquist: float = CAMERA_MTF_AT_NYQUIST) -> np.ndarray:
    """A Gaussian-shaped detector MTF on the ``rfft2`` grid of ``shape``; 1 at zero frequency and
    ``at_nyquist`` at 0.5 cycles per pixel along either axis."""
    fy = np.fft.fftfreq(shape[0])[:, None]
    fx = np.fft.rfftfreq(shape[1])[None, :]
    f0_squared = 0.25 / np.log(1.0 / at_nyquist)
    return np.exp(-(fx**2 + fy**2) / f0_squared)


def noisy_frame(truth: np.ndarray, pixel_size_nm: float, dose: float, variant: str, seed: int) -> np.ndarray:
    """A noisy copy of ``truth`` (y, x) in electrons per pixel (float32).

    ``variant`` is ``"poisson"`` or ``"camera"`` (see the module notes); ``dose`` in e-/Å².
    """
    rng = np.random.default_rng(seed)
    counts = rng.poisson(expected_counts(truth, pixel_size_nm, dose)).astype(np.float64)
    if variant == "poisson":
        return counts.astype(np.float32)
    if variant != "camera":
        raise ValueError(f"unknown noise variant {variant!r}")
    blurred = np.fft.irfft2(np.fft.rfft2(counts) * camera_mtf(counts.shape), s=counts.shape)
    return (blurred + rng.normal(0.0, READOUT_SIGMA_E, counts.shape)).astype(np.float32)


def estimate_noise_sigma(image: np.ndarray) -> float:
    """Blind estimate of the standard deviation of white noise in ``image`` (same units).

    The image is filtered with the 3x3 kernel ``[[1,-2,1],[-2,4,-2],[1,-2,1]]`` (Immerkaer,
    CVIU 1996), which removes locally linear structure; white noise of standard deviation s
    gives a response of standard deviation 6 s (the kernel's squared weights sum to 36).
    The standard deviation is used rather than Immerkaer's mean absolute response, which
    assumes Gaussian noise and underestimates the sparse counts of low-dose frames.
    """
    x = np.asarray(image, dtype=np.float64)
    response = (x[:-2, :-2] - 2 * x[:-2, 1:-1] + x[:-2, 2:]
                - 2 * x[1:-1, :-2] + 4 * x[1:-1, 1:-1] - 2 * x[1:-1, 2:]
                + x[2:, :-2] - 2 * x[2:, 1:-1] + x[2:, 2:])
    return float(np.std(response) / 6.0)


def anscombe(counts: np.ndarray) -> np.ndarray:
    """Anscombe transform ``2 sqrt(x + 3/8)``: Poisson counts -> noise of unit variance (x < 0 clipped)."""
    return 2.0 * np.sqrt(np.clip(counts, 0, None) + 0.375)


def inverse_anscombe(z: np.ndarray) -> np.ndarray:
    """Closed-form approximation of the exact unbiased inverse of :func:`anscombe`
    (Makitalo & Foi, IEEE TIP 2011), valid for denoised values; z below 0.8 is clipped."""
    z = np.clip(np.asarray(z, dtype=np.float64), 0.8, None)
    return (0.25 * z**2 + 0.25 * np.sqrt(1.5) / z - 1.375 / z**2 + 0.625 * np.sqrt(1.5) / z**3 - 0.125)
