"""Synthetic STEM images (HAADF and BF) following seed 001 §3.3 and the SFFN generators.

A scene is one projected lattice, or (SFFN: 90 % of the images) two lattices joined
along a binarised Perlin mask, or a fully random arrangement; each lattice has a random
rotation and the pixel size is drawn continuously, so the apparent scale is continuous.
Random deletions simulate defects and random additions embedded ions. Atoms are
Gaussians on a Perlin background; :class:`~.noise_models.STEMNoise` adds scan and
pointwise noise. Units are 8-bit intensities (0-255).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .lattices import LATTICES
from .noise_models import STEMNoise
from .perlin import binary_mask, fractal_noise, rescale01
from .poisson_disk import poisson_disk
from .render import atom_map, render_gaussians
from .rng import RngLike, as_rng
from .synth_pair import SynthPair

ARRANGEMENTS = ("lattice", "interface", "random")


def _lattice_sites(name, shape, pixel_size_nm, margin, gen):
    lattice = LATTICES[name]
    origin = (gen.uniform(0, shape[0]), gen.uniform(0, shape[1]))
    rotation = gen.uniform(0.0, 2.0 * np.pi)
    pos, w = lattice.positions(shape, pixel_size_nm, rotation, origin, margin)
    return pos, w, {"lattice": name, "rotation_rad": float(rotation)}


def _random_sites(shape, pixel_size_nm, margin, gen):
    spacing_nm = gen.uniform(0.15, 0.30)
    extent = (shape[0] + 2 * margin, shape[1] + 2 * margin)
    pos = poisson_disk(extent, spacing_nm / pixel_size_nm, rounds=6, rng=gen) - margin
    return pos, gen.uniform(0.3, 1.0, len(pos)), {"lattice": "random", "spacing_nm": float(spacing_nm)}


def _sites(kind, names, shape, pixel_size_nm, margin, gen):
    if kind == "random":
        return _random_sites(shape, pixel_size_nm, margin, gen)
    return _lattice_sites(str(gen.choice(names)), shape, pixel_size_nm, margin, gen)


def stem_arrangement(
    shape: tuple[int, int],
    pixel_size_nm: float,
    *,
    arrangement: str = "auto",
    lattices: Sequence[str] | None = None,
    p_random: float = 0.1,
    p_interface: float = 0.9,
    p_deletion: float = 0.5,
    deletion_range: tuple[float, float] = (0.01, 0.1),
    p_addition: float = 0.5,
    addition_range: tuple[float, float] = (0.01, 0.05),
    margin_px: float = 0.0,
    rng: RngLike = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
    """Atomic-column positions of one STEM scene.

    Parameters
    ----------
    shape : tuple of int
        Image ``(height, width)`` in pixels.
    pixel_size_nm : float
        Pixel size in nm.
    arrangement : {"auto", "lattice", "interface", "random"}
        "auto" draws "random" with ``p_random``, else "interface" with ``p_interface``
        (SFFN: 0.9), else "lattice". An interface may pair a lattice with a random
        arrangement.
    lattices : sequence of str or None
        Names from :data:`~.lattices.LATTICES` to choose from (default: all).
    p_random, p_interface : float
        Probabilities used by "auto"; 0.1 for "random" is this package's choice.
    p_deletion, deletion_range : float, tuple of float
        Probability that a scene has defects, and the range of the deleted fraction.
    p_addition, addition_range : float, tuple of float
        Probability that a scene has embedded atoms, and the range of their number as a
        fraction of the columns. These four are this package's defaults.
    margin_px : float
        Also place atoms this far outside the image (their tails reach inside).
    rng : numpy.random.Generator, int or None
        Seed.

    Returns
    -------
    positions : numpy.ndarray
        ``(n, 2)`` centres ``(y, x)`` in pixels.
    weights : numpy.ndarray
        ``(n,)`` relative brightness in (0, 1].
    size_factor : numpy.ndarray
        ``(n,)`` multiplier of the atom sigma (1 for lattice columns).
    record : dict
        What was drawn.
    """
    gen = as_rng(rng)
    names = list(lattices) if lattices is not None else list(LATTICES)
    unknown = set(names) - set(LATTICES)
    if unknown or not names:
        raise ValueError(f"unknown lattices {sorted(unknown)}; choose from {sorted(LATTICES)}")
    if arrangement == "auto":
        u = gen.random()
        arrangement = "random" if u < p_random else (
            "interface" if gen.random() < p_interface else "lattice"
        )
    if arrangement not in ARRANGEMENTS:
        raise ValueError(f"arrangement must be 'auto' or one of {ARRANGEMENTS}, not {arrangement!r}")
    record: dict[str, Any] = {"arrangement": arrangement}
    first = "random" if arrangement == "random" else "lattice"
    pos, w, rec = _sites(first, names, shape, pixel_size_nm, margin_px, gen)
    size = np.ones(len(pos)) if first == "lattice" else gen.uniform(0.8, 1.25, len(pos))
    record["structures"] = [rec]
    if arrangement == "interface":
        other = "random" if gen.random() < p_random else "lattice"
        pos2, w2, rec2 = _sites(other, names, shape, pixel_size_nm, margin_px, gen)
        size2 = np.ones(len(pos2)) if other == "lattice" else gen.uniform(0.8, 1.25, len(pos2))
        record["structures"].append(rec2)
        m = int(np.ceil(margin_px))
        extent = (shape[0] + 2 * m, shape[1] + 2 * m)
        fraction = float(gen.uniform(0.3, 0.7))
        field = fractal_noise(extent, max(extent) / 2, octaves=3, rng=gen, origin=(-m, -m))
        mask = binary_mask(field, fraction)
        record["interface_fraction"] = fraction

        def side(p):
            iy = np.clip(np.rint(p[:, 0] + m).astype(int), 0, extent[0] - 1)
            ix = np.clip(np.rint(p[:, 1] + m).astype(int), 0, extent[1] - 1)
            return mask[iy, ix]

        keep1, keep2 = side(pos), ~side(pos2)
        pos = np.concatenate([pos[keep1], pos2[keep2]])
        w = np.concatenate([w[keep1], w2[keep2]])
        size = np.concatenate([size[keep1], size2[keep2]])
    if gen.random() < p_deletion:
        fraction = float(gen.uniform(*deletion_range))
        keep = gen.random(len(pos)) >= fraction
        pos, w, size = pos[keep], w[keep], size[keep]
        record["deleted_fraction"] = fraction
    if gen.random() < p_addition and len(pos):
        fraction = float(gen.uniform(*addition_range))
        n_add = int(round(fraction * len(pos)))
        extra = gen.random((n_add, 2)) * (shape[0] + 2 * margin_px, shape[1] + 2 * margin_px)
        pos = np.concatenate([pos, extra - margin_px])
        w = np.concatenate([w, gen.uniform(0.3, 1.0, n_add)])
        size = np.concatenate([size, gen.uniform(0.8, 1.25, n_add)])
        record["added"] = n_add
    return pos, w, size, record


def stem_background(
    shape: tuple[int, int],
    level_range: tuple[float, float],
    *,
    scale_px: float = 100.0,
    rng: RngLike = None,
    origin: tuple[float, float] = (0.0, 0.0),
) -> tuple[np.ndarray, dict[str, float]]:
    """Smooth Perlin background inside ``level_range`` (seed 001 §3.2; SFFN: scale 100 px,
    6 octaves, persistence 0.5, lacunarity 2).

    The field is rescaled to [0, 1], then to a random sub-interval ``[u0, u1]`` of
    ``level_range`` so that images differ in both level and contrast of the background.

    Returns
    -------
    background : numpy.ndarray
        Float32 ``(height, width)``.
    record : dict
        The drawn ``u0`` and ``u1``.
    """
    gen = as_rng(rng)
    u0, u1 = np.sort(gen.random(2))
    field = rescale01(fractal_noise(shape, scale_px, octaves=6, rng=gen, origin=origin))
    lo, hi = level_range
    bg = lo + (hi - lo) * (u0 + (u1 - u0) * field)
    return bg.astype(np.float32), {"u0": float(u0), "u1": float(u1)}


def _resolve_noise(noise: STEMNoise | None, mode: str | None) -> STEMNoise:
    if noise is None:
        mode = mode or "haadf"
        if mode not in ("haadf", "bf"):
            raise ValueError(f"mode must be 'haadf' or 'bf', not {mode!r}")
        return STEMNoise() if mode == "haadf" else STEMNoise.bf()
    if mode is not None and mode != noise.mode:
        raise ValueError(f"mode {mode!r} contradicts the noise model's mode {noise.mode!r}")
    return noise


def stem_clean(
    shape: tuple[int, int],
    positions: np.ndarray,
    weights: np.ndarray,
    sigmas_px: np.ndarray,
    background: np.ndarray,
    atom_brightness: float,
    mode: str,
    value_max: float | None = 255.0,
) -> tuple[np.ndarray, float]:
    """Compose a clean STEM image from atoms and background.

    HAADF adds the atoms to the background, with the brightness capped at 95 % of the
    headroom ``value_max - max(background)`` so clean peaks stay inside the detector
    range; BF subtracts them, the depth capped at 90 % of the darkest background so
    intensities stay positive.

    Returns
    -------
    clean : numpy.ndarray
        Float32 ``(height, width)`` image.
    atom_brightness : float
        The brightness actually used (peak of the atom layer).
    """
    atoms = render_gaussians(shape, positions, weights, sigmas_px, truncate=3.5)
    peak = float(atoms.max())
    if mode == "bf":
        atom_brightness = min(atom_brightness, 0.9 * float(background.min()))
    elif value_max is not None:
        atom_brightness = min(atom_brightness, 0.95 * (value_max - float(background.max())))
    if peak > 0:
        atoms *= atom_brightness / peak
    clean = background + atoms if mode == "haadf" else background - atoms
    return clean.astype(np.float32), float(atom_brightness)


def synth_stem(
    shape: tuple[int, int] = (256, 256),
    *,
    noise: STEMNoise | None = None,
    mode: str | None = None,
    arrangement: str = "auto",
    lattices: Sequence[str] | None = None,
    pixel_size_nm_range: tuple[float, float] = (0.012, 0.025),
    atom_sigma_nm_range: tuple[float, float] = (0.045, 0.07),
    jitter: float = 0.0,
    rng: RngLike = None,
) -> SynthPair:
    """One synthetic STEM image with its clean image, atom map and positions.

    Parameters
    ----------
    shape : tuple of int
        ``(height, width)`` in pixels.
    noise : STEMNoise or None
        Noise and brightness model; default: :class:`STEMNoise` for HAADF,
        :meth:`STEMNoise.bf` for BF.
    mode : {"haadf", "bf"} or None
        Imaging mode when ``noise`` is None (default "haadf").
    arrangement, lattices
        See :func:`stem_arrangement`.
    pixel_size_nm_range : tuple of float
        Range of the pixel size (nm); sets the apparent lattice scale. This package's
        default: nearest-neighbour columns 5-25 px apart.
    atom_sigma_nm_range : tuple of float
        Range of the Gaussian sigma of an atomic column (nm, probe plus column);
        this package's default.
    jitter : float
        Relative per-image spread of the noise parameters (:meth:`STEMNoise.jittered`);
        0 keeps the model as given.
    rng : numpy.random.Generator, int or None
        Seed.

    Returns
    -------
    SynthPair
        ``noisy`` and ``clean`` in 8-bit units (float32), ``atom_map`` (peaks 255,
        sigma 0.75 px), ``positions_px`` of the columns inside the image.
    """
    gen = as_rng(rng)
    model = _resolve_noise(noise, mode)
    if jitter > 0:
        model = model.jittered(gen, jitter)
    pixel_size = float(gen.uniform(*pixel_size_nm_range))
    sigma_px = float(gen.uniform(*atom_sigma_nm_range)) / pixel_size
    margin = 4.0 * sigma_px * 1.25
    pos, weights, size, record = stem_arrangement(
        shape, pixel_size, arrangement=arrangement, lattices=lattices, margin_px=margin, rng=gen
    )
    background, bg_record = stem_background(shape, model.background, rng=gen)
    brightness = float(gen.uniform(*model.atom_brightness))
    top = None if model.value_range is None else model.value_range[1]
    clean, brightness = stem_clean(
        shape, pos, weights, sigma_px * size, background, brightness, model.mode, top
    )
    noisy = model.apply(clean, gen)
    inside = (
        (pos[:, 0] >= -0.5) & (pos[:, 0] < shape[0] - 0.5)
        & (pos[:, 1] >= -0.5) & (pos[:, 1] < shape[1] - 0.5)
    )
    params = {
        "generator": "stem",
        "mode": model.mode,
        "atom_sigma_px": sigma_px,
        "atom_brightness": brightness,
        "background": bg_record,
        **record,
        "noise": model.to_dict(),
    }
    return SynthPair(
        noisy=noisy,
        clean=clean,
        atom_map=atom_map(shape, pos),
        positions_px=pos[inside].astype(np.float32),
        pixel_size_nm=pixel_size,
        params=params,
    )
