"""The ``tem-denoise`` command line: every plugin operation, headless.

Run ``tem-denoise --help`` for the list of subcommands and ``tem-denoise SUBCOMMAND --help``
for each one's options. Each module of this package adds one group of subcommands.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence

from tem_denoise import __version__, io
from tem_denoise.cli import analysis, engine, files, physics

SUBCOMMANDS = [
    files.add_info,
    files.add_convert,
    files.add_demo,
    physics.add_calibrate,
    physics.add_synth,
    engine.add_denoise,
    engine.add_models,
    engine.add_finetune,
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
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(title="subcommands", metavar="SUBCOMMAND", required=True)
    for add in SUBCOMMANDS:
        add(sub)
    return parser


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings as one plain line on stderr (installed only while a subcommand runs)."""
    print(f"warning: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``tem-denoise`` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        warnings.showwarning = _show_warning
        try:
            return args.handler(args)
        except (io.ReadError, ValueError, FileNotFoundError, MemoryError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2

