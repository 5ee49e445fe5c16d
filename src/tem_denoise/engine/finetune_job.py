"""Fine-tuning in a subprocess: memory (host and GPU) is given back when the run ends.

:func:`iter_job` starts ``python -m tem_denoise.engine.finetune_job SPEC.json`` and yields the
records the child prints, one JSON object a line:

* ``{"event": "step", "done": ..., "total": ..., "loss": ..., "val_loss": ..., "best_val": ...,
  "seconds": ..., "eta_s": ..., "message": ..., "extra": {...}, "preview": PATH or null}`` for
  every step (the fields of :class:`~tem_denoise.engine.tuning.TuneStep`, see :func:`step_of`);
* ``{"event": "done", "model": NAME, "directory": ..., "steps": ..., "best_val": ...}`` at the end;
* ``{"event": "cancelled", "run_dir": ..., "steps": ..., "best_step": ..., "best_val": ...}`` when
  stopped (checkpoint written, resumable);
* ``{"event": "error", "message": ...}`` for bad input (one line, as the CLI prints it).

:meth:`JobProcess.stop` (a dock's Cancel, from any thread) and closing the generator send
SIGTERM; the child writes its checkpoint, reports ``cancelled`` and exits. A child whose
parent stopped reading (closed pipe) stops the same way. The spec is a JSON object: ``input``
(a ``.npy`` array or any file ``tem_denoise.io`` reads), ``config`` (the fields of
:class:`~tem_denoise.engine.tuning.TuneConfig`), and optionally ``folder`` (user-model folder),
``resume`` and ``preview_frame`` (the frame of the live preview, see
:class:`~tem_denoise.engine.live_preview.LivePreview`).
"""

from __future__ import annotations

import json
import math
import signal
import subprocess
import sys
import tempfile
from collections.abc import Generator
from dataclasses import asdict, replace
from pathlib import Path
from typing import TextIO

import numpy as np

STOP_TIMEOUT_S = 60


def _clean(value):
    """JSON-safe: infinities and NaN become None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    return value


def _emit(out: TextIO, record: dict) -> None:
    out.write(json.dumps(_clean(record)) + "\n")
    out.flush()


def read_input(path: str | Path, config):
    """The stack of ``path`` and ``config`` completed with the file's pixel size, modality and name."""
    from tem_denoise import io

    path = Path(path)
    if path.suffix.lower() == ".npy":
        return np.load(path, allow_pickle=False), replace(config, source=config.source or path.name)
    stack = io.read(path)
    calibration = stack.calibration
    return stack.data, replace(config, source=config.source or path.name,
                               pixel_size_nm=config.pixel_size_nm or (calibration.mean_pixel_size
                                                                      if calibration.calibrated else None),
                               modality=config.modality or stack.modality)


def step_of(record: dict):
    """The :class:`~tem_denoise.engine.tuning.TuneStep` of a ``step`` record."""
    from tem_denoise.engine.tuning import TuneStep

    fields = {key: value for key, value in record.items() if key != "event"}
    if fields.get("best_val") is None:
        fields["best_val"] = math.inf
    return TuneStep(**fields)


def _cancelled(config, folder) -> dict:
    """The ``cancelled`` record: where the run's checkpoint is and how far it got."""
    from tem_denoise.engine.tuning import read_run, run_folder

    run_dir = run_folder(config.name, folder) if config else None
    record = {"event": "cancelled", "run_dir": str(run_dir) if run_dir else None}
    if run_dir is not None and (run_dir / "run.json").is_file():
        run = read_run(run_dir)
        record.update(steps=run["step"], best_step=run["best_step"], best_val=run["best_val"])
    return record


