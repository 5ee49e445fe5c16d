"""The one progress record that every long operation yields, and the one way to run it.

Long operations are generators: they yield :class:`Progress` (per frame, tile batch or
optimiser step) and return their result. Cancelling is closing the generator (napari's
``thread_worker`` quit does it at the next ``yield``; :meth:`~tem_denoise.engine.Denoiser.cancel`
does it from another thread), so nothing half-made is returned.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Progress:
    """One step of a long operation.

    Attributes
    ----------
    done, total : int
        Units (frames, tiles, optimiser steps) finished and to do; ``total`` may grow (e.g.
        after an out-of-memory retry with smaller tiles).
    message : str
        Human-readable status, e.g. ``"drift"`` or ``"restore-hrtem: frames 1-4 of 16"``.
    eta_s : float or None
        Estimated seconds left, when known.
    frames_done : int or None
        Frames finished, for operations that work in tiles.
    loss : float or None
        The training loss of this step, for training.
    """

    done: int
    total: int
    message: str = ""
    eta_s: float | None = None
    frames_done: int | None = None
    loss: float | None = None


def run_to_end(generator: Generator[Any, None, T], on_step: Callable[[Any], None] | None = None) -> T:
    """Exhaust a progress generator and return its return value.

    Parameters
    ----------
    generator : Generator
        A generator that yields progress records and returns a result.
    on_step : callable, optional
        Called with every record the generator yields (e.g. to print progress).

    Returns
    -------
    object
        The value the generator returned.
    """
    while True:
        try:
            step = next(generator)
        except StopIteration as stop:
            return stop.value
        if on_step is not None:
            on_step(step)
