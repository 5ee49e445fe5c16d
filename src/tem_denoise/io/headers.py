"""Header checks before reading: what a file declares must fit in the file and in memory.

RosettaSciIO trusts headers: a 17 KB EMD that declares a 40 GB image, an MRC file with damaged
dimensions or a TIFF whose zlib strips inflate to 20 GB make it allocate or loop for minutes.
:func:`check_before_reading` reads only headers (with numpy, h5py and tifffile) and raises
:class:`~tem_denoise.io.ReadError` when

- the path is not a regular file that can be read (a folder, FIFO, device, broken link, a file
  without read permission) -- checked with :func:`os.stat` before anything is opened;
- the data the header declares end beyond the end of the file (a truncated copy, a damaged
  header), or an HDF5 dataset holds fewer bytes or chunks than its shape needs;
- one frame would need more than :func:`frame_budget` bytes;
- a count in the header would make the reader loop over the whole file (DM tags, SER elements).

Per format: MRC (dimensions, mode, extended header against the file size), DM3/DM4 (declared
length, then a walk of the tag tree), TIA .ser (counts, dimensions, offsets, frame size) and .emi
(size, and the .ser files read with it), EMD/HDF5 (in a child process, see
:func:`_check_hdf5`: dataset storage and chunks) and TIFF (every page's frame size and strips,
damage reported by tifffile). :func:`check_data_size` repeats the file-size comparison after
RosettaSciIO's lazy parse for formats whose pixels are stored uncompressed.
"""

from __future__ import annotations

import errno
import glob
import json
import logging
import math
import os
import signal
import stat
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import numpy.typing as npt

from tem_denoise.io.stack import ReadError
from tem_denoise.memory import available_bytes, format_bytes

BUDGET_VARIABLE = "TEM_DENOISE_MAX_FRAME_BYTES"
BUDGET_SHARE = 0.25  # of the memory available for work: processing holds several copies
EMI_LIMIT = 64 << 20  # bytes; an .emi holds XML metadata (tens of KB) and is read whole
PAGE_SCAN_SECONDS = 30.0  # longest walk along a TIFF chain of pages (IFDs): ~20,000 pages/s
MAX_SER_DIMENSIONS = 16


class MetadataWarning(UserWarning):
    """Metadata that is damaged or disagrees with the pixels was ignored; the pixels were opened."""


def frame_budget() -> int:
    """Largest frame a reader may load, in bytes.

    A quarter of the memory available for work (:func:`tem_denoise.memory.available_bytes`:
    /proc/meminfo ``MemAvailable`` or the OS page count, capped by ``TEM_DENOISE_MEMORY_LIMIT``),
    because denoising and analysis hold several float32 copies of a frame. The environment
    variable ``TEM_DENOISE_MAX_FRAME_BYTES`` (bytes, e.g. ``8e9``) replaces it.
    """
    value = os.environ.get(BUDGET_VARIABLE)
    if value:
        try:
            return int(float(value))
        except ValueError:
            warnings.warn(f"{BUDGET_VARIABLE}={value!r} is not a number of bytes; ignored.",
                          MetadataWarning, stacklevel=2)
    return int(available_bytes() * BUDGET_SHARE)


def refuse_large_frame(path: Path, what: str, shape: tuple[int, ...], dtype: np.dtype,
                  budget: int | None = None) -> None:
    """Refuse a frame of ``shape`` and ``dtype`` larger than ``budget`` bytes (default
    :func:`frame_budget`, which reads the available memory: pass it when checking many frames)."""
    nbytes = math.prod(int(n) for n in shape) * np.dtype(dtype).itemsize
    budget = frame_budget() if budget is None else budget
    if nbytes > budget:
        dims = " x ".join(str(int(n)) for n in shape)
        origin = f"set by {BUDGET_VARIABLE}" if os.environ.get(BUDGET_VARIABLE) else (
            "a quarter of the available memory")
        raise ReadError(
            f"'{path}': {what} declares frames of {dims} {np.dtype(dtype).name} "
            f"({format_bytes(nbytes)} each), more than the reading budget of {format_bytes(budget)} ({origin}). "
            f"If the header is right, free memory or set {BUDGET_VARIABLE} to a larger number "
            "of bytes; otherwise the header is damaged."
        )


def require_within(path: Path, what: str, end: int, size: int) -> None:
    """Refuse a file of ``size`` bytes in which ``what`` ends at byte ``end``."""
    if end > size:
        raise ReadError(
            f"'{path}' is incomplete: {what} ends at byte {end:,} but the file has only "
            f"{size:,} bytes ({format_bytes(end - size)} missing). The file is truncated (an "
            "interrupted copy or acquisition) or its header is damaged; copy it again."
        )


