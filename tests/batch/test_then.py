"""``tem-denoise batch --then drift,atoms,quality`` on a LocalCluster of two workers."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from tem_denoise import io
from tem_denoise.analysis import read_csv
from tem_denoise.batch import BatchJob
from tem_denoise.batch.inputs import expand_inputs, output_bases
from tem_denoise.batch.run import MANIFEST, run_batch
from tem_denoise.cli import main
from tem_denoise.cli.batch import progress_text
from tem_denoise.operations.drift import shifts_path
from tem_denoise.physics import sample_hrtem_series

PIXEL_NM = 0.07


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """Two small drifting HRTEM movies and a corrupt file."""
    folder = tmp_path_factory.mktemp("data")
    for seed in range(2):
        movie = sample_hrtem_series(n_frames=5, shape=(80, 80), seed=seed)
        stack = io.Stack.from_array(movie.noisy, pixel_size=PIXEL_NM, name=f"movie{seed}")
        io.write(stack, folder / f"movie{seed}.tif")
    (folder / "corrupt.tif").write_bytes(b"II*\x00" + bytes(200))
    return folder


def _batch(client, folder, out, *options):
    return main(["batch", str(folder), "-o", str(out), "--model", "gaussian-3d", "--device", "cpu",
                 "--scheduler", client.scheduler.address, *options])


def test_drift_atoms_and_quality_follow_denoising_and_a_rerun_skips_them(client, folder, tmp_path, capsys):
    out = tmp_path / "out"
    then = ["--then", "drift,atoms,quality", "--min-separation-nm", "0.15", "--mode", "crop"]
    assert _batch(client, folder, out, *then) == 1  # the corrupt file fails, the others go on
    printed = capsys.readouterr()
    assert "files: denoised 2, skipped 0 (complete from an earlier run), failed 1" in printed.out
    assert "then drift results: written 2" in printed.out and "then quality results: written 2" in printed.out
    assert "failed: " in printed.err and "corrupt.tif" in printed.err

    denoised = out / "movie0_denoised.tif"
    aligned = out / "movie0_denoised_aligned.tif"
    # the same as the drift and atoms subcommands on the denoised output
    by_hand = tmp_path / "by_hand.tif"
    assert main(["drift", str(denoised), "-o", str(by_hand), "--mode", "crop"]) == 0
    np.testing.assert_array_equal(np.asarray(io.read(aligned).data), np.asarray(io.read(by_hand).data))
    shifts = read_csv(shifts_path(aligned))
    np.testing.assert_array_equal(shifts["shift_x_px"], read_csv(shifts_path(by_hand))["shift_x_px"])
    assert io.read(aligned).calibration.pixel_size == pytest.approx((PIXEL_NM,) * 2, rel=1e-6)
    atoms_by_hand = tmp_path / "atoms.csv"
    assert main(["atoms", str(by_hand), "-o", str(atoms_by_hand), "--min-separation-nm", "0.15"]) == 0
    atoms = read_csv(out / "movie0_denoised_atoms.csv")
    assert len(atoms["frame"]) > 20 and set(atoms["frame"]) == set(range(5))
    np.testing.assert_array_equal(atoms["x_nm"], read_csv(atoms_by_hand)["x_nm"])
    quality = json.loads((out / "movie0_denoised_quality.json").read_text())
    assert np.isfinite(quality["scores"]["uPSNR (dB)"]) and quality["frames"] > 0

    manifest = {f["input"]: f for f in json.loads((out / MANIFEST).read_text())["files"]}
    steps = manifest[str(folder / "movie1.tif")]["steps"]
    assert [steps[op]["status"] for op in ("drift", "atoms", "quality")] == ["done"] * 3
    assert str(out / "movie1_denoised_atoms.csv") in steps["atoms"]["outputs"]

    (out / "movie1_denoised_atoms.json").unlink()  # as if the run had stopped before atoms finished
    assert _batch(client, folder, out, *then) == 1
    printed = capsys.readouterr().out
    assert "files: denoised 0, skipped 2" in printed and "then drift results: skipped 2 (" in printed
    assert "then atoms results: written 1, skipped 1 (" in printed

    assert _batch(client, folder, out, *then[:-2]) == 1  # drift changed: atoms on it are redone too
    printed = capsys.readouterr().out
    assert "then drift results: written 2" in printed and "then atoms results: written 2" in printed
    assert "then quality results: skipped 2" in printed


def test_the_summary_counts_files_denoised_apart_from_the_results_of_the_steps(client, folder, tmp_path, capsys):
    """A file denoised whose atoms step fails is denoised (not a failed file): the summary says
    so, the step's failure on its own line, the steps after it not run; exit status 1."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "corrupt.tif").write_bytes((folder / "corrupt.tif").read_bytes())
    flat = io.Stack.from_array(np.full((3, 48, 48), 7.0, np.float32), pixel_size=PIXEL_NM, name="flat")
    io.write(flat, data / "flat.tif")  # nothing to find atoms in
    out = tmp_path / "out"
    for run in ("first", "again"):
        assert _batch(client, data, out, "--then", "atoms,quality") == 1
        printed = capsys.readouterr()
        denoised, skipped = (1, 0) if run == "first" else (0, 1)
        assert f"files: denoised {denoised}, skipped {skipped} (complete from an earlier run), failed 1" in printed.out
        assert "then atoms results: failed 1\n" in printed.out
        assert "then quality results: not run 1 (a step before failed)\n" in printed.out
        assert re.search(r"failed: .*flat\.tif: atoms of 'flat_denoised\.tif': ", printed.err), printed.err
        assert re.search(r"failed: .*corrupt\.tif: ", printed.err)
    record = {f["input"]: f for f in json.loads((out / MANIFEST).read_text())["files"]}[str(data / "flat.tif")]
    assert record["status"] == "skipped" and record["error"] is None
    assert [record["steps"][op]["status"] for op in ("atoms", "quality")] == ["failed", "not run"]
    assert json.loads((out / MANIFEST).read_text())["run"]["steps"] == {"atoms": {"failed": 1},
                                                                        "quality": {"not run": 1}}


