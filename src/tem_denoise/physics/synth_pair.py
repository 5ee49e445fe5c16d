"""The result type shared by every synthetic-data generator."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np


@dataclasses.dataclass
class SynthPair:
    """A synthetic noisy image with its ground truths.

    Attributes
    ----------
    noisy : numpy.ndarray
        Float32 ``(y, x)`` frame or ``(t, y, x)`` stack, in the noise model's units.
    clean : numpy.ndarray
        The same image without noise, same shape and units as ``noisy``.
    atom_map : numpy.ndarray
        Float32 target of the same shape: every atom a Gaussian of peak 255 and sigma
        0.75 px on a black background (seed 000 §3.5).
    positions_px : numpy.ndarray
        True atom centres in pixels: ``(n, 2)`` as ``(y, x)`` for a frame, ``(n, 3)`` as
        ``(t, y, x)`` for a stack (napari Points order); pixel centres are integers.
    pixel_size_nm : float
        Pixel size in nm.
    params : dict
        JSON-ready record of the drawn scene parameters and the noise model.
    shifts_px : numpy.ndarray or None
        For time series, ``(t, 2)`` true drift ``(dy, dx)`` of each frame's content
        relative to frame 0, in pixels; None for single frames.
    """

    noisy: np.ndarray
    clean: np.ndarray
    atom_map: np.ndarray
    positions_px: np.ndarray
    pixel_size_nm: float
    params: dict[str, Any]
    shifts_px: np.ndarray | None = None
