"""Subcommands for the analysis after denoising: ``drift``, ``atoms``, ``profile``, ``quality``.

Each is "read -> operation -> write": the options come from the operation's dataclass
(:mod:`tem_denoise.operations`), whose fields also make the dock's form.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tem_denoise import io
from tem_denoise.cli.common import run
from tem_denoise.cli.types import finite_float
from tem_denoise.operations.atoms import AtomOptions, iter_find_atoms
from tem_denoise.operations.drift import DriftOptions, NotRegistered, iter_correct_drift, shifts_path, write_correction
from tem_denoise.operations.options import add_arguments, from_arguments
from tem_denoise.operations.profile import ProfileOptions, line_scan
from tem_denoise.operations.quality import QualityOptions, iter_quality
from tem_denoise.outputs import refuse_inputs


def cmd_drift(args: argparse.Namespace) -> int:
    """Estimate (or read) per-frame shifts, write the corrected stack and the shifts CSV."""
    from tem_denoise.analysis import read_shifts_csv

    options = from_arguments(DriftOptions, args)
    output = Path(args.output)
    inputs = [args.input, args.estimate_on, args.shifts]
    refuse_inputs([output, shifts_path(output)], inputs)
    shifts = read_shifts_csv(args.shifts) if args.shifts else None
    stack = io.read(args.input)
    estimate_on = io.read(args.estimate_on) if args.estimate_on and shifts is None else None
    result = run(iter_correct_drift(stack, options, estimate_on=estimate_on, shifts=shifts,
                                    shifts_from=str(args.shifts) if args.shifts else None))
    try:
        written, csv = write_correction(result, output, inputs=inputs)
    except NotRegistered as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    corrected = result.stack
    assert corrected is not None  # write_correction raised NotRegistered otherwise
    print(result.summary())
    if options.mode == "crop":
        y0, x0 = result.origin_px
        print(f"cropped to {corrected.shape[1]} x {corrected.shape[2]} px starting at input pixel "
              f"(y {y0:.0f}, x {x0:.0f})")
    print(f"wrote {written}\nwrote {csv}")
    return 0


def cmd_atoms(args: argparse.Namespace) -> int:
    """Locate atom columns in every frame (or one) and write them as CSV."""
    options = from_arguments(AtomOptions, args)
    refuse_inputs([args.output], [args.input])
    stack = io.read(args.input)
    atoms = run(iter_find_atoms(stack, options, frame=args.frame))
    atoms.write_csv(args.output)
    print(atoms.summary())
    print(f"wrote {args.output}")
    return 0


def cmd_profile(args: argparse.Namespace) -> int:
    """Profile along a line of one frame: Michelson contrast, peaks and their spacing."""
    from tem_denoise.analysis import write_profiles_csv

    options = from_arguments(ProfileOptions, args)
    refuse_inputs([args.output], [args.input])
    stack = io.read(args.input)
    if not 0 <= args.frame < stack.n_frames:
        raise ValueError(f"--frame must be in 0..{stack.n_frames - 1}; got {args.frame}")
    scan = line_scan(stack.frame(args.frame), stack.calibration, args.start, args.end, options)
    print(scan.summary())
    if args.output:
        write_profiles_csv(args.output, {stack.name: scan.profile})
        print(f"wrote {args.output}")
    return 0


def cmd_quality(args: argparse.Namespace) -> int:
    """uMSE/uPSNR of a denoised stack against its raw stack, and CSS of consecutive frames."""
    options = from_arguments(QualityOptions, args)
    denoised, noisy = io.read(args.denoised), io.read(args.noisy)
    (result,) = run(iter_quality(noisy, [denoised], options))
    print(result.summary())
    return 0


def add_drift(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("drift", help="drift-correct a (t, y, x) stack; shifts as CSV beside the output")
    p.add_argument("input", help="stack to correct")
    p.add_argument("-o", "--output", required=True, help="corrected stack (.tif); OUT_shifts.csv goes beside it")
    p.add_argument("--estimate-on", metavar="FILE",
                   help="estimate the shifts on this stack (e.g. the denoised one) and apply them to INPUT")
    p.add_argument("--shifts", metavar="CSV", help="apply shifts from this CSV instead of estimating them")
    add_arguments(p, DriftOptions)
    p.set_defaults(handler=cmd_drift)


def add_atoms(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("atoms", help="locate atom columns; CSV with frame, y_px, x_px (and y_nm, x_nm)")
    p.add_argument("input", help="denoised image/stack or atom map")
    p.add_argument("-o", "--output", required=True, help="atoms CSV")
    add_arguments(p, AtomOptions)
    p.add_argument("--frame", type=int, help="only this frame of a stack (default: every frame)")
    p.set_defaults(handler=cmd_atoms)


def add_profile(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("profile", help="line profile: Michelson contrast, peak positions and spacing")
    p.add_argument("input", help="image or stack")
    p.add_argument("--start", nargs=2, type=finite_float, required=True, metavar=("Y", "X"), help="line start")
    p.add_argument("--end", nargs=2, type=finite_float, required=True, metavar=("Y", "X"), help="line end")
    add_arguments(p, ProfileOptions)
    p.add_argument("--frame", type=int, default=0, help="frame of a stack (default: 0)")
    p.add_argument("-o", "--output", help="write the profile as CSV")
    p.set_defaults(handler=cmd_profile)


def add_quality(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("quality", help="no-reference uMSE/uPSNR and CSS of a denoised stack")
    p.add_argument("denoised", help="denoised (t, y, x) stack, in the raw data's units (not an atom map)")
    p.add_argument("noisy", help="the raw (t, y, x) stack it was made from")
    add_arguments(p, QualityOptions)
    p.set_defaults(handler=cmd_quality)
