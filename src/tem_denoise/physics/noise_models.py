"""Noise models of the source papers as small dataclasses with JSON save/load.

- :class:`HRTEMNoise`: seed 000 §3.5, CMOS HRTEM camera: column noise (one Gaussian value
  per column per frame) plus pointwise Gaussian noise whose sigma grows linearly with the
  clean intensity, ``I_noisy = I_clean + N_c + N_p(I_clean)``.
- :class:`STEMNoise`: seed 001 §3.2, scan noise (row-correlated, sigma linear in the
  gradient magnitude) plus pointwise Tukey-lambda noise (sigma linear in the intensity),
  together with the atom-brightness and background ranges that the STEM scene generator
  draws from.
- :class:`Counting`: Poisson shot noise of direct detectors in electron-counting mode
  (seed 002's Pt and Au data), optionally with a Gaussian readout term.
- :class:`GaussianNoise`, :class:`SaltPepperNoise`, :class:`GaussianSaltPepperNoise`,
  :class:`BackgroundBrightnessNoise`: the four noise types of seed 003 §II.E-F.

Every model has ``apply(clean, rng) -> noisy`` (float32, same shape), ``to_dict`` /
``save`` and is read back by :func:`load_noise_model` / :func:`noise_model_from_dict`.
The JSON holds ``format_version``, a ``kind`` discriminator and the parameters.
"""

from __future__ import annotations

import dataclasses
import json
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from scipy import ndimage, stats
from scipy.interpolate import CubicSpline

from tem_denoise.outputs import write_text

from .rng import RngLike, as_rng

FORMAT_VERSION = 2
"""Version 2 (December 2026) added :class:`HRTEMNoise`'s ``law`` and ``noise_spectrum``; version
1 files load with their defaults."""


class _JsonModel:
    """Shared JSON (de)serialisation of the noise-model dataclasses."""

    kind: ClassVar[str]

    def to_dict(self) -> dict[str, Any]:
        """Parameters as a JSON-ready dict with ``format_version`` and ``kind``."""
        params = {}
        for field in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, field.name)
            params[field.name] = list(value) if isinstance(value, tuple) else value
        return {"format_version": FORMAT_VERSION, "kind": self.kind, "params": params}

    def save(self, path: str | Path) -> Path:
        """Write the model as JSON to ``path`` (atomically) and return the path."""
        return write_text(path, json.dumps(self.to_dict(), indent=2))

    @classmethod
    def _from_params(cls, params: dict[str, Any]):
        names = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = set(params) - set(names)
        if unknown:
            raise ValueError(
                f"unknown parameters {sorted(unknown)} for noise model {cls.kind!r}; "
                f"expected a subset of {sorted(names)}"
            )
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in params.items()}
        return cls(**values)


def _as_float_image(clean: np.ndarray) -> np.ndarray:
    clean = np.asarray(clean, dtype=np.float32)
    if clean.ndim not in (2, 3):
        raise ValueError(
            f"expected a (y, x) frame or a (t, y, x) stack, got an array of shape {clean.shape}"
        )
    if not np.all(np.isfinite(clean)):
        raise ValueError("the clean image holds NaN or inf values; replace them first")
    return clean


# --------------------------------------------------------------------------- HRTEM