def regular_file_size(path: Path) -> int:
    """Size in bytes of ``path`` after checking that it is a regular file (before opening it:
    opening a FIFO would block) that is not empty and can be opened for reading."""
    try:
        info = os.stat(path)
    except OSError as exc:
        raise ReadError(_os_error_message(path, exc)) from exc
    if stat.S_ISDIR(info.st_mode):
        raise ReadError(f"'{path}' is a folder, not a file; open one of the files inside it.")
    if not stat.S_ISREG(info.st_mode):
        raise ReadError(
            f"'{path}' is not a regular file (a FIFO, socket or device); copy the data into a "
            "file and open that."
        )
    if info.st_size == 0:
        raise ReadError(f"'{path}' is empty (0 bytes); the transfer or export probably failed.")
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise ReadError(_os_error_message(path, exc)) from exc
    return info.st_size


def _os_error_message(path: Path, exc: OSError) -> str:
    """A one-line reason for an OSError from stat or open."""
    reasons = {
        errno.ENOENT: "does not exist (or is a link to a missing file)",
        errno.ELOOP: "is a loop of symbolic links",
        errno.EACCES: "cannot be read: permission denied; ask for read access or copy the file",
        errno.EPERM: "cannot be read: operation not permitted; copy the file elsewhere",
        errno.ENAMETOOLONG: "has a name too long for the file system",
        errno.ENOTDIR: "does not exist (a folder in its path is a file)",
    }
    reason = reasons.get(exc.errno or 0, f"cannot be read ({exc.strerror or exc})")
    return f"'{path}' {reason}."


def check_before_reading(path: Path) -> dict:
    """Run the checks for ``path``'s format (by extension) before any reader allocates.

    Raises :class:`ReadError` for a path that is not a regular readable file, a header that
    declares more data than the file holds, or frames larger than :func:`frame_budget`;
    other exceptions (OSError, ValueError from a damaged header...) are left to the caller.
    Returns extra options for the RosettaSciIO reader (usually none).
    """
    size = regular_file_size(path)
    check = CHECKS.get(path.suffix.lower())
    return (check(path, size) if check is not None else None) or {}


def _read_exactly(handle, offset: int, dtype: npt.DTypeLike, count: int, path: Path, what: str):
    """``count`` items of ``dtype`` at byte ``offset``; ReadError when the file ends first."""
    dtype = np.dtype(dtype)
    handle.seek(offset)
    raw = handle.read(dtype.itemsize * count)
    if len(raw) < dtype.itemsize * count:
        require_within(path, what, offset + dtype.itemsize * count, offset + len(raw))
    return np.frombuffer(raw, dtype, count)


# --- MRC: a 1024-byte header, an extended header of NEXT bytes, then NX * NY * NZ values ------

MRC_HEADER = np.dtype([("nx", "<u4"), ("ny", "<u4"), ("nz", "<u4"), ("mode", "<u4"),
                       ("unused", "V76"), ("next", "<u4")])
MRC_MODES = {0: np.uint8, 1: np.int16, 2: np.float32, 4: np.complex64, 6: np.uint16, 12: np.float16}


def _check_mrc(path: Path, size: int) -> None:
    """Dimensions, mode and extended header length of an MRC file against its size."""
    with open(path, "rb") as handle:
        header = _read_exactly(handle, 0, MRC_HEADER, 1, path, "the 1024-byte MRC header")[0]
    require_within(path, "the 1024-byte MRC header", 1024, size)
    nx, ny, nz, mode, extended = (int(header[k]) for k in ("nx", "ny", "nz", "mode", "next"))
    if mode not in MRC_MODES:
        raise ReadError(f"'{path}': MRC data mode {mode} is not one of the supported modes "
                        f"{sorted(MRC_MODES)}; the header is damaged or the variant unsupported.")
    if 0 in (nx, ny, nz):
        raise ReadError(f"'{path}': the MRC header declares {nz} x {ny} x {nx} values (a zero "
                        "dimension); the header is damaged.")
    dtype = np.dtype(MRC_MODES[mode])
    end = 1024 + extended + nx * ny * nz * dtype.itemsize
    require_within(path, f"the MRC data ({nz} frames of {ny} x {nx} {dtype.name})", end, size)
    refuse_large_frame(path, "the MRC header", (ny, nx), dtype)
    if size > end:
        warnings.warn(
            f"'{path}' has {size - end:,} bytes after the {nz} frames of {ny} x {nx} "
            f"{dtype.name} that its header declares; they were not read. Check the frame count.",
            MetadataWarning, stacklevel=4,
        )


