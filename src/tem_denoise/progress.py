"""Progress records yielded by the generator variants of long operations (analysis, calibration)."""

from __future__ import annotations

from collections.abc import Generator
from typing import NamedTuple, TypeVar

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


def run_to_end(generator: Generator[Progress, None, T]) -> T:
    """Exhaust a progress generator and return its return value.

    Parameters
    ----------
    generator : Generator
        A generator that yields :class:`Progress` records and returns a result.

    Returns
    -------
    object
        The value the generator returned.
    """
    while True:
        try:
            next(generator)
        except StopIteration as stop:
            return stop.value