@dataclasses.dataclass(frozen=True)
class HRTEMNoise(_JsonModel):
    """HRTEM CMOS camera noise of seed 000 §3.5, in the camera's raw intensity units.

    ``I_noisy = I_clean + N_c + N_p``, with ``N_c ~ N(0, sigma_c)`` drawn once per column
    per frame and ``N_p ~ N(0, k * I_clean + b)`` independently per pixel.

    Parameters
    ----------
    k, b : float
        Pointwise sigma ``sigma_p = k * I + b`` (b in intensity units) under the paper's
        ``law`` ``"sigma"``; under ``law="variance"``, ``sigma_p**2 = k * I + b`` (shot noise
        plus readout, what a camera's electrons give). Defaults are the paper's calibration:
        0.03583 and 1.379.
    sigma_c : float
        Column-noise sigma in intensity units; paper: 0.6641.
    gain : float or None
        Linear detector response ``I = offset + gain * q`` to the beam current or dose
        ``q`` of the calibration stacks (intensity per nA, or per e-/px for counting
        detectors); None when unknown (the paper gives none; its Fig. 3 suggests about
        8 per nA, from intensity 8 to 16 over 1 to 2 nA).
    offset : float
        Intensity at zero current in the same relation.
    law : str
        ``"sigma"`` (seed 000's linear sigma) or ``"variance"`` (linear variance); a vacuum
        calibration keeps the one that fits its stacks better.
    noise_spectrum : (float, float) or None
        The pointwise noise's power spectrum as measured on the calibration's vacuum frames,
        ``(mtf_f2, white_share)`` of
        :class:`~tem_denoise.physics.noise_spectrum.NoiseSpectrum` (a detector's blur
        correlates neighbouring pixels; ``white_share`` 1: white noise); None when not measured
        (a calibration saved before it was, or frames smaller than 64 px). :meth:`apply` draws
        white pointwise noise whatever it says; the restoration engine reads it.
    """

    kind: ClassVar[str] = "hrtem"
    k: float = 0.03583
    b: float = 1.379
    sigma_c: float = 0.6641
    gain: float | None = None
    offset: float = 0.0
    law: str = "sigma"
    noise_spectrum: tuple[float, float] | None = None

    def __post_init__(self):
        if self.sigma_c < 0:
            raise ValueError(f"sigma_c must be >= 0, got {self.sigma_c}")
        if self.law not in ("sigma", "variance"):
            raise ValueError(f"law must be 'sigma' or 'variance', got {self.law!r}")
        if self.noise_spectrum is not None:
            if len(self.noise_spectrum) != 2:
                raise ValueError(f"noise_spectrum must be (mtf_f2, white_share), got {self.noise_spectrum!r}")
            mtf_f2, white = self.noise_spectrum
            if not (mtf_f2 > 0 and 0 <= white <= 1):
                raise ValueError("noise_spectrum needs mtf_f2 > 0 and a white share in [0, 1], "
                                 f"got {self.noise_spectrum!r}")

    def sigma_p(self, intensity: np.ndarray | float) -> np.ndarray:
        """Pointwise noise sigma at ``intensity`` (clipped at 0)."""
        line = np.maximum(self.k * np.asarray(intensity, dtype=np.float64) + self.b, 0.0)
        return np.sqrt(line) if self.law == "variance" else line

    def describe_law(self) -> str:
        """The pointwise law in words, e.g. ``"sigma = 0.0358 I + 1.38"``."""
        return f"{'sigma' if self.law == 'sigma' else 'sigma^2'} = {self.k:.3g} I + {self.b:.3g}"

    def intensity_at(self, current: float) -> float:
        """Mean raw intensity recorded at a beam current or dose ``current``."""
        if self.gain is None:
            raise ValueError(
                "this HRTEM noise model has no gain; calibrate it with the stacks' currents"
            )
        return self.offset + self.gain * current

    def apply(self, clean: np.ndarray, rng: RngLike = None) -> np.ndarray:
        """Add column and pointwise noise to a frame ``(y, x)`` or stack ``(t, y, x)``.

        Returns
        -------
        numpy.ndarray
            Float32 noisy image in the clean image's units.
        """
        clean = _as_float_image(clean)
        gen = as_rng(rng)
        column_shape = clean.shape[:-2] + (1, clean.shape[-1])
        column = self.sigma_c * gen.standard_normal(column_shape)
        pointwise = self.sigma_p(clean) * gen.standard_normal(clean.shape)
        return (clean + column + pointwise).astype(np.float32)

    def jittered(self, rng: RngLike = None, rel_std: float = 0.1) -> HRTEMNoise:
        """A copy with ``k``, ``b`` and ``sigma_c`` scaled by ``1 + rel_std * N(0, 1)``.

        Seed 001 §3.3 draws each calibrated parameter per image from a normal law; the
        relative spread of 0.1 is this package's default, not a paper value.
        """
        gen = as_rng(rng)
        f = np.clip(1.0 + rel_std * gen.standard_normal(3), 0.0, None)
        return dataclasses.replace(
            self, k=self.k * f[0], b=self.b * f[1], sigma_c=self.sigma_c * f[2]
        )


