"""TIFF specifics: OME pixel sizes that RosettaSciIO leaves out, and the calibrated writer.

Calibration and provenance that cannot be parsed (damaged JSON, a frame interval of ``abc``, a
zero or NaN resolution tag) are ignored with a :class:`~tem_denoise.io.MetadataWarning`; the
pixels still open. A stack with fewer frames than its ImageJ description or its provenance
declares is refused with a :class:`~tem_denoise.io.ReadError`.
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import tifffile

from tem_denoise.io.headers import MetadataWarning, regular_file_size
from tem_denoise.io.stack import ReadError, Stack
from tem_denoise.io.units import to_napari_units

IMAGEJ_DTYPES = (np.uint8, np.uint16, np.float32)
PROVENANCE_KEY = "tem_denoise"


def _ignored(path: Path, what: str, why: object) -> None:
    """Warn that damaged metadata ``what`` of ``path`` is ignored."""
    warnings.warn(f"'{path}': ignored {what} ({why}); the pixels are opened without it.",
                  MetadataWarning, stacklevel=4)


def _positive(value: Any) -> float | None:
    """``value`` as a positive finite float, else None."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and number > 0 else None


def _ome_pixel_size(tif: tifffile.TiffFile, path: Path) -> tuple[float, str] | None:
    """The OME ``PhysicalSizeX`` as (size, napari unit), or None when absent or unreadable."""
    if not tif.is_ome or not tif.ome_metadata:
        return None
    try:
        image = tifffile.xml2dict(tif.ome_metadata).get("OME", {}).get("Image", {})
        pixels = (image[0] if isinstance(image, list) else image).get("Pixels", {})
        size = pixels.get("PhysicalSizeX")
        unit = pixels.get("PhysicalSizeXUnit", "µm")
    except Exception as exc:
        _ignored(path, "the OME-XML metadata", exc)
        return None
    if size is None:
        return None
    if _positive(size) is None:
        _ignored(path, f"the OME pixel size {size!r}", "not a positive number")
        return None
    return to_napari_units(float(size), unit)


def _imagej_pixel_size(tif: tifffile.TiffFile, ij: dict, path: Path) -> tuple[float, str] | None:
    """The pixel size from the XResolution tag (pixels per ``unit``) of an ImageJ TIFF."""
    unit = ij.get("unit")
    resolution = tif.pages.first.tags.get("XResolution")
    if not unit or resolution is None:
        return None
    if not isinstance(unit, str):
        _ignored(path, f"the ImageJ unit {unit!r}", "not a text")
        return None
    value = resolution.value
    if not (isinstance(value, tuple) and len(value) == 2):
        _ignored(path, f"the XResolution tag {value!r}", "not a ratio of two numbers")
        return None
    numerator, denominator = (_positive(v) for v in value)
    if numerator is None or denominator is None:
        _ignored(path, f"the XResolution tag {value!r}", "zero, negative or not finite")
        return None
    return to_napari_units(denominator / numerator, unit)


def _provenance(ij: dict, path: Path) -> dict:
    """The provenance record :func:`write_tiff` stored, {} when absent or damaged (warned)."""
    text = ij.get(PROVENANCE_KEY)
    if text is None:
        return {}
    try:
        record = json.loads(text) if isinstance(text, str) else text
    except json.JSONDecodeError as exc:
        _ignored(path, "the tem_denoise provenance record", f"damaged JSON: {exc}")
        return {}
    if not isinstance(record, dict):
        _ignored(path, "the tem_denoise provenance record", "not a JSON object")
        return {}
    return record


def _written_origin(written: dict, units: list[str], path: Path) -> tuple[float, ...] | None:
    """The origin (translate) recorded in the provenance when it matches ``units``."""
    origin = written.get("origin", {})
    if not isinstance(origin, dict):
        _ignored(path, "the recorded origin", "not a JSON object")
        return None
    translate = origin.get("translate", ())
    if origin.get("units") != units or not isinstance(translate, list) or len(translate) != len(units):
        return None
    try:
        return tuple(float(t) for t in translate)
    except (TypeError, ValueError):
        _ignored(path, f"the recorded origin {translate!r}", "not numbers")
        return None


def _written_modality(written: dict, path: Path) -> str | None:
    modality = written.get("modality")
    if modality is not None and not isinstance(modality, str):
        _ignored(path, f"the recorded modality {modality!r}", "not a text")
        return None
    return modality


def _frame_interval(ij: dict, path: Path) -> float | None:
    """The ImageJ ``finterval`` in seconds; None when absent, zero or damaged (warned)."""
    value = ij.get("finterval")
    if value in (None, 0, ""):
        return None
    interval = _positive(value)
    if interval is None:
        _ignored(path, f"the ImageJ frame interval {value!r}", "not a positive number")
    return interval


def _declared_images(ij: dict, path: Path) -> int | None:
    """The number of images an ImageJ description declares (``images``, else the product of
    ``channels``, ``slices`` and ``frames``), or None when it declares none."""
    counts = {}
    for key in ("images", "channels", "slices", "frames"):
        if key in ij:
            value = ij[key]
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                counts[key] = value
            else:
                _ignored(path, f"the ImageJ key {key}={value!r}", "not a positive integer")
    if "images" in counts:
        return counts["images"]
    others = [counts[k] for k in ("channels", "slices", "frames") if k in counts]
    return math.prod(others) if others else None


