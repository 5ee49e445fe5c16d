"""What every subcommand shares: running an operation with a progress line on stderr."""

from __future__ import annotations

import sys
from collections.abc import Generator
from typing import Any, TypeVar

from tem_denoise.progress import Progress, run_to_end

T = TypeVar("T")


def progress_line(event: Progress) -> None:
    """Overwrite one stderr line with the operation's progress and time left."""
    eta = f", about {event.eta_s:.0f} s left" if event.eta_s is not None else ""
    sys.stderr.write(f"\r  {event.message}{eta}" + " " * 10)
    sys.stderr.flush()


def run(operation: Generator[Any, None, T], quiet: bool = False) -> T:
    """Run an operation to the end, showing its progress unless ``quiet``."""
    result = run_to_end(operation, None if quiet else progress_line)
    if not quiet:
        sys.stderr.write("\r" + " " * 79 + "\r")
    return result