# --- Gatan DM3/DM4: a header, then a tree of tag groups and typed data tags ------------------

DM_SIMPLE = {2: "h", 3: "i4", 4: "u2", 5: "u4", 6: "f4", 7: "f8", 8: "u1", 9: "i1", 10: "u1",
             11: "i8", 12: "u8"}  # value type code: numpy type (byte order from the header)
DM_STRUCT, DM_STRING, DM_ARRAY = 15, 18, 20
DM_MAX_DEPTH = 100  # nested tag groups
DM_MAX_FIELDS = 4096  # fields of one struct
DM_MAX_STRING = 256 << 10  # bytes of one string read character by character
DM_MAX_VALUES = 1 << 22  # values of one tag array read one by one (image data is skipped)
DM_PACKED_OR_RGB = (5, 8, 23, 27, 28)  # DM data types stored in another layout than the pixels


def _check_dm(path: Path, size: int) -> None:
    """The DM header's version and declared length, then a walk of the tag tree.

    RosettaSciIO reads tags value by value, so a damaged count (a struct of 2**32 fields, a
    string of 4 GB) makes it loop to the end of the file, in quadratic time for strings and
    struct definitions, and it maps image data by the declared dimensions. The walk follows the
    same layout, reading only types, counts and each image's dimensions, and refuses counts
    that overrun the file or exceed plausible limits, and images whose dimensions disagree with
    their stored bytes.
    """
    with open(path, "rb") as handle:
        version = int(_read_exactly(handle, 0, ">u4", 1, path, "the DM header")[0])
        if version not in (3, 4):
            raise ReadError(f"'{path}' is not a Digital Micrograph DM3/DM4 file (version field "
                            f"{version}); it may be of another format.")
        length_type, header = (">u4", 12) if version == 3 else (">u8", 16)
        declared = int(_read_exactly(handle, 4, length_type, 1, path, "the DM header")[0])
        require_within(path, f"the DM{version} tag data declared in its header", header + declared, size)
        little = int(_read_exactly(handle, header - 4, ">u4", 1, path, "the DM header")[0]) == 1
        _DMTags(handle, path, size, version, little).group(depth=0, sized=False)


