"""Operations after denoising (``--then drift,atoms,quality``), run on a worker per file.

Each step calls its operation (:mod:`tem_denoise.operations`) on the file's denoised output
and writes beside it, in the output folder (``BASE`` is ``OUT/STEM_denoised``):

* ``drift``: the drift-corrected stack ``BASE_aligned.tif`` (calibrated, with provenance) and
  its shifts ``BASE_aligned_shifts.csv``;
* ``atoms``: ``BASE_atoms.csv``, found in ``BASE_aligned.tif`` when ``drift`` ran before it,
  else in the denoised output;
* ``quality``: uMSE/uPSNR and CSS of the denoised output against the raw input.

Every output is written atomically; then a record ``BASE_STEP.json`` (the step's settings, its
outputs and results) is written, last. A step whose record holds the same settings and whose
outputs all exist is complete, and a second run skips it. The settings of a step include those
of the image it ran on (the denoising, and the drift correction before ``atoms``), so a step is
redone when anything before it changed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tem_denoise import io
from tem_denoise.batch.job import BatchJob
from tem_denoise.operations.atoms import iter_find_atoms
from tem_denoise.operations.drift import iter_correct_drift, write_correction
from tem_denoise.operations.quality import iter_quality
from tem_denoise.outputs import write_text
from tem_denoise.progress import Progress, run_to_end

NOT_APPLICABLE = "not applicable"
NOT_RUN = "not run"
"""The status of the steps after a failed one: they are not run on a file whose step failed."""


@dataclass(frozen=True)
class StepDone:
    """One step of one file: ``status`` is ``done``, ``skipped`` (complete from an earlier run),
    ``not applicable`` (drift or quality of a single image), ``failed`` (``summary`` says why) or
    :data:`NOT_RUN` (after a failed step); ``outputs`` the files it wrote."""

    operation: str
    status: str
    outputs: tuple[str, ...] = ()
    summary: str = ""


StepReport = Callable[[str, "Progress | StepDone"], None]
"""Called with a step's name and each Progress of its operation, then with its StepDone."""
OnStep = Callable[[Progress], None] | None


def aligned_path(base: Path) -> Path:
    """The drift-corrected stack of the output at ``base``."""
    return base.with_name(f"{base.name}_aligned.tif")


def atoms_path(base: Path) -> Path:
    """The atoms CSV of the output at ``base``."""
    return base.with_name(f"{base.name}_atoms.csv")


def record_path(base: Path, operation: str) -> Path:
    """The record (settings, outputs, results) of ``operation`` on the output at ``base``."""
    return base.with_name(f"{base.name}_{operation}.json")


def output_paths(base: Path) -> list[Path]:
    """Every file a step may write for the output at ``base`` (to refuse inputs among them)."""
    from tem_denoise.operations.drift import shifts_path

    aligned = aligned_path(base)
    return [aligned, shifts_path(aligned), atoms_path(base), *(record_path(base, op) for op in ("drift", "atoms",
                                                                                               "quality"))]


def _json(value: Any) -> Any:
    """JSON for numpy scalars and paths."""
    return value.item() if hasattr(value, "item") else str(value)


def _normalised(value: Any) -> Any:
    return json.loads(json.dumps(value, default=_json))