# --------------------------------------------------------------------------- STEM


def gradient_magnitude(image: np.ndarray, sigma_px: float = 0.0) -> np.ndarray:
    """Sobel gradient magnitude, as SFFN computes it with ``cv2.Sobel`` (3x3).

    The 3x3 Sobel kernels are not normalised, so a linear ramp of slope s (intensity
    per pixel) gives 8 s. Seed 001's scan-noise line (Table 2: k = 0.11, b = 4.76) and its
    Fig. 3e (gradients up to about 80) fit this scale.

    Parameters
    ----------
    image : numpy.ndarray
        ``(y, x)`` image.
    sigma_px : float
        Gaussian pre-smoothing in pixels (0: none).

    Returns
    -------
    numpy.ndarray
        Float32 ``(y, x)`` magnitude in intensity units (8 x per pixel).
    """
    image = np.asarray(image, dtype=np.float32)
    if sigma_px > 0:
        image = ndimage.gaussian_filter(image, sigma_px, mode="reflect")
    gy = ndimage.sobel(image, axis=0, mode="reflect")
    gx = ndimage.sobel(image, axis=1, mode="reflect")
    return np.hypot(gy, gx).astype(np.float32)


@lru_cache(maxsize=16)
def _row_spline_basis(width: int, knot_px: int) -> np.ndarray:
    knots = np.arange(0, width - 1 + knot_px, knot_px, dtype=np.float64)
    if len(knots) < 4:
        knots = np.linspace(0.0, width - 1.0, 4)
    basis = CubicSpline(knots, np.eye(len(knots)), axis=0)(np.arange(width, dtype=np.float64))
    return basis / np.linalg.norm(basis, axis=1, keepdims=True)


def row_correlated_noise(
    shape: tuple[int, int], knot_px: int = 10, rng: RngLike = None
) -> np.ndarray:
    """Unit-variance noise that is smooth along rows and independent between rows.

    Each row is a cubic spline through ``N(0, 1)`` control points every ``knot_px``
    pixels (SFFN's scan-noise construction), rescaled per position so that every pixel
    has variance exactly 1.

    Parameters
    ----------
    shape : tuple of int
        ``(height, width)``.
    knot_px : int
        Control-point spacing along x in pixels (SFFN: 10).
    rng : numpy.random.Generator, int or None
        Seed.

    Returns
    -------
    numpy.ndarray
        Float32 ``(height, width)`` field.
    """
    if knot_px < 1:
        raise ValueError(f"knot_px must be >= 1, got {knot_px}")
    basis = _row_spline_basis(int(shape[1]), int(knot_px))
    control = as_rng(rng).standard_normal((int(shape[0]), basis.shape[1]))
    return (control @ basis.T).astype(np.float32)


def tukey_lambda_std(lam: float) -> float:
    """Standard deviation of the unit-scale Tukey-lambda distribution (lambda > -0.5)."""
    if lam <= -0.5:
        raise ValueError(f"Tukey lambda must be > -0.5 for a finite variance, got {lam}")
    return float(stats.tukeylambda.std(lam))


def tukey_lambda_noise(shape: tuple[int, ...], lam: float, rng: RngLike = None) -> np.ndarray:
    """Zero-mean, unit-variance Tukey-lambda samples of shape ``shape`` (float32)."""
    draws = stats.tukeylambda.rvs(lam, size=shape, random_state=as_rng(rng))
    return (draws / tukey_lambda_std(lam)).astype(np.float32)


