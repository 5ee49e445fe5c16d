"""Fuzz the readers: damaged, crafted and special input files must open whole or fail cleanly.

Every case is one input file made from a *source* by one *mutation*. Sources are real
instrument files (hyperspy and temul-toolkit test data, fetched from PyPI wheels at run time by
``tests/realdata.py``, never committed) and the project's own outputs (small 2D and 3D uint16 and
float32 stacks written by ``io.write``, MRC files written with ``mrcfile``, a zlib-compressed
TIFF of 400 MiB of zeros). Mutations:

truncate  the first 2-99.9 % of the bytes (a copy that stopped early)
flip      1-8 random bytes changed; half of the cases hit the first 4 KiB (the header)
zero      a block of 16 B-16 KiB set to zero
craft     one header field set to a hostile value: MRC dimensions, mode and extended header;
          TIFF tags and the IFD chain; ImageJ description keys and provenance JSON; HDF5 dataset
          shapes and storage; SER element counts, offsets and frame sizes; DM image dimensions
          and data type
ext       the file under another supported extension (a .dm3 named .emd)
special   a directory named x.tif, FIFOs, a symlink loop, a dangling symlink, devices, empty
          files, an unreadable file, a 3 GiB sparse .emi, a name with spaces and accents

Each case is read in a persistent worker subprocess, first by ``napari_hooks.get_reader`` (which
must return None or a callable) and then by ``io.read_all`` with every frame read, under a
per-case timeout; a worker that times out or dies is killed and replaced. The worker reads with
``TEM_DENOISE_MAX_FRAME_BYTES`` = 256 MiB and a 4 GiB address-space limit, so a reader that
allocates what a header declares fails here instead of swapping. Outcomes:

ok                 opened with the shapes of the undamaged source, every frame readable
read_error         a clean ``io.ReadError`` that names the file
flagged            opened with other shapes, with a tem_denoise warning saying why
generic_exception  any other exception (also while reading frames after opening), or
                   ``get_reader`` raising or returning something that is not callable
unclear_error      an ``io.ReadError`` whose message does not name the file
silent_misread     opened with other shapes and no warning
hang               no answer within the timeout
crash              the worker died (signal, out of memory)

The last five are failures, and so is ``flagged`` for truncations (a truncated file must open
whole or not at all). The timeout is generous (30 s) because the machine may be shared; cases
slower than 2 s are listed. Usage::

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/fuzz_inputs.py --cases 2400 --seed 0

It prints the tally by outcome and by mutation kind, lists the failing and the slow cases and
exits with status 1 when any case failed. About 5 minutes for 2,400 cases on 2 busy cores.

Known limit: a changed byte that the format protects by no checksum can turn a file into
another valid file. Seed 1 has one such case: a flipped letter in the group name
``4DSTEM_simulation`` of an NCEM file makes RosettaSciIO open its slices one by one
(``silent_misread``); no reader can tell.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FRAME_BUDGET = 256 << 20  # bytes; TEM_DENOISE_MAX_FRAME_BYTES in the worker
ADDRESS_SPACE = 4 << 30  # bytes; RLIMIT_AS of the worker
FAILURES = ("generic_exception", "unclear_error", "silent_misread", "hang", "crash")
EXTENSIONS = (".emd", ".dm3", ".dm4", ".ser", ".emi", ".mrc", ".tif")
TRUNCATIONS = (0.02, 0.1, 0.3, 0.5, 0.7, 0.9, 0.97, 0.99, 0.999)

REAL_IMAGES = (
    "velox_haadf", "velox_ceta", "velox_stack", "velox_dpc", "ncem_multi", "dm3_stem",
    "dm4_image", "mos2_dm3", "au_haadf", "ser_image", "ser_stack", "tif_imagej",
    "tif_imagej_stack",
)
REAL_REFUSED = (
    "velox_si", "velox_fft", "ncem_4d", "dm3_spectrum", "dm4_eels_si", "ser_spectrum_image",
    "tif_rgb",
)
EMI_OF = {"ser_image": "ser_image.emi", "ser_stack": "ser_stack.emi"}


# ---------------------------------------------------------------------------------------------
# Sources


@dataclass(frozen=True)
class Source:
    """An input file: its main file's bytes and extension, and companions (``.emi`` + ``_1.ser``)."""

    name: str
    suffix: str
    data: bytes
    companions: tuple[tuple[str, bytes], ...] = ()