def run_job(spec: dict, out: TextIO = sys.stdout) -> int:
    """Run the fine-tuning ``spec`` here, printing one JSON record a line; returns the exit status
    (0 done, 2 bad input, 130 stopped)."""
    from tem_denoise.engine.finetune_modes import iter_finetune_mode
    from tem_denoise.engine.tuning import TuneConfig, safe_model_name

    config = None
    try:
        config = TuneConfig.from_dict(spec["config"])
        config = replace(config, name=safe_model_name(config.name))
        stack, config = read_input(spec["input"], config)
        steps = iter_finetune_mode(stack, config, spec.get("folder"), bool(spec.get("resume", False)),
                                   spec.get("preview_frame"))
        while True:
            try:
                step = next(steps)
            except StopIteration as stop:
                tuned = stop.value
                break
            try:
                _emit(out, {"event": "step", **asdict(step)})
            except BrokenPipeError:
                steps.close()  # the parent is gone: keep the checkpoint and stop
                return 130
        _emit(out, {"event": "done", "model": tuned.card.name, "directory": str(tuned.card.directory),
                    "steps": tuned.steps, "best_val": tuned.best_val})
        return 0
    except KeyboardInterrupt:
        _emit(out, _cancelled(config, spec.get("folder")))
        return 130
    except (ValueError, OSError, KeyError, TypeError, MemoryError) as err:
        _emit(out, {"event": "error", "message": str(err) if not isinstance(err, KeyError)
                    else f"the job spec lacks {err}"})
        return 2


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """``python -m tem_denoise.engine.finetune_job SPEC.json``."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m tem_denoise.engine.finetune_job SPEC.json", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _interrupt)
    spec = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    return run_job(spec)


class JobProcess:
    """One fine-tuning ``spec`` run in a child process.

    :meth:`records` starts the child (in the thread that iterates it) and yields its records;
    :meth:`stop` asks the child to stop from any thread, after which the records end with
    ``cancelled``. Closing the :meth:`records` generator stops the child too (SIGTERM, then
    SIGKILL after :data:`STOP_TIMEOUT_S`).
    """

    def __init__(self, spec: dict, python: str = sys.executable) -> None:
        self.spec = spec
        self.python = python
        self.process: subprocess.Popen | None = None
        self._stopping = False

    @property
    def pid(self) -> int | None:
        """The child's process id once started, else None."""
        return self.process.pid if self.process is not None else None

    def stop(self) -> None:
        """SIGTERM the child (it writes its checkpoint and exits); a no-op once it has ended."""
        self._stopping = True
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()

    def records(self) -> Generator[dict, None, dict]:
        """Run the spec in a child process; yield its records; return the last one."""
        with tempfile.TemporaryDirectory(prefix="tem-denoise-job-") as scratch:
            spec_path = Path(scratch) / "spec.json"
            spec_path.write_text(json.dumps(self.spec), encoding="utf-8")
            with open(Path(scratch) / "stderr.log", "w+", encoding="utf-8") as log:
                return (yield from self._follow(spec_path, log))

    def _follow(self, spec_path: Path, log: TextIO) -> Generator[dict, None, dict]:
        """Start the child on ``spec_path`` (its stderr to ``log``), yield its records, stop it on close."""
        self.process = process = subprocess.Popen(
            [self.python, "-m", "tem_denoise.engine.finetune_job", str(spec_path)],
            stdout=subprocess.PIPE, stderr=log, text=True)
        if self._stopping:
            process.terminate()
        last: dict = {}
        try:
            for line in process.stdout:
                last = json.loads(line)
                yield last
            process.wait()
            if self._stopping and last.get("event") in (None, "step"):
                last = {"event": "cancelled", "run_dir": None}  # stopped before it could report
            elif not last or last["event"] == "step":
                log.seek(0)
                tail = log.read().strip().splitlines()[-1:] or ["no output"]
                last = {"event": "error", "message": f"the fine-tuning process ended unexpectedly: {tail[0]}"}
            return last
        finally:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            process.stdout.close()


def iter_job(spec: dict, python: str = sys.executable) -> Generator[dict, None, dict]:
    """Run ``spec`` in a child process; yield its records; return the last one (see :class:`JobProcess`)."""
    return (yield from JobProcess(spec, python).records())


if __name__ == "__main__":
    sys.exit(main())
