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


def test_threads_per_worker_reach_the_job_and_the_local_cluster_size():
    from tem_denoise.batch.cluster import cpu_count, local_size
    from tem_denoise.cli import build_parser
    from tem_denoise.cli.batch import _job

    args = build_parser().parse_args(["batch", "data/", "-o", "out", "--workers", "2", "--threads-per-worker", "1"])
    job = _job(args)
    assert (job.workers, job.threads_per_worker) == (2, 1)
    assert local_size("cpu", job.workers, job.threads_per_worker).torch_threads == 1
    assert local_size("cpu", 1).torch_threads == cpu_count()  # unset: the cores go to the one worker
    with pytest.raises(ValueError, match="threads_per_worker must be at least 1"):
        BatchJob(inputs=("a",), output="b", threads_per_worker=0)


def test_the_model_cache_sets_each_workers_torch_threads():
    import torch

    from tem_denoise.batch.units import ModelCache

    before = torch.get_num_threads()
    cache = ModelCache(torch_threads=1)
    cache.setup(type("Worker", (), {"name": "w"})())
    try:
        cache.denoiser("gaussian-2d", "cpu", None)
        assert torch.get_num_threads() == 1  # also where the Denoiser's set-up took every core
    finally:
        torch.set_num_threads(before)