def own_sources(folder: Path) -> dict[str, Source]:
    """The project's own outputs: ``io.write`` of small stacks, MRC files and a zlib TIFF bomb."""
    from tem_denoise import io

    rng = np.random.default_rng(7)
    stacks = {
        "own_3d_f32": io.Stack.from_array(rng.normal(100, 10, (6, 48, 40)).astype(np.float32),
                                          pixel_size=0.05, frame_interval=0.2, modality="HRTEM"),
        "own_3d_u16": io.Stack.from_array(rng.integers(0, 4000, (5, 32, 32), dtype=np.uint16),
                                          pixel_size=0.1),
        "own_2d_f32": io.Stack.from_array(rng.normal(0, 1, (64, 48)).astype(np.float32),
                                          pixel_size=0.02),
        "own_2d_u16": io.Stack.from_array(rng.integers(0, 60000, (40, 56), dtype=np.uint16)),
    }
    sources = {}
    for name, stack in stacks.items():
        path = io.write(stack, folder / f"{name}.tif")
        sources[name] = Source(name, ".tif", path.read_bytes())
    sources.update(_mrc_sources(folder, rng))
    sources["tif_zlib_bomb"] = Source("tif_zlib_bomb", ".tif", _zlib_bomb(folder / "bomb.tif"))
    return sources


def _mrc_sources(folder: Path, rng: np.random.Generator) -> dict[str, Source]:
    try:
        import mrcfile
    except ImportError:
        print("mrcfile is not installed: no MRC sources (pip install mrcfile)", file=sys.stderr)
        return {}
    sources = {}
    for name, data in {
        "mrc_3d_f32": rng.normal(0, 1, (5, 32, 24)).astype(np.float32),
        "mrc_2d_i16": rng.integers(-500, 500, (48, 40), dtype=np.int16),
    }.items():
        path = folder / f"{name}.mrc"
        with mrcfile.new(path, overwrite=True) as mrc:
            mrc.set_data(data)
            mrc.voxel_size = 1.5  # Angstrom
        sources[name] = Source(name, ".mrc", path.read_bytes())
    return sources


def _zlib_bomb(path: Path) -> bytes:
    """A 20480 x 20480 uint8 frame of zeros (400 MiB) in zlib tiles: about 400 KB on disk."""
    import tifffile

    tile = np.zeros((1024, 1024), np.uint8)
    tifffile.imwrite(path, data=(tile for _ in range(400)), shape=(20480, 20480), dtype=np.uint8,
                     tile=(1024, 1024), compression="zlib")
    return path.read_bytes()


def real_sources(keys: Iterable[str]) -> dict[str, Source]:
    """Real instrument files by ``tests/realdata.py`` key (fetched when needed); a ``.ser`` key
    also gives a ``<key>.emi`` source (the .emi with the .ser beside it)."""
    sys.path.insert(0, str(ROOT / "tests"))
    import realdata

    sources = {}
    for key in keys:
        try:
            path = realdata.real_file(key)
        except (Exception, realdata.pytest.skip.Exception) as exc:  # offline: realdata skips
            print(f"skipping real file {key}: {exc}", file=sys.stderr)
            continue
        sources[key] = Source(key, path.suffix.lower(), path.read_bytes())
        if key in EMI_OF:
            emi = realdata.cache_dir() / "files" / realdata.COMPANIONS[key]
            sources[EMI_OF[key]] = Source(EMI_OF[key], ".emi", emi.read_bytes(),
                                          (("_1.ser", path.read_bytes()),))
    return sources


# ---------------------------------------------------------------------------------------------
# Cases


