"""The ``tem-denoise`` command line: every plugin operation, headless.

Run ``tem-denoise --help`` for the list of subcommands and ``tem-denoise SUBCOMMAND --help``
for each one's options. Each module of this package adds one group of subcommands.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import warnings
from collections.abc import Sequence

from tem_denoise import __version__
from tem_denoise.cli import analysis, engine, files, finetune, physics

EXPECTED_ERRORS = (ValueError, OSError, MemoryError)
"""Bad input, refused outputs (``io.ReadError``, ``OutputError``, ``ArrayError`` are ValueErrors),
files that cannot be read or written, and jobs too big for this machine."""

SUBCOMMANDS = [
    files.add_info,
    files.add_convert,
    files.add_demo,
    physics.add_calibrate,
    physics.add_synth,
    engine.add_denoise,
    engine.add_models,
    finetune.add_finetune,
    finetune.add_noise_diagnosis,
    finetune.add_export_bioimageio,
    engine.add_bench,
    analysis.add_drift,
    analysis.add_atoms,
    analysis.add_profile,
    analysis.add_quality,
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tem-denoise",
        description="Denoise, align and measure low-dose HRTEM/STEM image stacks.",
        epilog="Exit status: 0 done, 2 bad input or usage (one line on stderr), 3 internal error, "
               "130 interrupted. Outputs are written only when complete and never onto an input.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback of an unexpected error (to report a bug)")
    sub = parser.add_subparsers(title="subcommands", metavar="SUBCOMMAND", required=True)
    for add in SUBCOMMANDS:
        add(sub)
    return parser


class Interrupted(KeyboardInterrupt):
    """SIGTERM, turned into an exception so that partial outputs are removed as for Ctrl-C."""


def _terminate(signum, frame) -> None:
    raise Interrupted


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings as one plain line on stderr (installed only while a subcommand runs)."""
    print(f"warning: {message}", file=sys.stderr)


def _run(args: argparse.Namespace) -> int:
    """Run the subcommand; expected failures become one line on stderr and an exit status."""
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        print("interrupted: stopped; no partial output was left behind", file=sys.stderr)
        return 130
    except EXPECTED_ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        if args.debug:
            raise
        print(f"error: unexpected {type(exc).__name__}: {exc}. This is a bug in tem-denoise; rerun "
              "with `tem-denoise --debug ...` and report the traceback.", file=sys.stderr)
        return 3


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``tem-denoise`` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if in_main_thread else None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            warnings.showwarning = _show_warning
            return _run(args)
    finally:
        if in_main_thread and previous is not None:
            signal.signal(signal.SIGTERM, previous)
