"""Synthetic HRTEM nucleation scenes (the NUC generator of seed 000 §3.5).

Atoms of a nucleating, mostly disordered material are placed by Poisson-disk sampling
(no two closer than a minimum distance), a binarised Perlin mask removes those in the
vacuum region, and each atom is drawn as a 2-D Gaussian whose peak and width fluctuate
from atom to atom. :class:`~.noise_models.HRTEMNoise` (or :class:`~.noise_models.Counting`)
then adds the camera noise. The target is the seed's atom map: peaks of 255, sigma
0.75 px, black background.

The paper derives atom brightness, size and background from real images without giving
the numbers; the defaults below are this package's choices, in the raw camera units of
the seed's calibration (vacuum intensity 8-16 at 1-2 nA, Fig. 3).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from .noise_models import Counting, HRTEMNoise
from .perlin import binary_mask, fractal_noise
from .poisson_disk import poisson_disk
from .render import atom_map, render_gaussians
from .rng import RngLike, as_rng
from .synth_pair import SynthPair


@dataclasses.dataclass
class HRTEMScene:
    """Geometry and brightness of one nucleation scene, independent of drift.

    Attributes
    ----------
    shape : tuple of int
        Image ``(height, width)`` in pixels.
    positions : numpy.ndarray
        ``(n, 2)`` atom centres ``(y, x)`` in specimen pixel coordinates, covering the
        image plus ``margin`` on every side.
    contrast : numpy.ndarray
        ``(n,)`` atom peak as a fraction of the local background (negative: dark atoms).
    sigmas : numpy.ndarray
        ``(n,)`` Gaussian sigma of each atom in pixels.
    background : float
        Mean background level (raw camera units).
    modulation : float
        Relative amplitude of the Perlin background variation (support thickness).
    vacuum_fraction : float
        Fraction of the area that is vacuum.
    margin : int
        Extra border (pixels) covered by ``positions`` so that drift stays filled.
    seed : int
        Seed of the Perlin fields (vacuum mask and background), fixed per scene.
    mask_scale_px : float
        Lattice cell of the vacuum mask's first Perlin octave (pixels).
    """

    shape: tuple[int, int]
    positions: np.ndarray
    contrast: np.ndarray
    sigmas: np.ndarray
    background: float
    modulation: float
    vacuum_fraction: float
    margin: int
    seed: int
    mask_scale_px: float

    def material(self, positions: np.ndarray, vacuum_fraction: float | None = None) -> np.ndarray:
        """True for atoms outside the vacuum region (mask in specimen coordinates)."""
        fraction = self.vacuum_fraction if vacuum_fraction is None else vacuum_fraction
        m = self.margin
        extent = (self.shape[0] + 2 * m, self.shape[1] + 2 * m)
        field = fractal_noise(extent, self.mask_scale_px, octaves=3, rng=self.seed, origin=(-m, -m))
        vacuum = binary_mask(field, fraction)
        iy = np.clip(np.rint(positions[:, 0] + m).astype(int), 0, extent[0] - 1)
        ix = np.clip(np.rint(positions[:, 1] + m).astype(int), 0, extent[1] - 1)
        return ~vacuum[iy, ix]

    def render(
        self, keep: np.ndarray, offset: tuple[float, float] = (0.0, 0.0), jitter: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Clean frame (raw units) and image-frame positions of the kept atoms.

        Parameters
        ----------
        keep : numpy.ndarray
            Boolean mask of the atoms present.
        offset : tuple of float
            ``(dy, dx)`` drift of the specimen in pixels.
        jitter : numpy.ndarray or None
            ``(n, 2)`` extra per-atom displacement in pixels.

        Returns
        -------
        clean : numpy.ndarray
            Float32 ``(height, width)`` image.
        positions : numpy.ndarray
            ``(k, 2)`` image-frame centres of the kept atoms.
        """
        pos = self.positions + np.asarray(offset)
        if jitter is not None:
            pos = pos + jitter
        pos = pos[keep]
        support = self.background * (
            1.0
            + self.modulation
            * fractal_noise(self.shape, 64.0, octaves=4, rng=self.seed + 1, origin=(-offset[0], -offset[1]))
        )
        atoms = render_gaussians(
            self.shape, pos, self.contrast[keep] * self.background, self.sigmas[keep], truncate=3.5
        )
        return (support + atoms).astype(np.float32), pos