@dataclasses.dataclass(frozen=True)
class STEMNoise(_JsonModel):
    """STEM image formation and noise of seed 001 §3.2-3.3, in 8-bit intensity units.

    ``I_noisy = I_clean + N_scan + N_pointwise`` where ``I_clean`` already holds the atoms
    and the Perlin background. ``N_scan = (scan_k * g + scan_b) * F`` with ``g`` the
    gradient magnitude of ``I_clean`` (:func:`gradient_magnitude`, smoothed by
    ``scan_gradient_sigma_px``) and ``F`` unit noise
    smooth along each scan row (:func:`row_correlated_noise`); ``N_pointwise`` is
    Tukey-lambda noise with shape ``tukey_lambda`` and standard deviation
    ``pointwise_k * I_clean + pointwise_b``.

    Parameters
    ----------
    mode : {"haadf", "bf"}
        HAADF: bright atoms on a dark background; BF: dark atoms on a bright one.
    atom_brightness : tuple of float
        Range of the atom brightness ``|b_central - b_background|`` (Eq. 2).
    background : tuple of float
        Range of the background level.
    scan_k, scan_b : float
        Scan-noise sigma versus gradient magnitude (intensity per pixel).
    scan_knot_px : int
        Control-point spacing of the scan noise along rows (SFFN: 10 px).
    scan_gradient_sigma_px : float
        Gaussian smoothing (px) of the clean image before the Sobel gradient that sets
        the scan-noise sigma: the gradient at the probe scale. SFFN uses 0; 1.5 is this
        package's choice because it keeps the gradient measurable on noisy images, which
        lets :func:`~.calibration.calibrate_stem` recover the scan line.
    pointwise_k, pointwise_b, tukey_lambda : float
        Pointwise standard deviation versus intensity, and the Tukey-lambda shape.
    value_range : tuple of float or None
        Clip of the noisy image (8-bit detector range), or None for no clipping.

    Notes
    -----
    The defaults are the "Real (GT)" HAADF row of seed 001 Table 2 (calibrated on 20 real
    HAADF images): atom brightness 63.44-229.32, background 10.38-84.23, scan k 0.11,
    b 4.76, pointwise k 0.07, b 11.35, lambda 0.27. The gradient is the unnormalised
    3x3 Sobel magnitude of the SFFN code (:func:`gradient_magnitude`).
    """

    kind: ClassVar[str] = "stem"
    mode: str = "haadf"
    atom_brightness: tuple[float, float] = (63.44, 229.32)
    background: tuple[float, float] = (10.38, 84.23)
    scan_k: float = 0.11
    scan_b: float = 4.76
    scan_knot_px: int = 10
    scan_gradient_sigma_px: float = 1.5
    pointwise_k: float = 0.07
    pointwise_b: float = 11.35
    tukey_lambda: float = 0.27
    value_range: tuple[float, float] | None = (0.0, 255.0)

    def __post_init__(self):
        if self.mode not in ("haadf", "bf"):
            raise ValueError(f"mode must be 'haadf' or 'bf', not {self.mode!r}")
        tukey_lambda_std(self.tukey_lambda)

    @classmethod
    def bf(cls) -> STEMNoise:
        """Bright-field defaults: the "Real (GT)" BF row of seed 001 Table 2.

        Atom brightness 51.60-227.85 (the table lists them as min 227.85, max 51.60),
        background 121.24-242.45, scan k 0.03, b 7.85, pointwise k 0.01, b 17.03,
        lambda 0.28.
        """
        return cls(
            mode="bf",
            atom_brightness=(51.60, 227.85),
            background=(121.24, 242.45),
            scan_k=0.03,
            scan_b=7.85,
            pointwise_k=0.01,
            pointwise_b=17.03,
            tukey_lambda=0.28,
        )

    def scan_sigma(self, gradient: np.ndarray | float) -> np.ndarray:
        """Scan-noise sigma at a gradient magnitude (clipped at 0)."""
        return np.maximum(self.scan_k * np.asarray(gradient, dtype=np.float64) + self.scan_b, 0.0)

    def pointwise_sigma(self, intensity: np.ndarray | float) -> np.ndarray:
        """Pointwise standard deviation at an intensity (clipped at 0)."""
        return np.maximum(
            self.pointwise_k * np.asarray(intensity, dtype=np.float64) + self.pointwise_b, 0.0
        )

    def _apply_frame(self, clean: np.ndarray, gen: np.random.Generator) -> np.ndarray:
        gradient = gradient_magnitude(clean, self.scan_gradient_sigma_px)
        scan = self.scan_sigma(gradient) * row_correlated_noise(
            clean.shape, self.scan_knot_px, gen
        )
        point = self.pointwise_sigma(clean) * tukey_lambda_noise(clean.shape, self.tukey_lambda, gen)
        noisy = clean + scan + point
        if self.value_range is not None:
            noisy = np.clip(noisy, *self.value_range)
        return noisy.astype(np.float32)

    def apply(self, clean: np.ndarray, rng: RngLike = None) -> np.ndarray:
        """Add scan and pointwise noise to a frame ``(y, x)`` or each frame of ``(t, y, x)``.

        Returns
        -------
        numpy.ndarray
            Float32 noisy image, clipped to ``value_range``.
        """
        clean = _as_float_image(clean)
        gen = as_rng(rng)
        if clean.ndim == 2:
            return self._apply_frame(clean, gen)
        return np.stack([self._apply_frame(frame, gen) for frame in clean])

    def jittered(self, rng: RngLike = None, rel_std: float = 0.1) -> STEMNoise:
        """A copy with the noise slopes and intercepts scaled by ``1 + rel_std * N(0, 1)``
        and lambda shifted by ``rel_std * 0.1 * N(0, 1)``.

        Seed 001 §3.3 draws each parameter per image from a normal law around its
        calibrated mean; the spread here is this package's default.
        """
        gen = as_rng(rng)
        f = np.clip(1.0 + rel_std * gen.standard_normal(4), 0.0, None)
        lam = max(self.tukey_lambda + 0.1 * rel_std * gen.standard_normal(), -0.45)
        return dataclasses.replace(
            self,
            scan_k=self.scan_k * f[0],
            scan_b=self.scan_b * f[1],
            pointwise_k=self.pointwise_k * f[2],
            pointwise_b=self.pointwise_b * f[3],
            tukey_lambda=lam,
        )


