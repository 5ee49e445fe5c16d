"""Progress records yielded by the generator variants of long operations (analysis, calibration)."""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any, NamedTuple, TypeVar

T = TypeVar("T")


class Progress(NamedTuple):
    """One step of a long operation.

    Attributes
    ----------
    done : int
        Number of units (frames) finished so far.
    total : int
        Total number of units.
    stage : str
        Short description of the running operation, e.g. ``"drift"``.
    """

    done: int
    total: int
    stage: str


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
