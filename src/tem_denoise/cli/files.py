"""Subcommands on files: ``info``, ``convert`` and the ``demo`` main job."""

from __future__ import annotations

import argparse
from pathlib import Path

from tem_denoise import io
from tem_denoise.cli.types import positive_int
from tem_denoise.outputs import OutputError, refuse_inputs


def describe(stack: io.Stack) -> str:
    """One line: name, shape, dtype, calibration (pixel size, frame interval) and modality."""
    calibration = stack.calibration
    parts = [f"pixel {calibration.describe()}"]
    if stack.is_stack:
        interval = calibration.frame_interval
        parts.insert(0, f"{stack.n_frames} frames, " + (f"{interval:g} s apart" if interval else "interval unknown"))
    return (f"'{stack.name}'  shape {stack.shape}  dtype {stack.data.dtype}  [{'; '.join(parts)}]  "
            f"modality: {stack.modality or 'unknown'}")


def cmd_info(args: argparse.Namespace) -> int:
    """Print the image datasets of each file with shape, dtype, calibration and modality."""
    for path in args.files:
        print(path)
        for stack in io.read_all(path):
            print("  " + describe(stack))
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    """Write the image datasets of a file as calibrated ImageJ TIFF."""
    out = Path(args.output)
    is_file = out.suffix.lower() in (".tif", ".tiff")
    if not is_file and (out.suffix or (out.exists() and not out.is_dir())):
        raise OutputError(f"-o must be a .tif file or a folder, not '{out}'")
    refuse_inputs([out], [args.input])
    stacks = io.read_all(args.input)
    if len(stacks) == 1:
        targets = [out if is_file else out / f"{_safe(stacks[0].name)}.tif"]
    else:
        targets = [out / f"{index:02d}_{_safe(stack.name)}.tif" for index, stack in enumerate(stacks)]
    for stack, target in zip(stacks, targets, strict=True):
        print(f"wrote {io.write(stack, target)}  ({describe(stack)})")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """The main job on generated sample data: synthesise, read back, denoise, write, render a PNG."""
    from tem_denoise.cli.engine import denoise_stack
    from tem_denoise.figures import save_panels
    from tem_denoise.operations.denoise import DenoiseOptions, check_device, check_model
    from tem_denoise.physics import sample_hrtem_series

    options = DenoiseOptions(model=args.model, device=args.device)
    check_model(options)
    check_device(options)
    out = Path(args.output)
    pair = sample_hrtem_series(n_frames=args.frames)
    source = {"source": "tem_denoise.physics.sample_hrtem_series (synthetic)"}
    noisy = io.Stack.from_array(pair.noisy, pixel_size=pair.pixel_size_nm, name="noisy",
                                provenance=source, modality="HRTEM")
    raw_path = io.write(noisy, out / "sample_noisy.tif")
    stack = io.read(raw_path)
    print(f"read {raw_path}: {describe(stack)}")
    result = denoise_stack(stack, options)
    step = result.provenance["history"][-1]
    written = io.write(result, out / "sample_denoised.tif", model=step["model"],
                       weights_sha256=step["weights_sha256"])
    truth = pair.atom_map if step["output_kind"] == "atom-map" else pair.clean
    label = "ground truth (atom map)" if step["output_kind"] == "atom-map" else "ground truth (clean)"
    panels = [("noisy", stack), (f"denoised: {step['model']}", result),
              (label, stack.derive(truth, label, {"operation": "ground truth"}))]
    png = save_panels(panels, out / "demo.png")
    print(f"wrote {written}\nwrote {png}")
    return 0


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def add_info(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="list the image datasets of microscope files")
    p.add_argument("files", nargs="+", help="files to inspect (.emd, .dm3, .dm4, .ser, .mrc, .tif)")
    p.set_defaults(handler=cmd_info)


def add_convert(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("convert", help="write a microscope file as calibrated ImageJ TIFF")
    p.add_argument("input", help="file to read")
    p.add_argument("-o", "--output", required=True,
                   help="output .tif (one dataset) or folder (several datasets)")
    p.set_defaults(handler=cmd_convert)


def add_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the main job headless on generated sample data")
    p.add_argument("-o", "--output", default="demo-output", help="output folder (default: demo-output)")
    p.add_argument("--frames", type=positive_int, default=16, help="frames in the sample movie (default: 16)")
    p.add_argument("--model", help="model name (default: the bundled default for HRTEM)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default: auto)")
    p.set_defaults(handler=cmd_demo)