@dataclass(frozen=True)
class Case:
    """One fuzz input: ``source`` changed by a mutation of ``kind`` with ``params``."""

    id: int
    source: str
    kind: str
    params: tuple = ()

    def describe(self) -> str:
        return f"#{self.id} {self.source} {self.kind} {dict(self.params) if self.params else ''}".strip()


MRC_CRAFTS = [
    (field_, value)
    for field_, values in {
        "nx": (0, 1, 65536, 100_000, 2**31 - 1, 2**32 - 1),
        "ny": (0, 100_000, 2**31 - 1),
        "nz": (0, 3, 100_000, 2**31 - 1, 2**32 - 1),
        "mode": (3, 5, 7, 101, 2**31),
        "next": (4, 131072, 2**31 - 1, 2**32 - 1),
    }.items()
    for value in values
]
SER_CRAFTS = [
    (field_, value)
    for field_, values in {
        "total": (0, 1, 100_000, 2**32 - 1),
        "valid": (0, 1, 100_000, 2**32 - 1),
        "offset_array": (0, 2**32 - 1),
        "ndim": (0, 100, 2**32 - 1),
        "size_x": (0, 100_000, 2**31),
        "size_y": (0, 100_000),
        "dtype": (0, 11, 65535),
        "second_offset": (2**32 - 1,),
    }.items()
    for value in values
]
TIFF_CRAFTS = [
    ("ImageWidth", 0), ("ImageWidth", 65535), ("ImageWidth", 2**31 - 1),
    ("ImageLength", 0), ("ImageLength", 100_000), ("ImageLength", 2**32 - 1),
    ("BitsPerSample", 0), ("BitsPerSample", 3), ("BitsPerSample", 128),
    ("SampleFormat", 6), ("SamplesPerPixel", 0), ("SamplesPerPixel", 4),
    ("Compression", 5), ("Compression", 7), ("Compression", 8), ("Compression", 50000),
    ("StripOffsets", 2**32 - 1), ("StripByteCounts", 0), ("StripByteCounts", 2**31),
    ("RowsPerStrip", 0), ("PhotometricInterpretation", 2),
    ("XResolution", (0, 1)), ("XResolution", (1, 0)), ("XResolution", (0, 0)),
    ("XResolution", "nan"), ("XResolution", (-5, 1)),
    ("next_ifd", "self"), ("next_ifd", "data"), ("next_ifd", "eof"), ("next_ifd", "header"),
]
IMAGEJ_CRAFTS = [
    ("images", "600000"), ("images", "3"), ("images", "abc"), ("frames", "abc"),
    ("frames", "100000"), ("slices", "7"), ("finterval", "abc"), ("finterval", "-1"),
    ("finterval", "nan"), ("unit", "5"), ("unit", "parsec"), ("unit", ""), ("spacing", "abc"),
    ("tem_denoise", "{broken"), ("tem_denoise", "[1, 2]"), ("tem_denoise", '"text"'),
    ("tem_denoise", '{"origin": 5}'), ("tem_denoise", '{"modality": 7, "origin": {"translate": '
                                                     '["a"], "units": ["s", "nm", "nm"]}}'),
    ("tem_denoise", '{"shape": "abc"}'), ("tem_denoise", '{"shape": [1, 2, 3]}'),
]
DM_CRAFTS = [
    ("Dimensions", 0), ("Dimensions", 1), ("Dimensions", "minus_one"), ("Dimensions", 100_000),
    ("Dimensions", 2**31 - 1), ("DataType", 2), ("DataType", 7), ("DataType", 99),
]
HDF5_CRAFTS = [
    ("huge_frame", "contiguous"), ("huge_frame", "chunked"), ("many_frames", "chunked"),
    ("double_frames", "chunked"), ("unwritten", "contiguous"), ("zero_size", "chunked"),
]
SPECIALS = [
    ("directory", ".tif"), ("directory", ".emd"), ("fifo", ".tif"), ("fifo", ".emd"),
    ("fifo", ".mrc"), ("fifo", ".ser"), ("symlink_loop", ".tif"), ("dangling_symlink", ".dm3"),
    ("device", ".mrc"), ("device", ".tif"), ("device", ".emd"), ("device", ".dm4"),
    ("unreadable", ".tif"), ("odd_name", ".tif"), ("sparse_emi", ".emi"),
    *(("empty", ext) for ext in (*EXTENSIONS, ".dm4", ".mrcs", ".tiff")),
]


