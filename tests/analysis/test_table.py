"""CSV round trip of column tables."""

from __future__ import annotations

import numpy as np
import pytest

from tem_denoise.analysis import read_csv, write_csv


def test_round_trip_keeps_types(tmp_path):
    table = {
        "frame": np.array([0, 1, 2]),
        "y_px": np.array([1.5, np.pi, 1e-7]),
        "failed": np.array([True, False, True]),
        "layer": np.array(["raw", "denoised", "raw"]),
    }
    path = tmp_path / "t.csv"
    write_csv(path, table)
    back = read_csv(path)
    assert list(back) == list(table)
    np.testing.assert_array_equal(back["frame"], table["frame"])
    assert back["frame"].dtype.kind == "i"
    np.testing.assert_allclose(back["y_px"], table["y_px"], rtol=1e-8)
    np.testing.assert_array_equal(back["failed"], table["failed"])
    np.testing.assert_array_equal(back["layer"], table["layer"])


def test_empty_table_and_errors(tmp_path):
    path = tmp_path / "empty.csv"
    write_csv(path, {"a": np.zeros(0), "b": np.zeros(0)})
    assert {k: len(v) for k, v in read_csv(path).items()} == {"a": 0, "b": 0}
    with pytest.raises(ValueError, match="length"):
        write_csv(path, {"a": np.zeros(2), "b": np.zeros(3)})
    (tmp_path / "blank.csv").write_text("")
    with pytest.raises(ValueError, match="empty"):
        read_csv(tmp_path / "blank.csv")
