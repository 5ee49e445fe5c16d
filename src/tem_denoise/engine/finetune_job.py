"""Fine-tuning in a subprocess: memory (host and GPU) is given back when the run ends.

:func:`iter_job` starts ``python -m tem_denoise.engine.finetune_job SPEC.json`` and yields the
records the child prints, one JSON object a line:

* ``{"event": "step", "step": ..., "total": ..., "loss": ..., "val_loss": ..., "best_val": ...,
  "seconds": ..., "eta_s": ..., "message": ..., "extra": {...}}`` for every step;
* ``{"event": "done", "model": NAME, "directory": ..., "steps": ..., "best_val": ...}`` at the end;
* ``{"event": "cancelled", "run_dir": ...}`` when stopped (checkpoint written, resumable);
* ``{"event": "error", "message": ...}`` for bad input (one line, as the CLI prints it).

Closing the generator (a dock's Cancel) sends SIGTERM; the child writes its checkpoint and
exits. The spec is a JSON object: ``input`` (a ``.npy`` array or any file ``tem_denoise.io``
reads), ``config`` (the fields of :class:`~tem_denoise.engine.tuning.TuneConfig`), and
optionally ``folder`` (user-model folder) and ``resume``.
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


def run_job(spec: dict, out: TextIO = sys.stdout) -> int:
    """Run the fine-tuning ``spec`` here, printing one JSON record a line; returns the exit status
    (0 done, 2 bad input, 130 stopped)."""
    from tem_denoise.engine.finetune_modes import iter_finetune_mode
    from tem_denoise.engine.tuning import TuneConfig, run_folder

    config = None
    try:
        config = TuneConfig.from_dict(spec["config"])
        stack, config = read_input(spec["input"], config)
        steps = iter_finetune_mode(stack, config, spec.get("folder"), bool(spec.get("resume", False)))
        while True:
            try:
                step = next(steps)
            except StopIteration as stop:
                tuned = stop.value
                break
            _emit(out, {"event": "step", **asdict(step)})
        _emit(out, {"event": "done", "model": tuned.card.name, "directory": str(tuned.card.directory),
                    "steps": tuned.steps, "best_val": tuned.best_val})
        return 0
    except KeyboardInterrupt:
        name = config.name if config else "?"
        _emit(out, {"event": "cancelled", "run_dir": str(run_folder(name, spec.get("folder")))})
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


def iter_job(spec: dict, python: str = sys.executable) -> Generator[dict, None, dict]:
    """Run ``spec`` in a child process; yield its records; return the last one.

    Closing the generator stops the child (SIGTERM, then SIGKILL after
    :data:`STOP_TIMEOUT_S`); its checkpoint is written before it exits.
    """
    with tempfile.TemporaryDirectory(prefix="tem-denoise-job-") as scratch:
        spec_path = Path(scratch) / "spec.json"
        spec_path.write_text(json.dumps(spec), encoding="utf-8")
        with open(Path(scratch) / "stderr.log", "w+", encoding="utf-8") as log:
            return (yield from _follow(spec_path, log, python))


def _follow(spec_path: Path, log: TextIO, python: str) -> Generator[dict, None, dict]:
    """Start the child on ``spec_path`` (its stderr to ``log``), yield its records, stop it on close."""
    process = subprocess.Popen([python, "-m", "tem_denoise.engine.finetune_job", str(spec_path)],
                               stdout=subprocess.PIPE, stderr=log, text=True)
    last: dict = {}
    try:
        for line in process.stdout:
            last = json.loads(line)
            yield last
        process.wait()
        if not last or last["event"] == "step":
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


if __name__ == "__main__":
    sys.exit(main())