# --------------------------------------------------------------------------- counting


@dataclasses.dataclass(frozen=True)
class Counting(_JsonModel):
    """Shot noise of a direct detector in electron-counting mode.

    ``noisy = offset + gain * Poisson(lambda) + N(0, read_sigma)``, where ``lambda`` (e-
    per pixel) is the clean image itself when ``dose_e_per_px`` is None, otherwise the
    clean image rescaled so that its mean is ``dose_e_per_px``.

    Parameters
    ----------
    dose_e_per_px : float or None
        Mean dose per pixel and frame. Seed 002's Au counting data hold 0-5 counts per
        pixel; the Pt data 2000 e-/A^2/s at 75 frames/s.
    gain : float
        Recorded units per counted electron (1 for raw counts).
    offset : float
        Recorded value at zero electrons.
    read_sigma : float
        Gaussian readout noise in recorded units (0 for ideal counting).
    """

    kind: ClassVar[str] = "counting"
    dose_e_per_px: float | None = None
    gain: float = 1.0
    offset: float = 0.0
    read_sigma: float = 0.0

    def __post_init__(self):
        if self.dose_e_per_px is not None and self.dose_e_per_px <= 0:
            raise ValueError(f"dose_e_per_px must be > 0, got {self.dose_e_per_px}")
        if self.gain <= 0 or self.read_sigma < 0:
            raise ValueError("Counting needs gain > 0 and read_sigma >= 0")

    def electrons(self, clean: np.ndarray) -> np.ndarray:
        """Expected electrons per pixel for a clean image (float64)."""
        clean = np.asarray(clean, dtype=np.float64)
        if np.any(clean < 0):
            raise ValueError("counting noise needs a non-negative clean image (expected counts)")
        if self.dose_e_per_px is None:
            return clean
        mean = clean.mean()
        if mean <= 0:
            raise ValueError("the clean image is all zero; cannot scale it to a dose")
        return clean * (self.dose_e_per_px / mean)

    def expected(self, clean: np.ndarray) -> np.ndarray:
        """Noise-free recorded image, in the units of :meth:`apply`'s output (float32)."""
        return (self.offset + self.gain * self.electrons(clean)).astype(np.float32)

    def apply(self, clean: np.ndarray, rng: RngLike = None) -> np.ndarray:
        """Poisson-sample the clean image and add readout noise (float32)."""
        clean = _as_float_image(clean)
        gen = as_rng(rng)
        counts = gen.poisson(self.electrons(clean))
        noisy = self.offset + self.gain * counts
        if self.read_sigma > 0:
            noisy = noisy + self.read_sigma * gen.standard_normal(clean.shape)
        return noisy.astype(np.float32)


