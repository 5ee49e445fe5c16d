"""Where the workers come from: a LocalCluster sized to this machine, an existing scheduler, or
SLURM/PBS jobs through dask-jobqueue configured in dask's configuration (no code change)."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass

import dask

from tem_denoise.batch.job import BatchJob
from tem_denoise.batch.units import ModelCache
from tem_denoise.memory import available_bytes

WORKER_BYTES = 2 << 30
"""Memory one CPU worker is planned with: a model, a unit's frames and its output (our choice)."""


@dataclass(frozen=True)
class LocalSize:
    """Workers of a LocalCluster, each with one task thread, and torch threads per worker."""

    workers: int
    torch_threads: int
    gpus: int


def cpu_count() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def gpu_count(device: str) -> int:
    """CUDA GPUs the job would use (0 for ``cpu`` or ``mps``, or when there are none)."""
    if device not in ("auto", "cuda"):
        return 1 if device.startswith("cuda") else 0
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def local_size(device: str, workers: int | None = None, threads: int | None = None) -> LocalSize:
    """The LocalCluster for this machine: one worker per GPU when there are GPUs, else one per
    core while each has :data:`WORKER_BYTES` of the available memory; the cores are shared
    between the workers' torch thread pools. ``workers`` overrides the count, ``threads`` the
    torch threads of each."""
    cores, gpus = cpu_count(), gpu_count(device)
    if workers is None:
        workers = gpus or max(1, min(cores, available_bytes() // WORKER_BYTES))
    return LocalSize(workers, threads or max(1, cores // workers), gpus)


def jobqueue_cluster(kind: str):
    """A dask-jobqueue ``SLURMCluster`` or ``PBSCluster`` (no job submitted yet), configured by
    ``jobqueue.slurm`` / ``jobqueue.pbs`` in dask's configuration."""
    try:
        import dask_jobqueue
    except ImportError:
        raise ValueError(f"--cluster {kind} needs dask-jobqueue: pip install 'napari-tem-denoise[hpc]'") from None
    return {"slurm": dask_jobqueue.SLURMCluster, "pbs": dask_jobqueue.PBSCluster}[kind]()


@contextlib.contextmanager
def open_client(job: BatchJob, processes: bool = True, dashboard: str | None = ":8787") -> Iterator:
    """A ``distributed.Client`` for ``job`` with the model cache registered on every worker;
    the cluster it started (if any) is closed on exit, also on Ctrl-C.

    Parameters
    ----------
    job : BatchJob
        ``scheduler`` (an existing cluster), else ``cluster``: ``local`` or ``slurm``/``pbs``
        (dask-jobqueue, configured by ``dask.jobqueue.*`` in dask's configuration or the job's
        ``dask`` section); ``workers`` sets their number.
    processes : bool
        Local workers in their own processes (False: threads of this process, for tests).
    dashboard : str or None
        Address of the local dashboard (None: none).
    """
    from distributed import Client, LocalCluster

    with dask.config.set(job.dask):
        if job.scheduler:
            cluster, torch_threads = None, job.threads_per_worker
            client = Client(job.scheduler, set_as_default=False)
        elif job.cluster != "local":
            cluster, torch_threads = jobqueue_cluster(job.cluster), job.threads_per_worker
            cluster.scale(jobs=job.workers or 1)
            client = Client(cluster, set_as_default=False)
        else:
            size = local_size(job.device, job.workers, job.threads_per_worker)
            cluster = LocalCluster(n_workers=size.workers, threads_per_worker=1, processes=processes,
                                   dashboard_address=dashboard, silence_logs=logging.ERROR)
            torch_threads = size.torch_threads
            client = Client(cluster, set_as_default=False)
        try:
            client.register_plugin(ModelCache(torch_threads))
            yield client
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
