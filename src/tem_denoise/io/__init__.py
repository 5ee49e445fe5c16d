"""Read microscope files into :class:`Stack` objects and write calibrated TIFF.

>>> from tem_denoise import io
>>> stack = io.read("frames.emd")          # first image dataset of the file
>>> stacks = io.read_all("session.emd")    # every image dataset, by name
>>> io.write(stack, "frames.tif")          # ImageJ TIFF, pixel size and provenance kept
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tem_denoise.io import ngff, tiff
from tem_denoise.io.calibration import Calibration
from tem_denoise.io.formats import (
    EXTENSIONS,
    FORMATS,
    Format,
    Skipped,
    format_for,
    load_checked,
    read_signals,
    unreadable,
)
from tem_denoise.io.headers import MetadataWarning
from tem_denoise.io.stack import ReadError, Stack
from tem_denoise.io.tiff import write_tiff
from tem_denoise.outputs import OutputError, atomic_path, refuse_inputs

__all__ = [
    "Calibration",
    "EXTENSIONS",
    "FORMATS",
    "MetadataWarning",
    "NonFinitePixelsWarning",
    "OutputError",
    "ReadError",
    "SkippedDatasetWarning",
    "Stack",
    "provenance",
    "read",
    "read_all",
    "read_provenance",
    "stem",
    "write",
]


class SkippedDatasetWarning(UserWarning):
    """A dataset in a file was left out because it is not an image (spectrum, 4D, ...)."""


class NonFinitePixelsWarning(UserWarning):
    """An image holds NaN or Inf pixels."""


def read_all(path: str | Path) -> list[Stack]:
    """Every image and image stack in ``path``, in file order; the image of an OME-Zarr folder
    (``NAME.ome.zarr``, see :mod:`tem_denoise.io.ngff`).

    Datasets that are not images (spectra, spectrum images, 4D data, complex data) are left
    out with a :class:`SkippedDatasetWarning`; if nothing is left, :class:`ReadError` says
    what the file holds. Stacks stay lazy (dask); 2D images are read into memory.

    Every failure raises :class:`ReadError` naming the file and the problem: a path that is not
    a regular readable file (folder, FIFO, device, broken link, no permission), a header that
    declares more data than the file holds (a truncated copy), frames larger than the reading
    budget (see :func:`tem_denoise.io.headers.frame_budget`), or data the backend cannot parse.
    Metadata that cannot be parsed is ignored with a :class:`MetadataWarning`.
    """
    path = Path(path)
    if ngff.is_store_name(path):
        stack = ngff.read(path)
        _warn_non_finite(stack, path, "OME-Zarr")
        return [stack]
    fmt = format_for(path)
    if fmt is None:
        raise ReadError(
            f"'{path}' has an unsupported extension '{path.suffix}'. Supported: "
            + ", ".join([*EXTENSIONS, ".ome.zarr (folder)"])
        )
    stacks, skipped = [], []
    for signal in read_signals(path, fmt):
        try:
            stack = load_checked(signal, path, fmt)
        except Skipped as why:
            skipped.append(str(why))
            continue
        stacks.append(stack)
    if not stacks:
        found = "; ".join(skipped) if skipped else f"'{path}' contains no datasets"
        raise ReadError(f"No image data to open: {found}.")
    for reason in skipped:
        warnings.warn(f"Left out {reason}.", SkippedDatasetWarning, stacklevel=2)
    for stack in stacks:
        _warn_non_finite(stack, path, fmt)
    return stacks


def _warn_non_finite(stack: Stack, path: Path, fmt: Format | str) -> None:
    """Warn when the image (or, for a stack, its first frame) holds NaN or Inf pixels."""
    try:
        first = stack.frame(0)
    except Exception as exc:
        if isinstance(fmt, str):
            raise ReadError(f"Could not read the first frame of '{path}' ({type(exc).__name__}: {exc}); "
                            f"the {fmt} data may be incomplete or damaged.") from exc
        raise unreadable(path, fmt, exc) from exc
    count = int(np.count_nonzero(~np.isfinite(first)))
    if count:
        where = "the first frame of " if stack.is_stack else ""
        warnings.warn(
            f"{count} NaN/Inf pixels in {where}'{stack.name}' ({stack.provenance.get('source')}). "
            "They are shown as they are; replace them (e.g. with the local median) before "
            "denoising, which refuses non-finite input.",
            NonFinitePixelsWarning,
            stacklevel=3,
        )


def read(path: str | Path) -> Stack:
    """The first image or image stack in ``path`` (see :func:`read_all`)."""
    return read_all(path)[0]


def read_provenance(path: str | Path) -> dict | None:
    """The provenance record tem_denoise wrote into ``path`` (a TIFF or an OME-Zarr folder), or
    None when it has none (or, in a TIFF, a damaged one, with a :class:`MetadataWarning`). Raises
    :class:`ReadError` for a path that is not a readable TIFF or zarr store."""
    return ngff.read_provenance(path) if ngff.is_store_name(path) else tiff.read_provenance(path)


def stem(path: str | Path) -> str:
    """The file name of ``path`` without its format suffix (``NAME`` for ``NAME.tif`` and
    ``NAME.ome.zarr``): the base of output names."""
    return ngff.stem(path)


def provenance(stack: Stack, **extra: object) -> dict:
    """Provenance record for a written file: package version, modality, the position of the first
    pixel (``origin``, which ImageJ TIFF has no field for), source, history, the shape written
    (checked on read, so a truncated file is refused) and ``extra``."""
    from tem_denoise import __version__

    return {
        "package": "napari-tem-denoise",
        "version": __version__,
        "modality": stack.modality,
        "origin": {"translate": list(stack.translate), "units": list(stack.units)},
        **stack.provenance,
        "shape": [int(n) for n in stack.shape],
        **extra,
    }


def write(stack: Stack, path: str | Path, inputs: Sequence[str | Path] = (), **extra: object) -> Path:
    """Write ``stack`` to an ImageJ-compatible TIFF at ``path`` (see :func:`write_tiff`).

    ``path`` must not be the stack's source file nor one of ``inputs`` (same path, symlink or
    hard link): that raises :class:`OutputError` and writes nothing. The file is written to a
    temporary name in the same folder and renamed onto ``path`` only when complete, so an
    interrupted write leaves no partial file. ``extra`` (e.g. model name and weights sha256)
    is added to the provenance record.
    """
    if Path(path).suffix.lower() not in (".tif", ".tiff"):
        raise OutputError(f"'{path}': tem_denoise writes TIFF; use a .tif or .tiff name.")
    refuse_inputs([path], [stack.provenance.get("source"), *inputs])
    record = provenance(stack, **extra)
    with atomic_path(path) as temporary:
        write_tiff(stack, temporary, record)
    return Path(path)
