"""The tem-denoise command line."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tem_denoise import io
from tem_denoise.cli import main


def test_help_lists_subcommands():
    result = subprocess.run([sys.executable, "-m", "tem_denoise.cli", "--help"],
                            capture_output=True, text=True, check=True)
    for name in ("info", "convert", "demo", "calibrate", "synth", "denoise", "models", "bench"):
        assert name in result.stdout


def test_info_and_convert(tmp_path, small_stack, capsys):
    source = io.write(small_stack, tmp_path / "in.tif")
    assert main(["info", str(source)]) == 0
    assert "shape (4, 40, 56)" in capsys.readouterr().out
    out = tmp_path / "converted.tif"
    assert main(["convert", str(source), "-o", str(out)]) == 0
    assert io.read(out).calibration.pixel_size == pytest.approx((0.05,) * 2, rel=1e-6)


def test_info_reads_without_importing_dask_distributed(tmp_path, small_stack):
    """Reading a lazy file computes its last frame with dask's threaded scheduler directly, not
    after importing dask.distributed to look for a client (0.4 s of CPU of `tem-denoise info`)."""
    source = io.write(small_stack, tmp_path / "in.tif")
    code = ("import sys; from tem_denoise.cli import main; main(['info', sys.argv[1]]); "
            "print('distributed imported' if 'distributed' in sys.modules else 'no distributed')")
    result = subprocess.run([sys.executable, "-c", code, str(source)], capture_output=True, text=True, check=True)
    assert "shape (4, 40, 56)" in result.stdout and result.stdout.rstrip().endswith("no distributed")


def test_errors_are_one_line_messages_with_exit_status_2(tmp_path, capsys):
    bad = tmp_path / "bad.dm4"
    bad.write_bytes(b"not a dm4 file at all")
    assert main(["info", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "bad.dm4" in err