class _DMTags:
    """Walks a DM tag tree in RosettaSciIO's layout: big-endian signed counts (4 bytes in DM3,
    8 in DM4, where tags also carry an 8-byte size), values read one by one except the image
    data (tag ``Data`` of group ``ImageData``), which is skipped. Each ``ImageData`` group is
    checked with :meth:`_check_image` when its walk ends."""

    def __init__(self, handle, path: Path, size: int, version: int, little: bool) -> None:
        self.handle, self.path, self.size = handle, path, size
        self.dm4 = version == 4
        self.word, self.word_size = (">i8", 8) if self.dm4 else (">i4", 4)
        self.order = "<" if little else ">"
        self.groups: list[bytes] = []
        self.image: dict = {}

    def _damaged(self, what: str) -> ReadError:
        return ReadError(f"'{self.path}': damaged Digital Micrograph tag structure ({what} at byte "
                         f"{self.handle.tell():,}); the file is corrupt or truncated.")

    def _int(self, fmt: str | None = None) -> int:
        fmt = fmt or self.word
        return int(_read_exactly(self.handle, self.handle.tell(), fmt, 1, self.path, "a DM tag")[0])

    def _skip(self, nbytes: int) -> None:
        require_within(self.path, "a DM tag", self.handle.tell() + nbytes, self.size)
        self.handle.seek(nbytes, 1)

    def _count(self, what: str, item_bytes: int, limit: int) -> int:
        """The next count, when its ``item_bytes`` items fit in the file and it is at most ``limit``."""
        count = self._int()
        if not 0 <= count <= limit:
            raise self._damaged(f"{what} of {count:,} items")
        require_within(self.path, what, self.handle.tell() + count * item_bytes, self.size)
        return count

    def group(self, depth: int, name: bytes = b"", sized: bool = True) -> None:
        if depth > DM_MAX_DEPTH:
            raise self._damaged(f"tag groups nested over {DM_MAX_DEPTH} deep")
        self._skip(2 + (8 if self.dm4 and sized else 0))  # sorted and open flags, DM4 size
        self.groups.append(name)
        if name == b"ImageData":
            self.image = {"dims": []}
        for _ in range(self._count("a tag group", 3, self.size)):
            self.tag(depth)
        if name == b"ImageData":
            self._check_image(self.image)
        self.groups.pop()

    def tag(self, depth: int) -> None:
        kind, name_length = self._int(">i1"), self._int(">i2")
        if name_length < 0:
            raise self._damaged(f"tag name of {name_length} bytes")
        name = self.handle.read(name_length)
        if kind == 20:
            self.group(depth + 1, name)
        elif kind == 21:
            self.data(name)
        else:
            raise self._damaged(f"tag type {kind}")

    def data(self, name: bytes) -> None:
        """One data tag: its type description, then its values (skipped by size, except the
        image description values that :meth:`_check_image` needs)."""
        self._skip(8 if self.dm4 else 0)
        if self.handle.read(4) != b"%%%%":
            raise self._damaged("no %%%% delimiter")
        info, code = self._int(), self._int()
        image_data = self.groups[-1] == b"ImageData"
        skip = image_data and name == b"Data"
        values = self.size if skip else DM_MAX_VALUES
        if info == 1:
            self._simple_value(code, name)
        elif info == 2 and code == DM_STRING:
            self._skip(self._count("a string", 1, self.size if skip else DM_MAX_STRING))
        elif info == 3 and code == DM_ARRAY:
            item = self._bytes(self._int())
            count = self._count("an array", item, values)
            self._skip(count * item)
            if skip:
                self.image["bytes"] = count * item
        elif info > 3 and code == DM_STRUCT:
            self._skip(self._struct_bytes())
        elif info > 3 and code == DM_ARRAY:
            self._skip(self._complex_array(values, skip))
        else:
            raise self._damaged(f"data tag of info size {info} and type {code}")

    def _simple_value(self, code: int, name: bytes) -> None:
        """Skip one value, or keep it when it describes the current image."""
        self._bytes(code)
        value = _read_exactly(self.handle, self.handle.tell(), self.order + DM_SIMPLE[code], 1,
                              self.path, "a DM tag")[0]
        if self.groups[-1] == b"ImageData" and name in (b"DataType", b"PixelDepth"):
            self.image[name.decode()] = int(value)
        elif self.groups[-2:] == [b"ImageData", b"Dimensions"]:
            self.image["dims"].append(int(value))

    def _check_image(self, image: dict) -> None:
        """An image's dimensions and pixel depth against the bytes stored for it (RosettaSciIO
        maps the data by the dimensions: huge ones would take minutes to map)."""
        dims, depth, stored = image["dims"], image.get("PixelDepth"), image.get("bytes")
        if not dims or depth is None or stored is None or image.get("DataType") in DM_PACKED_OR_RGB:
            return
        if min(dims) < 0 or math.prod(dims) * depth != stored:
            raise ReadError(
                f"'{self.path}' is damaged: an image's dimensions {' x '.join(map(str, dims))} of "
                f"{depth}-byte values disagree with the {stored:,} bytes stored for it."
            )

    def _bytes(self, code: int) -> int:
        """Bytes of one value of simple type ``code``."""
        if code not in DM_SIMPLE:
            raise self._damaged(f"value type {code}")
        return np.dtype(DM_SIMPLE[code]).itemsize

    def _struct_bytes(self) -> int:
        """Bytes of one struct, from its definition (a count, then a type per field)."""
        self._skip(self.word_size)
        total = 0
        for _ in range(self._count("a struct", 2 * self.word_size, DM_MAX_FIELDS)):
            self._skip(self.word_size)
            total += self._bytes(self._int())
        return total

    def _complex_array(self, values: int, skip: bool) -> int:
        """Bytes of an array of structs, strings or arrays (of which RosettaSciIO reads as many
        inner values as the array has elements)."""
        element = self._int()
        if element == DM_STRUCT:
            item = self._struct_bytes()
        elif element == DM_STRING:
            item = self._count("a string", 1, self.size if skip else DM_MAX_STRING)
        elif element == DM_ARRAY:
            item = self._bytes(self._int())
            self._skip(self.word_size)  # the inner length, which RosettaSciIO does not use
        else:
            raise self._damaged(f"array of type {element}")
        return self._count("an array", item, values) * item


# --- TIA .ser: series header, dimension array, offset array, one data element per frame -------

SER_HEADER = np.dtype([("byte_order", "<u2"), ("series_id", "<u2"), ("version", "<u2"),
                       ("data_type", "<u4"), ("tag_type", "<u4"), ("total", "<u4"), ("valid", "<u4")])