# --------------------------------------------------------------------------- seed 003


def _check_fraction(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value}")


@dataclasses.dataclass(frozen=True)
class GaussianNoise(_JsonModel):
    """Seed 003 Eq. 3: ``I_noisy = clip(I + C_noise * N(0, 1))`` in [0, value_max].

    Parameters
    ----------
    c_noise : float
        Noise factor on the 0-1 scale (paper trains on 0.1-0.25; 0.2 here).
    value_max : float
        Full scale of the images (1 for normalised, 255 for 8-bit); noise and clipping
        scale with it.
    """

    kind: ClassVar[str] = "gaussian"
    c_noise: float = 0.2
    value_max: float = 1.0

    def apply(self, clean: np.ndarray, rng: RngLike = None) -> np.ndarray:
        """Add clipped Gaussian noise (float32)."""
        clean = _as_float_image(clean)
        noise = self.c_noise * self.value_max * as_rng(rng).standard_normal(clean.shape)
        return np.clip(clean + noise, 0.0, self.value_max).astype(np.float32)


@dataclasses.dataclass(frozen=True)
class SaltPepperNoise(_JsonModel):
    """Seed 003 §II.E salt-and-pepper noise.

    With probability ``p`` a pixel is replaced: by ``value_max`` (white) when it is
    below half scale, else by 0 (black).

    Parameters
    ----------
    p : float
        Probability of altering a pixel; the paper does not give its value, 0.05 is
        this package's default.
    value_max : float
        Full scale of the images.
    """

    kind: ClassVar[str] = "salt_pepper"
    p: float = 0.05
    value_max: float = 1.0

    def __post_init__(self):
        _check_fraction("p", self.p)

    def apply(self, clean: np.ndarray, rng: RngLike = None) -> np.ndarray:
        """Replace a random fraction ``p`` of the pixels by black or white (float32)."""
        clean = _as_float_image(clean)
        hit = as_rng(rng).random(clean.shape) < self.p
        flipped = np.where(clean < 0.5 * self.value_max, self.value_max, 0.0)
        return np.where(hit, flipped, clean).astype(np.float32)


@dataclasses.dataclass(frozen=True)
class GaussianSaltPepperNoise(_JsonModel):
    """Seed 003 G&SP: Gaussian noise first, then salt-and-pepper.

    Parameters
    ----------
    c_noise, p, value_max : float
        As in :class:`GaussianNoise` and :class:`SaltPepperNoise`.
    """

    kind: ClassVar[str] = "gaussian_salt_pepper"
    c_noise: float = 0.2
    p: float = 0.05
    value_max: float = 1.0

    def __post_init__(self):
        _check_fraction("p", self.p)

    def apply(self, clean: np.ndarray, rng: RngLike = None) -> np.ndarray:
        """Gaussian then salt-and-pepper noise (float32)."""
        gen = as_rng(rng)
        noisy = GaussianNoise(self.c_noise, self.value_max).apply(clean, gen)
        return SaltPepperNoise(self.p, self.value_max).apply(noisy, gen)


