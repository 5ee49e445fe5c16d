"""Subcommands on noise physics: ``calibrate`` (fit a noise model) and ``synth`` (make data)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tem_denoise import io
from tem_denoise.cli.common import run
from tem_denoise.cli.types import positive_float, positive_int
from tem_denoise.operations.calibrate import CalibrateOptions, describe_model, iter_calibrate
from tem_denoise.operations.options import add_arguments, from_arguments
from tem_denoise.outputs import refuse_inputs, write_text


def cmd_calibrate(args: argparse.Namespace) -> int:
    """Fit an HRTEM model from vacuum stacks, or a STEM model from one atomic image."""
    from tem_denoise.figures import save_fit_report

    options = from_arguments(CalibrateOptions, args)
    refuse_inputs([args.output, args.plot], args.files)
    stacks = [io.read(path) for path in args.files]
    model, report = run(iter_calibrate(stacks, options))
    out = model.save(args.output)
    print(describe_model(model))
    print(report.summary())
    print(f"wrote {out}")
    if args.plot:
        print(f"wrote {save_fit_report(report, args.plot)}")
    return 0


SYNTH_FILES = ("noisy.tif", "clean.tif", "atom_map.tif", "positions.csv", "params.json")
DEFAULT_PIXEL_NM = {"hrtem": 0.07, "haadf": 0.02, "bf": 0.02}


def cmd_synth(args: argparse.Namespace) -> int:
    """Write N synthetic pairs as calibrated TIFF stacks plus atom positions and parameters."""
    from tem_denoise.analysis.table import write_csv
    from tem_denoise.physics import load_noise_model
    from tem_denoise.physics.datasets import synth_set

    out = Path(args.output)
    refuse_inputs([out / name for name in SYNTH_FILES], [args.noise])
    noise = load_noise_model(args.noise) if args.noise else None
    pixel = args.pixel_size or DEFAULT_PIXEL_NM[args.kind]
    sampling = {"pixel_size_nm": pixel} if args.kind == "hrtem" else {"pixel_size_nm_range": (pixel, pixel)}
    data = synth_set(args.kind, args.n, (args.size, args.size), seed=args.seed, noise=noise, **sampling)
    record = {"operation": "synthesis", "kind": args.kind, "n": args.n, "size": args.size,
              "seed": args.seed, "noise": noise.to_dict() if noise else "default"}
    for key in ("noisy", "clean", "atom_map"):
        stack = io.Stack.from_array(data[key], pixel_size=pixel, name=key, provenance={"synthesis": record})
        print(f"wrote {io.write(stack, out / f'{key}.tif')}")
    positions = data["positions"]
    write_csv(out / "positions.csv", {"index": positions[:, 0].astype(int), "y_px": positions[:, 1],
                                       "x_px": positions[:, 2]})
    record["pixel_size_nm"] = pixel
    write_text(out / "params.json", json.dumps(record, indent=1))
    print(f"wrote {out / 'positions.csv'} and {out / 'params.json'}")
    return 0


def add_calibrate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("calibrate", help="fit a camera noise model from vacuum stacks or a STEM image")
    p.add_argument("files", nargs="+", help="vacuum stacks (one per beam current), or one STEM image")
    add_arguments(p, CalibrateOptions)
    p.add_argument("-o", "--output", required=True, help="noise model JSON to write")
    p.add_argument("--plot", help="also save the fit plots to this PNG")
    p.set_defaults(handler=cmd_calibrate)


def add_synth(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("synth", help="make synthetic noisy/clean/atom-map pairs")
    p.add_argument("--kind", choices=("hrtem", "haadf", "bf"), default="hrtem",
                   help="HRTEM phase contrast, STEM HAADF or STEM BF (default: hrtem)")
    p.add_argument("-n", type=positive_int, default=16, help="number of pairs (default: 16)")
    p.add_argument("--size", type=positive_int, default=256, help="frame edge in pixels (default: 256)")
    p.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives the same data (default: 0)")
    p.add_argument("--noise", help="noise model JSON (from calibrate) (default: the papers' models)")
    p.add_argument("--pixel-size", type=positive_float,
                   help="pixel size in nm (default 0.07 for hrtem, 0.02 for haadf/bf)")
    p.add_argument("-o", "--output", required=True, help="output folder")
    p.set_defaults(handler=cmd_synth)