SER_DIMENSION = np.dtype([("size", "<u4"), ("offset", "<f8"), ("delta", "<f8"),
                          ("element", "<u4"), ("description_length", "<u4")])
SER_IMAGE = np.dtype([("calibration", "V40"), ("dtype", "<u2"), ("x", "<u4"), ("y", "<u4")])
SER_SPECTRUM = np.dtype([("calibration", "V20"), ("dtype", "<u2"), ("length", "<u4")])
SER_DTYPES = {1: "<u1", 2: "<u2", 3: "<u4", 4: "<i1", 5: "<i2", 6: "<i4", 7: "<f4", 8: "<f8",
              9: "<c8", 10: "<c16"}
SER_SPECTRUM_ID = 0x4120


def _check_ser(path: Path, size: int) -> None:
    """Element counts, dimensions, offsets and frame size of a TIA series against the file.

    RosettaSciIO reads a whole series at once (padding a stopped map to its declared size), so
    the whole series must fit the frame budget.
    """
    with open(path, "rb") as handle:
        header = _read_exactly(handle, 0, SER_HEADER, 1, path, "the SER header")[0]
        if (int(header["byte_order"]), int(header["series_id"])) != (0x4949, 0x0197):
            raise ReadError(f"'{path}' is not a TIA series file (.ser): wrong byte-order mark "
                            "or series id; it may be of another format.")
        wide = int(header["version"]) > 0x210
        offset_type = "<u8" if wide else "<u4"
        place = _read_exactly(handle, 22, [("array", offset_type), ("ndim", "<u4")], 1, path,
                              "the SER header")[0]
        total, valid = int(header["total"]), int(header["valid"])
        if not 1 <= valid <= total:
            raise ReadError(f"'{path}': the SER header declares {valid} valid of {total} "
                            "elements; there is nothing to read or the header is damaged.")
        dims = _ser_dimensions(handle, 34 if wide else 30, int(place["ndim"]), path)
        offsets = _read_exactly(handle, int(place["array"]), offset_type, valid, path,
                                f"the SER offset array of {valid} elements")
        frame_shape, dtype, element_bytes = _ser_element(
            handle, int(offsets[0]), int(header["data_type"]) == SER_SPECTRUM_ID, path)
    require_within(path, f"the last of {valid} SER data elements", int(offsets.max()) + element_bytes, size)
    declared = math.prod(dims) if dims else valid
    refuse_large_frame(path, f"the SER series ({max(declared, valid)} elements, read at once)",
                  (max(declared, valid), *frame_shape), dtype)
    if valid < declared:
        warnings.warn(
            f"'{path}': the acquisition stopped after {valid} of {declared} elements; the missing "
            "ones are left out of a series or filled with zeros (NaN for floats) in a map.",
            MetadataWarning, stacklevel=4,
        )


def _ser_dimensions(handle, offset: int, ndim: int, path: Path) -> list[int]:
    """Sizes of the series dimensions (each with a description and a unit string)."""
    if ndim > MAX_SER_DIMENSIONS:
        raise ReadError(f"'{path}': the SER header declares {ndim} dimensions; the header is damaged.")
    sizes = []
    for _ in range(ndim):
        dim = _read_exactly(handle, offset, SER_DIMENSION, 1, path, "the SER dimension array")[0]
        offset += SER_DIMENSION.itemsize + int(dim["description_length"])
        units = int(_read_exactly(handle, offset, "<u4", 1, path, "the SER dimension array")[0])
        offset += 4 + units
        sizes.append(int(dim["size"]))
    return sizes


def _ser_element(handle, offset: int, spectrum: bool, path: Path) -> tuple[tuple[int, ...], np.dtype, int]:
    """(frame shape, dtype, bytes up to the end of the pixels) of the data element at ``offset``."""
    layout = SER_SPECTRUM if spectrum else SER_IMAGE
    element = _read_exactly(handle, offset, layout, 1, path, "the first SER data element")[0]
    code = int(element["dtype"])
    if code not in SER_DTYPES:
        raise ReadError(f"'{path}': SER data type {code} is unknown; the file is damaged.")
    shape = (int(element["length"]),) if spectrum else (int(element["y"]), int(element["x"]))
    dtype = np.dtype(SER_DTYPES[code])
    return shape, dtype, layout.itemsize + math.prod(shape) * dtype.itemsize