def hrtem_scene(
    shape: tuple[int, int] = (256, 256),
    *,
    min_distance_px: float = 4.0,
    vacuum_fraction_range: tuple[float, float] = (0.1, 0.6),
    mask_scale_px: float = 96.0,
    background_range: tuple[float, float] = (8.0, 16.0),
    contrast_range: tuple[float, float] = (-0.5, -0.2),
    sigma_px_range: tuple[float, float] = (0.9, 1.4),
    brightness_jitter: float = 0.15,
    size_jitter: float = 0.1,
    modulation: float = 0.05,
    margin: int = 0,
    rng: RngLike = None,
) -> HRTEMScene:
    """Draw one NUC-like nucleation scene.

    Parameters
    ----------
    shape : tuple of int
        ``(height, width)`` in pixels.
    min_distance_px : float
        Poisson-disk minimum distance between atoms (seed 000's example: 4 px).
    vacuum_fraction_range : tuple of float
        Range of the vacuum area fraction (binarised Perlin mask); this package's default.
    mask_scale_px : float
        Lattice cell of the mask's first Perlin octave (pixels).
    background_range : tuple of float
        Background level in raw camera units (seed 000 Fig. 3: 8-16).
    contrast_range : tuple of float
        Atom peak relative to the background; negative values are dark atoms (phase
        contrast near Scherzer focus). This package's default.
    sigma_px_range : tuple of float
        Mean atom sigma in pixels (about a 0.1 nm column at 0.07 nm/px).
    brightness_jitter, size_jitter : float
        Relative per-atom spread of peak and sigma (the paper's fluctuations that mimic
        aberrations and multiple scattering).
    modulation : float
        Relative amplitude of the smooth background variation.
    margin : int
        Extra border filled with atoms (for drifting time series).
    rng : numpy.random.Generator, int or None
        Seed.

    Returns
    -------
    HRTEMScene
    """
    gen = as_rng(rng)
    extent = (shape[0] + 2 * margin, shape[1] + 2 * margin)
    positions = poisson_disk(extent, min_distance_px, rounds=6, rng=gen) - margin
    n = len(positions)
    contrast = gen.uniform(*contrast_range) * (1.0 + brightness_jitter * gen.standard_normal(n))
    sigmas = gen.uniform(*sigma_px_range) * np.clip(1.0 + size_jitter * gen.standard_normal(n), 0.5, None)
    return HRTEMScene(
        shape=tuple(shape),
        positions=positions,
        contrast=contrast,
        sigmas=sigmas,
        background=float(gen.uniform(*background_range)),
        modulation=modulation,
        vacuum_fraction=float(gen.uniform(*vacuum_fraction_range)),
        margin=margin,
        seed=int(gen.integers(2**31 - 1)),
        mask_scale_px=mask_scale_px,
    )


