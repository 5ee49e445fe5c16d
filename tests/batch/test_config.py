"""Batch config files: written by the napari dock, read by ``tem-denoise batch --config``, and the
documented SLURM route through dask-jobqueue."""

from __future__ import annotations

from pathlib import Path

import dask
import pytest

from tem_denoise.batch import BatchJob, load_config, write_config
from tem_denoise.batch.cluster import jobqueue_cluster
from tem_denoise.cli import main

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_a_written_config_reads_back_as_the_same_job(tmp_path):
    job = BatchJob(inputs=("data/", "more/*.emd"), output="out", model="wcvd-3d", device="cpu", tile=256,
                   chunk_frames=32)
    path = write_config(tmp_path / "job.yaml", job)
    assert BatchJob(**load_config(path)) == job
    assert "format" not in path.read_text()  # defaults are left out


@pytest.mark.parametrize(("text", "message"), [
    ("inputs: [a]\noutput: b\nmodle: x\n", "unknown option(s) modle"),
    ("- just\n- a list\n", "must hold a mapping"),
    ("inputs: [a]\noutput: b\nformat: png\n", "format must be one of auto, tiff, zarr"),
])
def test_a_bad_config_is_one_line_and_exit_2(tmp_path, capsys, text, message):
    path = tmp_path / "job.yaml"
    path.write_text(text)
    assert main(["batch", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_the_documented_slurm_config_gives_a_gpu_job_script():
    path = DOCS / "batch_slurm.yaml"
    assert path.read_text() in (DOCS / "batch.md").read_text()
    job = BatchJob(**load_config(path))
    assert job.cluster == "slurm" and job.workers == 8
    with dask.config.set(job.dask):
        cluster = jobqueue_cluster("slurm")
        try:
            script = cluster.job_script()
        finally:
            cluster.close()
    for line in ("#SBATCH -p gpu", "#SBATCH -A my-project", "#SBATCH --cpus-per-task=8", "#SBATCH --gres=gpu:1",
                 "#SBATCH -t 04:00:00", "--nthreads 1"):
        assert line in script