def _check_emi(path: Path, size: int) -> None:
    """An .emi is metadata read whole: refuse a huge one; check the .ser files read with it."""
    if size > EMI_LIMIT:
        raise ReadError(
            f"'{path}' is {format_bytes(size)}, but a TIA .emi file holds only metadata (usually under "
            f"1 MiB) and is read whole; it is damaged or not an .emi. Open the _1.ser file beside it."
        )
    for series in sorted(path.parent.glob(f"{glob.escape(path.stem)}_[0-9].ser")):
        _check_ser(series, regular_file_size(series))


# --- HDF5 (.emd, .hspy, .hdf5): checked in a child process; image datasets stored whole ------

HDF5_PROBE_CPU_SECONDS = 4  # CPU time the child may spend (a loop in HDF5 burns CPU)
HDF5_PROBE_WALL_SECONDS = 60.0  # wall time, generous: the machine may be busy
HDF5_PROBE_TEXT_VALUES = 100_000  # text datasets up to this many values are read whole
HDF5_PROBE_MEMORY = 4 << 30  # bytes of address space for the child


def _check_hdf5(path: Path, size: int) -> None:
    """Run :func:`_probe_hdf5` in a child process and raise or warn with what it reports.

    The HDF5 C library can loop forever or crash on damaged metadata (a zeroed global heap of
    variable-length strings, for instance); no exception reaches Python then, so the file is
    first parsed by a child process that may hang or die without harm. Its CPU time is limited
    to :data:`HDF5_PROBE_CPU_SECONDS` (the kernel stops it, however busy the machine is). It
    costs a fraction of a second per file.
    """
    search_path = [str(Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, search_path))}
    command = [sys.executable, "-c", "from tem_denoise.io.headers import _probe_main; _probe_main()",
               str(path), str(size)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, env=env,
                              timeout=HDF5_PROBE_WALL_SECONDS)
    except subprocess.TimeoutExpired as exc:
        raise ReadError(f"'{path}': the HDF5 library did not finish parsing the file's metadata "
                        f"within {HDF5_PROBE_WALL_SECONDS:g} s; the file is damaged.") from exc
    if done.returncode == -signal.SIGXCPU:
        raise ReadError(f"'{path}': the HDF5 library spent over {HDF5_PROBE_CPU_SECONDS} s parsing "
                        "the file's metadata (an endless loop on damaged metadata); the file is "
                        "damaged.")
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise ReadError(
            f"'{path}': the HDF5 library failed while parsing the file's metadata (exit status "
            f"{done.returncode}); the file is damaged. {done.stderr.strip()[-200:]}"
        )
    try:
        report = json.loads(lines[-1])
    except ValueError as exc:
        raise ReadError(f"'{path}': the HDF5 metadata check gave no readable answer ({lines[-1][:80]!r}); "
                        "the file may be damaged.") from exc
    if "refused" in report:
        raise ReadError(report["refused"])
    if "failed" in report:
        raise OSError(report["failed"])
    for message in report["warnings"]:
        warnings.warn(message, MetadataWarning, stacklevel=4)


def _probe_main() -> None:
    """Child process entry: probe ``sys.argv[1]`` (of ``sys.argv[2]`` bytes), print a JSON line:
    ``{"refused": message}`` (a ReadError), ``{"failed": message}`` (any other exception) or
    ``{}``, each with the ``warnings`` (MetadataWarning messages) it emitted."""
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (HDF5_PROBE_MEMORY, HDF5_PROBE_MEMORY))
        resource.setrlimit(resource.RLIMIT_CPU, (HDF5_PROBE_CPU_SECONDS, HDF5_PROBE_CPU_SECONDS + 1))
    except (ImportError, ValueError, OSError):  # no such limits on this platform
        pass
    path, size = Path(sys.argv[1]), int(sys.argv[2])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            _probe_hdf5(path, size)
            report: dict[str, object] = {}
        except ReadError as exc:
            report = {"refused": str(exc)}
        except Exception as exc:  # noqa: BLE001 - reported to the parent, which refuses the file
            report = {"failed": str(exc) or type(exc).__name__}
    report["warnings"] = [str(w.message) for w in caught if issubclass(w.category, MetadataWarning)]
    print(json.dumps(report))


def _probe_hdf5(path: Path, size: int) -> None:
    """Touch what RosettaSciIO will: every attribute, every text dataset and one value of every
    numeric dataset; check the image datasets (named ``Data`` or ``data``) with
    :func:`_check_dataset`."""
    import h5py

    with h5py.File(path, "r") as f:
        objects = [f]
        f.visititems(lambda _, obj: objects.append(obj))
        for obj in objects:
            for name in obj.attrs:
                obj.attrs[name]
            if not isinstance(obj, h5py.Dataset) or obj.shape is None or 0 in obj.shape:
                continue  # groups, empty (null dataspace) and zero-size datasets
            if obj.name.rsplit("/", 1)[-1].lower() == "data" and obj.ndim in (2, 3) \
                    and obj.dtype.kind in "uifc":
                _check_dataset(path, obj, size)
            if _is_text(obj.dtype) and obj.size <= HDF5_PROBE_TEXT_VALUES:
                obj[()]
            else:
                obj[(-1,) * obj.ndim]