def test_the_progress_says_which_step_of_which_file_runs_and_how_many_are_done(client, folder, tmp_path):
    job = BatchJob(inputs=(str(folder / "movie0.tif"), str(folder / "corrupt.tif")), output=str(tmp_path / "out"),
                   model="gaussian-3d", then=("drift", "atoms"), atoms={"min_separation_nm": 0.15})
    files = expand_inputs(job.inputs, job.output)
    states = []
    run_batch(client, job, files, output_bases(files, job.output), on_progress=states.append)
    running = [text for state in states for text in state.running]
    assert any(re.fullmatch(r"(drift|atoms) of movie0\.tif: [1-5]/5", text) for text in running), running
    done = [state.steps_done for state in states]
    assert done == sorted(done) and done[-1] == states[-1].steps_total == 2  # the corrupt file has none
    assert states[-1].running == () and states[-1].files_done == 2
    line = progress_text(next(state for state in states if state.running))
    assert re.search(r"; then [01]/2 steps done, (drift|atoms) of movie0\.tif: [1-5]/5$", line), line


def test_an_option_of_an_operation_that_is_not_run_is_refused(folder, tmp_path):
    with pytest.raises(ValueError, match="add it to then"):
        BatchJob(inputs=(str(folder),), output=str(tmp_path), then=("drift",), atoms={"invert": True})
    with pytest.raises(ValueError, match="unknown atoms option"):
        BatchJob(inputs=(str(folder),), output=str(tmp_path), then=("atoms",), atoms={"invrt": True})
    assert main(["batch", str(folder), "-o", str(tmp_path), "--then", "drift", "--invert"]) == 2
    with pytest.raises(SystemExit) as exit_:
        main(["batch", str(folder), "-o", str(tmp_path), "--then", "drift,profile"])
    assert exit_.value.code == 2


def test_a_config_file_holds_the_operations_and_their_options(folder, tmp_path):
    from tem_denoise.batch import load_config, write_config

    job = BatchJob(inputs=(str(folder),), output=str(tmp_path / "out"), then=("drift", "quality"),
                   drift={"mode": "crop"}, quality={"offsets": (-1, 1, 3)})
    again = BatchJob(**load_config(write_config(tmp_path / "batch.yaml", job)))
    assert again.then == ("drift", "quality") and again.options_of("quality").offsets == (-1, 1, 3)
    assert again.then_settings() == job.then_settings()
