"""The command-line journeys of issue #12, as a new user runs them."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tem_denoise import io
from tem_denoise.analysis import match_positions, read_csv
from tem_denoise.cli import build_parser, main
from tem_denoise.physics import sample_hrtem_series

SRC = str(Path(__file__).resolve().parents[1] / "src")
HEAVY = ("torch", "scipy.signal", "skimage")


def test_atoms_with_no_separation_estimates_it_and_reports_nm(tmp_path, capsys):
    """README: `tem-denoise atoms aligned.tif -o atoms.csv` works with no separation given."""
    movie = sample_hrtem_series(n_frames=3, shape=(128, 128))
    aligned = io.write(io.Stack.from_array(movie.atom_map, pixel_size=0.07, name="aligned"), tmp_path / "aligned.tif")
    assert main(["atoms", str(aligned), "-o", str(tmp_path / "atoms.csv")]) == 0
    out = capsys.readouterr().out
    assert "minimum separation" in out and " nm (" in out and "spacing of" in out
    table = read_csv(tmp_path / "atoms.csv")
    found = np.stack([table["frame"], table["y_px"], table["x_px"]], axis=1)
    assert match_positions(found, movie.positions_px, radius=1.5).f1 > 0.97


def _help_imports(argv: list[str]) -> tuple[float, list[str]]:
    # CPU seconds of the process, not wall time: the machine may be shared with other jobs
    code = ("import sys, time\nstart = time.process_time()\nfrom tem_denoise.cli import main\n"
            "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
            f"print(time.process_time() - start, [m for m in {HEAVY!r} if m in sys.modules])")
    done = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, check=True,
                          env={"PYTHONPATH": SRC, "PATH": "/usr/bin:/bin"})
    seconds, loaded = done.stdout.strip().splitlines()[-1].split(" ", 1)
    return float(seconds), eval(loaded)


def test_help_is_fast_and_imports_no_torch_scipy_signal_or_skimage():
    commands = [[]] + [[name] for name in build_parser()._subparsers._group_actions[0].choices]
    for command in commands:
        seconds, loaded = _help_imports([*command, "--help"])
        assert loaded == [], (command, loaded)
        assert seconds < 1.0, (command, seconds)


def test_every_option_of_every_subcommand_has_help_with_its_default():
    for name, sub in build_parser()._subparsers._group_actions[0].choices.items():
        for action in sub._actions:
            if action.option_strings and action.dest not in ("help", "output"):
                assert action.help, (name, action.dest)
                if action.default not in (None, False) and not action.required:
                    assert "default" in action.help, (name, action.dest, action.help)


def test_a_wrong_model_name_is_refused_before_the_input_is_read(tmp_path, capsys):
    start = time.perf_counter()
    assert main(["denoise", str(tmp_path / "not_read_yet.tif"), "-o", str(tmp_path / "d.tif"),
                 "--model", "nope"]) == 2
    err = capsys.readouterr().err
    assert "nope" in err and "not_read_yet" not in err
    assert time.perf_counter() - start < 2.0


def test_quality_refuses_an_atom_map(tmp_path, capsys):
    movie = sample_hrtem_series(n_frames=4, shape=(64, 64))
    raw = io.Stack.from_array(movie.noisy, pixel_size=0.07, name="raw")
    atom_map = raw.derive(movie.atom_map, "raw (denoised: unet-hrtem)",
                          {"operation": "denoise", "model": "unet-hrtem", "output_kind": "atom-map"})
    raw_path, map_path = io.write(raw, tmp_path / "raw.tif"), io.write(atom_map, tmp_path / "map.tif")
    assert main(["quality", str(map_path), str(raw_path)]) == 2
    err = capsys.readouterr().err
    assert "atom map" in err and "unet-hrtem" in err and "restored" in err


def test_models_table_has_headers_and_names_each_psnr_target(capsys):
    assert main(["models", "-v"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:4] == ["MODEL", "FAMILY", "MODALITY", "OUTPUT"]
    psnr_lines = [line for line in lines if "PSNR" in line and "synthetic set" in line]
    assert psnr_lines and all("against the atom map" in line or "against the clean image" in line
                              for line in psnr_lines)


@pytest.mark.parametrize("command, text", [
    ("bench", "(default: 1024)"), ("demo", "(default: 16)"), ("synth", "(default: 256)"),
    ("finetune", "optimiser steps (default: 300)"), ("finetune", "(default: auto)"),
])
def test_options_show_their_defaults(command, text, capsys):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    assert text in " ".join(capsys.readouterr().out.split())


def test_info_never_calls_the_time_axis_pixel(tmp_path, capsys):
    stack = io.Stack.from_array(np.zeros((3, 16, 16), np.float32), pixel_size=0.07, name="movie")
    assert main(["info", str(io.write(stack, tmp_path / "movie.tif"))]) == 0
    out = capsys.readouterr().out
    assert "3 frames, interval unknown; pixel 0.07 nm/px" in out and "pixel]" not in out and "1 pixel" not in out
