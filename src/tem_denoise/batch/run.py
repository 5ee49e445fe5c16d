"""The client side of a batch: skip what is complete, submit units to the cluster as files are
planned, follow them as they finish, and keep a manifest of every input.

Work flows through ``distributed.as_completed``: a file's plan (run on a worker) is followed by
its units (one for a TIFF output, one per chunk of frames for OME-Zarr), and a split stack's
store is renamed onto its target when its last chunk is written; the operations after denoising
(``--then``) follow on the file's output, also on one an earlier run completed. A failed file, or a
failed step of a file, is recorded and the others go on. The manifest (``batch_manifest.json`` in
the output folder) is rewritten atomically after every file, so an interrupted run still leaves an
up-to-date one.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tem_denoise import io
from tem_denoise.batch import units
from tem_denoise.batch.inputs import output_path
from tem_denoise.batch.job import BatchJob
from tem_denoise.outputs import PARTIAL, write_text

MANIFEST = "batch_manifest.json"


@dataclass
class Record:
    """One input in the manifest.

    ``status`` is the denoising's: ``done``, ``skipped`` (complete from an earlier run),
    ``failed`` (``error`` says why) or ``interrupted``; ``seconds`` is the workers' time on this
    file in this run; ``units`` counts its units of work and ``resumed_units`` those an earlier,
    interrupted run had written. ``steps`` holds the operations after denoising (``--then``): for
    each, its status (``done``, ``skipped``, ``not applicable``, ``failed`` or ``not run`` after a
    failed one), outputs and a summary (for a failed step, why).
    """

    input: str
    output: str | None = None
    model: str | None = None
    status: str = "pending"
    frames: int | None = None
    units: int = 0
    resumed_units: int = 0
    seconds: float = 0.0
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    steps: dict[str, dict] = field(default_factory=dict)


@dataclass(frozen=True)
class BatchProgress:
    """Where a run stands: files finished (done, skipped or failed) of all, frames denoised in
    this run of those known so far (``frames_total`` is None until every file is planned),
    denoising's frames per second and the estimated seconds of denoising left (None when unknown or
    none are left); with ``--then``,
    the steps finished (done, skipped or not applicable) of all and the steps running now,
    e.g. ``("atoms of movie.tif: 7/16",)``."""

    files_done: int
    files_total: int
    frames_done: int
    frames_total: int | None
    rate: float
    eta_s: float | None
    steps_done: int = 0
    steps_total: int = 0
    running: tuple[str, ...] = ()


def complete_output(base: Path, key: dict) -> tuple[Path, dict] | None:
    """The output at ``base`` (TIFF or OME-Zarr) and its provenance when it is complete and was
    made with ``key``'s settings, else None."""
    for path in (output_path(base, "tiff"), output_path(base, "zarr")):
        record = None
        if path.exists():
            with contextlib.suppress(io.ReadError):
                record = io.read_provenance(path)
        if record and record.get("batch") == key:
            return path, record
    return None


def remove_partials(bases: list[Path]) -> None:
    """Remove temporary TIFFs that killed workers left for these outputs (OME-Zarr stores in
    progress are kept: they are resumed)."""
    for base in bases:
        tif = output_path(base, "tiff")
        for leftover in tif.parent.glob(f".{tif.name}{PARTIAL}*"):
            with contextlib.suppress(OSError):
                leftover.unlink()


def file_counts(records: list[Record]) -> dict[str, int]:
    """How many files were denoised (``done``), ``skipped`` and ``failed``."""
    return {status: sum(r.status == status for r in records) for status in ("done", "skipped", "failed")}


def step_counts(records: list[Record]) -> dict[str, dict[str, int]]:
    """For each operation after denoising, how many files' steps ended in each status, e.g.
    ``{"atoms": {"done": 1, "failed": 1}}`` (statuses in the order first met)."""
    counts: dict[str, dict[str, int]] = {}
    for record in records:
        for operation, step in record.steps.items():
            by_status = counts.setdefault(operation, {})
            by_status[step["status"]] = by_status.get(step["status"], 0) + 1
    return counts


def write_manifest(path: Path, job: BatchJob, records: list[Record], started: float) -> Path:
    """The manifest: the job's settings, when it ran, the files denoised, skipped and failed and
    the steps after denoising by status, and one record per input (JSON)."""
    run = {"started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(started)),
           "seconds": round(time.time() - started, 3), **file_counts(records), "steps": step_counts(records),
           "settings": job.key(), "format": job.format, "device": job.device, "then": job.then_settings()}
    document = {"run": run, "files": [asdict(r) for r in records]}
    return write_text(path, json.dumps(document, indent=1, default=str) + "\n")


