"""HRTEM image formation from a :class:`Structure`: phase object, then a random microscope.

The specimen is a phase object: each atom adds a Gaussian bump of projected potential
(0.02-0.04 nm wide, height ``Z**0.6`` scaled by the interaction constant), the exit wave is
``exp(i * phase - absorption)``. The microscope multiplies the wave's spectrum by the
coherent transfer function ``A(k) E_s(k) E_t(k) exp(-i chi(k))`` with
``chi = pi lambda df k^2 + pi/2 Cs lambda^3 k^4`` (plus two-fold astigmatism), an objective
aperture ``A``, and the spatial- and temporal-coherence envelopes ``E_s``, ``E_t``. Voltage
(80/200/300 kV), Cs (aberration-corrected: a few um; uncorrected: 0.5-1.3 mm) and defocus
(around Scherzer, or anywhere in +-100 nm) are random, so both contrast polarities occur.
The wave is computed on a grid at most 25 pm/px and the intensity binned to the requested
pixels (a detector pixel integrates).
"""

from __future__ import annotations

import numpy as np

from tem_denoise.physics.formation.stem import frequencies, splat
from tem_denoise.physics.formation.structures import Structure

WAVELENGTH_NM = {80: 0.004176, 200: 0.002508, 300: 0.001969}
"""Relativistic electron wavelength (nm) by accelerating voltage (kV)."""
MAX_WAVE_PIXEL_NM = 0.025


def random_optics(rng: np.random.Generator) -> dict:
    """Microscope settings: voltage (kV), Cs (nm), defocus (nm), astigmatism (nm, rad), aperture
    (1/nm, or None), convergence semi-angle (rad) and focal spread (nm)."""
    kv = int(rng.choice([80, 200, 300]))
    wavelength = WAVELENGTH_NM[kv]
    corrected = rng.random() < 0.5
    cs = rng.uniform(-0.02e6, 0.03e6) if corrected else rng.uniform(0.5e6, 1.3e6)
    scherzer = -1.2 * np.sqrt(abs(cs) * wavelength) if not corrected else rng.uniform(-15, 15)
    defocus = scherzer * rng.uniform(0.5, 1.5) if rng.random() < 0.6 else rng.uniform(-100, 100)
    return {
        "kv": kv, "cs_nm": cs, "defocus_nm": defocus,
        "astigmatism_nm": rng.exponential(2.0), "astigmatism_angle": rng.uniform(0, np.pi),
        "aperture_per_nm": rng.uniform(7, 25) if rng.random() < 0.5 else None,
        "convergence_rad": rng.uniform(0.05e-3, 0.5e-3), "focal_spread_nm": rng.uniform(2, 6),
    }


def _wave_grid(shape: tuple[int, int], pixel_nm: float) -> tuple[int, tuple[int, int], float]:
    """Oversampling factor, grid shape and pixel of the wave computation."""
    factor = max(1, int(np.ceil(pixel_nm / MAX_WAVE_PIXEL_NM)))
    return factor, (shape[0] * factor, shape[1] * factor), pixel_nm / factor


def exit_wave(structure: Structure, shape: tuple[int, int], pixel_nm: float, rng: np.random.Generator) -> np.ndarray:
    """Complex exit wave of the phase object on a ``shape`` grid of ``pixel_nm`` pixels."""
    ky, kx = frequencies(shape, pixel_nm)
    width = rng.uniform(0.02, 0.04)
    strength = rng.uniform(0.004, 0.02)
    projected = splat(structure, structure.count * structure.z**0.6, shape, pixel_nm)
    potential = np.fft.irfft2(np.fft.rfft2(projected) * np.exp(-2 * np.pi**2 * width**2 * (ky**2 + kx**2)), s=shape)
    phase = strength * potential * 2 * np.pi * (width / pixel_nm) ** 2  # peak per atom: strength * Z**0.6
    return np.exp(1j * phase - rng.uniform(0.0, 0.1) * np.abs(phase))


def transfer(shape: tuple[int, int], pixel_nm: float, optics: dict) -> np.ndarray:
    """Coherent transfer function on the full fft2 grid."""
    wavelength = WAVELENGTH_NM[optics["kv"]]
    ky = np.fft.fftfreq(shape[0], d=pixel_nm)[:, None]
    kx = np.fft.fftfreq(shape[1], d=pixel_nm)[None, :]
    k2 = ky**2 + kx**2
    angle = np.arctan2(ky, kx)
    defocus = optics["defocus_nm"] + optics["astigmatism_nm"] * np.cos(2 * (angle - optics["astigmatism_angle"]))
    chi = np.pi * wavelength * defocus * k2 + 0.5 * np.pi * optics["cs_nm"] * wavelength**3 * k2**2
    gradient = 2 * np.pi * wavelength * optics["defocus_nm"] * np.sqrt(k2) \
        + 2 * np.pi * optics["cs_nm"] * wavelength**3 * k2 * np.sqrt(k2)
    spatial = np.exp(-((optics["convergence_rad"] / wavelength) ** 2) * gradient**2 / 4)
    temporal = np.exp(-0.5 * (np.pi * wavelength * optics["focal_spread_nm"]) ** 2 * k2**2)
    aperture = 1.0 if optics["aperture_per_nm"] is None else (k2 <= optics["aperture_per_nm"] ** 2)
    return aperture * spatial * temporal * np.exp(-1j * chi)


def hrtem(structure: Structure, shape: tuple[int, int], pixel_nm: float, rng: np.random.Generator,
          optics: dict | None = None) -> np.ndarray:
    """HRTEM intensity (vacuum about 1) on a ``shape`` grid of ``pixel_nm`` pixels."""
    optics = optics or random_optics(rng)
    factor, grid, wave_pixel = _wave_grid(shape, pixel_nm)
    wave = exit_wave(structure, grid, wave_pixel, rng)
    image = np.abs(np.fft.ifft2(np.fft.fft2(wave) * transfer(grid, wave_pixel, optics))) ** 2
    return image.reshape(shape[0], factor, shape[1], factor).mean(axis=(1, 3))
