"""Batch processing of many files and huge stacks on ``dask.distributed``.

The client side (:mod:`~tem_denoise.batch.run`) expands the inputs, skips outputs that are
already complete, and submits units of work to a dask cluster (:mod:`~tem_denoise.batch.cluster`:
a ``LocalCluster`` sized to the machine, an existing scheduler, or SLURM/PBS through
dask-jobqueue). The worker side (:mod:`~tem_denoise.batch.units`) plans each file, then denoises
it whole into a calibrated TIFF or chunk by chunk into an OME-Zarr store
(:mod:`~tem_denoise.batch.zarr_store`), with the model loaded once per worker thread.
Importing this package imports neither dask.distributed nor torch.
"""

from tem_denoise.batch.job import BatchJob, load_config, write_config

__all__ = ["BatchJob", "load_config", "write_config"]
