"""Compute device choice: CUDA, then Apple MPS, then CPU; explicit choices are checked."""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


def _mps_available(torch) -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def available_devices() -> list[str]:
    """Device names usable here, for a UI list: ``"auto"``, ``"cpu"``, then ``"cuda:N"`` and ``"mps"``."""
    import torch

    names = ["auto", "cpu"]
    if torch.cuda.is_available():
        names += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if _mps_available(torch):
        names.append("mps")
    return names


def resolve_device(device="auto"):
    """Turn ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"`` or a ``torch.device`` into a device.

    Raises
    ------
    ValueError
        If the name is unknown or the device is not available on this machine.
    """
    import torch

    if isinstance(device, torch.device):
        name = str(device)
    else:
        name = str(device).strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available(torch):
            return torch.device("mps")
        return torch.device("cpu")
    kind = name.split(":")[0]
    if kind not in DEVICE_CHOICES:
        raise ValueError(f"unknown device {device!r}; choose one of {available_devices()}")
    if kind == "cuda":
        if not torch.cuda.is_available():
            raise ValueError("device 'cuda' requested but no CUDA GPU is available here; use 'auto' or 'cpu'")
        dev = torch.device(name)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"device {name!r} does not exist; this machine has {torch.cuda.device_count()} GPU(s)")
        return dev
    if kind == "mps" and not _mps_available(torch):
        raise ValueError("device 'mps' requested but Apple MPS is not available here; use 'auto' or 'cpu'")
    return torch.device(name)


def cpu_count() -> int:
    """CPUs this process may run on (affinity-aware where the OS reports it)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def configure(device) -> None:
    """Set sensible global torch options for ``device``.

    On CPU, torch uses one thread per CPU available to the process unless
    ``OMP_NUM_THREADS`` is set (then the user's choice stands). On CUDA, cuDNN
    autotuning is enabled (tiles have a fixed size, so it pays off).
    """
    import torch

    if device.type == "cpu" and "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(cpu_count())
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True


def fft_threads():
    """A context in which ``scipy.fft`` runs on as many threads as torch does: the CPUs the
    process may use, ``OMP_NUM_THREADS``, or a batch worker's share (scipy's own default is one
    thread, and ``workers=-1`` would take every core of the machine whatever the budget)."""
    import torch
    from scipy import fft

    return fft.set_workers(torch.get_num_threads())


def run_threaded(calls: list[Callable[[], T]], most: int | None = None) -> list[T]:
    """The results of ``calls`` (functions of no argument), in order, run at once on as many
    threads as ``scipy.fft`` is given in this context (:func:`fft_threads`), at ``most`` at a
    time when given (memory), or in turn on one. For numpy and scipy work that releases the GIL:
    filters, FFTs."""
    from scipy import fft

    workers = min(fft.get_workers(), len(calls), most or len(calls))
    if workers <= 1:
        return [call() for call in calls]
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda call: call(), calls))


def describe_device(device) -> str:
    """Human-readable device description, e.g. ``"CUDA 0: NVIDIA H100 (79.1 GiB)"`` or ``"CPU (2 threads)"``."""
    import torch

    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        props = torch.cuda.get_device_properties(index)
        return f"CUDA {index}: {props.name} ({props.total_memory / 2**30:.1f} GiB)"
    if device.type == "mps":
        return "Apple MPS (Metal GPU)"
    return f"CPU ({torch.get_num_threads()} threads)"