def _crafts(source: Source) -> list[tuple]:
    """The header crafts that apply to ``source``'s format."""
    if source.suffix in (".mrc", ".mrcs"):
        return [("mrc", *c) for c in MRC_CRAFTS]
    if source.suffix == ".ser":
        return [("ser", *c) for c in SER_CRAFTS]
    if source.suffix == ".emd":
        return [("hdf5", *c) for c in HDF5_CRAFTS]
    if source.suffix in (".dm3", ".dm4"):
        return [("dm", *c) for c in DM_CRAFTS]
    if source.suffix == ".tif":
        imagej = b"ImageJ=" in source.data[:4096]
        return [("tiff", *c) for c in TIFF_CRAFTS] + (
            [("imagej", *c) for c in IMAGEJ_CRAFTS] if imagej else []
        )
    return []


def build_cases(sources: dict[str, Source], n_cases: int, seed: int, specials: bool = True) -> list[Case]:
    """Seeded cases: one pristine read per source (the reference), fixed truncations, crafts,
    other extensions and special files, then random truncations, flips and zeroed blocks until
    there are ``n_cases`` (fixed cases are sampled down to 60 % of ``n_cases`` when there are
    more)."""
    rng = random.Random(seed)
    pristine = [Case(0, name, "pristine") for name in sources]
    fixed: list[Case] = []
    for name, source in sources.items():
        fixed += [Case(0, name, "truncate", (("fraction", f),)) for f in TRUNCATIONS]
        fixed.append(Case(0, name, "truncate", (("fraction", "minus_one_byte"),)))
        fixed += [Case(0, name, "craft", (("format", c[0]), ("field", c[1]), ("value", c[2])))
                  for c in _crafts(source)]
        fixed += [Case(0, name, "ext", (("suffix", ext),)) for ext in EXTENSIONS if ext != source.suffix]
    if specials:
        donor = next(iter(sources))
        fixed += [Case(0, donor, "special", (("what", w), ("suffix", s))) for w, s in SPECIALS]
    room = max(int(0.6 * n_cases) - len(pristine), 0)
    if len(fixed) > room:
        fixed = rng.sample(fixed, room)
    randoms = []
    names = list(sources)
    while len(pristine) + len(fixed) + len(randoms) < n_cases:
        name = names[len(randoms) % len(names)]
        kind = rng.choice(("flip", "flip", "zero", "truncate"))
        if kind == "truncate":
            params = (("fraction", round(rng.uniform(0.01, 0.999), 4)),)
        else:
            params = (("seed", rng.randrange(2**31)), ("header", rng.random() < 0.5))
        randoms.append(Case(0, name, kind, params))
    ordered = pristine + fixed + randoms
    return [Case(i, c.source, c.kind, c.params) for i, c in enumerate(ordered)]


# ---------------------------------------------------------------------------------------------
# Mutations: each writes the case's files into an empty folder and returns the path to read


def materialise(case: Case, source: Source, folder: Path) -> Path:
    """Write the input of ``case`` into ``folder`` and return the path the readers get."""
    params = dict(case.params)
    if case.kind == "special":
        return _special(params["what"], params["suffix"], source, folder)
    suffix = params.get("suffix", source.suffix) if case.kind == "ext" else source.suffix
    path = folder / f"case{suffix}"
    for tail, data in source.companions:
        (folder / f"case{tail}").write_bytes(data)
    data = source.data
    if case.kind == "truncate":
        fraction = params["fraction"]
        data = data[:-1] if fraction == "minus_one_byte" else data[: int(len(data) * fraction)]
    elif case.kind in ("flip", "zero"):
        data = _damage(data, case.kind, params["seed"], params["header"])
    path.write_bytes(data)
    if case.kind == "craft":
        CRAFTERS[params["format"]](path, params["field"], params["value"])
    return path


