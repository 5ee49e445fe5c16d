"""The ``batch`` subcommand: denoise files, folders and huge stacks on a dask cluster, resumably."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tem_denoise.batch.job import THEN
from tem_denoise.cli.types import positive_int
from tem_denoise.operations.denoise import DenoiseOptions
from tem_denoise.operations.options import add_arguments, fields_of

OPTIONS = ("inputs", "output", "model", "modality", "device", "tile", "noise", "format", "chunk_frames",
           "workers", "threads_per_worker", "scheduler", "cluster", "then")


def _then(text: str) -> tuple[str, ...]:
    """``drift,atoms`` -> ``("drift", "atoms")``."""
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    unknown = [name for name in names if name not in THEN]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"{text!r}: give operations among {', '.join(THEN)}, separated by commas")
    return names


def _job(args: argparse.Namespace):
    """The job from ``--config`` with the command line's options on top."""
    from tem_denoise.batch import BatchJob, load_config

    options = load_config(args.config) if args.config else {}
    for name in OPTIONS:
        value = getattr(args, name)
        if value is not None and value != []:
            options[name] = value
    for operation, cls in THEN.items():
        given = {f.name: getattr(args, f.name) for f in fields_of(cls) if getattr(args, f.name, None) is not None}
        if given:
            options[operation] = {**(options.get(operation) or {}), **given}
    for needed, flag in (("inputs", "INPUTS"), ("output", "-o OUTPUT")):
        if not options.get(needed):
            raise ValueError(f"give {flag} on the command line or in the --config file")
    return BatchJob(**options)


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def progress_text(state) -> str:
    """One line for a :class:`~tem_denoise.batch.run.BatchProgress`: files, frames, rate and time
    left of denoising; with ``--then``, the steps finished and the one running (with its count)."""
    frames = f"{state.frames_done}/{state.frames_total}" if state.frames_total is not None else f"{state.frames_done}"
    eta = f", about {_duration(state.eta_s)} left" if state.eta_s is not None else ""
    text = f"files {state.files_done}/{state.files_total}, frames {frames}, {state.rate:.1f} frames/s{eta}"
    if state.steps_total:
        text += f"; then {state.steps_done}/{state.steps_total} steps done"
        if state.running:
            more = f" (+{len(state.running) - 1} more running)" if len(state.running) > 1 else ""
            text += f", {state.running[0]}{more}"
    return text


class _ProgressLine:
    """Rewrites one line of the terminal (stderr) with each progress state."""

    def __init__(self) -> None:
        self.width = 0

    def __call__(self, state) -> None:
        text = "  " + progress_text(state)
        sys.stderr.write("\r" + text.ljust(self.width))
        sys.stderr.flush()
        self.width = len(text)


def _summary(records, manifest: Path) -> int:
    count = {s: sum(r.status == s for r in records) for s in ("done", "skipped", "failed")}
    resumed = sum(r.resumed_units for r in records)
    resumed_text = f"; resumed {resumed} unit(s) an interrupted run had written" if resumed else ""
    print(f"done {count['done']}, skipped {count['skipped']} (complete from an earlier run), "
          f"failed {count['failed']}{resumed_text}")
    operations = dict.fromkeys(name for r in records for name in r.steps)
    for name in operations:
        statuses = [r.steps[name]["status"] for r in records if name in r.steps]
        counts = ", ".join(f"{s} {statuses.count(s)}" for s in dict.fromkeys(statuses))
        print(f"  then {name}: {counts}")
    for record in records:
        for warning in record.warnings:
            print(f"warning: {record.input}: {warning}", file=sys.stderr)
        if record.status == "failed":
            print(f"failed: {record.input}: {record.error}", file=sys.stderr)
    print(f"wrote {manifest}")
    return 1 if count["failed"] else 0


