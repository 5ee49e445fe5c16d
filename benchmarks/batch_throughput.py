"""Throughput of ``tem-denoise batch`` with 1 and 2 local workers on one long stack.

Writes a long uint16 stack of Poisson frames (TIFF, in a scratch folder), then for each worker
count starts a fresh LocalCluster through the same code as ``tem-denoise batch`` (one process
per worker, one task thread each, the cores shared between their torch thread pools), denoises
the stack chunk by chunk into OME-Zarr and prints frames/s (wall time of the run, cluster start
excluded) and each worker's peak resident memory (``ru_maxrss`` of its process). Each run also
reads the stack, fits the adapter on a worker and writes the compressed output, as a user's
run does.

Usage::

    python benchmarks/batch_throughput.py                         # 2000 x 1024^2, gaussian-2d
    python benchmarks/batch_throughput.py --frames 400 --model wcid-2d --json results/batch.json
    python benchmarks/batch_throughput.py --device cuda --model wcid-2d --workers 1 2
    python benchmarks/batch_throughput.py --frames 2000 --stop-after 128   # memory of a long stack, quickly
    python benchmarks/batch_throughput.py --threads-per-worker 1   # each worker on one core, whatever the count
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from tem_denoise import io
from tem_denoise.batch import BatchJob
from tem_denoise.batch.cluster import cpu_count, open_client
from tem_denoise.batch.inputs import expand_inputs, output_bases
from tem_denoise.batch.run import run_batch


def write_stack(path: Path, frames: int, size: int) -> Path:
    """A ``(frames, size, size)`` uint16 stack of Poisson counts (mean 5) written as calibrated
    TIFF frame by frame: a lazy dask array makes each frame when the writer asks for it, so only
    one frame is ever in memory."""
    import dask.array as da

    def frame(block_info=None):
        index = block_info[None]["chunk-location"][0]
        return np.random.default_rng(index).poisson(5.0, (1, size, size)).astype(np.uint16)

    data = da.map_blocks(frame, chunks=((1,) * frames, (size,), (size,)), dtype=np.uint16)
    return io.write(io.Stack.from_array(data, pixel_size=0.02, frame_interval=0.01, name="long",
                                        modality="HRTEM"), path)


def peak_rss_mib() -> float:
    """Peak resident memory of this process in MiB (run on each worker): ``VmHWM`` on Linux, which
    a new program starts afresh (``ru_maxrss`` carries the parent's peak across fork and exec)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def warm_up() -> None:
    """Import torch and the engine on a worker (once per process), so the timed run measures the
    denoising and not the first import."""
    import torch  # noqa: F401

    import tem_denoise.engine  # noqa: F401


def _stop_after(frames: int | None):
    """An ``on_progress`` that interrupts the run once ``frames`` frames are denoised (None: never)."""
    def check(state) -> None:
        if frames is not None and state.frames_done >= frames:
            raise KeyboardInterrupt
    return check


def torch_threads() -> int:
    """Intra-op threads of torch in this process (run on each worker)."""
    import torch

    return torch.get_num_threads()


def run(source: Path, output: Path, model: str, device: str, workers: int, chunk: int | None,
        stop_after: int | None = None, threads: int | None = None) -> dict:
    """One batch run on a fresh cluster of ``workers`` local worker processes of ``threads`` torch
    threads each (None: the cores shared between them), stopped once ``stop_after`` frames are
    denoised, when given."""
    shutil.rmtree(output, ignore_errors=True)
    job = BatchJob(inputs=(str(source),), output=str(output), model=model, device=device, workers=workers,
                   threads_per_worker=threads, format="zarr", chunk_frames=chunk)
    files = expand_inputs(job.inputs, job.output)
    with open_client(job, dashboard=None) as client:
        client.wait_for_workers(workers)
        client.run(warm_up)
        states = []
        check = _stop_after(stop_after)

        def follow(state) -> None:
            states.append(state)
            check(state)

        start = time.perf_counter()
        with contextlib.suppress(KeyboardInterrupt):
            records = run_batch(client, job, files, output_bases(files, job.output), on_progress=follow)
        seconds = time.perf_counter() - start
        peaks = sorted(client.run(peak_rss_mib).values())
        threads_used = sorted(client.run(torch_threads).values())
    frames = states[-1].frames_done if states else 0
    if stop_after is None and records[0].status != "done":
        raise SystemExit(f"the batch failed: {records[0].error}")
    return {"workers": workers, "stack_frames": states[-1].frames_total if states else None, "frames": frames,
            "seconds": round(seconds, 2), "frames_per_s": round(frames / seconds, 2),
            "peak_rss_mib_per_worker": [round(p) for p in peaks], "torch_threads_per_worker": threads_used}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=2000)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--model", default="gaussian-2d")
    parser.add_argument("--device", default="cpu", help="cpu, or auto/cuda (workers share the GPUs round robin)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--threads-per-worker", type=int,
                        help="torch threads of each worker (default: the cores shared between the workers)")
    parser.add_argument("--chunk-frames", type=int, help="frames per unit (default: the batch's, ~256 MiB)")
    parser.add_argument("--stop-after", type=int, metavar="FRAMES",
                        help="stop each run once this many frames are denoised (a long stack's memory and rate "
                             "without denoising all of it)")
    parser.add_argument("--scratch", help="folder for the stack and outputs (default: a temporary one)")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    scratch = Path(args.scratch or tempfile.mkdtemp(prefix="batch-bench-"))
    scratch.mkdir(parents=True, exist_ok=True)
    source = scratch / f"long_{args.frames}x{args.size}.tif"
    if not source.exists():
        began = time.perf_counter()
        write_stack(source, args.frames, args.size)
        print(f"wrote {source} ({source.stat().st_size / 2**30:.2f} GiB) in {time.perf_counter() - began:.0f} s")
    results = [run(source, scratch / f"out_{n}", args.model, args.device, n, args.chunk_frames, args.stop_after,
                   args.threads_per_worker)
               for n in args.workers]
    print(f"{args.model} on {args.device}, {args.frames} x {args.size}^2 uint16 -> OME-Zarr float32, "
          f"{cpu_count()} cores "
          f"({platform.processor() or platform.machine()}); load average {os.getloadavg()[1]:.1f} over the last 5 min "
          "(other processes on this machine slow the runs down)")
    print("| workers | torch threads per worker | frames denoised | seconds | frames/s | speed-up | "
          "peak RSS per worker (MiB) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for result in results:
        speedup = result["frames_per_s"] / results[0]["frames_per_s"]
        print(f"| {result['workers']} | {', '.join(map(str, result['torch_threads_per_worker']))} | "
              f"{result['frames']} of {args.frames} | {result['seconds']} | "
              f"{result['frames_per_s']} | {speedup:.2f}x | {', '.join(map(str, result['peak_rss_mib_per_worker']))} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"model": args.model, "device": args.device, "size": args.size,
                                               "frames": args.frames, "stop_after": args.stop_after,
                                               "threads_per_worker": args.threads_per_worker,
                                               "cores": cpu_count(), "load_average_5min": os.getloadavg()[1],
                                               "results": results}, indent=1) + "\n")
    if not args.scratch:
        shutil.rmtree(scratch)


if __name__ == "__main__":
    main()