class _Tracker:
    """State of the files in flight; turns finished futures into new submissions and records."""

    def __init__(self, client, job: BatchJob, key: dict, records: dict[str, Record]):
        from distributed import as_completed

        self.client, self.job, self.key = client, job, key
        self.records = records
        self.plans: dict[str, units.FilePlan] = {}
        self.bases: dict[str, Path] = {}
        self.left: dict[str, int] = {}
        self.pending = as_completed(loop=client.loop)
        self.kind: dict = {}
        self.frames_done = 0
        self.frames_todo = 0
        self.file_frames: dict[str, list[int]] = {}
        self.first_unit: float | None = None
        self.last_unit: float | None = None
        self.topic = f"tem-denoise-steps-{uuid.uuid4().hex}"
        self.lock = threading.Lock()
        self.changed = threading.Event()  # a step reported progress
        self.steps_over: dict[str, int] = {}
        self.step_now: dict[str, str] = {}  # source -> what its running step is doing

    def submit(self, kind: str, source: str, function, *args, priority: int = 0) -> None:
        future = self.client.submit(function, *args, pure=False, priority=priority)
        self.kind[future] = (kind, source)
        self.pending.add(future)

    def plan(self, source: str, base: Path) -> None:
        self.bases[source] = base
        self.submit("plan", source, units.plan_file, source, str(base), self.job, self.key, priority=10)

    def then(self, source: str, output: str, base: Path) -> None:
        """Run the operations after denoising on ``output`` (the file is finished when they are)."""
        self.submit("then", source, units.run_then, source, output, str(base), self.job, self.key, self.topic,
                    priority=5)

    def on_step_event(self, event: tuple[float, dict]) -> None:
        """A step's progress, sent by :func:`~tem_denoise.batch.units.step_reporter` (called in the
        client's event loop; the main thread prints it)."""
        message = event[1]
        source = message.get("source")
        if source not in self.records:
            return
        with self.lock:
            record = self.records[source]
            if record.steps or record.status == "failed":  # a late event of a finished file
                return
            if "status" in message:
                self.steps_over[source] = self.steps_over.get(source, 0) + 1
                self.step_now.pop(source, None)
            else:
                phase = message.get("phase") or message["operation"]
                phase = f" {phase}" if phase != message["operation"] else ""
                self.step_now[source] = (f"{message['operation']} of {Path(source).name}:{phase} "
                                         f"{message['done']}/{message['total']}")
        self.changed.set()

    def handle(self, future) -> bool:
        """Process one finished future; True when it finished a file."""
        if future not in self.kind:  # cancelled with its failed file
            return False
        kind, source = self.kind.pop(future)
        try:
            result = future.result()
        except Exception as exc:  # noqa: BLE001 - a lost worker or cancelled task fails this file only
            result = units.Failure(source, f"{type(exc).__name__}: {exc}")
        record = self.records[source]
        record.warnings.extend(w for w in result.warnings if w not in record.warnings)
        if isinstance(result, units.Failure) and kind == "then":  # e.g. a lost worker: the denoising stands
            with self.lock:
                record.steps = {operation: {"status": "failed", "outputs": [], "summary": result.error}
                                for operation in self.job.then}
                self.steps_over[source] = len(self.job.then)
                self.step_now.pop(source, None)
            return True
        if isinstance(result, units.Failure):
            return self._fail(record, result)
        if kind == "plan":
            return self._start(record, result)
        record.seconds += result.seconds
        if kind == "then":
            with self.lock:
                record.steps = {s.operation: {"status": s.status, "outputs": list(s.outputs), "summary": s.summary}
                                for s in result.steps}
                self.steps_over[source] = len(result.steps)
                self.step_now.pop(source, None)
            return True
        self.frames_done += result.frames
        self.last_unit = time.perf_counter()
        self.file_frames[source][1] += result.frames
        if result.output is None:
            self.left[source] -= 1
            if self.left[source] == 0:
                self.submit("finish", source, units.finish_store, self.plans[source], priority=20)
            return False
        record.status, record.output = "done", result.output
        if self.job.then:
            self.then(source, result.output, self.bases[source])
            return False
        return True

    def _fail(self, record: Record, failure: units.Failure) -> bool:
        if record.status == "failed":
            return False
        for future, (_, source) in list(self.kind.items()):
            if source == record.input:
                future.cancel()
                del self.kind[future]
        with self.lock:
            record.status, record.error = "failed", failure.error
            self.step_now.pop(record.input, None)
            self.steps_over.pop(record.input, None)
        todo, done = self.file_frames.pop(record.input, (0, 0))
        self.frames_todo -= todo - done
        return True

    def _start(self, record: Record, plan: units.FilePlan) -> bool:
        self.plans[plan.source] = plan
        record.model, record.frames, record.units = plan.model, plan.n_frames, len(plan.units)
        record.resumed_units = len(plan.done)
        record.output = plan.target
        if self.first_unit is None:
            self.first_unit = time.perf_counter()
        todo = [unit for unit in plan.units if unit not in plan.done]
        frames = sum(stop - start for start, stop in todo)
        self.file_frames[plan.source] = [frames, 0]
        self.frames_todo += frames
        if plan.kind == "tiff":
            self.submit("unit", plan.source, units.denoise_file, plan, self.job, self.key)
            return False
        self.left[plan.source] = len(todo)
        if not todo:
            self.submit("finish", plan.source, units.finish_store, plan, priority=20)
        for start, stop in todo:
            self.submit("unit", plan.source, units.denoise_chunk, plan, start, stop, self.job)
        return False

    def progress(self, files_done: int) -> BatchProgress:
        waiting = any(r.status == "pending" and s not in self.plans for s, r in self.records.items())
        elapsed = self.last_unit - self.first_unit if self.first_unit and self.last_unit else 0.0
        rate = self.frames_done / elapsed if elapsed > 0 else 0.0
        total = None if waiting else self.frames_todo
        left = total - self.frames_done if total is not None else None
        eta = left / rate if left and rate > 0 else None
        with self.lock:
            steps_done = sum(self.steps_over.values())
            running = tuple(self.step_now.values())
        failed = sum(r.status == "failed" for r in self.records.values())
        return BatchProgress(files_done, len(self.records), self.frames_done, total, rate,
                             max(0.0, eta) if eta is not None else None,
                             steps_done, len(self.job.then) * (len(self.records) - failed), running)

    def wait(self) -> bool:
        """Wait for a finished unit (True) or a step's progress (False), whichever comes first."""
        while not self.pending.has_ready():
            if self.changed.wait(0.1):
                self.changed.clear()
                return False
        return True


