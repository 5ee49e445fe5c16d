"""Read microscope files with RosettaSciIO (and tifffile for OME pixel sizes) into Stacks.

Each RosettaSciIO reader returns a list of "signal dictionaries" (data, axes, metadata,
original_metadata). :func:`read_signals` checks the file's header (:mod:`.headers`), picks the
reader from the file extension and :func:`signal_to_stack` turns each image-like signal into a
:class:`~tem_denoise.io.Stack`, refusing spectra, spectrum images, complex and 4D data with a
reason. Every failure becomes a :class:`~tem_denoise.io.ReadError` naming the file.
"""

from __future__ import annotations

import importlib
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tem_denoise.io.headers import check_before_reading, check_data_size, check_dm_image, refuse_large_frame
from tem_denoise.io.modality import guess_modality
from tem_denoise.io.stack import SPATIAL_LABELS, STACK_LABELS, ReadError, Stack
from tem_denoise.io.tiff import complete_calibration
from tem_denoise.io.units import is_energy, to_napari_units


@dataclass(frozen=True)
class Format:
    """A file format: its name, extensions and RosettaSciIO reader module."""

    name: str
    extensions: tuple[str, ...]
    module: str
    options: tuple[tuple[str, object], ...] = ()


FORMATS = (
    # load_SI_image_stack: the frames of the images recorded with an EDS spectrum image, not their sum
    Format("Velox/NCEM EMD", (".emd",), "rsciio.emd",
           (("select_type", "images"), ("load_SI_image_stack", True))),
    Format("Gatan Digital Micrograph", (".dm3", ".dm4"), "rsciio.digitalmicrograph"),
    Format("FEI TIA", (".ser", ".emi"), "rsciio.tia"),
    Format("MRC", (".mrc", ".mrcs"), "rsciio.mrc"),
    Format("TIFF", (".tif", ".tiff"), "rsciio.tiff"),
    Format("HyperSpy", (".hspy", ".hdf5"), "rsciio.hspy"),
)
EXTENSIONS = tuple(ext for fmt in FORMATS for ext in fmt.extensions)
# Formats whose pixels are stored uncompressed after a header RosettaSciIO parses lazily.
UNCOMPRESSED = ("Gatan Digital Micrograph", "MRC")


class Skipped(ReadError):
    """One dataset of a file is not an image or image stack (spectrum, 4D, complex...)."""


def format_for(path: str | Path) -> Format | None:
    """The :class:`Format` for ``path`` by its extension, or None if unsupported."""
    suffix = Path(path).suffix.lower()
    return next((fmt for fmt in FORMATS if suffix in fmt.extensions), None)


def read_signals(path: Path, fmt: Format) -> list[dict]:
    """All signal dictionaries in ``path`` (lazy), after the header checks of
    :func:`~tem_denoise.io.headers.check_before_reading`; every failure is a ReadError."""
    try:
        options = check_before_reading(path)
        reader = importlib.import_module(fmt.module).file_reader
        return _call_quietly(reader, path, {**dict(fmt.options), **options})
    except ReadError:
        raise
    except ModuleNotFoundError as exc:
        if "sparse" in str(exc):
            raise ReadError(
                f"'{path}' holds an EDS spectrum image, and reading the images stored beside it "
                "needs the 'sparse' package, a dependency of napari-tem-denoise that is missing "
                "here; reinstall napari-tem-denoise (or `pip install sparse`)."
            ) from exc
        raise unreadable(path, fmt, exc) from exc
    except Exception as exc:  # noqa: BLE001 - any backend failure becomes a clear ReadError
        raise unreadable(path, fmt, exc) from exc


def unreadable(path: Path, fmt: Format, exc: Exception) -> ReadError:
    """The ReadError for a backend exception: permission problems and memory said as such."""
    if isinstance(exc, PermissionError):
        return ReadError(f"'{path}' cannot be read: permission denied; ask for read access or "
                         "copy the file.")
    if isinstance(exc, MemoryError):
        return ReadError(f"'{path}' needs more memory than is available ({exc}); close other "
                         "programs or open a smaller file.")
    return ReadError(
        f"Could not read '{path}' as a {fmt.name} file ({type(exc).__name__}: {exc}). "
        "The file may be truncated, corrupt, or of another format; check that it opens in "
        "the acquisition software and that the copy is complete."
    )


def load_checked(signal: dict, path: Path, fmt: Format) -> Stack:
    """:func:`signal_to_stack` (and, for TIFF, :func:`~tem_denoise.io.tiff.complete_calibration`),
    then read the last frame so that a truncated file fails now with a clear message instead of
    later, inside napari's rendering. Every failure is a ReadError."""
    try:
        stack = signal_to_stack(signal, path, fmt)
        if fmt.name == "TIFF":
            stack = complete_calibration(stack, path)
        stack.frame(stack.n_frames - 1)
    except ReadError:
        raise
    except Exception as exc:  # noqa: BLE001 - any backend failure becomes a clear ReadError
        raise unreadable(path, fmt, exc) from exc
    return stack


