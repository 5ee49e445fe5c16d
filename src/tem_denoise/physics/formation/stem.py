"""Incoherent STEM image formation (HAADF and BF) from a :class:`Structure`.

HAADF: each column scatters in proportion to ``count**t * Z**g`` (``g`` 1.5-2, the
Z-contrast exponent; ``t`` < 1 for channelling in thick columns); the image is that
scattering map convolved with the probe intensity, a Gaussian core (FWHM 0.05-0.15 nm, from
aberrations and source size) plus a wider tail. BF (and ABF): a bright background darkened
by a weaker ``Z**g`` map (``g`` 0.6-1.2) through a broader probe, so light atoms show too.
Columns are splatted on the pixel grid at their sub-pixel positions and the convolution is
done in Fourier space. Scan distortions (row jitter, slow drift) are applied by
:mod:`.detector`.
"""

from __future__ import annotations

import numpy as np

from tem_denoise.physics.formation.structures import Structure

FWHM_TO_SIGMA = 1.0 / (2.0 * np.sqrt(2.0 * np.log(2.0)))


def splat(structure: Structure, weights: np.ndarray, shape: tuple[int, int], pixel_nm: float) -> np.ndarray:
    """Column ``weights`` spread bilinearly onto a ``shape`` grid of ``pixel_nm`` pixels
    (pixel centres at ``(i + 0.5) * pixel_nm``)."""
    coords = structure.positions / pixel_nm - 0.5
    base = np.floor(coords).astype(np.int64)
    frac = coords - base
    image = np.zeros(shape[0] * shape[1], dtype=np.float64)
    for dy, dx in ((0, 0), (0, 1), (1, 0), (1, 1)):
        y, x = base[:, 0] + dy, base[:, 1] + dx
        share = (frac[:, 0] if dy else 1 - frac[:, 0]) * (frac[:, 1] if dx else 1 - frac[:, 1])
        inside = (y >= 0) & (y < shape[0]) & (x >= 0) & (x < shape[1])
        image += np.bincount(y[inside] * shape[1] + x[inside], weights=(weights * share)[inside],
                             minlength=image.size)
    return image.reshape(shape)


def frequencies(shape: tuple[int, int], pixel_nm: float) -> tuple[np.ndarray, np.ndarray]:
    """Spatial frequencies (1/nm) of an rfft2 grid: ``(ky, kx)`` broadcastable arrays."""
    ky = np.fft.fftfreq(shape[0], d=pixel_nm)[:, None]
    kx = np.fft.rfftfreq(shape[1], d=pixel_nm)[None, :]
    return ky, kx


def gaussian_transfer(k2: np.ndarray, sigma_nm: float) -> np.ndarray:
    """Fourier transform of a unit-area Gaussian of ``sigma_nm`` at squared frequency ``k2``."""
    return np.exp(-2.0 * np.pi**2 * sigma_nm**2 * k2)


def probe_transfer(k2: np.ndarray, fwhm_nm: float, tail: float, tail_scale: float) -> np.ndarray:
    """Probe intensity in Fourier space: a core of ``fwhm_nm`` plus a ``tail`` fraction that is
    ``tail_scale`` times wider (unit total intensity)."""
    sigma = fwhm_nm * FWHM_TO_SIGMA
    return (1 - tail) * gaussian_transfer(k2, sigma) + tail * gaussian_transfer(k2, sigma * tail_scale)


def convolve(image: np.ndarray, transfer: np.ndarray) -> np.ndarray:
    """``image`` filtered by the rfft2-grid ``transfer`` function (periodic borders)."""
    return np.fft.irfft2(np.fft.rfft2(image) * transfer, s=image.shape)


def random_probe(rng: np.random.Generator) -> dict:
    """Probe parameters: core FWHM 0.05-0.15 nm, 0-25 % of the intensity in a 2.5-6x wider tail."""
    return {"fwhm_nm": rng.uniform(0.05, 0.15), "tail": rng.uniform(0.0, 0.25), "tail_scale": rng.uniform(2.5, 6)}


def haadf(structure: Structure, shape: tuple[int, int], pixel_nm: float, rng: np.random.Generator,
          probe: dict | None = None) -> np.ndarray:
    """HAADF intensity (brightest column about 1) on a ``shape`` grid of ``pixel_nm`` pixels."""
    probe = probe or random_probe(rng)
    exponent, channelling = rng.uniform(1.5, 2.0), rng.uniform(0.6, 1.0)
    weights = structure.count**channelling * structure.z**exponent
    ky, kx = frequencies(shape, pixel_nm)
    image = convolve(splat(structure, weights, shape, pixel_nm), probe_transfer(ky**2 + kx**2, **probe))
    return _normalised(image)


def bright_field(structure: Structure, shape: tuple[int, int], pixel_nm: float, rng: np.random.Generator,
                 probe: dict | None = None) -> np.ndarray:
    """BF/ABF intensity: a background of 1 with columns darkened by up to 5-40 %."""
    probe = probe or random_probe(rng)
    probe = {**probe, "fwhm_nm": probe["fwhm_nm"] * rng.uniform(1.0, 1.6)}
    weights = structure.count ** rng.uniform(0.5, 0.9) * structure.z ** rng.uniform(0.6, 1.2)
    ky, kx = frequencies(shape, pixel_nm)
    dark = _normalised(convolve(splat(structure, weights, shape, pixel_nm), probe_transfer(ky**2 + kx**2, **probe)))
    return 1.0 - rng.uniform(0.05, 0.4) * dark


def _normalised(image: np.ndarray) -> np.ndarray:
    """``image`` clipped at 0 and divided by its 99.9th percentile (1 for an empty field)."""
    image = np.maximum(image, 0.0)
    top = float(np.percentile(image, 99.9))
    return image / top if top > 0 else image