def _damage(data: bytes, kind: str, seed: int, header: bool) -> bytes:
    """``data`` with 1-8 bytes flipped or a 16 B-16 KiB block zeroed, at seeded positions."""
    rng = np.random.default_rng(seed)
    buffer = bytearray(data)
    end = min(len(buffer), 4096) if header else len(buffer)
    if kind == "flip":
        for position in rng.integers(0, end, int(rng.integers(1, 9))):
            buffer[position] ^= int(rng.integers(1, 256))
    else:
        length = int(2 ** rng.uniform(4, 14))
        start = int(rng.integers(0, end))
        buffer[start : start + length] = bytes(len(buffer[start : start + length]))
    return bytes(buffer)


def _poke(path: Path, offset: int, fmt: str, value: int) -> None:
    """Overwrite one little-endian integer (``fmt``: numpy dtype) at ``offset`` of ``path``."""
    with open(path, "r+b") as handle:
        handle.seek(offset)
        handle.write(np.array(value).astype(fmt).tobytes())


MRC_FIELDS = {"nx": 0, "ny": 4, "nz": 8, "mode": 12, "next": 92}  # byte offsets, int32


def _craft_mrc(path: Path, name: str, value: int) -> None:
    _poke(path, MRC_FIELDS[name], "<u4", value)


def _craft_ser(path: Path, name: str, value: int) -> None:
    """Set one SER header or first-element field (see the TIA series file layout)."""
    data = path.read_bytes()
    wide = int(np.frombuffer(data, "<u2", 1, 4)[0]) > 0x210  # 8-byte offsets
    offset_fmt = "<u8" if wide else "<u4"
    array_at = int(np.frombuffer(data, offset_fmt, 1, 22)[0])
    first = int(np.frombuffer(data, offset_fmt, 1, array_at)[0])
    where = {
        "total": (14, "<u4"), "valid": (18, "<u4"), "offset_array": (22, offset_fmt),
        "ndim": (30 if wide else 26, "<u4"), "dtype": (first + 40, "<u2"),
        "size_x": (first + 42, "<u4"), "size_y": (first + 46, "<u4"),
        "second_offset": (array_at + np.dtype(offset_fmt).itemsize, offset_fmt),
    }
    _poke(path, *where[name], value)


def _craft_dm(path: Path, tag: str, value) -> None:
    """Set the first value of the last tag named ``tag`` (the main image's ``Dimensions`` group
    or ``DataType``): the 4-byte value after the tag's ``%%%%`` and its two type words."""
    data = path.read_bytes()
    word = 4 if data[3] == 3 else 8  # DM3 or DM4 counts
    at = data.index(b"%%%%", data.rindex(tag.encode())) + 4 + 2 * word
    if value == "minus_one":
        value = int(np.frombuffer(data, "<u4", 1, at)[0]) - 1
    _poke(path, at, "<u4", value)


def _craft_tiff(path: Path, name: str, value) -> None:
    """Overwrite one tag of the first page, or its next-IFD pointer, with tifffile."""
    import tifffile

    with tifffile.TiffFile(path, mode="r+") as tif:
        page = tif.pages.first
        if name == "next_ifd":
            pointer = page.offset + tif.tiff.tagnosize + len(page.tags) * tif.tiff.tagsize
            target = {"self": page.offset, "data": page.dataoffsets[0] + 2,
                      "eof": tif.filehandle.size + 1000, "header": 4}[value]
            _poke(path, pointer, tif.byteorder + tif.tiff.offsetformat[-1], target)
            return
        tag = page.tags.get(name)
        if tag is None:
            return
        if value == "nan":
            tag.overwrite(float("nan"), dtype=12)  # DOUBLE instead of RATIONAL
        elif isinstance(value, tuple) and value[0] < 0:
            tag.overwrite(value, dtype=10)  # SRATIONAL
        elif isinstance(value, tuple):
            tag.overwrite(value)
        else:
            tag.overwrite((value,) * tag.count if tag.count > 1 else value, dtype=4)


