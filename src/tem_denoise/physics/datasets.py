"""Sets of synthetic pairs for training and benchmarks: one call, one seed, one kind.

``kind`` names the scene family: ``"hrtem"`` (NUC-like nucleation frames, seed 000),
``"haadf"`` and ``"bf"`` (STEM scenes, seed 001). Each pair gets its own seed drawn from
the set's seed, so pair ``i`` of a set is reproducible on its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from .noise_models import NoiseModel
from .scenes_hrtem import synth_hrtem_nucleation
from .scenes_stem import synth_stem
from .synth_pair import SynthPair

KINDS = ("hrtem", "haadf", "bf")


def synth_pair(kind: str, shape: tuple[int, int], seed: int, noise: NoiseModel | None = None,
               **kwargs: Any) -> SynthPair:
    """One synthetic pair of ``kind`` (see module docstring) made from ``seed``."""
    if kind == "hrtem":
        return synth_hrtem_nucleation(shape, noise=noise, rng=seed, **kwargs)
    if kind in ("haadf", "bf"):
        return synth_stem(shape, noise=noise, mode=None if noise else kind, rng=seed, **kwargs)
    raise ValueError(f"unknown kind {kind!r}; choose one of {', '.join(KINDS)}")


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
