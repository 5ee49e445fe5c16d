"""HRTEM image formation from a :class:`Structure`: phase object or light multislice, then a
random microscope.

The specimen is a phase object: each atom adds a Gaussian bump of projected potential
(0.02-0.04 nm wide, its integral ``Z**0.6`` scaled), the exit wave is
``exp(i * phase - absorption * |phase|)``. The scale is either a strength drawn independently
of the voltage (0.004-0.02 rad peak per ``Z**0.6``: the bundled ``restore-hrtem``'s data), or,
with ``physical_phase``, physical: the voltage's interaction constant (:func:`interaction_constant`)
times an atom's integrated projected potential, :data:`CARBON_POTENTIAL_V_NM3` for carbon and
``(Z / 6)**0.6`` times that for others, times a random factor of :data:`POTENTIAL_FACTOR`. The
first is typically 2-15 times weaker than the second (median about 5): a graphene sheet's
contrast is then 0.5-1.5 % where abTEM's is 5 % (docs/restoration.md).

A thick specimen scatters the wave again on its way through (dynamical scattering: channelling
along columns, contrast that does not grow with thickness as a phase object's does); with
``multislice`` its columns are cut into slices of :data:`SLICE_NM` along the beam (atoms
:data:`ATOM_SPACING_NM` apart), each slice a phase object, and the wave propagates in between
by the Fresnel propagator ``exp(-i pi lambda dz k^2)`` (Cowley and Moodie's multislice, with
few slices: "light"; the sign of :func:`transfer`'s defocus). Single atoms (amorphous films,
adatoms, a support under a particle) sit in a random slice. A specimen no thicker than one
slice gives the phase object.

The microscope multiplies the wave's spectrum by the
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
SLICE_NM = 2.0
"""Thickness of a light multislice's slices (nm)."""
MAX_SLICES = 10
"""Most slices; a specimen thicker than ``MAX_SLICES * SLICE_NM`` gets thicker slices."""
ATOM_SPACING_NM = (0.2, 0.35)
"""Range of the distance (nm) between neighbouring atoms of a column along the beam."""
REST_ENERGY_KEV = 510.999
"""Electron rest energy (keV)."""
CARBON_POTENTIAL_V_NM3 = 0.120
"""A carbon atom's projected potential integrated over the plane (V nm^3): ``h^2 / (2 pi m0 e)``
= 0.479 V nm^2 times its electron scattering factor at zero angle, about 0.25 nm (Doyle and
Turner, Acta Cryst. A24, 1968)."""
POTENTIAL_FACTOR = (0.6, 1.6)
"""Range of the random factor on every atom's integrated potential (one per specimen): the
``Z**0.6`` rule's error across the periodic table (oxygen's potential is below it, silicon's
above)."""


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


def interaction_constant(kv: int) -> float:
    """The interaction constant ``sigma`` (rad per V nm) at ``kv``: ``2 pi / (lambda V)`` times
    ``(m0 c^2 + e V) / (2 m0 c^2 + e V)`` (0.0101 at 80 kV, 0.00653 at 300 kV)."""
    return 2 * np.pi / (WAVELENGTH_NM[kv] * kv * 1e3) * (REST_ENERGY_KEV + kv) / (2 * REST_ENERGY_KEV + kv)


def _wave_grid(shape: tuple[int, int], pixel_nm: float) -> tuple[int, tuple[int, int], float]:
    """Oversampling factor, grid shape and pixel of the wave computation."""
    factor = max(1, int(np.ceil(pixel_nm / MAX_WAVE_PIXEL_NM)))
    return factor, (shape[0] * factor, shape[1] * factor), pixel_nm / factor


