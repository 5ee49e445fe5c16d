"""Units of work, run on dask workers: plan a file, denoise it whole, denoise a chunk of frames,
or run the operations after denoising on its output.

Each function returns a small picklable record (:class:`FilePlan`, :class:`UnitDone`) or a
:class:`Failure` with a one-line message, so one bad file is reported and the rest go on.
Models come from the worker's :class:`ModelCache` (registered as a worker plugin): each model is
loaded once per worker thread, not once per task. The frames a unit reads are sliced from the
lazily opened file, so a unit's memory is bounded by its frames, whatever the stack's length.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import dask
from distributed import WorkerPlugin, get_worker

from tem_denoise import io
from tem_denoise.batch import steps, zarr_store
from tem_denoise.batch.inputs import output_path
from tem_denoise.batch.job import BatchJob
from tem_denoise.operations.denoise import denoised_name, fit_adapter, iter_denoise, model_name, with_modality
from tem_denoise.progress import Progress, run_to_end

PLUGIN = "tem-denoise-models"
CHUNK_BYTES = 256 << 20
EXPECTED = (ValueError, OSError, MemoryError)
_sink = threading.local()


@dataclass(frozen=True)
class Failure:
    """A unit that could not be done: the input and a one-line reason."""

    source: str
    error: str
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class FilePlan:
    """How a file is processed, decided on a worker after reading its header.

    Attributes
    ----------
    source, target : str
        Input file and final output (``.tif`` or ``.ome.zarr``).
    kind : {"tiff", "zarr"}
        Output format.
    model : str
        Model name (the file's default when none was asked for).
    n_frames : int
        Frames in the stack (1 for an image).
    units : tuple of (int, int)
        Frame ranges ``[start, stop)`` of the units of work; one for a TIFF output.
    done : frozenset of (int, int)
        Units an interrupted earlier run already wrote (OME-Zarr only).
    adapter : object
        The model's intensity adapter fitted to the whole stack, shared by every unit so that
        a stack split into chunks gives the same result as a stack denoised whole.
    partial : str or None
        The hidden OME-Zarr store being written.
    warnings : tuple of str
        Warnings met while reading the file.
    """

    source: str
    target: str
    kind: str
    model: str
    n_frames: int
    units: tuple[tuple[int, int], ...]
    done: frozenset
    window: int
    adapter: Any
    partial: str | None = None
    warnings: tuple[str, ...] = ()

    @property
    def store(self) -> Path:
        """The hidden OME-Zarr store being written (OME-Zarr plans only)."""
        if self.partial is None:
            raise ValueError(f"'{self.target}' is not written as OME-Zarr")
        return Path(self.partial)


@dataclass(frozen=True)
class UnitDone:
    """A finished unit: frames written, seconds it took, and the output once the file is complete."""

    source: str
    frames: int
    seconds: float
    output: str | None = None
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class StepsDone:
    """The operations run after denoising on one file's output, and the seconds they took."""

    source: str
    steps: tuple[steps.StepDone, ...]
    seconds: float
    warnings: tuple[str, ...] = ()


class ModelCache(WorkerPlugin):
    """Worker plugin holding the worker's :class:`~tem_denoise.engine.Denoiser` objects.

    Parameters
    ----------
    torch_threads : int or None
        Intra-op threads each worker thread gives torch (None: torch's default), so that
        workers sharing a machine do not oversubscribe its cores.
    """

    name = PLUGIN

    def __init__(self, torch_threads: int | None = None):
        self.torch_threads = torch_threads

    def setup(self, worker) -> None:
        """Called on the worker when the plugin arrives (the cache itself is not sent)."""
        self.worker_name = worker.name
        self._denoisers: dict = {}
        self._lock = threading.Lock()
        _route_warnings()

    def denoiser(self, model: str, device: str, tile: int | None):
        """The Denoiser for ``model`` on this worker thread, loaded on first use."""
        from tem_denoise.engine import Denoiser

        key = (model, device, tile, threading.get_ident())
        with self._lock:
            if key not in self._denoisers:
                self._denoisers[key] = Denoiser(model, device=self._device(device), tile=tile)
            if self.torch_threads:  # after the Denoiser's own set-up, which takes every core
                import torch

                torch.set_num_threads(self.torch_threads)
            return self._denoisers[key]

    def loaded(self) -> list[str]:
        """Names of the models loaded on this worker, one entry per worker thread that uses each."""
        with self._lock:
            return [key[0] for key in self._denoisers]

    def _device(self, device: str) -> str:
        """``auto`` on a machine with several GPUs: local worker N gets GPU N modulo the count."""
        if device != "auto" or not isinstance(self.worker_name, int):
            return device
        import torch

        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        return f"cuda:{self.worker_name % count}" if count > 1 else device


_previous_showwarning = warnings.showwarning


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    sink = getattr(_sink, "warnings", None)
    if sink is None or not issubclass(category, UserWarning):
        _previous_showwarning(message, category, filename, lineno, file, line)
    else:
        sink.append(str(message))


def _route_warnings() -> None:
    """Send the user warnings raised while a unit runs (unreadable metadata, unknown pixel size)
    to that unit's record, thread by thread, each time they occur; once per process."""
    global _previous_showwarning
    if warnings.showwarning is _show_warning:
        return
    _previous_showwarning = warnings.showwarning
    warnings.showwarning = _show_warning
    warnings.filterwarnings("always", category=UserWarning)


class _LocalCompute:
    """Context: dask arrays computed while any unit of this process runs use the synchronous
    scheduler, in the unit's own thread, instead of being sent back to the cluster as tasks.

    ``dask.config.set`` is process-wide, so the setting is made by the first unit to enter and
    undone by the last to leave (units of several worker threads overlap).
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._users = 0
        self._setting = None

    def __enter__(self):
        with self._lock:
            if self._users == 0:
                self._setting = dask.config.set(scheduler="synchronous")
            self._users += 1

    def __exit__(self, *exc_info):
        with self._lock:
            self._users -= 1
            if self._users == 0:
                self._setting.__exit__(None, None, None)


_LOCAL_COMPUTE = _LocalCompute()


@contextlib.contextmanager
def _collected() -> Iterator[list[str]]:
    _sink.warnings = []
    try:
        yield _sink.warnings
    finally:
        _sink.warnings = None


def reported(task: Callable) -> Callable:
    """Run ``task(source_or_plan, ...)`` and turn its exception into a :class:`Failure`
    (warnings met on the way go into the record). The lazy arrays a unit reads are computed in
    the unit's own thread, not sent to the cluster as new tasks."""

    @functools.wraps(task)
    def run(first, *args, **kwargs):
        source = first.source if isinstance(first, FilePlan) else str(first)
        with _collected() as caught, _LOCAL_COMPUTE:
            try:
                result = task(first, *args, **kwargs)
            except EXPECTED as exc:
                return Failure(source, str(exc), tuple(caught))
            except Exception as exc:  # noqa: BLE001 - a bug: reported, and the other files go on
                return Failure(source, f"unexpected {type(exc).__name__}: {exc} (a bug in tem-denoise; "
                               "please report it)", tuple(caught))
        return dataclasses.replace(result, warnings=tuple(caught))

    return run


def _cache() -> ModelCache:
    return cast(ModelCache, get_worker().plugins[PLUGIN])


def _read(source: str, job: BatchJob) -> io.Stack:
    return with_modality(io.read(source), job.denoise)


def chunk_frames(job: BatchJob, shape: tuple[int, ...]) -> int:
    """Frames per unit: the job's, else about :data:`CHUNK_BYTES` of float32 output."""
    return job.chunk_frames or max(1, CHUNK_BYTES // (4 * shape[-1] * shape[-2]))


def split(n_frames: int, chunk: int) -> tuple[tuple[int, int], ...]:
    """``[start, stop)`` ranges of at most ``chunk`` frames covering ``n_frames``."""
    return tuple((start, min(n_frames, start + chunk)) for start in range(0, n_frames, chunk))


def _step(stack: io.Stack, denoiser, adapter, **extra) -> dict:
    """The denoise step of the provenance: the model's record and the adapter fitted to the stack."""
    step = {k: v for k, v in denoiser.provenance().items() if k != "last_run"}
    return {**step, "adapter": adapter.to_dict(), **extra}


def _derived(stack: io.Stack, data, model: str, step: dict) -> io.Stack:
    return stack.derive(data, denoised_name(stack.name, model), step)


@reported
def plan_file(source: str, base: str, job: BatchJob, key: dict) -> FilePlan:
    """Read ``source``'s header and a sample of its frames; choose the model, fit its adapter
    (as the denoise operation does for the whole stack), choose the output and its units, and
    for OME-Zarr open (or resume) the hidden store."""
    stack = _read(source, job)
    model = model_name(stack, job.denoise)
    denoiser = _cache().denoiser(model, job.device, job.tile)
    adapter = fit_adapter(stack, job.denoise, denoiser)
    chunk = chunk_frames(job, stack.shape)
    kind = job.format if job.format != "auto" else ("zarr" if stack.n_frames > chunk else "tiff")
    target = output_path(Path(base), kind)
    window = denoiser.card.temporal_window
    units: tuple[tuple[int, int], ...]
    if kind == "tiff" or not stack.is_stack:
        units = ((0, stack.n_frames),)
    else:
        units = split(stack.n_frames, chunk)
    if kind == "tiff":
        return FilePlan(source, str(target), kind, model, stack.n_frames, units, frozenset(), window, adapter)
    step = _step(stack, denoiser, adapter, units=len(units), chunk_frames=chunk)
    record = io.provenance(_derived(stack, stack.data, model, step), model=model,
                           weights_sha256=denoiser.card.weights_sha256, batch=key)
    partial, done = zarr_store.prepare(target, _derived(stack, stack.data, model, step), record)
    return FilePlan(source, str(target), kind, model, stack.n_frames, units, frozenset(done) & frozenset(units),
                    window, adapter, str(partial))


@reported
def denoise_file(plan: FilePlan, job: BatchJob, key: dict) -> UnitDone:
    """Denoise a whole file with the denoise operation into its calibrated TIFF (a temporary
    memory-mapped output when the result would not fit in memory), written atomically."""
    from tem_denoise.cli.engine import output_array

    start = time.perf_counter()
    stack = io.read(plan.source)
    denoiser = _cache().denoiser(plan.model, job.device, job.tile)
    target = Path(plan.target)
    with output_array(stack.shape, target.parent) as out:
        result = run_to_end(iter_denoise(stack, job.denoise, denoiser=denoiser, out=out))
        io.write(result, target, model=plan.model, weights_sha256=denoiser.card.weights_sha256, batch=key)
    return UnitDone(plan.source, plan.n_frames, time.perf_counter() - start, str(target))


@reported
def denoise_chunk(plan: FilePlan, start: int, stop: int, job: BatchJob) -> UnitDone:
    """Denoise frames ``start..stop-1`` into the OME-Zarr store; a temporal model reads the
    neighbouring frames it needs (half its window on each side, mirrored at the stack's ends
    exactly as for the whole stack)."""
    began = time.perf_counter()
    stack = _read(plan.source, job)
    denoiser = _cache().denoiser(plan.model, job.device, job.tile)
    if not stack.is_stack:
        frames = run_to_end(denoiser.iter_denoise(stack.data, adapter=plan.adapter))
    else:
        radius = plan.window // 2
        lo, hi = max(0, start - radius), min(plan.n_frames, stop + radius)
        output = run_to_end(denoiser.iter_denoise(stack.data[lo:hi], adapter=plan.adapter))
        frames = output[start - lo:stop - lo]
    zarr_store.write_unit(plan.store, start, stop, frames)
    return UnitDone(plan.source, stop - start, time.perf_counter() - began)


@reported
def finish_store(plan: FilePlan) -> UnitDone:
    """Rename the complete OME-Zarr store onto its target."""
    start = time.perf_counter()
    target = zarr_store.finish(plan.store, Path(plan.target), len(plan.units))
    return UnitDone(plan.source, 0, time.perf_counter() - start, str(target))


@reported
def run_then(source: str, output: str, base: str, job: BatchJob, key: dict, topic: str | None = None
             ) -> StepsDone:
    """Run the job's operations after denoising (drift, atoms, quality) on ``output``, the
    denoised output of ``source`` (see :func:`~tem_denoise.batch.steps.run_steps`); their
    progress goes to the client as dask events on ``topic`` (see :func:`step_reporter`)."""
    start = time.perf_counter()
    report = step_reporter(topic, source) if topic else None
    done = steps.run_steps(source, output, Path(base), job, key, report)
    return StepsDone(source, tuple(done), time.perf_counter() - start)


def step_reporter(topic: str, source: str, every_s: float = 0.5) -> steps.StepReport:
    """A :data:`~tem_denoise.batch.steps.StepReport` that logs the step's progress as dask events
    (``Worker.log_event``) on ``topic``: ``{"source", "operation", "phase", "done", "total"}`` when a step
    starts and then at most every ``every_s`` seconds, and ``{"source", "operation", "status"}``
    when it is over. The client subscribes to the topic (``Client.subscribe_topic``)."""
    worker = get_worker()
    last_operation, last_time = "", 0.0

    def report(operation: str, step: Progress | steps.StepDone) -> None:
        nonlocal last_operation, last_time
        now = time.monotonic()
        if isinstance(step, steps.StepDone):
            message: dict[str, Any] = {"source": source, "operation": operation, "status": step.status}
        elif operation != last_operation or now - last_time >= every_s:
            message = {"source": source, "operation": operation, "phase": step.message, "done": step.done,
                       "total": step.total}
        else:
            return
        last_operation, last_time = operation, now
        worker.log_event(topic, message)

    return report