def _craft_imagej(path: Path, key: str, value: str) -> None:
    """Set (or add) ``key=value`` in the ImageJ description of the first page."""
    import tifffile

    with tifffile.TiffFile(path, mode="r+") as tif:
        tag = tif.pages.first.tags["ImageDescription"]
        lines = [line for line in tag.value.splitlines() if not line.startswith(f"{key}=")]
        tag.overwrite("\n".join([*lines, f"{key}={value}"]) + "\n")


def _craft_hdf5(path: Path, how: str, layout: str) -> None:
    """Replace the largest image dataset with one whose declared shape or storage is hostile."""
    import h5py

    with h5py.File(path, "r+") as f:
        target = _largest_image_dataset(f)
        if target is None:
            return
        velox = "Data/Image" in f
        frame_axis = -1 if velox else 0
        data, attrs, parent, name = target[()], dict(target.attrs), target.parent, target.name
        shape = list(data.shape)
        spatial = [i for i in range(len(shape)) if i != frame_axis % len(shape)][-2:]
        if how == "huge_frame":
            for i in spatial:
                shape[i] *= 2000
        elif how == "many_frames":
            shape[frame_axis] = 100_000
        elif how == "double_frames":
            shape[frame_axis] *= 2
        elif how == "zero_size":
            shape[spatial[0]] = 0
        del f[name]
        chunks = None
        if layout == "chunked":
            chunks = tuple(max(1, min(s, d)) for s, d in zip(shape, data.shape, strict=True))
        maxshape = tuple(None for _ in shape) if how == "zero_size" else None
        new = parent.create_dataset(name, shape=tuple(shape), dtype=data.dtype, chunks=chunks,
                                    maxshape=maxshape)
        if how in ("many_frames", "double_frames"):
            new[tuple(slice(0, s) for s in data.shape)] = data
        for key, value in attrs.items():
            new.attrs[key] = value


def _largest_image_dataset(f):
    """The largest real-valued dataset of 2 or 3 dimensions named Data or data."""
    found = []
    f.visititems(lambda name, obj: found.append(obj) if getattr(obj, "ndim", 0) in (2, 3)
                 and name.rsplit("/", 1)[-1].lower() == "data" and obj.dtype.kind in "uif" else None)
    return max(found, key=lambda d: d.size, default=None)


CRAFTERS: dict[str, Callable] = {
    "mrc": _craft_mrc, "ser": _craft_ser, "tiff": _craft_tiff, "imagej": _craft_imagej,
    "hdf5": _craft_hdf5, "dm": _craft_dm,
}


def _special(what: str, suffix: str, source: Source, folder: Path) -> Path:
    """Special paths: directories, FIFOs, links, devices, empty or unreadable files."""
    path = folder / f"case{suffix}"
    if what == "directory":
        path.mkdir()
    elif what == "fifo":
        os.mkfifo(path)
    elif what == "symlink_loop":
        os.symlink(folder / f"other{suffix}", path)
        os.symlink(path, folder / f"other{suffix}")
    elif what == "dangling_symlink":
        os.symlink(folder / f"missing{suffix}", path)
    elif what == "device":
        devices = {".mrc": "/dev/zero", ".tif": "/dev/null", ".emd": "/dev/urandom"}
        os.symlink(devices.get(suffix, "/dev/full"), path)
    elif what == "empty":
        path.touch()
    elif what == "unreadable":
        path.write_bytes(source.data)
        path.chmod(0)
    elif what == "odd_name":
        path = folder / f"a file ü{source.suffix}"
        path.write_bytes(source.data)
    elif what == "sparse_emi":
        path.write_bytes(b"<ObjectInfo>" * 100)
        os.truncate(path, 3 << 30)
        (folder / "case_1.ser").write_bytes(source.data[:1000])
    return path


# ---------------------------------------------------------------------------------------------
# The worker: reads one path per request, in its own process


