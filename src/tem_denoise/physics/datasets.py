"""Sets of synthetic pairs for training and benchmarks: one call, one seed, one kind.

``kind`` names the scene family: ``"hrtem"`` (NUC-like nucleation frames, seed 000),
``"haadf"`` and ``"bf"`` (STEM scenes, seed 001), ``"counting"`` (the HRTEM scenes recorded
by a direct detector in electron-counting mode, seed 002, at a random dose per pair). A pair
is one frame, or with ``frames > 1`` a short drifting movie (:func:`synth_time_series`) at a
random drift speed. Each pair gets its own seed drawn from the set's seed, so pair ``i`` of a
set is reproducible on its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from .noise_models import Counting, NoiseModel
from .scenes_hrtem import synth_hrtem_nucleation
from .scenes_stem import synth_stem
from .synth_pair import SynthPair
from .time_series import synth_time_series

KINDS = ("hrtem", "haadf", "bf", "counting")
COUNTING_DOSE_RANGE = (0.5, 8.0)  # e-/px/frame, drawn log-uniformly for kind "counting"
MOVIE_DRIFT_RANGE = (0.0, 1.0)  # px/frame, drawn uniformly for movies (frames > 1)


def synth_pair(kind: str, shape: tuple[int, int], seed: int, noise: NoiseModel | None = None,
               frames: int = 1, **kwargs: Any) -> SynthPair:
    """One synthetic pair of ``kind`` (see module docstring) made from ``seed``.

    ``frames > 1`` makes a drifting movie: ``noisy``, ``clean`` and ``atom_map`` are then
    ``(frames, y, x)`` and ``positions_px`` rows ``(t, y, x)``.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; choose one of {', '.join(KINDS)}")
    gen = np.random.default_rng(seed)
    if kind == "counting":
        low, high = np.log(COUNTING_DOSE_RANGE)
        noise = noise or Counting(dose_e_per_px=float(np.exp(gen.uniform(low, high))))
        kind = "hrtem"
    if frames > 1:
        return synth_time_series(frames, shape, kind=kind, noise=noise,
                                 drift_px_per_frame=float(gen.uniform(*MOVIE_DRIFT_RANGE)), rng=gen, **kwargs)
    if kind == "hrtem":
        return synth_hrtem_nucleation(shape, noise=noise, rng=gen, **kwargs)
    return synth_stem(shape, noise=noise, mode=None if noise else kind, rng=gen, **kwargs)


def pair_seeds(n: int, seed: int) -> np.ndarray:
    """The per-pair seeds of a set of ``n`` pairs made from ``seed``."""
    return np.random.default_rng(seed).integers(0, 2**31 - 1, size=n)


def iter_pairs(kind: str, n: int, shape: tuple[int, int] = (256, 256), seed: int = 0,
               noise: NoiseModel | None = None, **kwargs: Any) -> Iterator[SynthPair]:
    """Yield ``n`` synthetic pairs of ``kind``, reproducibly from ``seed``."""
    for pair_seed in pair_seeds(n, seed):
        yield synth_pair(kind, shape, int(pair_seed), noise=noise, **kwargs)


def synth_set(kind: str, n: int, shape: tuple[int, int] = (256, 256), seed: int = 0,
              noise: NoiseModel | None = None, **kwargs: Any) -> dict[str, np.ndarray]:
    """``n`` pairs stacked: ``noisy``, ``clean``, ``atom_map`` as float32 ``(n, y, x)``,
    ``pixel_size_nm`` as ``(n,)`` and ``positions`` as ``(m, 3)`` rows ``(index, y, x)`` px."""
    arrays = {key: np.empty((n, *shape), np.float32) for key in ("noisy", "clean", "atom_map")}
    pixel, positions = np.empty(n), []
    for index, pair in enumerate(iter_pairs(kind, n, shape, seed, noise, **kwargs)):
        for key in arrays:
            arrays[key][index] = getattr(pair, key)
        pixel[index] = pair.pixel_size_nm
        positions.append(np.column_stack([np.full(len(pair.positions_px), index), pair.positions_px]))
    return {**arrays, "pixel_size_nm": pixel, "positions": np.concatenate(positions) if positions else
            np.empty((0, 3))}
