"""Column tables (dict of equal-length 1-D arrays) and their CSV files.

The analysis functions return tables as ``dict[str, numpy.ndarray]`` so that they can be
handed directly to a napari layer's ``features`` and written to CSV without pandas.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from os import PathLike

import numpy as np

from tem_denoise.outputs import atomic_path

Table = dict[str, np.ndarray]


def validate_table(columns: Mapping[str, np.ndarray]) -> Table:
    """Return ``columns`` as a table of 1-D arrays, checking that their lengths agree.

    Parameters
    ----------
    columns : Mapping[str, array_like]
        Column name to 1-D values.

    Returns
    -------
    dict[str, numpy.ndarray]
        The same columns as numpy arrays.

    Raises
    ------
    ValueError
        If a column is not 1-D or the columns differ in length.
    """
    table = {str(name): np.asarray(values) for name, values in columns.items()}
    lengths = {name: values.shape for name, values in table.items()}
    if any(len(shape) != 1 for shape in lengths.values()):
        raise ValueError(f"every table column must be 1-D; got shapes {lengths}")
    if len({shape[0] for shape in lengths.values()}) > 1:
        raise ValueError(f"table columns differ in length: {lengths}")
    return table


def _format_column(values: np.ndarray) -> list[str]:
    if values.dtype.kind == "f":
        return np.char.mod("%.9g", values).tolist()
    if values.dtype.kind == "b":
        return np.where(values, "true", "false").tolist()
    return values.astype(str).tolist()


def write_csv(path: str | PathLike, columns: Mapping[str, np.ndarray]) -> None:
    """Write a column table to a comma-separated file with a header row.

    Parameters
    ----------
    path : str or PathLike
        Output file, written atomically (a temporary file renamed when complete).
    columns : Mapping[str, array_like]
        Column name to 1-D values, all the same length. Floats are written with 9
        significant digits, booleans as ``true``/``false``.
    """
    table = validate_table(columns)
    formatted = [_format_column(values) for values in table.values()]
    with atomic_path(path) as temporary, open(temporary, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(list(table))
        writer.writerows(zip(*formatted, strict=True))


def _parse_column(texts: list[str]) -> np.ndarray:
    if texts and all(text in ("true", "false") for text in texts):
        return np.array([text == "true" for text in texts])
    try:
        values = np.array(texts, dtype=np.float64)
    except ValueError:
        return np.array(texts, dtype=str)
    if values.size and np.all(np.isfinite(values)) and np.all(values == np.round(values)) \
            and not any(("." in text or "e" in text.lower()) for text in texts):
        return values.astype(np.int64)
    return values


def read_csv(path: str | PathLike) -> Table:
    """Read a CSV file written by :func:`write_csv` back into a column table.

    Parameters
    ----------
    path : str or PathLike
        Input file with a header row.

    Returns
    -------
    dict[str, numpy.ndarray]
        Integer columns (no decimal point anywhere) as int64, other numeric columns as
        float64, ``true``/``false`` columns as bool, anything else as str.

    Raises
    ------
    ValueError
        If the file is empty or its rows do not match the header.
    """
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    if not rows:
        raise ValueError(f"{path} is empty; expected a header row followed by data rows")
    header, body = rows[0], rows[1:]
    if any(len(row) != len(header) for row in body):
        raise ValueError(f"{path}: some rows do not have {len(header)} fields like the header")
    columns = list(zip(*body, strict=True)) if body else [() for _ in header]
    return {name: _parse_column(list(texts)) for name, texts in zip(header, columns, strict=True)}