def _is_text(dtype: np.dtype) -> bool:
    """True for strings, variable-length and object values (kept in the HDF5 global heap)."""
    import h5py

    return dtype.kind in "OSU" or h5py.check_vlen_dtype(dtype) is not None


def _check_dataset(path: Path, dataset, size: int) -> None:
    """One dataset: frame size (its two largest axes), then its stored data.

    Storage HDF5 never wrote reads as the fill value (zeros). When the declared data could not
    even fit in the file this is refused (a damaged header or a truncated file); otherwise it is
    opened with a :class:`MetadataWarning` (an acquisition that stopped early, a stripped file).
    """
    import h5py

    shape = tuple(int(n) for n in dataset.shape)
    declared = math.prod(shape) * dataset.dtype.itemsize
    if declared == 0 or dataset.external:
        return
    what = f"dataset '{dataset.name}' (shape {shape})"
    refuse_large_frame(path, what, tuple(sorted(shape)[-2:]), dataset.dtype)
    layout = dataset.id.get_create_plist().get_layout()
    missing = None
    if layout == h5py.h5d.CONTIGUOUS:
        offset, stored = dataset.id.get_offset(), dataset.id.get_storage_size()
        if offset is None or stored < declared:
            missing = f"only {format_bytes(stored)} of its {format_bytes(declared)} of pixel data stored"
        else:
            require_within(path, what, offset + declared, size)
    elif layout == h5py.h5d.CHUNKED:
        expected = math.prod(math.ceil(n / c) for n, c in zip(shape, dataset.chunks, strict=True))
        stored = dataset.id.get_num_chunks()
        if stored < expected:
            missing = f"only {stored:,} of its {expected:,} chunks of pixel data stored"
    if missing is None:
        return
    if declared > size:
        raise ReadError(
            f"'{path}' is incomplete: {what} declares {format_bytes(declared)} of pixels, more than the "
            f"whole file ({format_bytes(size)}), and has {missing}. The file is truncated or its header "
            "is damaged; copy it again."
        )
    warnings.warn(f"'{path}': {what} has {missing}; the missing part reads as zeros.",
                  MetadataWarning, stacklevel=2)


# --- TIFF: every page's declared frame and strips ---------------------------------------------