def complete(base: Path, operation: str, key: dict) -> dict | None:
    """The record of ``operation`` at ``base`` when it was made with ``key`` and its outputs exist."""
    try:
        record = json.loads(record_path(base, operation).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("batch") != _normalised(key):
        return None
    return record if all(Path(p).exists() for p in record.get("outputs", [])) else None


def _drift(stack: io.Stack, base: Path, job: BatchJob, key: dict, on_step: OnStep
           ) -> tuple[dict, io.Stack | None]:
    result = run_to_end(iter_correct_drift(stack, job.options_of("drift")), on_step)
    tif, csv = write_correction(result, aligned_path(base), batch=key)
    return {"outputs": [str(tif), str(csv)], "summary": result.summary()}, result.stack


def _atoms(stack: io.Stack, base: Path, job: BatchJob, on_step: OnStep) -> dict:
    atoms = run_to_end(iter_find_atoms(stack, job.options_of("atoms")), on_step)
    path = atoms_path(base)
    atoms.write_csv(path)
    return {"outputs": [str(path)], "summary": atoms.summary(), "found_in": stack.name, "provenance": atoms.step}


def _quality(raw: io.Stack, denoised: io.Stack, job: BatchJob, on_step: OnStep) -> dict:
    (scores,) = run_to_end(iter_quality(raw, [denoised], job.options_of("quality")), on_step)
    row = {name: value for name, value in scores.row().items() if name != "layer"}
    return {"outputs": [], "summary": scores.summary(), "scores": row, "frames": len(scores.umse.frames)}


def _run_step(operation: str, stack: io.Stack, source: str, base: Path, job: BatchJob, key: dict,
              on_step: OnStep) -> tuple[dict, io.Stack | None]:
    """Run one step on ``stack``; its record and, for drift, the corrected stack."""
    if operation == "drift":
        return _drift(stack, base, job, key, on_step)
    if operation == "atoms":
        return _atoms(stack, base, job, on_step), None
    return _quality(io.read(source), stack, job, on_step), None


def run_steps(source: str, output: str, base: Path, job: BatchJob, key: dict,
              report: StepReport | None = None) -> list[StepDone]:
    """Run ``job.then`` in order on ``output``, the denoised output of ``source`` made with ``key``.

    Complete steps are skipped; the others write their outputs, then their record. ``report``
    is called with each step's name and every :class:`~tem_denoise.progress.Progress` its
    operation yields, then with its :class:`StepDone`. A step that cannot handle the data
    (ValueError, OSError) is ``failed``, with the operation's one-line message as its summary,
    and the steps after it are :data:`NOT_RUN` (atoms after a failed drift would otherwise run
    on another image than asked).
    """
    def finished(step: StepDone) -> None:
        done.append(step)
        if report is not None:
            report(step.operation, step)

    loaded: dict[Path, io.Stack] = {}
    image_path, image_key = Path(output), key  # what drift and atoms run on
    done: list[StepDone] = []
    for index, operation in enumerate(job.then):
        path, on = (Path(output), key) if operation == "quality" else (image_path, image_key)
        step_key = {"operation": operation, "options": asdict(job.options_of(operation)), "on": on}
        found = complete(base, operation, step_key)
        if found is not None:
            finished(StepDone(operation, "skipped", tuple(found["outputs"]), found.get("summary", "")))
        else:
            if path not in loaded:
                loaded[path] = io.read(path)
            stack = loaded[path]
            if operation in ("drift", "quality") and not stack.is_stack:
                finished(StepDone(operation, NOT_APPLICABLE, (), f"{operation} needs a (t, y, x) stack"))
                continue
            on_step = (lambda step, op=operation: report(op, step)) if report is not None else None
            try:
                record, corrected = _run_step(operation, stack, source, base, job, step_key, on_step)
            except (ValueError, OSError) as exc:
                finished(StepDone(operation, "failed", (), f"{operation} of '{path.name}': {exc}"))
                for later in job.then[index + 1:]:
                    finished(StepDone(later, NOT_RUN, (), f"{operation} failed before it"))
                return done
            if corrected is not None:
                loaded[aligned_path(base)] = corrected
            record_file = record_path(base, operation)
            record = {"operation": operation, "input": source, "image": str(path), "batch": step_key,
                      **record, "outputs": [*record["outputs"], str(record_file)]}
            write_text(record_file, json.dumps(record, indent=1, default=_json) + "\n")
            finished(StepDone(operation, "done", tuple(record["outputs"]), record["summary"]))
        if operation == "drift":
            image_path, image_key = aligned_path(base), step_key
    return done
