"""OME-Zarr outputs written chunk by chunk by many workers, resumable after an interruption.

A store is built under a hidden name beside its target (``.NAME.ome.zarr.partial-batch``): an
empty OME-NGFF image made by :func:`tem_denoise.io.ngff.create` (one float32 array chunked one
frame per chunk, calibration and provenance in its metadata), read back by
:func:`tem_denoise.io.read` like any input. Each unit of work writes its frames, then an empty
marker ``done/START-STOP``; when every unit has its marker the markers are removed and the store
is renamed onto its target in one step. A run that stopped half-way leaves the hidden store: the
next run with the same settings keeps the units that have their marker and redoes the others.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np

from tem_denoise import io
from tem_denoise.io import ngff
from tem_denoise.outputs import OutputError, write_text

DONE = "done"


def partial_path(target: Path) -> Path:
    """The hidden store that becomes ``target`` once complete."""
    return target.with_name(f".{target.name}.partial-batch")


def _normalised(record: dict) -> dict:
    """``record`` as it reads back from JSON (tuples become lists)."""
    return json.loads(json.dumps(record, default=str))


def _create(path: Path, stack: io.Stack, record: dict) -> None:
    ngff.create(path, stack, _normalised(record))
    (path / DONE).mkdir()


def prepare(target: Path, stack: io.Stack, record: dict) -> tuple[Path, set[tuple[int, int]]]:
    """The hidden store for ``target`` and the units (frame ranges) already written in it.

    ``stack`` gives the output's shape, calibration and name (its data are not read); ``record``
    is the provenance. A store left by an earlier run with the same record is kept (resumed);
    one with another record (other model, options or input) is replaced by an empty store.
    """
    if target.exists() and not target.is_dir():
        raise OutputError(f"'{target}' exists and is not an OME-Zarr folder; move it away first")
    path = partial_path(target)
    if path.exists():
        try:
            kept = ngff.read_provenance(path)
        except io.ReadError:  # a damaged leftover store is rebuilt
            kept = None
        if kept == _normalised(record) and (path / DONE).is_dir():
            return path, done_units(path)
        shutil.rmtree(path)
    _create(path, stack, record)
    return path, set()


def done_units(path: Path) -> set[tuple[int, int]]:
    """The ``(start, stop)`` frame ranges whose marker is in the store."""
    units = set()
    for marker in (path / DONE).iterdir():
        start, _, stop = marker.name.partition("-")
        if start.isdigit() and stop.isdigit():
            units.add((int(start), int(stop)))
    return units


def write_unit(path: Path, start: int, stop: int, frames: np.ndarray) -> None:
    """Write ``frames`` (frames ``start..stop-1``, or the whole image of a 2D output) into the
    store, then the unit's marker."""
    import zarr

    array = zarr.open_array(path / ngff.ARRAY, mode="r+")
    if array.ndim == 2:
        array[...] = frames
    else:
        array[start:stop] = frames
    write_text(path / DONE / f"{start}-{stop}", "")


def finish(path: Path, target: Path, units: int) -> Path:
    """Rename the complete store onto ``target`` (replacing an older output there).

    Raises
    ------
    OutputError
        When fewer than ``units`` units have their marker (the store is left for a rerun).
    """
    found = len(done_units(path))
    if found < units:
        raise OutputError(f"'{target}': only {found} of {units} units are written; run the batch again to finish it")
    shutil.rmtree(path / DONE)
    if target.exists():
        old = target.with_name(f".{target.name}.replaced-batch")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(target, old)
        os.replace(path, target)
        shutil.rmtree(old)
    else:
        os.replace(path, target)
    return target