def run_batch(client, job: BatchJob, files: list[Path], bases: list[Path],
              on_progress: Callable[[BatchProgress], None] | None = None) -> list[Record]:
    """Process ``files`` into ``bases`` (see :func:`~tem_denoise.batch.inputs.output_bases`) on
    ``client``'s cluster; returns one :class:`Record` per file, in input order.

    Outputs that are complete with the same settings are skipped; an OME-Zarr store an
    interrupted run left is resumed. ``on_progress`` is called after every finished unit and
    whenever a step after denoising reports progress (at most twice a second per step). The
    manifest is written to ``job.output`` after every file and when the run ends, also when it is
    interrupted.
    """
    started = time.time()
    key = job.key()
    records = {str(path): Record(str(path)) for path in files}
    tracker = _Tracker(client, job, key, records)
    manifest = Path(job.output) / MANIFEST
    finished = 0
    todo = []
    for path, base in zip(files, bases, strict=True):
        found = complete_output(base, key)
        record = records[str(path)]
        if found is None:
            todo.append((path, base))
            continue
        output, provenance = found
        record.status, record.output, record.model = "skipped", str(output), provenance.get("model")
        record.frames = int(provenance.get("shape", [1])[0]) if len(provenance.get("shape", [])) == 3 else 1
        if job.then:
            tracker.then(str(path), str(output), base)
        else:
            finished += 1
    remove_partials([base for _, base in todo])
    for path, base in todo:
        tracker.plan(str(path), base)
    if job.then:
        client.subscribe_topic(tracker.topic, tracker.on_step_event)
    try:
        while not tracker.pending.is_empty():
            if tracker.wait() and tracker.handle(next(tracker.pending)):
                finished += 1
                write_manifest(manifest, job, list(records.values()), started)
            if on_progress is not None:
                on_progress(tracker.progress(finished))
    finally:
        if job.then:
            client.unsubscribe_topic(tracker.topic)
        client.cancel(list(tracker.kind))
        for record in records.values():
            if record.status == "pending":
                record.status = "interrupted"
        write_manifest(manifest, job, list(records.values()), started)
    return list(records.values())