def _check_frame_count(stack: Stack, path: Path, declared: int | None, pages: int) -> None:
    """Refuse a stack with fewer frames than the ImageJ description declares (a truncated
    file); warn when it has more frames or the file more pages than declared."""
    if declared is None:
        return
    if stack.n_frames < declared:
        raise ReadError(
            f"'{path}' is incomplete: its ImageJ description declares {declared} images but only "
            f"{stack.n_frames} frame(s) of shape {stack.shape} could be read from its {pages} "
            "page(s). The file is truncated (an interrupted copy or write); copy or write it again."
        )
    if max(stack.n_frames, pages) > declared:
        warnings.warn(
            f"'{path}': its ImageJ description declares {declared} images, but {stack.n_frames} "
            f"frame(s) were read from its {pages} page(s); check the frame count.",
            MetadataWarning, stacklevel=3,
        )


def check_written_shape(stack: Stack, written: dict, path: Path) -> None:
    """Refuse a stack whose shape differs from the one recorded in the provenance."""
    shape = written.get("shape")
    if shape is None:
        return
    if not (isinstance(shape, list) and all(isinstance(n, int) for n in shape)):
        _ignored(path, f"the recorded shape {shape!r}", "not a list of integers")
        return
    if tuple(shape) != stack.shape:
        raise ReadError(
            f"'{path}' is incomplete or damaged: it was written with shape {tuple(shape)} but "
            f"{stack.shape} could be read. Copy or write it again."
        )


def _imagej_metadata(tif: tifffile.TiffFile, path: Path) -> dict:
    """The ImageJ description as a dict ({} when absent or unparseable, then warned)."""
    try:
        return tif.imagej_metadata or {}
    except Exception as exc:
        _ignored(path, "the ImageJ description", exc)
        return {}


def _open_tiff(path: Path) -> tifffile.TiffFile:
    """tifffile's view of ``path``, with every failure to open it a ReadError."""
    regular_file_size(path)
    try:
        return tifffile.TiffFile(path)
    except Exception as exc:
        raise ReadError(f"Could not read '{path}' as a TIFF file ({type(exc).__name__}: {exc}); "
                        "it may be truncated, corrupt, or of another format.") from exc


def complete_calibration(stack: Stack, path: Path) -> Stack:
    """Fill in what RosettaSciIO's TIFF reader misses, and check that the stack is complete.

    RosettaSciIO understands ImageJ lengths only in microns and ignores OME pixel sizes and the
    ImageJ frame interval; this reads them with tifffile when the stack came back uncalibrated,
    and restores the origin (translate) and modality that :func:`write_tiff` recorded. Damaged
    calibration or provenance is ignored with a :class:`MetadataWarning`; a stack with another
    frame count than the ImageJ description declares, or another shape than the provenance
    records, raises :class:`ReadError`.
    """
    with _open_tiff(path) as tif:
        ij = _imagej_metadata(tif, path)
        pixel = _ome_pixel_size(tif, path) or _imagej_pixel_size(tif, ij, path)
        declared = _declared_images(ij, path)
        pages = len(tif.pages) if declared is not None else 0
    written = _provenance(ij, path)
    _check_frame_count(stack, path, declared, pages)
    check_written_shape(stack, written, path)
    scale, units = list(stack.scale), list(stack.units)
    if pixel and units[-1] == "pixel" and pixel[1] == "nm":
        scale[-2:], units[-2:] = [pixel[0], pixel[0]], ["nm", "nm"]
    interval = _frame_interval(ij, path) if stack.is_stack and units[0] == "pixel" else None
    if interval:
        scale[0], units[0] = interval, "s"
    return replace(
        stack,
        scale=tuple(scale),
        units=tuple(units),
        translate=_written_origin(written, units, path) or stack.translate,
        modality=stack.modality or _written_modality(written, path),
        provenance={**stack.provenance, "written_by": written} if written else stack.provenance,
    )


def _frames(stack: Stack, dtype: np.dtype):
    for index in range(stack.n_frames):
        plane = stack.data[index] if stack.is_stack else stack.data
        yield np.asarray(plane).astype(dtype, copy=False)


def write_tiff(stack: Stack, path: str | Path, provenance: dict) -> Path:
    """Write ``stack`` as an ImageJ-compatible TIFF, frame by frame, straight to ``path``.

    Use :func:`tem_denoise.io.write`, which refuses an input as output and writes atomically;
    this is its low-level part.

    uint8, uint16 and float32 data are written as they are; other dtypes become float32
    (ImageJ supports no others). The pixel size in nm goes into the resolution tags and
    ``unit=nm``, the frame interval into ``finterval`` (s), and ``provenance`` as one JSON
    line under the ``tem_denoise`` key of the ImageJ description.
    """
    path = Path(path)
    dtype = np.dtype(stack.data.dtype)
    if dtype.type not in IMAGEJ_DTYPES:
        dtype = np.dtype(np.float32)
    metadata: dict[str, object] = {"axes": "TYX" if stack.is_stack else "YX"}
    resolution = None
    size = stack.calibration.pixel_size
    if size:
        resolution = (1.0 / size[1], 1.0 / size[0])
        metadata["unit"] = "nm"
    if stack.frame_interval:
        metadata["finterval"] = stack.frame_interval
    metadata[PROVENANCE_KEY] = json.dumps(provenance, default=str, separators=(",", ":"))
    path.parent.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(
        path,
        data=_frames(stack, dtype),
        shape=stack.shape,
        dtype=dtype,
        imagej=True,
        resolution=resolution,
        metadata=metadata,
    )
    return path


def read_provenance(path: str | Path) -> dict | None:
    """The provenance dict written by :func:`write_tiff`, or None if the file has none or it is
    damaged (then with a :class:`MetadataWarning`). Raises :class:`ReadError` for a file that
    is not a readable TIFF."""
    path = Path(path)
    with _open_tiff(path) as tif:
        ij = _imagej_metadata(tif, path)
    return _provenance(ij, path) or None
