"""TIFF specifics: OME pixel sizes that RosettaSciIO leaves out, and the calibrated writer."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import tifffile

from tem_denoise.io.stack import Stack
from tem_denoise.io.units import to_napari_units

IMAGEJ_DTYPES = (np.uint8, np.uint16, np.float32)
PROVENANCE_KEY = "tem_denoise"


def _ome_pixel_size(tif: tifffile.TiffFile) -> tuple[float, str] | None:
    if not tif.is_ome or not tif.ome_metadata:
        return None
    image = tifffile.xml2dict(tif.ome_metadata).get("OME", {}).get("Image", {})
    pixels = (image[0] if isinstance(image, list) else image).get("Pixels", {})
    size = pixels.get("PhysicalSizeX")
    if size is None:
        return None
    return to_napari_units(float(size), pixels.get("PhysicalSizeXUnit", "µm"))


def _imagej_pixel_size(tif: tifffile.TiffFile) -> tuple[float, str] | None:
    unit = (tif.imagej_metadata or {}).get("unit")
    resolution = tif.pages[0].tags.get("XResolution")
    if not unit or resolution is None:
        return None
    numerator, denominator = resolution.value
    return to_napari_units(denominator / numerator, unit) if numerator else None


def complete_calibration(stack: Stack, path: Path) -> Stack:
    """Fill in what RosettaSciIO's TIFF reader misses.

    RosettaSciIO understands ImageJ lengths only in microns and ignores OME pixel sizes and the
    ImageJ frame interval; this reads them with tifffile when the stack came back uncalibrated,
    and restores the origin (translate) and modality that :func:`write_tiff` recorded.
    """
    with tifffile.TiffFile(path) as tif:
        pixel = _ome_pixel_size(tif) or _imagej_pixel_size(tif)
        ij = tif.imagej_metadata or {}
    scale, units = list(stack.scale), list(stack.units)
    if pixel and units[-1] == "pixel" and pixel[1] == "nm":
        scale[-2:], units[-2:] = [pixel[0], pixel[0]], ["nm", "nm"]
    if stack.is_stack and units[0] == "pixel" and float(ij.get("finterval", 0) or 0) > 0:
        scale[0], units[0] = float(ij["finterval"]), "s"
    written = json.loads(ij[PROVENANCE_KEY]) if PROVENANCE_KEY in ij else {}
    origin = written.get("origin", {})
    translate = stack.translate
    if origin.get("units") == units and len(origin.get("translate", ())) == len(units):
        translate = tuple(float(t) for t in origin["translate"])
    return replace(
        stack,
        scale=tuple(scale),
        units=tuple(units),
        translate=translate,
        modality=stack.modality or written.get("modality"),
        provenance={**stack.provenance, "written_by": written} if written else stack.provenance,
    )


def _frames(stack: Stack, dtype: np.dtype):
    for index in range(stack.n_frames):
        plane = stack.data[index] if stack.is_stack else stack.data
        yield np.asarray(plane).astype(dtype, copy=False)


def write_tiff(stack: Stack, path: str | Path, provenance: dict) -> Path:
    """Write ``stack`` as an ImageJ-compatible TIFF, frame by frame.

    uint8, uint16 and float32 data are written as they are; other dtypes become float32
    (ImageJ supports no others). The pixel size in nm goes into the resolution tags and
    ``unit=nm``, the frame interval into ``finterval`` (s), and ``provenance`` as one JSON
    line under the ``tem_denoise`` key of the ImageJ description.
    """
    path = Path(path)
    dtype = np.dtype(stack.data.dtype)
    if dtype.type not in IMAGEJ_DTYPES:
        dtype = np.dtype(np.float32)
    metadata = {"axes": "TYX" if stack.is_stack else "YX"}
    resolution = None
    if stack.pixel_size:
        resolution = (1.0 / stack.scale[-1], 1.0 / stack.scale[-2])
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
    """The provenance dict written by :func:`write_tiff`, or None if the file has none."""
    with tifffile.TiffFile(path) as tif:
        text = (tif.imagej_metadata or {}).get(PROVENANCE_KEY)
    return json.loads(text) if text else None
