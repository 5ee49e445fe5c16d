"""npe2 contributions that need no Qt: the reader and the TIFF writer.

napari calls :func:`get_reader` with a path (or list of paths); it returns None for files
this plugin does not read, so napari can try another plugin, and otherwise a function that
returns one Image layer per image dataset in the file.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tem_denoise import io
from tem_denoise.layers import layer_to_stack, stack_to_layer_data

LayerData = tuple[Any, dict, str]


def _readable_file(path: Any) -> bool:
    """True for a str or Path with a supported extension that names a regular file this process
    may read; False (never an exception) for anything else."""
    if not isinstance(path, (str, Path)) or io.formats.format_for(path) is None:
        return False
    try:
        info = os.stat(path)
        return stat.S_ISREG(info.st_mode) and os.access(path, os.R_OK)
    except (OSError, ValueError):  # ValueError: a NUL byte in the name
        return False


def get_reader(path: str | Sequence[str]) -> Callable[[Any], list[LayerData]] | None:
    """The reader for ``path`` (one path or a list of paths) when every path is a readable
    regular file with a supported extension, else None so that napari can try another plugin.

    Folders, FIFOs, devices, missing or unreadable files and unsupported extensions all give
    None; this function never raises.
    """
    paths = [path] if isinstance(path, (str, Path)) else path
    if not isinstance(paths, Sequence) or not paths:
        return None
    return read_layers if all(_readable_file(p) for p in paths) else None


def read_layers(path: str | Sequence[str]) -> list[LayerData]:
    """Layer data for every image dataset in ``path`` (a file or list of files)."""
    paths = [path] if isinstance(path, (str, Path)) else list(path)
    return [stack_to_layer_data(stack) for p in paths for stack in io.read_all(p)]


def write_image(path: str, data: Any, meta: dict) -> list[str]:
    """Write one Image layer to an ImageJ TIFF with its pixel size and provenance."""
    stack = layer_to_stack({**meta, "data": data})
    return [str(io.write(stack, path))]
