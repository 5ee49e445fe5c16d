"""Small ready-made synthetic data sets (for napari sample data, demos and docs).

All are seeded, so a given call always returns the same arrays.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .noise_models import Counting, HRTEMNoise
from .scenes_hrtem import synth_vacuum_stack
from .scenes_stem import synth_stem
from .synth_pair import SynthPair
from .time_series import synth_time_series

#: Beam currents of seed 000's six vacuum sequences (1 to 2 nA in 0.2 nA steps).
PAPER_CURRENTS_NA = (1.0, 1.2, 1.4, 1.6, 1.8, 2.0)
#: Raw intensity per nA read from seed 000 Fig. 3 (vacuum intensity 8 to 16 over 1 to 2 nA).
COUNTS_PER_NA = 8.0


@dataclasses.dataclass
class VacuumSample:
    """Synthetic vacuum stacks for the calibration dock.

    Attributes
    ----------
    stacks : list of numpy.ndarray
        One float32 ``(t, y, x)`` stack per beam current, raw camera units.
    currents_na : numpy.ndarray
        Beam current of each stack in nA.
    pixel_size_nm : float
        Pixel size in nm.
    noise : HRTEMNoise
        The model the stacks were made with (the calibration's ground truth).
    """

    stacks: list[np.ndarray]
    currents_na: np.ndarray
    pixel_size_nm: float
    noise: HRTEMNoise


def sample_hrtem_series(
    n_frames: int = 16, shape: tuple[int, int] = (256, 256), seed: int = 0
) -> SynthPair:
    """A drifting HRTEM nucleation movie with its clean frames and atom maps.

    ``noisy`` and ``clean`` are ``(t, y, x)`` float32 in raw camera units (paper's HRTEM
    calibration), ``atom_map`` peaks at 255, pixel size 0.07 nm, ``shifts_px`` the drift.
    """
    return synth_time_series(n_frames, shape, kind="hrtem", rng=seed)


def sample_counting_series(
    n_frames: int = 32, shape: tuple[int, int] = (256, 256), dose_e_per_px: float = 1.5, seed: int = 0
) -> SynthPair:
    """A drifting HRTEM nucleation movie recorded in electron-counting mode.

    ``noisy`` holds whole electron counts per pixel and frame (Poisson, mean
    ``dose_e_per_px``), ``clean`` the expected counts, pixel size 0.07 nm; as a direct
    detector records a fast low-dose movie.
    """
    return synth_time_series(n_frames, shape, kind="hrtem", noise=Counting(dose_e_per_px=dose_e_per_px), rng=seed)


def sample_haadf(shape: tuple[int, int] = (256, 256), seed: int = 0) -> SynthPair:
    """One synthetic HAADF STEM image (8-bit units) with clean image and atom map."""
    return synth_stem(shape, mode="haadf", rng=seed)


def sample_vacuum_stacks(
    currents_na: tuple[float, ...] = PAPER_CURRENTS_NA,
    n_frames: int = 20,
    shape: tuple[int, int] = (256, 256),
    seed: int = 0,
    noise: HRTEMNoise | None = None,
) -> VacuumSample:
    """Vacuum stacks at several beam currents, made with the paper's HRTEM noise model.

    The mean intensity is ``8 * current`` (seed 000 Fig. 3); the paper records 100
    frames per current, 20 keep the sample small and are enough for a few-% calibration.
    """
    model = noise or HRTEMNoise(gain=COUNTS_PER_NA, offset=0.0)
    gen = np.random.default_rng(seed)
    stacks = [
        synth_vacuum_stack(n_frames, shape, COUNTS_PER_NA * current, noise=model, rng=gen)
        for current in currents_na
    ]
    return VacuumSample(stacks, np.asarray(currents_na, dtype=np.float64), 0.07, model)