def exit_wave(structure: Structure, shape: tuple[int, int], pixel_nm: float, rng: np.random.Generator,
              wavelength_nm: float | None = None, interaction: float | None = None) -> np.ndarray:
    """Complex exit wave on a ``shape`` grid of ``pixel_nm`` pixels: of the phase object, or with
    a ``wavelength_nm`` (nm) of the light multislice (:func:`slice_counts`). Phases scaled by the
    ``interaction`` constant (rad per V nm: :func:`interaction_constant`) when given, else by a
    strength independent of the voltage (the module's docstring)."""
    ky, kx = frequencies(shape, pixel_nm)
    width = rng.uniform(0.02, 0.04)
    if interaction is None:
        strength = rng.uniform(0.004, 0.02)
    else:  # peak phase of a Gaussian of the integrated phase sigma * V * (Z / 6)**0.6
        potential = CARBON_POTENTIAL_V_NM3 * 6.0**-0.6 * rng.uniform(*POTENTIAL_FACTOR)
        strength = interaction * potential / (2 * np.pi * width**2)
    blur = np.exp(-2 * np.pi**2 * width**2 * (ky**2 + kx**2))

    def transmitted(wave: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """``wave`` through a phase object of ``counts`` atoms per column."""
        potential = np.fft.irfft2(np.fft.rfft2(splat(structure, counts * structure.z**0.6, shape, pixel_nm)) * blur,
                                  s=shape)
        phase = strength * potential * 2 * np.pi * (width / pixel_nm) ** 2  # peak per atom: strength * Z**0.6
        return wave * np.exp(1j * phase - absorption * np.abs(phase))

    absorption = rng.uniform(0.0, 0.1)
    if wavelength_nm is None:
        return transmitted(np.ones(shape, complex), structure.count)
    slices, dz = slice_counts(structure, rng)
    propagator = _propagator(shape, pixel_nm, wavelength_nm, dz)
    wave = transmitted(np.ones(shape, complex), slices[0])
    for counts in slices[1:]:
        wave = transmitted(np.fft.ifft2(np.fft.fft2(wave) * propagator), counts)
    return wave


def slice_counts(structure: Structure, rng: np.random.Generator) -> tuple[list[np.ndarray], float]:
    """Atoms of every column in each slice along the beam, entrance first, and the slices'
    thickness (nm). Columns of two atoms or more fill the slices from the entrance surface, atoms
    :data:`ATOM_SPACING_NM` apart (one spacing per specimen); single atoms go into a random slice.
    The counts of a column add up to its ``count``."""
    spacing = rng.uniform(*ATOM_SPACING_NM)
    count = np.asarray(structure.count, np.float64)
    thickness = float(count.max(initial=0.0)) * spacing
    n = int(np.clip(np.ceil(thickness / SLICE_NM), 1, MAX_SLICES))
    per_slice = max(thickness / n, 1e-9) / spacing  # atoms of a full slice
    single = count < 2
    where = rng.integers(0, n, size=count.shape)
    slices = []
    for index in range(n):
        columns = np.clip(count - index * per_slice, 0.0, per_slice)
        slices.append(np.where(single, np.where(where == index, count, 0.0), columns))
    return slices, per_slice * spacing


def _propagator(shape: tuple[int, int], pixel_nm: float, wavelength_nm: float, dz_nm: float) -> np.ndarray:
    """Fresnel propagator over ``dz_nm`` on the full fft2 grid, band-limited to 2/3 of the
    grid's highest frequency, as usual against the aliasing of the slices' products (the
    transmissions themselves are not band-limited)."""
    ky, kx = _full_frequencies(shape, pixel_nm)
    k2 = ky**2 + kx**2
    limit = (2.0 / 3.0) * 0.5 / pixel_nm
    return (k2 <= limit**2) * np.exp(-1j * np.pi * wavelength_nm * dz_nm * k2)


def _full_frequencies(shape: tuple[int, int], pixel_nm: float) -> tuple[np.ndarray, np.ndarray]:
    """Spatial frequencies (1/nm) of a full fft2 grid: ``(ky, kx)`` broadcastable arrays."""
    return np.fft.fftfreq(shape[0], d=pixel_nm)[:, None], np.fft.fftfreq(shape[1], d=pixel_nm)[None, :]


def transfer(shape: tuple[int, int], pixel_nm: float, optics: dict) -> np.ndarray:
    """Coherent transfer function on the full fft2 grid."""
    wavelength = WAVELENGTH_NM[optics["kv"]]
    ky, kx = _full_frequencies(shape, pixel_nm)
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
          optics: dict | None = None, multislice_share: float = 0.0, physical_phase: bool = False) -> np.ndarray:
    """HRTEM intensity (vacuum about 1) on a ``shape`` grid of ``pixel_nm`` pixels; the exit wave
    by light multislice in a ``multislice_share`` of calls (0-1), else of the phase object, its
    phases from the voltage's interaction constant with ``physical_phase``."""
    optics = optics or random_optics(rng)
    factor, grid, wave_pixel = _wave_grid(shape, pixel_nm)
    multislice = multislice_share > 0 and rng.random() < multislice_share  # no draw at 0: same stream
    wave = exit_wave(structure, grid, wave_pixel, rng, WAVELENGTH_NM[optics["kv"]] if multislice else None,
                     interaction_constant(optics["kv"]) if physical_phase else None)
    image = np.abs(np.fft.ifft2(np.fft.fft2(wave) * transfer(grid, wave_pixel, optics))) ** 2
    return image.reshape(shape[0], factor, shape[1], factor).mean(axis=(1, 3))