def inside(positions: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """True for positions whose nearest pixel lies in the image."""
    return (
        (positions[:, -2] >= -0.5) & (positions[:, -2] < shape[0] - 0.5)
        & (positions[:, -1] >= -0.5) & (positions[:, -1] < shape[1] - 0.5)
    )


def add_camera_noise(
    clean: np.ndarray, noise: HRTEMNoise | Counting, gen: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Apply an HRTEM camera model; returns ``(noisy, clean)`` in the same units.

    For :class:`Counting` the clean image becomes the expected recorded counts.
    """
    noisy = noise.apply(clean, gen)
    if isinstance(noise, Counting):
        clean = noise.expected(clean)
    return noisy, clean.astype(np.float32)


def scene_record(scene: HRTEMScene) -> dict[str, Any]:
    """JSON-ready summary of a scene."""
    return {
        "n_atoms_drawn": int(len(scene.positions)),
        "background": scene.background,
        "vacuum_fraction": scene.vacuum_fraction,
        "mean_contrast": float(np.mean(scene.contrast)) if len(scene.contrast) else 0.0,
        "mean_sigma_px": float(np.mean(scene.sigmas)) if len(scene.sigmas) else 0.0,
    }


def synth_hrtem_nucleation(
    shape: tuple[int, int] = (256, 256),
    *,
    noise: HRTEMNoise | Counting | None = None,
    pixel_size_nm: float = 0.07,
    jitter: float = 0.0,
    rng: RngLike = None,
    **scene_kwargs: Any,
) -> SynthPair:
    """One NUC-like HRTEM frame with clean image, atom map and atom positions.

    Parameters
    ----------
    shape : tuple of int
        ``(height, width)`` in pixels.
    noise : HRTEMNoise, Counting or None
        Camera model; default :class:`HRTEMNoise` with the paper's calibration.
    pixel_size_nm : float
        Pixel size in nm; 0.07 (this package's default) puts the 4 px minimum distance
        at 0.28 nm, the Pt-Pt distance.
    jitter : float
        Relative per-image spread of the HRTEM noise parameters
        (:meth:`HRTEMNoise.jittered`); 0 keeps the model as given.
    rng : numpy.random.Generator, int or None
        Seed.
    **scene_kwargs
        Passed to :func:`hrtem_scene`.

    Returns
    -------
    SynthPair
        ``noisy`` and ``clean`` in raw camera units (float32), ``atom_map`` (peaks 255,
        sigma 0.75 px), ``positions_px`` of the atoms in the image.
    """
    gen = as_rng(rng)
    model = HRTEMNoise() if noise is None else noise
    if jitter > 0 and isinstance(model, HRTEMNoise):
        model = model.jittered(gen, jitter)
    scene = hrtem_scene(shape, rng=gen, **scene_kwargs)
    keep = scene.material(scene.positions)
    clean, pos = scene.render(keep)
    noisy, clean = add_camera_noise(clean, model, gen)
    return SynthPair(
        noisy=noisy,
        clean=clean,
        atom_map=atom_map(shape, pos),
        positions_px=pos[inside(pos, shape)].astype(np.float32),
        pixel_size_nm=float(pixel_size_nm),
        params={"generator": "hrtem_nucleation", **scene_record(scene), "noise": model.to_dict()},
    )


def synth_vacuum_stack(
    n_frames: int,
    shape: tuple[int, int],
    intensity: float,
    *,
    noise: HRTEMNoise | None = None,
    illumination: float = 0.05,
    rng: RngLike = None,
) -> np.ndarray:
    """A stack of vacuum frames: uneven illumination plus HRTEM camera noise.

    Parameters
    ----------
    n_frames : int
        Number of frames.
    shape : tuple of int
        Frame ``(height, width)`` in pixels.
    intensity : float
        Mean clean intensity in raw camera units.
    noise : HRTEMNoise or None
        Camera model (default: the paper's calibration).
    illumination : float
        Relative amplitude of the smooth, static, zero-mean illumination profile (this
        package's default; a real beam is rarely flat, and the calibration must see
        through it).
    rng : numpy.random.Generator, int or None
        Seed.

    Returns
    -------
    numpy.ndarray
        Float32 ``(t, y, x)`` stack.
    """
    gen = as_rng(rng)
    model = HRTEMNoise() if noise is None else noise
    profile = fractal_noise(shape, max(shape), octaves=2, rng=gen)
    profile = profile - profile.mean()
    clean = intensity * (1.0 + illumination * profile / max(float(np.abs(profile).max()), 1e-12))
    return model.apply(np.broadcast_to(clean, (n_frames, *shape)), gen)
