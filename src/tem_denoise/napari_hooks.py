"""npe2 contributions that need no Qt: the reader and the TIFF writer.

napari calls :func:`get_reader` with a path (or list of paths); it returns None for files
this plugin does not read, so napari can try another plugin, and otherwise a function that
returns one Image layer per image dataset in the file.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tem_denoise import io
from tem_denoise.layers import layer_to_stack, stack_to_layer_data

LayerData = tuple[Any, dict, str]


def _supported(path: Any) -> bool:
    return isinstance(path, (str, Path)) and io.formats.format_for(path) is not None


def get_reader(path: str | Sequence[str]) -> Callable[[Any], list[LayerData]] | None:
    """The reader for ``path`` if every given file has a supported extension, else None."""
    paths = [path] if isinstance(path, (str, Path)) else list(path)
    if not paths or not all(_supported(p) and not Path(p).is_dir() for p in paths):
        return None
    return read_layers


def read_layers(path: str | Sequence[str]) -> list[LayerData]:
    """Layer data for every image dataset in ``path`` (a file or list of files)."""
    paths = [path] if isinstance(path, (str, Path)) else list(path)
    return [stack_to_layer_data(stack) for p in paths for stack in io.read_all(p)]


def write_image(path: str, data: Any, meta: dict) -> list[str]:
    """Write one Image layer to an ImageJ TIFF with its pixel size and provenance."""
    stack = layer_to_stack({**meta, "data": data})
    return [str(io.write(stack, path))]
