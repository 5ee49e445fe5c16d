"""The analysis subcommands: drift, atoms, profile, quality (on small synthetic files)."""

from __future__ import annotations

import numpy as np
import pytest

from tem_denoise import io
from tem_denoise.analysis import match_positions, read_csv, read_shifts_csv
from tem_denoise.cli import main
from tem_denoise.operations.drift import shifts_path
from tem_denoise.physics import sample_hrtem_series

PIXEL_NM = 0.07


@pytest.fixture(scope="module")
def movie():
    return sample_hrtem_series(n_frames=6, shape=(128, 128))


def _write(tmp_path, name, data, **kwargs):
    stack = io.Stack.from_array(data, pixel_size=PIXEL_NM, name=name, **kwargs)
    return io.write(stack, tmp_path / f"{name}.tif")


def test_drift_writes_corrected_stack_and_shifts(tmp_path, movie, capsys):
    noisy = _write(tmp_path, "noisy", movie.noisy)
    clean = _write(tmp_path, "clean", movie.clean)
    out = tmp_path / "aligned.tif"
    assert main(["drift", str(noisy), "-o", str(out), "--estimate-on", str(clean), "--mode", "crop"]) == 0
    shifts = read_shifts_csv(shifts_path(out))
    rms = np.sqrt(np.mean(np.sum((-shifts - movie.shifts_px) ** 2, axis=1)))
    assert rms < 0.05
    assert "shift_y_nm" in read_csv(shifts_path(out))
    aligned = io.read(out)
    origin = np.rint(shifts).max(axis=0)
    assert aligned.calibration.pixel_size == pytest.approx((PIXEL_NM,) * 2, rel=1e-6)
    assert aligned.shape[1:] == tuple(128 - (np.rint(shifts).max(axis=0) - np.rint(shifts).min(axis=0)).astype(int))
    assert io.read_provenance(out)["history"][-1]["origin_px"] == origin.tolist()
    out_text = capsys.readouterr().out
    assert f"starting at input pixel (y {origin[0]:.0f}, x {origin[1]:.0f})" in out_text and "wrote" in out_text

    # the written shifts applied to the clean stack with --shifts
    again = tmp_path / "clean_aligned.tif"
    assert main(["drift", str(clean), "-o", str(again), "--shifts", str(shifts_path(out))]) == 0
    np.testing.assert_allclose(read_shifts_csv(shifts_path(again)), shifts)


def test_drift_on_pure_noise_writes_nothing(tmp_path, capsys):
    noise = np.random.default_rng(0).poisson(2.0, (5, 64, 64)).astype(np.float32)
    source = _write(tmp_path, "noise", noise)
    out = tmp_path / "out.tif"
    assert main(["drift", str(source), "-o", str(out), "--prefilter", "0"]) == 1
    assert "failed for every frame" in capsys.readouterr().err
    assert not out.exists()


def test_atoms_csv_has_pixel_and_nm_columns(tmp_path, movie, capsys):
    atom_map = _write(tmp_path, "atoms", movie.atom_map)
    csv = tmp_path / "atoms.csv"
    assert main(["atoms", str(atom_map), "-o", str(csv), "--min-separation-nm", "0.2"]) == 0
    table = read_csv(csv)
    assert list(table)[:5] == ["frame", "y_px", "x_px", "y_nm", "x_nm"]
    found = np.stack([table["frame"], table["y_px"], table["x_px"]], axis=1)
    assert match_positions(found, movie.positions_px, radius=1.5).f1 > 0.98
    np.testing.assert_allclose(table["x_nm"], table["x_px"] * PIXEL_NM, rtol=1e-5)
    assert "per frame over 6 frames" in capsys.readouterr().out

    uncalibrated = io.write(io.Stack.from_array(movie.clean[0], name="plain"), tmp_path / "plain.tif")
    assert main(["atoms", str(uncalibrated), "-o", str(csv), "--min-separation-nm", "0.2"]) == 2
    assert main(["atoms", str(uncalibrated), "-o", str(csv), "--min-separation-px", "3", "--invert",
                 "--log", "1"]) == 0
    assert "y_nm" not in read_csv(csv)


def test_profile_prints_contrast_and_spacing(tmp_path, capsys):
    x = np.arange(96)
    fringes = np.broadcast_to(1.0 + 0.4 * np.cos(2 * np.pi * x / 8.0), (48, 96)).astype(np.float32)
    image = _write(tmp_path, "fringes", fringes)
    csv = tmp_path / "profile.csv"
    assert main(["profile", str(image), "--start", "24", "4", "--end", "24", "76", "--width", "5",
                 "-o", str(csv)]) == 0
    out = capsys.readouterr().out
    assert "Michelson contrast 0.4000" in out
    assert f"mean spacing {8 * PIXEL_NM:.4g} nm" in out
    assert "distance_nm" in read_csv(csv)
    assert main(["profile", str(image), "--units", "nm", "--start", "1.68", "0.28", "--end", "1.68", "5.32"]) == 0
    assert f"length {72 * PIXEL_NM:.4g} nm" in capsys.readouterr().out


def test_quality_prints_umse_upsnr_css(tmp_path, movie, capsys):
    noisy = _write(tmp_path, "noisy", movie.noisy)
    clean = _write(tmp_path, "clean", movie.clean)
    assert main(["quality", str(noisy), str(noisy)]) == 0
    out = capsys.readouterr().out
    value = float(out.split("uMSE")[1].split()[0])
    value_db = float(out.split("uPSNR")[1].split()[0])
    assert value == pytest.approx(float(np.mean((movie.noisy - movie.clean) ** 2)), rel=0.1)
    assert main(["quality", str(clean), str(noisy), "--offsets", "-1", "1", "2"]) == 0
    out = capsys.readouterr().out
    assert float(out.split("uPSNR")[1].split()[0]) > value_db + 15
    assert float(out.split("CSS   mean")[1].split()[0]) > 0.9
