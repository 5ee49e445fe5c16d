"""``tem-denoise batch`` on a LocalCluster of two workers: folders, chunked stacks, resume, bad files."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
import zarr

from tem_denoise import io
from tem_denoise.batch import BatchJob, zarr_store
from tem_denoise.batch.inputs import expand_inputs, output_bases
from tem_denoise.batch.run import MANIFEST, run_batch
from tem_denoise.batch.units import PLUGIN
from tem_denoise.cli import main
from tem_denoise.io import ngff


def _stack(n_frames: int, seed: int, shape=(48, 40)) -> io.Stack:
    rng = np.random.default_rng(seed)
    data = rng.poisson(6.0, (n_frames, *shape)).astype(np.uint16)
    return io.Stack.from_array(data, pixel_size=0.021, frame_interval=0.05, name=f"movie{seed}", modality="HRTEM")


def _run(client, tmp_path, inputs, on_progress=None, **options):
    job = BatchJob(inputs=tuple(str(p) for p in inputs), output=str(tmp_path / "out"), **options)
    files = expand_inputs(job.inputs, job.output)
    records = run_batch(client, job, files, output_bases(files, job.output), on_progress=on_progress)
    return {r.input: r for r in records}


def _single_process(tmp_path, source, model) -> np.ndarray:
    """The same file through ``tem-denoise denoise`` in this process."""
    out = tmp_path / f"single_{source.stem}.tif"
    assert main(["denoise", str(source), "-o", str(out), "--model", model, "--device", "cpu"]) == 0
    return np.asarray(io.read(out).data)


def test_a_folder_of_small_stacks_becomes_calibrated_tiffs_and_a_rerun_skips_them(client, tmp_path):
    folder = tmp_path / "data"
    for seed in range(3):
        io.write(_stack(6, seed), folder / f"movie{seed}.tif")
    records = _run(client, tmp_path, [folder], model="gaussian-3d")
    assert [r.error for r in records.values()] == [None] * 3
    for seed in range(3):
        out = tmp_path / "out" / f"movie{seed}_denoised.tif"
        result = io.read(out)
        assert result.shape == (6, 48, 40)
        assert result.calibration.mean_pixel_size == pytest.approx(0.021, rel=1e-6)
        assert result.frame_interval == pytest.approx(0.05)
        written = io.read_provenance(out)
        assert written["model"] == "gaussian-3d" and written["batch"]["model"] == "gaussian-3d"
    loaded = client.run(lambda dask_worker: dask_worker.plugins[PLUGIN].loaded().count("gaussian-3d"))
    assert sorted(loaded.values()) in ([1, 1], [0, 1])  # once per worker, not once per file or unit
    manifest = json.loads((tmp_path / "out" / MANIFEST).read_text())
    assert manifest["run"]["done"] == 3
    outputs = {str(tmp_path / "out" / f"movie{seed}_denoised.tif") for seed in range(3)}
    assert {f["output"] for f in manifest["files"]} == outputs
    assert all(f["seconds"] > 0 and f["model"] == "gaussian-3d" for f in manifest["files"])

    again = _run(client, tmp_path, [folder], model="gaussian-3d")
    assert {r.status for r in again.values()} == {"skipped"}
    other_model = _run(client, tmp_path, [folder / "movie0.tif"], model="gaussian-2d")
    assert other_model[str(folder / "movie0.tif")].status == "done"


@pytest.mark.parametrize(("model", "rtol"), [("gaussian-3d", 1e-6), ("wcvd-3d", 1e-4)])
def test_a_stack_split_into_chunks_equals_the_single_process_result(client, tmp_path, model, rtol):
    """Equal to float32 rounding: a different number of frames per batch changes the order of the
    sums inside BLAS and torch, nothing else (same adapter, same temporal neighbours)."""
    source = io.write(_stack(23, 7), tmp_path / "long.tif")
    records = _run(client, tmp_path, [source], model=model, chunk_frames=5)
    record = records[str(source)]
    assert record.status == "done" and record.units == 5
    store = io.read(record.output)
    assert store.shape == (23, 48, 40) and store.units == ("s", "nm", "nm")
    assert store.scale == pytest.approx((0.05, 0.021, 0.021))
    assert store.provenance["written_by"]["model"] == model
    chunked = np.asarray(store.data)
    expected = _single_process(tmp_path, source, model)
    np.testing.assert_allclose(chunked, expected, rtol=rtol, atol=rtol * float(np.abs(expected).max()))


def _wait_idle(client, timeout_s: float = 30.0) -> None:
    """Wait until the workers hold no task (a cancelled unit already running finishes first)."""
    deadline = time.monotonic() + timeout_s
    while any(client.run(lambda dask_worker: len(dask_worker.state.tasks)).values()):
        assert time.monotonic() < deadline, "the cluster did not become idle"
        time.sleep(0.05)


def test_an_interrupted_run_is_resumed_and_gives_the_full_result(client, tmp_path):
    source = io.write(_stack(30, 3), tmp_path / "long.tif")

    def interrupt(state):
        if state.frames_done >= 6:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _run(client, tmp_path, [source], on_progress=interrupt, model="gaussian-3d", chunk_frames=3)
    target = tmp_path / "out" / "long_denoised.ome.zarr"
    partial = zarr_store.partial_path(target)
    assert not target.exists() and partial.is_dir()
    assert json.loads((tmp_path / "out" / MANIFEST).read_text())["files"][0]["status"] == "interrupted"
    _wait_idle(client)
    done = sorted(zarr_store.done_units(partial))
    assert len(done) >= 2
    start, stop = done[0]  # as if this unit had been cut off half-way through writing its frames
    (partial / zarr_store.DONE / f"{start}-{stop}").unlink()
    zarr.open_array(partial / ngff.ARRAY, mode="r+")[start:stop] = 0

    resumed = _run(client, tmp_path, [source], model="gaussian-3d", chunk_frames=3)[str(source)]
    assert resumed.status == "done" and resumed.units == 10 and len(done) - 1 <= resumed.resumed_units <= 9
    assert not partial.exists()
    np.testing.assert_allclose(np.asarray(io.read(target).data),
                               _single_process(tmp_path, source, "gaussian-3d"), rtol=1e-6, atol=1e-5)


def test_a_corrupt_file_is_reported_and_the_others_go_on(client, tmp_path):
    folder = tmp_path / "data"
    io.write(_stack(4, 1), folder / "good.tif")
    (folder / "corrupt.tif").write_bytes(b"II*\x00" + bytes(200))
    records = _run(client, tmp_path, [folder], model="gaussian-2d")
    good, bad = records[str(folder / "good.tif")], records[str(folder / "corrupt.tif")]
    assert good.status == "done" and io.read(good.output).shape == (4, 48, 40)
    assert bad.status == "failed" and "corrupt.tif" in bad.error and "\n" not in bad.error
    manifest = json.loads((tmp_path / "out" / MANIFEST).read_text())
    assert manifest["run"]["failed"] == 1 and manifest["run"]["done"] == 1


def test_batch_command_on_an_existing_scheduler_then_resumed(client, tmp_path, capsys):
    folder = tmp_path / "data"
    for seed in range(2):
        io.write(_stack(5, seed), folder / f"m{seed}.tif")
    out = tmp_path / "out"
    command = ["batch", str(folder / "*.tif"), "-o", str(out), "--model", "gaussian-2d",
               "--scheduler", client.scheduler.address]
    assert main(command) == 0
    assert "dask dashboard:" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == [MANIFEST, "m0_denoised.tif", "m1_denoised.tif"]
    (out / "m1_denoised.tif").unlink()
    assert main(command) == 0
    assert "files: denoised 1, skipped 1 (complete from an earlier run), failed 0" in capsys.readouterr().out


@pytest.mark.parametrize("output_format", ["tiff", "zarr"])
def test_a_single_image_in_either_format(client, tmp_path, output_format):
    image = io.Stack.from_array(_stack(1, 5).data[0], pixel_size=0.03, name="image")
    source = io.write(image, tmp_path / "image.tif")
    record = _run(client, tmp_path, [source], model="gaussian-2d", format=output_format)[str(source)]
    assert record.status == "done", record.error
    result = io.read(record.output)
    assert result.shape == (48, 40) and result.calibration.mean_pixel_size == pytest.approx(0.03, rel=1e-6)
    np.testing.assert_allclose(np.asarray(result.data), _single_process(tmp_path, source, "gaussian-2d"),
                               rtol=1e-6, atol=1e-5)


def _lattice(n_frames: int, pixel_size: float = 0.021) -> io.Stack:
    """Gaussian atom columns every 8 px on a Poisson background."""
    yy, xx = np.mgrid[:48, :40]
    columns = sum(np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / 4.0) for y in range(4, 48, 8) for x in range(4, 40, 8))
    rng = np.random.default_rng(1)
    data = rng.poisson(3.0 + 30.0 * columns, (n_frames, 48, 40)).astype(np.uint16)
    return io.Stack.from_array(data, pixel_size=pixel_size, frame_interval=0.05, name="lattice", modality="HRTEM")


def test_an_ome_zarr_output_opens_in_the_commands_and_is_a_batch_input(client, tmp_path, capsys):
    source = io.write(_lattice(8), tmp_path / "lattice.tif")
    store = tmp_path / "out" / "lattice_denoised.ome.zarr"
    assert _run(client, tmp_path, [source], model="gaussian-3d", format="zarr")[str(source)].output == str(store)
    capsys.readouterr()
    assert main(["quality", str(store), str(source)]) == 0
    assert "uPSNR" in capsys.readouterr().out
    csv = tmp_path / "atoms.csv"
    assert main(["atoms", str(store), "-o", str(csv), "--frame", "0", "--min-separation-nm", "0.1"]) == 0
    header, first = csv.read_text().splitlines()[:2]
    row = dict(zip(header.split(","), first.split(","), strict=True))
    assert float(row["y_nm"]) == pytest.approx(float(row["y_px"]) * 0.021, rel=1e-5)

    again = _run(client, tmp_path / "second", [tmp_path / "out"], model="gaussian-2d")
    assert list(again) == [str(store)]  # the folder's OME-Zarr image, not its files
    (record,) = again.values()
    assert record.status == "done"
    assert record.output == str(tmp_path / "second" / "out" / "lattice_denoised_denoised.tif")
    result = io.read(record.output)
    assert result.shape == (8, 48, 40) and result.calibration.mean_pixel_size == pytest.approx(0.021, rel=1e-6)
