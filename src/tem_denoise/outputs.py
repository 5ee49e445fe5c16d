"""Where results are written: never onto an input, and only once complete.

Two rules protect the user's raw data:

* :func:`refuse_inputs` refuses an output path that is one of the inputs (the same path, a
  symbolic link to it or a hard link of it), before any work starts.
* :func:`atomic_path` hands out a temporary file in the target's folder and renames it onto
  the target only when the writer has finished. An exception, Ctrl-C or SIGTERM (turned into
  an exception by the CLI) removes the temporary file, so the target holds either nothing or
  its previous complete content. Only a hard kill (SIGKILL, power loss) can leave a
  temporary ``.NAME.partial-*`` file behind, never a partial file under the target's name.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterable, Iterator
from os import PathLike
from pathlib import Path

PARTIAL = ".partial-"


class OutputError(ValueError):
    """An output that must not be written (it is an input, or the place is unusable)."""


def same_file(a: str | PathLike, b: str | PathLike) -> bool:
    """True when ``a`` and ``b`` name the same existing file (path, symlink or hard link)."""
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        return Path(a).resolve(strict=False) == Path(b).resolve(strict=False)


def refuse_inputs(outputs: Iterable[str | PathLike | None], inputs: Iterable[str | PathLike | None]) -> None:
    """Raise :class:`OutputError` if an output is one of the inputs (None entries are skipped)."""
    sources = [Path(p) for p in inputs if p]
    for output in (Path(p) for p in outputs if p):
        for source in sources:
            if same_file(output, source):
                link = "" if output.absolute() == source.absolute() else f" (the same file as '{source}')"
                raise OutputError(
                    f"refusing to write '{output}'{link}: it is an input of this command and would be "
                    "overwritten. Choose another output name; nothing was written."
                )


def _temporary_name(path: Path) -> Path:
    """A hidden sibling of ``path`` that keeps its extension (writers choose formats by it)."""
    return path.with_name(f".{path.name}{PARTIAL}{secrets.token_hex(4)}{path.suffix}")


@contextlib.contextmanager
def atomic_path(path: str | PathLike) -> Iterator[Path]:
    """Context manager: write to the yielded temporary path; it becomes ``path`` on success.

    The folder is created if needed. The data are flushed to disk before the rename, which
    replaces an existing ``path`` in one step. On any exception (``KeyboardInterrupt``
    included) the temporary file is removed and the exception propagates.
    """
    target = Path(path)
    if target.is_dir():
        raise OutputError(f"'{target}' is a folder; give a file name for the output.")
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = _temporary_name(target)
    try:
        yield temporary
        with open(temporary, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise


def write_text(path: str | PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; returns the path."""
    with atomic_path(path) as temporary:
        temporary.write_text(text, encoding="utf-8")
    return Path(path)