class _LogRecords(logging.Handler):
    """Collects the messages a library logs (tifffile logs damage instead of raising)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _check_tiff(path: Path, size: int) -> dict:
    """Walk the pages (at most :data:`PAGE_SCAN_SECONDS`): frame sizes and strip positions.

    Damage that tifffile reports and works around (a broken page chain, unreadable tags,
    ImageJ metadata that does not fit the file), and a single page that covers less than half
    of the file, are passed on as a :class:`MetadataWarning`: what opens may then be less than
    the file once held. Returns the reader options of :func:`_series_options`.
    """
    import tifffile

    records = _LogRecords()
    logger = logging.getLogger("tifffile")
    logger.addHandler(records)
    try:
        with tifffile.TiffFile(path) as tif:
            if _walk_pages(path, tif, size) == 1:
                _warn_unreferenced(path, tif, size)
            options = _series_options(path, tif)
    finally:
        logger.removeHandler(records)
    if records.messages:
        shown = "; ".join(dict.fromkeys(m[:160] for m in records.messages))
        warnings.warn(
            f"'{path}': tifffile reports damage ({shown}); what opens may be incomplete.",
            MetadataWarning, stacklevel=4,
        )
    return options


def _series_options(path: Path, tif) -> dict:
    """Build the series RosettaSciIO will read. When a damaged ImageJ description keeps tifffile
    from building them (e.g. ``images=abc``), the pages are read as a plain TIFF instead
    (reader option ``is_imagej=False``), with a :class:`MetadataWarning`."""
    import tifffile

    try:
        tif.series  # noqa: B018 - a cached property: building it is the check
        return {}
    except Exception:  # noqa: BLE001 - tifffile fails in many ways on damaged descriptions
        if not tif.is_imagej:
            raise
    with tifffile.TiffFile(path, is_imagej=False) as plain:
        plain.series  # noqa: B018
    warnings.warn(f"'{path}': ignored its damaged ImageJ description; the pages are read as a "
                  "plain TIFF.", MetadataWarning, stacklevel=5)
    return {"is_imagej": False}


def _warn_unreferenced(path: Path, tif, size: int) -> None:
    """Warn when a file's only page (header, IFD, tag values and strips) covers under half of
    it: a damaged header may have cut the chain of pages, leaving frames unseen."""
    page = tif.pages.first
    structure = 2 * tif.tiff.offsetsize + tif.tiff.tagnosize + len(page.tags) * tif.tiff.tagsize
    covered = structure + sum(page.databytecounts) + sum(tag.valuebytecount for tag in page.tags)
    if covered < size / 2:
        warnings.warn(
            f"'{path}': its only page covers {covered:,} of its {size:,} bytes; a damaged header "
            "may have cut the chain of pages, and the file may hold more frames than open.",
            MetadataWarning, stacklevel=5,
        )


def _walk_pages(path: Path, tif, size: int) -> int:
    """Every page as a light tifffile frame (its strips, the shape of the last full page read),
    or as a full page when it differs from that one, as tifffile itself reads series. Returns
    the number of pages."""
    start, budget = time.monotonic(), frame_budget()
    tif.pages.useframes = True
    count = len(tif.pages)  # follows the IFD offsets only; tifffile stops at loops
    for index in range(count):
        if time.monotonic() - start > PAGE_SCAN_SECONDS:
            raise ReadError(
                f"'{path}': walking its chain of TIFF pages took over {PAGE_SCAN_SECONDS:g} s "
                f"({index} pages so far); the page chain is probably damaged."
            )
        try:
            page = tif.pages[index]
        except RuntimeError:  # "incompatible keyframe": this page differs from the previous ones
            tif.pages.set_keyframe(index)
            page = tif.pages.keyframe
        _check_tiff_page(path, page, index, size, budget)
    return count


def _check_tiff_page(path: Path, page, index: int, size: int, budget: int) -> None:
    """One page: its decoded size (a page is decoded whole) and where its strips end."""
    if page.dtype is None or not page.shape:
        return
    what = f"TIFF page {index}"
    refuse_large_frame(path, what, tuple(page.shape), page.dtype, budget)
    ends = [o + c for o, c in zip(page.dataoffsets, page.databytecounts, strict=True) if c]
    if ends:
        require_within(path, f"the pixel data of {what}", max(ends), size)


CHECKS = {
    ".mrc": _check_mrc,
    ".mrcs": _check_mrc,
    ".dm3": _check_dm,
    ".dm4": _check_dm,
    ".ser": _check_ser,
    ".emi": _check_emi,
    ".emd": _check_hdf5,
    ".hspy": _check_hdf5,
    ".hdf5": _check_hdf5,
    ".tif": _check_tiff,
    ".tiff": _check_tiff,
}


def check_dm_image(path: Path, metadata: dict, shape: tuple[int, ...], dtype: np.dtype) -> None:
    """After parsing: refuse a DM image whose dimensions and data type disagree with the bytes
    stored for it (a damaged ``Dimensions`` tag would otherwise crop or reshape it silently).
    ``metadata`` is RosettaSciIO's original metadata of that image."""
    image = metadata.get("ImageList", {}).get("TagGroup0", {}).get("ImageData", {})
    stored = image.get("Data", {}).get("size_bytes") if isinstance(image.get("Data"), dict) else None
    if stored is None or image.get("DataType") in DM_PACKED_OR_RGB:
        return
    nbytes = math.prod(int(n) for n in shape) * np.dtype(dtype).itemsize
    if nbytes != stored:
        raise ReadError(
            f"'{path}' is damaged: its image dimensions and data type ({' x '.join(map(str, shape))} "
            f"{np.dtype(dtype).name}, {nbytes:,} bytes) disagree with the {stored:,} bytes stored "
            "for the image."
        )


def check_data_size(path: Path, shape: tuple[int, ...], dtype: np.dtype, size: int) -> None:
    """After parsing: refuse uncompressed data of ``shape`` that cannot fit in ``size`` bytes."""
    nbytes = math.prod(int(n) for n in shape) * np.dtype(dtype).itemsize
    if nbytes > size:
        raise ReadError(
            f"'{path}' is incomplete: its header declares {' x '.join(map(str, shape))} "
            f"{np.dtype(dtype).name} values ({format_bytes(nbytes)}) but the whole file has only "
            f"{format_bytes(size)}. The file is truncated or its header is damaged; copy it again."
        )