@dataclasses.dataclass(frozen=True)
class BackgroundBrightnessNoise(_JsonModel):
    """Seed 003 §II.F background brightness (BB) followed by Gaussian noise (BB+G).

    The image is cut into a ``grid x grid`` array of patches. Per patch ``u_a ~ U(0, 1)``
    picks dark (``u_a < p_dark``), high-brightness (``u_a >= 1 - p_bright``) or slightly
    bright; ``u_b`` is uniform in ``[0.4, 0.6] w1``, ``[0.8, 1.2] w1`` or ``[0.6, 0.9] w1``
    respectively (Eq. 4); ``val_BB ~ N(u_b, w2)``. Pixels at or below ``val_BB`` become
    ``val_BB``, others ``I - c_bb * val_BB`` (Eq. 5); then :class:`GaussianNoise`.

    Parameters
    ----------
    c_noise : float
        Gaussian noise factor (0-1 scale).
    w1 : float
        Brightness benchmark hyper-parameter; paper: 0.2.
    w2 : float
        Spread of ``val_BB`` around ``u_b``; not given in the paper, 0.02 here.
    c_bb : float
        Smoothness coefficient of Eq. 5; the paper makes it depend on intensity and
        ``u_a`` without a formula; 0 here keeps the mapping continuous.
    grid : int
        Patches per image side; the paper works on 8 x 8 patches.
    p_dark, p_bright : float
        Probabilities of the dark and high-brightness types; paper: 0.15 each.
    value_max : float
        Full scale of the images.
    """

    kind: ClassVar[str] = "background_brightness"
    c_noise: float = 0.2
    w1: float = 0.2
    w2: float = 0.02
    c_bb: float = 0.0
    grid: int = 8
    p_dark: float = 0.15
    p_bright: float = 0.15
    value_max: float = 1.0

    def __post_init__(self):
        _check_fraction("p_dark", self.p_dark)
        _check_fraction("p_bright", self.p_bright)
        if self.grid < 1:
            raise ValueError(f"grid must be >= 1, got {self.grid}")

    def background_levels(self, gen: np.random.Generator) -> np.ndarray:
        """Draw ``val_BB`` for each patch, shape ``(grid, grid)``, on the 0-1 scale."""
        u_a = gen.random((self.grid, self.grid))
        lo = np.where(u_a < self.p_dark, 0.4, np.where(u_a >= 1 - self.p_bright, 0.8, 0.6))
        hi = np.where(u_a < self.p_dark, 0.6, np.where(u_a >= 1 - self.p_bright, 1.2, 0.9))
        u_b = self.w1 * (lo + (hi - lo) * gen.random((self.grid, self.grid)))
        return u_b + self.w2 * gen.standard_normal((self.grid, self.grid))

    def apply(self, clean: np.ndarray, rng: RngLike = None) -> np.ndarray:
        """Apply the per-patch background brightness, then Gaussian noise (float32)."""
        clean = _as_float_image(clean)
        gen = as_rng(rng)
        height, width = clean.shape[-2:]
        levels = self.background_levels(gen) * self.value_max
        rows = np.arange(height) * self.grid // height
        cols = np.arange(width) * self.grid // width
        val = levels[rows[:, None], cols[None, :]]
        bright = np.where(clean <= val, val, clean - self.c_bb * val)
        return GaussianNoise(self.c_noise, self.value_max).apply(bright, gen)


# --------------------------------------------------------------------------- loading

NOISE_MODELS: dict[str, type] = {
    cls.kind: cls
    for cls in (
        HRTEMNoise,
        STEMNoise,
        Counting,
        GaussianNoise,
        SaltPepperNoise,
        GaussianSaltPepperNoise,
        BackgroundBrightnessNoise,
    )
}

NoiseModel = (
    HRTEMNoise
    | STEMNoise
    | Counting
    | GaussianNoise
    | SaltPepperNoise
    | GaussianSaltPepperNoise
    | BackgroundBrightnessNoise
)


def noise_model_from_dict(data: dict[str, Any]) -> NoiseModel:
    """Rebuild a noise model from :meth:`to_dict` output.

    Raises
    ------
    ValueError
        When the version is newer than this package understands or the kind is unknown.
    """
    if not isinstance(data, dict) or "kind" not in data or "params" not in data:
        raise ValueError("not a noise-model file: expected keys 'format_version', 'kind', 'params'")
    version = data.get("format_version")
    if not isinstance(version, int) or version < 1 or version > FORMAT_VERSION:
        raise ValueError(
            f"noise-model format_version {version!r} is not supported (this package reads "
            f"1..{FORMAT_VERSION}); update napari-tem-denoise"
        )
    kind = data["kind"]
    if kind not in NOISE_MODELS:
        raise ValueError(f"unknown noise-model kind {kind!r}; known: {sorted(NOISE_MODELS)}")
    return NOISE_MODELS[kind]._from_params(data["params"])


def load_noise_model(path: str | Path) -> NoiseModel:
    """Read a noise model saved with ``save`` (JSON)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON: {err}") from err
    return noise_model_from_dict(data)