def _call_quietly(reader, path: Path, options: dict) -> list[dict]:
    """Call a RosettaSciIO reader lazily, or eagerly where it cannot read this file lazily."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return reader(str(path), lazy=True, **options)
        except (ModuleNotFoundError, FileNotFoundError):
            raise
        except Exception as lazy_error:  # noqa: BLE001 - some backends cannot load lazily
            try:
                return reader(str(path), lazy=False, **options)
            except Exception:  # noqa: BLE001 - report the first, more relevant failure
                raise lazy_error from None


def _axis_calibration(axis: dict) -> tuple[float, str, float]:
    scale, unit = to_napari_units(axis.get("scale", 1.0), axis.get("units"))
    offset = float(axis.get("offset", 0.0) or 0.0)
    factor = scale / float(axis.get("scale", 1.0) or 1.0) if unit != "pixel" else 0.0
    return scale, unit, offset * factor


def _refusal(signal: dict) -> str | None:
    """Why a signal is not an image or image stack, or None if it is one."""
    data = signal["data"]
    if data.dtype.names is not None:
        return "an RGB colour image; convert it to greyscale (one intensity per pixel) first"
    if np.issubdtype(data.dtype, np.complexfloating):
        return "complex-valued data (e.g. DPC vectors or an FFT)"
    if 0 in data.shape:
        return f"an empty array of shape {tuple(data.shape)}"
    if data.ndim < 2:
        return "a spectrum or profile (1D), not an image"
    if data.ndim > 3:
        return f"{data.ndim}D data (e.g. 4D-STEM or a spectrum-image series), not an image stack"
    if any(_is_channel(axis.get("name")) for axis in signal["axes"]):
        return f"a multi-channel image of shape {tuple(data.shape)} (several samples per pixel)"
    if any(is_energy(axis.get("units")) for axis in signal["axes"]):
        return "a spectrum image (it has an energy axis)"
    if str(signal.get("metadata", {}).get("Signal", {}).get("signal_type", "")).upper() in {
        "EDS", "EDS_TEM", "EDS_SEM", "EELS"
    }:
        return "spectroscopy data"
    if _signal_dimension(signal["axes"]) == 1:
        return "a set of spectra or profiles (its signal is 1D), not an image"
    return None


def _signal_dimension(axes: list[dict]) -> int | None:
    """How many axes the file marks as signal axes (``navigate`` False), or None when it does
    not say (HyperSpy files and several RosettaSciIO readers mark them)."""
    flags = [axis.get("navigate") for axis in axes]
    if any(flag is None for flag in flags):
        return None
    return sum(not flag for flag in flags)


def _is_channel(name: object) -> bool:
    """True for an axis of samples or channels (RosettaSciIO's TIFF axis names)."""
    return str(name) == "sample" or "channel" in str(name)


def _check_declared(signal: dict, path: Path, fmt: Format) -> None:
    """Before any pixel is read: one frame within the memory budget and, for uncompressed
    formats, all the data within the file (RosettaSciIO has only parsed the header so far)."""
    data = signal["data"]
    if fmt.name in UNCOMPRESSED:
        check_data_size(path, data.shape, data.dtype, path.stat().st_size)
    if fmt.name == "Gatan Digital Micrograph":
        check_dm_image(path, signal.get("original_metadata") or {}, data.shape, data.dtype)
    refuse_large_frame(path, "the data", data.shape[-2:], data.dtype)


def signal_to_stack(signal: dict, path: Path, fmt: Format) -> Stack:
    """Convert one RosettaSciIO signal dictionary to a Stack, or raise :class:`Skipped` (not an
    image) or :class:`ReadError` (more data declared than the file or the memory budget hold)."""
    title = str(signal.get("metadata", {}).get("General", {}).get("title", "") or "")
    name = title if title and title != "__unnamed__" else path.stem
    reason = _refusal(signal)
    if reason:
        raise Skipped(f"'{path}': dataset '{name}' is {reason}")
    data = signal["data"]
    _check_declared(signal, path, fmt)
    if data.ndim == 2:
        data = np.array(data)
    calibration = [_axis_calibration(axis) for axis in signal["axes"]]
    scale = tuple(c[0] for c in calibration)
    units = tuple(c[1] for c in calibration)
    translate = tuple(c[2] for c in calibration)
    original = signal.get("original_metadata", {}) or {}
    return Stack(
        data=data,
        scale=scale,
        units=units,
        translate=translate,
        axis_labels=STACK_LABELS if data.ndim == 3 else SPATIAL_LABELS,
        name=name,
        metadata=original,
        provenance={"source": str(path), "reader": f"{fmt.module} ({fmt.name})"},
        modality=guess_modality(name, original, signal.get("metadata")),
    )
