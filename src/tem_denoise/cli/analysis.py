"""Subcommands for the analysis after denoising: ``drift``, ``atoms``, ``profile``, ``quality``."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np

from tem_denoise import io
from tem_denoise.cli.types import finite_float, positive_float
from tem_denoise.outputs import refuse_inputs
from tem_denoise.analysis import (
    apply_shifts,
    css_series,
    estimate_drift,
    line_profile,
    locate_atoms_stack,
    michelson_contrast,
    profile_peaks,
    read_shifts_csv,
    umse,
    write_atoms_csv,
    write_profiles_csv,
    write_shifts_csv,
)


def shifts_path(output: Path) -> Path:
    """Where ``tem-denoise drift`` writes the shifts: ``OUT_shifts.csv`` beside ``OUT.tif``."""
    return output.with_name(f"{output.stem}_shifts.csv")


def _pixel_size(stack: io.Stack) -> tuple[float, float] | None:
    return (float(stack.scale[-2]), float(stack.scale[-1])) if stack.units[-1] == "nm" else None


def cmd_drift(args: argparse.Namespace) -> int:
    """Estimate (or read) per-frame shifts, write the corrected stack and the shifts CSV."""
    output = Path(args.output)
    inputs = [args.input, args.estimate_on, args.shifts]
    refuse_inputs([output, shifts_path(output)], inputs)
    stack = io.read(args.input)
    if not stack.is_stack:
        raise ValueError(f"'{args.input}' holds a single image; drift correction needs a (t, y, x) stack")
    size = _pixel_size(stack)
    if args.shifts:
        shifts, source, result = read_shifts_csv(args.shifts), str(args.shifts), None
    else:
        estimate_on = io.read(args.estimate_on).data if args.estimate_on else None
        result = estimate_drift(stack.data, reference=args.reference, estimate_on=estimate_on,
                                prefilter_sigma_px=args.prefilter or None)
        if len(result.failed) > 1 and result.failed[1:].all():
            print(f"error: no drift could be measured; nothing written. {result.warnings[0]}", file=sys.stderr)
            return 1
        shifts, source = result.shifts, str(args.estimate_on or args.input)
    corrected = apply_shifts(stack.data, shifts, mode=args.mode)
    step = {"operation": "drift correction", "estimated_on": source, "mode": args.mode,
            "reference": args.reference, "prefilter_sigma_px": args.prefilter or None,
            "origin_px": corrected.origin_px.tolist()}
    out = stack.derive(corrected.data, f"{stack.name} (drift-corrected)", step)
    translate = np.array(stack.translate, dtype=np.float64)
    translate[-2:] += corrected.origin_px * np.asarray(stack.scale[-2:], dtype=np.float64)
    out = dataclasses.replace(out, translate=tuple(float(v) for v in translate))
    written = io.write(out, output, inputs=inputs)
    csv = shifts_path(output)
    write_shifts_csv(csv, result if result is not None else shifts, size)
    drift = np.hypot(shifts[:, 0], shifts[:, 1]).max()
    unit = f" ({drift * size[1]:.3f} nm)" if size else ""
    print(f"largest drift {drift:.2f} px{unit} over {len(shifts)} frames")
    if args.mode == "crop":
        y0, x0 = corrected.origin_px
        print(f"cropped to {corrected.data.shape[1]} x {corrected.data.shape[2]} px starting at input pixel "
              f"(y {y0:.0f}, x {x0:.0f})")
    print(f"wrote {written}\nwrote {csv}")
    return 0


def cmd_atoms(args: argparse.Namespace) -> int:
    """Locate atom columns in every frame (or one) and write them as CSV."""
    refuse_inputs([args.output], [args.input])
    stack = io.read(args.input)
    size = _pixel_size(stack)
    if args.min_separation_nm is not None:
        if size is None:
            raise ValueError(f"'{args.input}' has no nm calibration; give --min-separation-px instead")
        separation = args.min_separation_nm / float(np.mean(size))
    else:
        separation = args.min_separation_px
    data = stack.data
    first = 0
    if args.frame is not None:
        if not stack.is_stack:
            raise ValueError("--frame needs a (t, y, x) stack")
        if not 0 <= args.frame < stack.n_frames:
            raise ValueError(f"--frame must be in 0..{stack.n_frames - 1}; got {args.frame}")
        first, data = args.frame, data[args.frame]
    data = np.asarray(data, dtype=np.float32)
    if args.invert:
        data = -data
    options = {"method": args.method, "log_sigma_px": args.log}
    if args.threshold_abs is not None:
        options.update(threshold_rel=None, threshold_abs=-args.threshold_abs if args.invert else args.threshold_abs)
    else:
        options["threshold_rel"] = args.threshold
    table = locate_atoms_stack(data, separation, **options)
    table["frame"] = table["frame"] + first
    if args.invert:
        table["background"] = -table["background"]
    origin = (float(stack.translate[-2]), float(stack.translate[-1]))
    write_atoms_csv(args.output, table, size, origin)
    frames, counts = np.unique(table["frame"], return_counts=True)
    per_frame = f"{counts.mean():.0f} per frame over {len(frames)} frames" if len(frames) > 1 else ""
    print(f"{len(table['frame'])} atoms {per_frame}".rstrip())
    print(f"wrote {args.output}")
    return 0


def cmd_profile(args: argparse.Namespace) -> int:
    """Profile along a line of one frame: Michelson contrast, peaks and their spacing."""
    refuse_inputs([args.output], [args.input])
    stack = io.read(args.input)
    size = _pixel_size(stack)
    if not 0 <= args.frame < stack.n_frames:
        raise ValueError(f"--frame must be in 0..{stack.n_frames - 1}; got {args.frame}")
    frame = stack.frame(args.frame if stack.is_stack else 0)
    start, end, width = np.asarray(args.start, float), np.asarray(args.end, float), float(args.width)
    if args.units == "nm":
        if size is None:
            raise ValueError(f"'{args.input}' has no nm calibration; give --start/--end/--width in px")
        origin = np.array(stack.translate[-2:], dtype=np.float64)
        start, end = (start - origin) / np.asarray(size), (end - origin) / np.asarray(size)
        width = width / float(np.mean(size))
    profile = line_profile(frame, tuple(start), tuple(end), width_px=width, pixel_size_nm=size)
    peaks = profile_peaks(profile)
    contrast = michelson_contrast(profile.values)
    unit = profile.unit
    print(f"length {profile.distance[-1]:.4g} {unit}, {len(profile.values)} samples, width {width:.3g} px")
    print(f"Michelson contrast {contrast:.4f}")
    print(f"{len(peaks.positions)} peaks at " + ", ".join(f"{p:.4g}" for p in peaks.positions) + f" {unit}")
    if len(peaks.positions) > 1:
        print(f"mean spacing {peaks.mean_spacing:.4g} {unit}")
    if args.output:
        write_profiles_csv(args.output, {stack.name: profile})
        print(f"wrote {args.output}")
    return 0


def cmd_quality(args: argparse.Namespace) -> int:
    """uMSE/uPSNR of a denoised stack against its raw stack, and CSS of consecutive frames."""
    denoised = np.asarray(io.read(args.denoised).data, dtype=np.float32)
    noisy = np.asarray(io.read(args.noisy).data, dtype=np.float32)
    peak = float(noisy.max())
    scores = umse(denoised, noisy, first_frame=args.first_frame, offsets=tuple(args.offsets), peak=peak)
    similarity = css_series(denoised, data_range=peak)
    print(f"uMSE  {scores.umse:.6g}  (over {len(scores.frames)} frames)")
    print(f"uPSNR {scores.upsnr:.3f} dB  (peak M = {peak:.6g})")
    print(f"CSS   mean {similarity.mean():.4f}  min {similarity.min():.4f}  "
          f"({len(similarity)} consecutive pairs)")
    return 0


def add_drift(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("drift", help="drift-correct a (t, y, x) stack; shifts as CSV beside the output")
    p.add_argument("input", help="stack to correct")
    p.add_argument("-o", "--output", required=True, help="corrected stack (.tif); OUT_shifts.csv goes beside it")
    p.add_argument("--reference", choices=["first", "previous", "mean"], default="first",
                   help="register to the first frame, the previous one (cumulative) or the running mean")
    p.add_argument("--prefilter", type=finite_float, default=1.0, metavar="SIGMA_PX",
                   help="Gaussian sigma (px) applied before correlating, 0 for none (default 1)")
    p.add_argument("--estimate-on", metavar="FILE",
                   help="estimate the shifts on this stack (e.g. the denoised one) and apply them to INPUT")
    p.add_argument("--shifts", metavar="CSV", help="apply shifts from this CSV instead of estimating them")
    p.add_argument("--mode", choices=["fourier", "crop"], default="fourier",
                   help="sub-pixel Fourier shift (same size) or integer shift cropped to the common field")
    p.set_defaults(handler=cmd_drift)


def add_atoms(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("atoms", help="locate atom columns; CSV with frame, y_px, x_px (and y_nm, x_nm)")
    p.add_argument("input", help="denoised image/stack or atom map")
    p.add_argument("-o", "--output", required=True, help="atoms CSV")
    separation = p.add_mutually_exclusive_group(required=True)
    separation.add_argument("--min-separation-nm", type=positive_float, help="minimum atom separation in nm")
    separation.add_argument("--min-separation-px", type=positive_float, help="minimum atom separation in px")
    p.add_argument("--threshold", type=finite_float, default=0.2,
                   help="relative threshold: fraction from the median to the maximum (default 0.2)")
    p.add_argument("--threshold-abs", type=finite_float, help="absolute threshold instead (for --invert: darker than)")
    p.add_argument("--log", type=positive_float, metavar="SIGMA_PX", help="search a LoG-filtered copy at this sigma (px)")
    p.add_argument("--method", choices=["gaussian", "com"], default="gaussian",
                   help="2D Gaussian fit or centre of mass refinement")
    p.add_argument("--invert", action="store_true", help="atoms are dark (HRTEM): invert first")
    p.add_argument("--frame", type=int, help="only this frame of a stack")
    p.set_defaults(handler=cmd_atoms)


def add_profile(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("profile", help="line profile: Michelson contrast, peak positions and spacing")
    p.add_argument("input", help="image or stack")
    p.add_argument("--start", nargs=2, type=finite_float, required=True, metavar=("Y", "X"), help="line start")
    p.add_argument("--end", nargs=2, type=finite_float, required=True, metavar=("Y", "X"), help="line end")
    p.add_argument("--width", type=positive_float, default=1.0, help="averaging width across the line (default 1)")
    p.add_argument("--units", choices=["px", "nm"], default="px",
                   help="units of --start, --end and --width (nm: world position including the origin)")
    p.add_argument("--frame", type=int, default=0, help="frame of a stack (default 0)")
    p.add_argument("-o", "--output", help="write the profile as CSV")
    p.set_defaults(handler=cmd_profile)


def add_quality(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("quality", help="no-reference uMSE/uPSNR and CSS of a denoised stack")
    p.add_argument("denoised", help="denoised (t, y, x) stack")
    p.add_argument("noisy", help="the raw (t, y, x) stack it was made from")
    p.add_argument("--first-frame", type=int, default=0,
                   help="index in NOISY of the denoised stack's first frame (default 0)")
    p.add_argument("--offsets", nargs=3, type=int, default=[-1, 1, 2], metavar=("A", "B", "C"),
                   help="raw neighbour frames i+A, i+B, i+C used by uMSE (default -1 1 2)")
    p.set_defaults(handler=cmd_quality)