def _worker_main() -> None:
    """Answer one JSON line per request line on stdin; stray output goes to stderr."""
    import resource
    import warnings

    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # stray output and tifffile's log go to stderr, which is discarded
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))
    from tem_denoise import io
    from tem_denoise.napari_hooks import get_reader

    protocol.write('{"ready": true}\n')
    for line in sys.stdin:
        path = json.loads(line)["path"]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            answer = {"reader": _try_get_reader(get_reader, path), **_try_read(io, path)}
        answer["warnings"] = sorted({
            w.category.__name__ for w in caught
            if w.category.__module__.startswith("tem_denoise") and "NonFinite" not in w.category.__name__
        })
        protocol.write(json.dumps(answer) + "\n")


def _try_get_reader(get_reader, path: str) -> str:
    try:
        reader = get_reader(path)
    except Exception as exc:  # noqa: BLE001 - any exception is the finding
        return f"raised {type(exc).__name__}: {exc}"
    return "none" if reader is None else "callable" if callable(reader) else f"returned {type(reader)}"


def _try_read(io, path: str) -> dict:
    try:
        stacks = io.read_all(path)
    except io.ReadError as exc:
        return {"error": "ReadError", "message": str(exc)}
    except Exception as exc:  # noqa: BLE001 - any other exception is the finding
        return {"error": type(exc).__name__, "message": str(exc)[:500]}
    try:
        for stack in stacks:
            np.asarray(stack.data)
    except Exception as exc:  # noqa: BLE001
        return {"error": type(exc).__name__, "message": f"after opening: {str(exc)[:500]}"}
    return {"shapes": [list(stack.shape) for stack in stacks]}


class Worker:
    """A persistent reader subprocess with a per-request timeout; replaced when it hangs or dies."""

    def __init__(self) -> None:
        self.env = {**os.environ, "TEM_DENOISE_MAX_FRAME_BYTES": str(FRAME_BUDGET), "OMP_NUM_THREADS": "1"}
        self.process: subprocess.Popen | None = None

    def _start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--worker"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            env=self.env, start_new_session=True,
        )
        if self._read_line(120) is None:
            raise RuntimeError("the fuzz worker did not start within 120 s")

    def _read_line(self, timeout: float) -> bytes | None:
        """One line from the worker, None on timeout; raises EOFError when it died."""
        fd, buffer = self.process.stdout.fileno(), b""
        deadline = time.monotonic() + timeout
        while not buffer.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return None
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                raise EOFError
            buffer += chunk
        return buffer

    def read(self, path: Path, timeout: float) -> dict:
        """The worker's answer for ``path``, or ``{"hang": ...}`` / ``{"crash": ...}``."""
        if self.process is None:
            self._start()
        try:
            self.process.stdin.write(json.dumps({"path": str(path)}).encode() + b"\n")
            self.process.stdin.flush()
            line = self._read_line(timeout)
        except (EOFError, BrokenPipeError):
            code = self.process.wait()
            self.process = None
            return {"crash": f"worker died with status {code}"}
        if line is None:
            self.stop()
            return {"hang": f"no answer within {timeout:g} s"}
        return json.loads(line)

    def stop(self) -> None:
        if self.process is not None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait()
            self.process = None


# ---------------------------------------------------------------------------------------------
# Running and classifying


@dataclass
class Result:
    """The outcome of one case, a detail (the message or the shapes) and its duration in s."""

    case: Case
    outcome: str
    detail: str = ""
    seconds: float = 0.0

    @property
    def failed(self) -> bool:
        return self.outcome in FAILURES or (self.outcome == "flagged" and self.case.kind == "truncate")


