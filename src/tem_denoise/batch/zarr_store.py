"""OME-Zarr outputs written chunk by chunk by many workers, resumable after an interruption.

A store is built under a hidden name beside its target (``.NAME.ome.zarr.partial-batch``): an
OME-NGFF 0.5 image (zarr v3, one float32 array ``0`` chunked one frame per chunk, axes with
their units, pixel size and origin as coordinate transformations) whose group attributes hold
the provenance record under ``tem_denoise``. Each unit of work writes its frames, then an empty
marker ``done/START-STOP``; when every unit has its marker the markers are removed and the store
is renamed onto its target in one step. A run that stopped half-way leaves the hidden store: the
next run with the same settings keeps the units that have their marker and redoes the others.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from tem_denoise import io
from tem_denoise.outputs import OutputError, write_text

ARRAY = "0"
DONE = "done"
PROVENANCE_KEY = "tem_denoise"
NGFF_UNITS = {"nm": "nanometer", "s": "second"}
AXIS_TYPES = {"t": "time", "y": "space", "x": "space"}


def partial_path(target: Path) -> Path:
    """The hidden store that becomes ``target`` once complete."""
    return target.with_name(f".{target.name}.partial-batch")


def _normalised(record: dict) -> dict:
    """``record`` as it reads back from JSON (tuples become lists)."""
    return json.loads(json.dumps(record, default=str))


def _axes(stack: io.Stack) -> list[dict]:
    axes = []
    for label, unit in zip(stack.axis_labels, stack.units, strict=True):
        axis = {"name": label, "type": AXIS_TYPES.get(label, "space")}
        if unit in NGFF_UNITS:
            axis["unit"] = NGFF_UNITS[unit]
        axes.append(axis)
    return axes


def _create(path: Path, stack: io.Stack, record: dict) -> None:
    import zarr
    from ome_zarr.writer import write_multiscales_metadata

    group = zarr.open_group(path, mode="w", zarr_format=3)
    chunks = (1, *stack.shape[1:]) if stack.is_stack else stack.shape
    group.create_array(ARRAY, shape=stack.shape, chunks=chunks, dtype="float32", fill_value=np.nan,
                       dimension_names=list(stack.axis_labels))
    transforms = [{"type": "scale", "scale": [float(s) for s in stack.scale]},
                  {"type": "translation", "translation": [float(t) for t in stack.translate]}]
    write_multiscales_metadata(group, [{"path": ARRAY, "coordinateTransformations": transforms}],
                               axes=_axes(stack), name=stack.name)
    group.attrs[PROVENANCE_KEY] = _normalised(record)
    (path / DONE).mkdir()


def prepare(target: Path, stack: io.Stack, record: dict) -> tuple[Path, set[tuple[int, int]]]:
    """The hidden store for ``target`` and the units (frame ranges) already written in it.

    ``stack`` gives the output's shape, calibration and name (its data are not read); ``record``
    is the provenance. A store left by an earlier run with the same record is kept (resumed);
    one with another record (other model, options or input) is replaced by an empty store.
    """
    import zarr

    if target.exists() and not target.is_dir():
        raise OutputError(f"'{target}' exists and is not an OME-Zarr folder; move it away first")
    path = partial_path(target)
    if path.exists():
        try:
            kept = zarr.open_group(path, mode="r").attrs.asdict().get(PROVENANCE_KEY)
        except Exception:  # noqa: BLE001 - a damaged leftover store is rebuilt
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

    array = zarr.open_array(path / ARRAY, mode="r+")
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


def read_record(target: Path) -> dict | None:
    """The provenance record of a complete store, None when it is not one."""
    import zarr

    try:
        record = zarr.open_group(target, mode="r").attrs.asdict().get(PROVENANCE_KEY)
    except Exception:  # noqa: BLE001 - anything that is not a readable store is not complete
        return None
    return record if isinstance(record, dict) else None


def read(target: str | Path) -> io.Stack:
    """A store written by this module as a lazy (dask) :class:`~tem_denoise.io.Stack`."""
    import dask.array as da
    import zarr

    target = Path(target)
    try:
        group = zarr.open_group(target, mode="r")
        attrs: dict[str, Any] = group.attrs.asdict()
        image = attrs["ome"]["multiscales"][0]
        data = da.from_zarr(group[ARRAY])
    except Exception as exc:
        raise io.ReadError(f"Could not read '{target}' as an OME-Zarr image ({type(exc).__name__}: {exc}).") from exc
    units = {v: k for k, v in NGFF_UNITS.items()}
    transforms = {t["type"]: t for t in image["datasets"][0]["coordinateTransformations"]}
    record = attrs.get(PROVENANCE_KEY, {})
    return io.Stack(
        data=data,
        scale=tuple(transforms["scale"]["scale"]),
        units=tuple(units.get(axis.get("unit"), "pixel") for axis in image["axes"]),
        axis_labels=tuple(axis["name"] for axis in image["axes"]),
        translate=tuple(transforms.get("translation", {}).get("translation", ())),
        name=image.get("name", target.stem),
        provenance={"source": str(target), "written_by": record},
        modality=record.get("modality"),
    )

