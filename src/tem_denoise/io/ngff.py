"""OME-Zarr (OME-NGFF) images: read lazily into a :class:`~tem_denoise.io.Stack`, or created
empty with a Stack's calibration for writers that fill them chunk by chunk.

An OME-Zarr image is a folder (``NAME.ome.zarr``) holding a zarr group whose ``multiscales``
metadata lists its arrays (full resolution first), the axes with their units and the
coordinate transformations: ``scale`` (pixel size, frame interval) and ``translation`` (origin).
:func:`create` writes OME-NGFF 0.5 (zarr v3) with the provenance record under the group
attribute ``tem_denoise``; :func:`read` opens 0.4 (zarr v2) and 0.5 images of one channel:
``(y, x)``, ``(t, y, x)``, or either with more axes of length 1 (``c``, ``z``), which are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tem_denoise.io.headers import refuse_large_frame
from tem_denoise.io.modality import guess_modality
from tem_denoise.io.stack import SPATIAL_LABELS, STACK_LABELS, ReadError, Stack
from tem_denoise.io.tiff import check_written_shape
from tem_denoise.io.units import to_napari_units

SUFFIX = ".zarr"
ARRAY = "0"
PROVENANCE_KEY = "tem_denoise"
# OME-NGFF names its units in full (UDUNITS-2); these are the ones a TEM image uses.
NGFF_UNITS = {"nm": "nanometer", "s": "second"}
_SHORT_UNITS = {"meter": "m", "millimeter": "mm", "micrometer": "um", "nanometer": "nm",
                "angstrom": "angstrom", "picometer": "pm", "second": "s", "millisecond": "ms",
                "microsecond": "us", "nanosecond": "ns", "minute": "min", "hour": "h"}
_AXIS_TYPES = {"t": "time", "y": "space", "x": "space"}


def is_store_name(path: str | Path) -> bool:
    """True when ``path`` is named as a zarr store (``*.zarr``, e.g. ``NAME.ome.zarr``)."""
    return Path(path).name.lower().endswith(SUFFIX)


def stem(path: str | Path) -> str:
    """The name of ``path`` without its format suffix: ``NAME`` for ``NAME.ome.zarr``,
    ``NAME.zarr`` and ``NAME.tif``."""
    path = Path(path)
    if not is_store_name(path):
        return path.stem
    name = path.name[: -len(SUFFIX)]
    return name[: -len(".ome")] if name.lower().endswith(".ome") else name


def create(path: str | Path, stack: Stack, provenance: dict) -> None:
    """An empty OME-NGFF 0.5 image at ``path`` with ``stack``'s shape, axes and calibration.

    One float32 array ``0`` (NaN until written) chunked one frame per chunk; axes ``t, y, x``
    (or ``y, x``) with their units (``second``, ``nanometer``), pixel size and frame interval as
    the ``scale`` transformation, the origin as ``translation``, and ``provenance`` (JSON-able)
    as the group attribute ``tem_denoise``. ``stack``'s data are not read.
    """
    import zarr
    from ome_zarr.writer import write_multiscales_metadata

    group = zarr.open_group(path, mode="w", zarr_format=3)
    chunks = (1, *stack.shape[1:]) if stack.is_stack else stack.shape
    group.create_array(ARRAY, shape=stack.shape, chunks=chunks, dtype="float32", fill_value=np.nan,
                       dimension_names=list(stack.axis_labels))
    transforms = [{"type": "scale", "scale": [float(s) for s in stack.scale]},
                  {"type": "translation", "translation": [float(t) for t in stack.translate]}]
    write_multiscales_metadata(group, [{"path": ARRAY, "coordinateTransformations": transforms}],
                               axes=_written_axes(stack), name=stack.name)
    group.attrs[PROVENANCE_KEY] = provenance


def _written_axes(stack: Stack) -> list[dict]:
    axes = []
    for label, unit in zip(stack.axis_labels, stack.units, strict=True):
        axis = {"name": label, "type": _AXIS_TYPES.get(label, "space")}
        if unit in NGFF_UNITS:
            axis["unit"] = NGFF_UNITS[unit]
        axes.append(axis)
    return axes


def _attributes(path: Path) -> tuple[Any, dict]:
    """The zarr group at ``path`` and its attributes; a ReadError when it is not one."""
    import zarr

    if not path.is_dir():
        what = "does not exist" if not path.exists() else "is a file"
        raise ReadError(f"'{path}' {what}; an OME-Zarr image is a folder (NAME.ome.zarr): give its path.")
    try:
        group = zarr.open_group(path, mode="r")
        return group, group.attrs.asdict()
    except Exception as exc:  # noqa: BLE001 - any zarr failure becomes a clear ReadError
        raise ReadError(f"Could not read '{path}' as an OME-Zarr image ({type(exc).__name__}: {exc}); "
                        "the folder may be incomplete or not a zarr store.") from exc


def read_provenance(path: str | Path) -> dict | None:
    """The provenance record :func:`create` stored, None when the store has none; a
    :class:`ReadError` when ``path`` is not a readable zarr group."""
    record = _attributes(Path(path))[1].get(PROVENANCE_KEY)
    return record if isinstance(record, dict) else None


@dataclass(frozen=True)
class _Axis:
    name: str
    kind: str
    unit: str | None
    length: int


def _image(attrs: dict, path: Path) -> tuple[dict, str]:
    """The first multiscale image's metadata and the OME-NGFF version."""
    ome = attrs.get("ome", attrs)  # 0.5 nests the metadata under "ome"; 0.4 does not
    images = ome.get("multiscales") if isinstance(ome, dict) else None
    if not images or not isinstance(images[0], dict):
        raise ReadError(f"'{path}' is a zarr store but not an OME-Zarr image (no 'multiscales' metadata); "
                        "open an image written as OME-Zarr, e.g. by tem-denoise batch.")
    version = str(ome.get("version") or images[0].get("version") or "0.4")
    return images[0], version


