"""Synthetic time series: slowly changing scenes with known sub-pixel drift.

For drift correction and video denoisers (seed 002 registers frames by sub-pixel phase
correlation). The specimen drifts along a smooth random path; atoms are drawn at their
shifted positions and the Perlin background is evaluated at the shifted origin, so every
frame is exact (no image interpolation) and the true shifts are known. Atoms vibrate a
little from frame to frame; in HRTEM the crystal grows into the vacuum (the vacuum
fraction shrinks), as in a nucleation movie. Every frame gets its own noise.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .noise_models import Counting, HRTEMNoise, STEMNoise
from .render import atom_map, render_gaussians
from .rng import RngLike, as_rng
from .scenes_hrtem import add_camera_noise, hrtem_scene, inside, scene_record
from .scenes_stem import _resolve_noise, stem_arrangement, stem_background
from .synth_pair import SynthPair


def drift_path(
    n_frames: int, *, speed_px: float = 0.3, wander_px: float = 0.1, rng: RngLike = None
) -> np.ndarray:
    """Smooth random drift: constant velocity plus a random walk.

    Parameters
    ----------
    n_frames : int
        Number of frames.
    speed_px : float
        Mean drift per frame in pixels, in a random direction.
    wander_px : float
        Standard deviation of the per-frame random change of the position (pixels).
    rng : numpy.random.Generator, int or None
        Seed.

    Returns
    -------
    numpy.ndarray
        ``(n_frames, 2)`` shifts ``(dy, dx)`` in pixels, zero for frame 0.
    """
    gen = as_rng(rng)
    angle = gen.uniform(0.0, 2.0 * np.pi)
    velocity = speed_px * np.array([np.sin(angle), np.cos(angle)])
    steps = velocity + wander_px * gen.standard_normal((n_frames, 2))
    steps[0] = 0.0
    return np.cumsum(steps, axis=0)


def _stack_pair(frames, maps, positions, shifts, noisy, pixel_size, params) -> SynthPair:
    points = np.concatenate(
        [np.column_stack([np.full(len(p), t, dtype=np.float64), p]) for t, p in enumerate(positions)]
    )
    return SynthPair(
        noisy=np.asarray(noisy, dtype=np.float32),
        clean=np.stack(frames).astype(np.float32),
        atom_map=np.stack(maps).astype(np.float32),
        positions_px=points.astype(np.float32),
        pixel_size_nm=float(pixel_size),
        params=params,
        shifts_px=shifts.astype(np.float32),
    )


def synth_time_series(
    n_frames: int = 16,
    shape: tuple[int, int] = (256, 256),
    *,
    kind: str = "hrtem",
    noise: HRTEMNoise | STEMNoise | Counting | None = None,
    pixel_size_nm: float | None = None,
    drift_px_per_frame: float = 0.3,
    drift_wander_px: float = 0.1,
    atom_jitter_px: float = 0.05,
    growth: float = 0.3,
    rng: RngLike = None,
    **scene_kwargs: Any,
) -> SynthPair:
    """A drifting, slowly changing synthetic movie.

    Parameters
    ----------
    n_frames : int
        Number of frames (at least 2).
    shape : tuple of int
        Frame ``(height, width)`` in pixels.
    kind : {"hrtem", "haadf", "bf"}
        NUC-like HRTEM nucleation, or a STEM scene.
    noise : noise model or None
        HRTEM: :class:`HRTEMNoise` (default) or :class:`Counting`; STEM:
        :class:`STEMNoise` (default for the mode).
    pixel_size_nm : float or None
        Pixel size; default 0.07 nm (HRTEM) or 0.02 nm (STEM).
    drift_px_per_frame, drift_wander_px : float
        Mean drift speed and random-walk step of the drift (pixels per frame).
    atom_jitter_px : float
        Per-frame random displacement of each atom (pixels).
    growth : float
        HRTEM: relative shrinkage of the vacuum fraction from the first to the last
        frame (the crystal grows); ignored for STEM.
    rng : numpy.random.Generator, int or None
        Seed.
    **scene_kwargs
        Passed to :func:`~.scenes_hrtem.hrtem_scene` (HRTEM) or
        :func:`~.scenes_stem.stem_arrangement` (STEM).

    Returns
    -------
    SynthPair
        ``(t, y, x)`` stacks; ``positions_px`` as ``(t, y, x)`` rows; ``shifts_px`` the
        true drift of each frame's content relative to frame 0 (a registration method
        should find the opposite shift to align frame t onto frame 0).
    """
    if n_frames < 2:
        raise ValueError(f"a time series needs at least 2 frames, got {n_frames}")
    if kind not in ("hrtem", "haadf", "bf"):
        raise ValueError(f"kind must be 'hrtem', 'haadf' or 'bf', not {kind!r}")
    gen = as_rng(rng)
    shifts = drift_path(n_frames, speed_px=drift_px_per_frame, wander_px=drift_wander_px, rng=gen)
    margin = int(np.ceil(np.abs(shifts).max())) + 8
    if kind == "hrtem":
        return _hrtem_series(n_frames, shape, noise, pixel_size_nm or 0.07, shifts, margin,
                             atom_jitter_px, growth, gen, scene_kwargs)
    return _stem_series(n_frames, shape, kind, noise, pixel_size_nm or 0.02, shifts, margin,
                        atom_jitter_px, gen, scene_kwargs)


def _hrtem_series(n_frames, shape, noise, pixel_size, shifts, margin, jitter_px, growth, gen, kwargs):
    model = HRTEMNoise() if noise is None else noise
    if not isinstance(model, (HRTEMNoise, Counting)):
        raise ValueError("an HRTEM series needs an HRTEMNoise or Counting noise model")
    scene = hrtem_scene(shape, margin=margin, rng=gen, **kwargs)
    frames, maps, positions = [], [], []
    for t in range(n_frames):
        fraction = scene.vacuum_fraction * (1.0 - growth * t / (n_frames - 1))
        keep = scene.material(scene.positions, fraction)
        jitter = jitter_px * gen.standard_normal(scene.positions.shape)
        clean, pos = scene.render(keep, offset=tuple(shifts[t]), jitter=jitter)
        frames.append(clean)
        maps.append(atom_map(shape, pos))
        positions.append(pos[inside(pos, shape)])
    noisy, clean = add_camera_noise(np.stack(frames), model, gen)
    params = {"generator": "time_series", "kind": "hrtem", "growth": growth, **scene_record(scene),
              "noise": model.to_dict()}
    return _stack_pair(list(clean), maps, positions, shifts, noisy, pixel_size, params)


def _stem_series(n_frames, shape, kind, noise, pixel_size, shifts, margin, jitter_px, gen, kwargs):
    model = _resolve_noise(noise, kind)
    sigma_px = float(gen.uniform(0.045, 0.07)) / pixel_size
    pos0, weights, size, record = stem_arrangement(
        shape, pixel_size, margin_px=margin + 4 * sigma_px, rng=gen, **kwargs
    )
    bg_seed = int(gen.integers(2**31 - 1))
    brightness = float(gen.uniform(*model.atom_brightness))
    scale = None
    frames, maps, positions = [], [], []
    for t in range(n_frames):
        pos = pos0 + shifts[t] + jitter_px * gen.standard_normal(pos0.shape)
        background, _ = stem_background(
            shape, model.background, rng=bg_seed, origin=(-shifts[t][0], -shifts[t][1])
        )
        atoms = render_gaussians(shape, pos, weights, sigma_px * size, truncate=3.5)
        if scale is None:
            limit = 0.9 * float(background.min()) if model.mode == "bf" else (
                brightness if model.value_range is None
                else 0.95 * (model.value_range[1] - float(background.max()))
            )
            brightness = min(brightness, limit)
            scale = brightness / max(float(atoms.max()), 1e-12)
        sign = 1.0 if model.mode == "haadf" else -1.0
        frames.append((background + sign * scale * atoms).astype(np.float32))
        maps.append(atom_map(shape, pos))
        positions.append(pos[inside(pos, shape)])
    clean = np.stack(frames)
    noisy = model.apply(clean, gen)
    params = {"generator": "time_series", "kind": kind, "atom_sigma_px": sigma_px,
              "atom_brightness": brightness, **record, "noise": model.to_dict()}
    return _stack_pair(frames, maps, positions, shifts, noisy, pixel_size, params)
