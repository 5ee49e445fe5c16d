"""Memory estimates before work: refuse a job that would not fit instead of swapping or dying.

Each engine and analysis entry point knows roughly how many bytes it needs per pixel of one
frame (its working copies: float32 inputs, float64 or complex128 intermediates). It calls
:func:`require_frame` (or :func:`require`) before allocating, which compares the estimate with
the memory this machine has available now and raises :class:`MemoryError` with what it needs,
what is free and what to do. ``TEM_DENOISE_MEMORY_LIMIT`` (bytes, e.g. ``2e9``) caps the
budget, for shared machines and for tests.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

LIMIT_VARIABLE = "TEM_DENOISE_MEMORY_LIMIT"
USABLE_FRACTION = 0.8


def format_bytes(nbytes: float) -> str:
    """Bytes in B, KiB, MiB or GiB, for messages."""
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if nbytes >= 1 << shift:
            return f"{nbytes / (1 << shift):.1f} {unit}"
    return f"{int(nbytes)} B"


def _meminfo_available() -> int | None:
    """``MemAvailable`` from /proc/meminfo in bytes (Linux), else None."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _sysconf_available() -> int | None:
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def available_bytes() -> int:
    """Bytes a job may use now: a share of the free memory, capped by ``TEM_DENOISE_MEMORY_LIMIT``."""
    free = _meminfo_available() or _sysconf_available() or (16 << 30)
    budget = int(free * USABLE_FRACTION)
    limit = os.environ.get(LIMIT_VARIABLE)
    if limit:
        try:
            budget = min(budget, int(float(limit)))
        except ValueError:
            pass
    return budget


def require(nbytes: float, what: str, hint: str = "crop or bin the data, or process fewer frames") -> None:
    """Raise :class:`MemoryError` when ``nbytes`` exceed :func:`available_bytes`.

    ``what`` names the job (e.g. ``"drift correction of 20000 x 20000 px frames"``); the
    message gives the estimate and the free memory and ends with ``hint``.
    """
    budget = available_bytes()
    if nbytes > budget:
        raise MemoryError(
            f"{what} needs about {format_bytes(nbytes)} of memory, but only {format_bytes(budget)} are available; "
            f"{hint}."
        )


def require_frame(shape: Sequence[int], bytes_per_pixel: float, what: str, frames: int = 1) -> None:
    """:func:`require` for ``frames`` frames of ``shape[-2:]`` at ``bytes_per_pixel`` each."""
    height, width = int(shape[-2]), int(shape[-1])
    require(float(height) * width * bytes_per_pixel * frames,
            f"{what} of {height} x {width} px frames")