def classify(answer: dict, path: Path, reference: list | None) -> tuple[str, str]:
    """(outcome, detail) of one worker answer; ``reference`` is the undamaged source's shapes."""
    if "hang" in answer or "crash" in answer:
        return next(iter(answer)), next(iter(answer.values()))
    if answer["reader"] not in ("none", "callable"):
        return "generic_exception", f"get_reader {answer['reader']}"
    if "error" in answer:
        message = answer["message"]
        if answer["error"] != "ReadError":
            return "generic_exception", f"{answer['error']}: {message}"
        named = path.name in message or str(path) in message
        return ("read_error" if named else "unclear_error"), message
    if answer["shapes"] == reference:
        return "ok", ""
    detail = f"shapes {answer['shapes']} instead of {reference}"
    if answer["warnings"]:
        return "flagged", f"{detail}; warned {answer['warnings']}"
    return "silent_misread", detail


def run_cases(cases: list[Case], sources: dict[str, Source], timeout: float,
              progress: bool = False) -> list[Result]:
    """Run every case in a worker; pristine cases first give each source's reference shapes."""
    worker, results, references = Worker(), [], {}
    with tempfile.TemporaryDirectory(prefix="tem-fuzz-") as root:
        try:
            for number, case in enumerate(cases):
                folder = Path(root) / f"{case.id:05d}"
                folder.mkdir()
                path = materialise(case, sources[case.source], folder)
                start = time.monotonic()
                answer = worker.read(path, timeout)
                seconds = time.monotonic() - start
                if case.kind == "pristine":
                    references[case.source] = answer.get("shapes")
                outcome, detail = classify(answer, path, references.get(case.source))
                results.append(Result(case, outcome, detail, seconds))
                _remove(folder)
                if progress and number % 100 == 99:
                    print(f"  {number + 1}/{len(cases)} cases", file=sys.stderr, flush=True)
        finally:
            worker.stop()
    return results


def _remove(folder: Path) -> None:
    for child in folder.iterdir():
        if not child.is_symlink():
            child.chmod(0o700)
    shutil.rmtree(folder)


def report(results: list[Result], slow: float = 2.0) -> str:
    """The tally by outcome and by mutation kind, the failures and the slow cases."""
    outcomes = collections.Counter(r.outcome for r in results)
    lines = [f"{len(results)} cases", "by outcome:"]
    lines += [f"  {name:18s} {count}" for name, count in outcomes.most_common()]
    lines.append("by mutation kind (outcome: count):")
    for kind in dict.fromkeys(r.case.kind for r in results):
        counts = collections.Counter(r.outcome for r in results if r.case.kind == kind)
        lines.append(f"  {kind:9s} " + ", ".join(f"{o}: {n}" for o, n in counts.most_common()))
    failed = [r for r in results if r.failed]
    lines.append(f"failures: {len(failed)}")
    lines += [f"  {r.outcome}: {r.case.describe()}: {r.detail[:300]}" for r in failed]
    slowest = sorted((r for r in results if r.seconds > slow), key=lambda r: -r.seconds)
    lines.append(f"cases slower than {slow:g} s: {len(slowest)}")
    lines += [f"  {r.seconds:.1f} s {r.outcome}: {r.case.describe()}" for r in slowest[:20]]
    return "\n".join(lines)


def load_sources(own_only: bool = False, real_keys: Iterable[str] | None = None) -> dict[str, Source]:
    """Own outputs (always) and real instrument files (``real_keys``, default all)."""
    folder = Path(tempfile.mkdtemp(prefix="tem-fuzz-sources-"))
    try:
        sources = own_sources(folder)
    finally:
        shutil.rmtree(folder)
    if not own_only:
        sources.update(real_sources(real_keys if real_keys is not None else REAL_IMAGES + REAL_REFUSED))
    return sources


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=2400, help="number of cases (default 2400)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per case (default 30)")
    parser.add_argument("--own-only", action="store_true", help="no real instrument files (offline)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        _worker_main()
        return 0
    sources = load_sources(args.own_only)
    cases = build_cases(sources, args.cases, args.seed)
    print(f"{len(cases)} cases over {len(sources)} sources (seed {args.seed})", flush=True)
    start = time.monotonic()
    results = run_cases(cases, sources, args.timeout, progress=True)
    print(report(results))
    print(f"total time {time.monotonic() - start:.0f} s")
    return 1 if any(r.failed for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
