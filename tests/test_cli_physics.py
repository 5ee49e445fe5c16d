"""``tem-denoise calibrate`` and ``tem-denoise synth`` end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tem_denoise import io, physics
from tem_denoise.cli import main


def test_calibrate_vacuum_files_recovers_the_model(tmp_path, capsys):
    truth = physics.HRTEMNoise(gain=8.0)
    sample = physics.sample_vacuum_stacks(currents_na=(1.0, 1.5, 2.0), n_frames=12, shape=(128, 128),
                                          noise=truth)
    paths = []
    for stack, current in zip(sample.stacks, sample.currents_na, strict=True):
        paths.append(str(io.write(io.Stack.from_array(stack, pixel_size=0.07), tmp_path / f"vac{current}.tif")))
    out = tmp_path / "noise.json"
    code = main(["calibrate", *paths, "--current", "1", "1.5", "2", "-o", str(out),
                 "--plot", str(tmp_path / "fit.png")])
    assert code == 0, capsys.readouterr().err
    model = physics.load_noise_model(out)
    assert model.k == pytest.approx(truth.k, rel=0.1)
    assert model.sigma_c == pytest.approx(truth.sigma_c, rel=0.1)
    assert (tmp_path / "fit.png").stat().st_size > 10_000


def test_calibrate_refuses_single_images(tmp_path, capsys):
    path = io.write(io.Stack.from_array(np.ones((16, 16), np.float32)), tmp_path / "one.tif")
    assert main(["calibrate", str(path), "-o", str(tmp_path / "n.json")]) == 2
    assert "is a single image; vacuum calibration needs a stack of frames" in capsys.readouterr().err


def test_synth_writes_calibrated_pairs_and_positions(tmp_path):
    assert main(["synth", "--kind", "hrtem", "-n", "2", "--size", "64", "-o", str(tmp_path)]) == 0
    noisy, atom_map = io.read(tmp_path / "noisy.tif"), io.read(tmp_path / "atom_map.tif")
    assert noisy.shape == (2, 64, 64) and noisy.calibration.pixel_size == pytest.approx((0.07,) * 2)
    assert float(np.asarray(atom_map.data).max()) == pytest.approx(255, rel=0.02)
    header = (tmp_path / "positions.csv").read_text().splitlines()[0]
    assert header.split(",")[:3] == ["index", "y_px", "x_px"]
    assert json.loads((tmp_path / "params.json").read_text())["seed"] == 0
