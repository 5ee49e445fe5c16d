"""npe2 contributions that need no Qt: the reader, the TIFF writer and the plugin's activation.

napari calls :func:`get_reader` with a path (or list of paths); it returns None for files
this plugin does not read, so napari can try another plugin, and otherwise a function that
returns one Image layer per image dataset in the file.

napari's own reader also claims ``*.tif``; when two readers claim a file and the user's
preferences (``napari.settings`` ``plugins.extension2reader``) name neither, napari asks which
one to use, and ``viewer.open(path)`` uses napari's built-in one (scale 1, no units). When
napari first uses the plugin in a session, :func:`activate` makes this reader the preference
for the patterns it reads that the user has not assigned (:func:`prefer_this_reader`).
"""

from __future__ import annotations

import os
import stat
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tem_denoise import io
from tem_denoise.layers import layer_to_stack, stack_to_layer_data

LayerData = tuple[Any, dict, str]
PLUGIN_NAME = "napari-tem-denoise"


def _readable_file(path: Any) -> bool:
    """True for a str or Path with a supported extension that names a regular file this process
    may read, or for an OME-Zarr folder (``*.zarr``); False (never an exception) for anything else."""
    if not isinstance(path, (str, Path)):
        return False
    store = io.ngff.is_store_name(path)
    if not store and io.formats.format_for(path) is None:
        return False
    try:
        info = os.stat(path)
        kind = stat.S_ISDIR if store else stat.S_ISREG
        return kind(info.st_mode) and os.access(path, os.R_OK)
    except (OSError, ValueError):  # ValueError: a NUL byte in the name
        return False


def get_reader(path: str | Sequence[str]) -> Callable[[Any], list[LayerData]] | None:
    """The reader for ``path`` (one path or a list of paths) when every path is a readable
    regular file with a supported extension or an OME-Zarr folder, else None so that napari can
    try another plugin.

    Other folders, FIFOs, devices, missing or unreadable files and unsupported extensions all
    give None; this function never raises.
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


def file_patterns() -> list[str]:
    """The filename patterns of the files this plugin reads (``*.tif``, ``*.emd``...)."""
    return [f"*{ext}" for ext in io.EXTENSIONS]


def reader_patterns() -> list[str]:
    """The patterns of the reader in napari.yaml: :func:`file_patterns` and OME-Zarr folders."""
    return [*file_patterns(), f"*{io.ngff.SUFFIX}"]


def prefer_this_reader() -> list[str]:
    """Make this plugin napari's reader for each of :func:`file_patterns` that napari's
    preferences (``plugins.extension2reader``) do not assign to a reader yet.

    OME-Zarr folders are left to the user's choice: napari's own reader and napari-ome-zarr
    read them too, and more kinds of them (several channels, several axes) than this plugin.

    A pattern the user has assigned (to napari's built-in reader or to any other plugin) is
    left as it is. napari saves its preferences, so the choice lasts; the user changes it in
    *Preferences > Plugins*. Returns the patterns assigned now (none when napari is absent).
    """
    try:
        from napari.settings import get_settings
    except ImportError:  # npe2 without napari (e.g. ``npe2 validate``)
        return []
    plugins = get_settings().plugins
    chosen = dict(plugins.extension2reader)
    added = [pattern for pattern in file_patterns() if pattern not in chosen]
    if added:
        plugins.extension2reader = {**chosen, **dict.fromkeys(added, PLUGIN_NAME)}
    return added


def activate(context: Any) -> None:
    """npe2 ``on_activate``: napari activates a plugin the first time it uses one of its
    contributions in a session (a reader, a dock, sample data); see :func:`prefer_this_reader`.

    A preference that cannot be saved (e.g. a read-only settings file) gives a warning and
    leaves napari asking which reader to use; it never stops the plugin from working.
    """
    try:
        prefer_this_reader()
    except Exception as exc:  # noqa: BLE001 - the plugin must activate whatever napari's settings do
        warnings.warn(f"{PLUGIN_NAME} could not make itself napari's reader for its file types ({exc}); "
                      "napari will ask which reader to use.", RuntimeWarning, stacklevel=2)
