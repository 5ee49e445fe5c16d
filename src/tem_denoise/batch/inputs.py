"""Which files a batch reads and where each one's output goes."""

from __future__ import annotations

import glob
from pathlib import Path

from tem_denoise.io import ngff, stem
from tem_denoise.io.formats import EXTENSIONS, format_for
from tem_denoise.outputs import OutputError, refuse_inputs

SUFFIXES = {"tiff": ".tif", "zarr": ".ome.zarr"}


def _readable(path: Path, output: Path) -> bool:
    """A visible file of a readable format or an OME-Zarr folder, not inside the output folder
    (outputs are not inputs)."""
    readable = (path.is_file() and format_for(path) is not None) or _is_store(path)
    return readable and not path.name.startswith(".") and path.resolve().parent != output.resolve()


def _is_store(path: Path) -> bool:
    return path.is_dir() and ngff.is_store_name(path)


def _matches(item: str, output: Path) -> list[Path]:
    if any(c in item for c in "*?["):
        return sorted(p for p in map(Path, glob.glob(item, recursive=True)) if _readable(p, output))
    path = Path(item)
    if path.is_dir() and not _is_store(path):
        return sorted(p for p in path.iterdir() if _readable(p, output))
    return [path]


def expand_inputs(inputs: tuple[str, ...] | list[str], output: str | Path) -> list[Path]:
    """The files named by ``inputs``, in order, each once.

    A file or OME-Zarr folder (``NAME.ome.zarr``) is taken as given (a missing or unreadable one
    is reported with the other results); a folder gives its visible files of a readable format
    and OME-Zarr folders (not its other subfolders); a glob pattern (``*``, ``?``, ``[``; ``**``
    for subfolders) the readable files and OME-Zarr folders it matches. Files in the
    ``output`` folder are left out.

    Raises
    ------
    ValueError
        When a folder or pattern gives no file.
    """
    output = Path(output)
    files: dict[Path, Path] = {}
    for item in inputs:
        found = _matches(str(item), output)
        if not found:
            raise ValueError(f"'{item}' gives no readable file (looked for {', '.join(EXTENSIONS)}, .ome.zarr); "
                             "check the folder or pattern")
        for path in found:
            files.setdefault(path.resolve(), path)
    return list(files.values())


def output_base(source: Path, output: Path) -> Path:
    """``OUTPUT/STEM_denoised``: the output's path without its format suffix."""
    return output / f"{stem(source)}_denoised"


def output_path(base: Path, kind: str) -> Path:
    """The output of ``kind`` (``tiff`` or ``zarr``) at ``base``."""
    return base.with_name(base.name + SUFFIXES[kind])


def output_bases(files: list[Path], output: str | Path) -> list[Path]:
    """One output base per file; refused before any work when an output would be an input or two
    inputs share a file name.

    Raises
    ------
    OutputError
        When ``output`` is a file, an output is an input, or two inputs would write the same output.
    """
    output = Path(output)
    if output.exists() and not output.is_dir():
        raise OutputError(f"-o must be a folder; '{output}' is a file")
    bases = [output_base(path, output) for path in files]
    seen: dict[Path, Path] = {}
    for path, base in zip(files, bases, strict=True):
        if base in seen:
            raise OutputError(f"'{seen[base]}' and '{path}' share a file name and would write the same output; "
                              "run them into separate output folders")
        seen[base] = path
    from tem_denoise.batch.steps import output_paths

    outputs = [output_path(b, kind) for b in bases for kind in SUFFIXES]
    refuse_inputs([*outputs, *(path for b in bases for path in output_paths(b))], files)
    return bases