def cmd_batch(args: argparse.Namespace) -> int:
    """Plan the job, start (or join) the cluster, run it, print the summary."""
    from tem_denoise.batch.cluster import open_client
    from tem_denoise.batch.inputs import expand_inputs, output_bases
    from tem_denoise.batch.run import MANIFEST, remove_partials, run_batch
    from tem_denoise.operations.denoise import check_model, noise_level

    job = _job(args)
    check_model(job.denoise)
    noise_level(job.noise)  # a bad noise model is refused before the cluster starts
    files = expand_inputs(job.inputs, job.output)
    bases = output_bases(files, job.output)
    print(f"{len(files)} input file(s) -> {job.output}")
    try:
        with open_client(job) as client:
            workers = len(client.scheduler_info().get("workers", {}))
            print(f"dask dashboard: {client.dashboard_link}  ({workers} worker(s) now; Ctrl-C stops the cluster)")
            records = run_batch(client, job, files, bases, on_progress=_ProgressLine())
            sys.stderr.write("\n")
    except KeyboardInterrupt:
        remove_partials(bases)
        print(f"\ninterrupted: cluster stopped; finished outputs are kept and the run's state is in "
              f"{Path(job.output) / MANIFEST}. Run the same command again to resume.", file=sys.stderr)
        return 130
    return _summary(records, Path(job.output) / MANIFEST)


def add_batch(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "batch",
        help="denoise files, folders and huge stacks on a dask cluster (local, existing, SLURM/PBS); resumable",
        description="Denoise many files, or stacks too long for one machine's memory, on dask.distributed. "
                    "Each file becomes a calibrated TIFF, or an OME-Zarr store written chunk by chunk when it is "
                    "split into several units of work. A second run skips complete outputs and resumes "
                    "interrupted stores. A manifest (batch_manifest.json) lists every input, its output, model, "
                    "seconds and error. See docs/batch.md.",
        epilog="Exit status: 0 all done or skipped, 1 some files failed (listed, and in the manifest), 2 bad "
               "options, 130 interrupted.",
    )
    p.add_argument("inputs", nargs="*", help="files, folders (their readable files) and glob patterns (quote them)")
    p.add_argument("-o", "--output", help="output folder")
    p.add_argument("--config", metavar="YAML", help="options from a YAML file (see docs/batch.md); "
                                                   "options on the command line take precedence")
    add_arguments(p, DenoiseOptions)
    p.set_defaults(**{item.name: None for item in fields_of(DenoiseOptions)})  # unset: the config file's
    p.add_argument("--format", choices=["auto", "tiff", "zarr"],
                   help="auto (default): TIFF when a stack fits in one unit of work, else OME-Zarr")
    p.add_argument("--chunk-frames", type=positive_int, metavar="N",
                   help="frames per unit of work of a split stack (default: about 256 MiB of output)")
    p.add_argument("--workers", type=positive_int,
                   help="local workers (default: one per GPU, else per core within memory) or SLURM/PBS jobs")
    p.add_argument("--threads-per-worker", type=positive_int, metavar="N",
                   help="torch threads of each worker (default: this machine's cores shared between the local "
                        "workers; on an existing or SLURM/PBS cluster, torch's default)")
    p.add_argument("--then", type=_then, metavar="OPS",
                   help="then run these on each denoised output, in order, comma-separated: drift (aligned TIFF "
                        "+ shifts CSV), atoms (atoms CSV; on the aligned stack after drift), quality (uMSE/uPSNR "
                        "and CSS against the raw input, JSON); resumable like denoising")
    for operation, cls in THEN.items():
        group = p.add_argument_group(f"{operation} options (with --then {operation})")
        add_arguments(group, cls)
        p.set_defaults(**{item.name: None for item in fields_of(cls)})
    where = p.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="ADDRESS", help="use an existing dask scheduler (tcp://host:8786)")
    where.add_argument("--cluster", choices=["local", "slurm", "pbs"],
                       help="start workers here (local, default) or as SLURM/PBS jobs with dask-jobqueue, "
                            "configured in the dask config (jobqueue.slurm / jobqueue.pbs)")
    p.set_defaults(handler=cmd_batch)