def _transforms(listed: list[dict] | None, ndim: int) -> tuple[np.ndarray, np.ndarray]:
    """``(scale, translation)`` of a list of OME-NGFF coordinate transformations."""
    scale, translation = np.ones(ndim), np.zeros(ndim)
    for transform in listed or ():
        if transform.get("type") == "scale":
            scale = np.asarray(transform["scale"], dtype=float)
        elif transform.get("type") == "translation":
            translation = np.asarray(transform["translation"], dtype=float)
    return scale, translation


def _calibration(image: dict, ndim: int) -> tuple[np.ndarray, np.ndarray]:
    """Scale and origin of the full-resolution array: its own transformations, then the
    image-wide ones (``multiscales[0].coordinateTransformations``) applied after them."""
    scale, translation = _transforms(image["datasets"][0].get("coordinateTransformations"), ndim)
    outer_scale, outer_translation = _transforms(image.get("coordinateTransformations"), ndim)
    return scale * outer_scale, translation * outer_scale + outer_translation


def _axes(image: dict, shape: tuple[int, ...], path: Path) -> list[_Axis]:
    listed = image.get("axes") or [{"name": name} for name in "tczyx"[-len(shape):]]
    if len(listed) != len(shape):
        raise ReadError(f"'{path}': the metadata lists {len(listed)} axes for an array of shape {shape}.")
    axes = []
    for entry, length in zip(listed, shape, strict=True):
        entry = entry if isinstance(entry, dict) else {"name": str(entry)}  # 0.3 lists names only
        axes.append(_Axis(str(entry.get("name")), str(entry.get("type", "")), entry.get("unit"), int(length)))
    return axes


def _kept_axes(axes: list[_Axis], path: Path) -> list[int]:
    """The axes of the Stack: the last two (y, x) and at most one more longer than 1 (frames)."""
    frames = [i for i, axis in enumerate(axes[:-2]) if axis.length > 1]
    extra = [axes[i] for i in frames]
    if any(axis.kind == "channel" or axis.name == "c" for axis in extra):
        raise ReadError(f"'{path}' is a multi-channel image ({', '.join(f'{a.name}={a.length}' for a in axes)}); "
                        "tem_denoise reads one channel: save the channel you need as its own image.")
    if len(frames) > 1:
        raise ReadError(f"'{path}' has {len(frames) + 2} axes longer than 1 "
                        f"({', '.join(f'{a.name}={a.length}' for a in axes)}), not an image or image stack.")
    return [*frames, len(axes) - 2, len(axes) - 1]


def read(path: str | Path) -> Stack:
    """The full-resolution image of the OME-Zarr store at ``path`` as a lazy Stack.

    A stack's data are a dask array read frame by frame from the store (nothing is read now);
    a single image is read into memory. Lengths are converted to nm and times to s; the
    provenance record of a store :func:`create` made is restored under
    ``provenance["written_by"]``, with its modality. Every failure raises :class:`ReadError`.
    """
    import dask.array as da

    path = Path(path)
    group, attrs = _attributes(path)
    image, version = _image(attrs, path)
    try:
        array = group[image["datasets"][0]["path"]]
        shape = tuple(int(n) for n in array.shape)
        scale, translation = _calibration(image, len(shape))
    except ReadError:
        raise
    except Exception as exc:  # noqa: BLE001 - damaged metadata or a missing array
        raise ReadError(f"Could not read '{path}' as an OME-Zarr image ({type(exc).__name__}: {exc}).") from exc
    axes = _axes(image, shape, path)
    kept = _kept_axes(axes, path)
    refuse_large_frame(path, "the image", shape[-2:], array.dtype)
    data = da.from_zarr(array)[tuple(slice(None) if i in kept else 0 for i in range(len(shape)))]
    calibration = [to_napari_units(scale[i], _SHORT_UNITS.get(str(axes[i].unit), axes[i].unit)) for i in kept]
    translate = tuple(float(translation[i] * (c[0] / scale[i] if c[1] != "pixel" else 1.0))
                      for i, c in zip(kept, calibration, strict=True))
    record = attrs.get(PROVENANCE_KEY)
    record = record if isinstance(record, dict) else {}
    name = str(image.get("name") or stem(path))
    stack = Stack(
        data=data if len(kept) == 3 else np.asarray(data),
        scale=tuple(c[0] for c in calibration),
        units=tuple(c[1] for c in calibration),
        translate=translate,
        axis_labels=STACK_LABELS if len(kept) == 3 else SPATIAL_LABELS,
        name=name,
        metadata=attrs,
        provenance={"source": str(path), "reader": f"zarr (OME-NGFF {version})",
                    **({"written_by": record} if record else {})},
        modality=record.get("modality") if isinstance(record.get("modality"), str) else guess_modality(name, {}),
    )
    check_written_shape(stack, record, path)
    return stack

