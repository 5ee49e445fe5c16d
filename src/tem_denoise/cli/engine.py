"""Subcommands on models: ``denoise``, ``models`` and ``bench``."""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from tem_denoise import io
from tem_denoise.cli.common import run
from tem_denoise.cli.types import positive_int
from tem_denoise.memory import available_bytes
from tem_denoise.operations.denoise import (
    DenoiseOptions,
    check_device,
    check_model,
    check_noise,
    iter_denoise,
    make_denoiser,
)
from tem_denoise.operations.options import add_arguments, from_arguments
from tem_denoise.outputs import OutputError, refuse_inputs


def denoise_stack(stack: io.Stack, options: DenoiseOptions, out=None) -> io.Stack:
    """Denoise ``stack`` (see :func:`tem_denoise.operations.denoise.iter_denoise`), printing the
    model and device and the progress."""
    denoiser = make_denoiser(stack, options)
    print(f"{stack.name}: {denoiser.card.summary()} on {denoiser.provenance()['device']}")
    return run(iter_denoise(stack, options, denoiser=denoiser, out=out))


@contextlib.contextmanager
def output_array(shape: tuple[int, ...], folder: Path) -> Iterator[np.ndarray | None]:
    """None (the engine allocates the float32 output in memory) when it fits in half the
    available memory, else a temporary memory-mapped file in ``folder``, removed afterwards."""
    if 4.0 * np.prod(shape, dtype=np.float64) <= available_bytes() / 2:
        yield None
        return
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".tem-denoise-") as scratch:
        out = np.memmap(Path(scratch) / "denoised.f32", dtype=np.float32, mode="w+", shape=shape)
        try:
            yield out
        finally:
            del out


def _targets(inputs: list[str], output: Path) -> list[Path]:
    """One output TIFF per input; refused before any work if one would overwrite an input or
    another output."""
    if output.suffix.lower() in (".tif", ".tiff"):
        if len(inputs) > 1:
            raise OutputError(f"with several inputs, -o must be a folder, not a file ({output})")
        targets = [output]
    elif output.suffix or (output.exists() and not output.is_dir()):
        raise OutputError(f"-o must be a .tif file or a folder, not {output}")
    else:
        targets = [output / f"{io.stem(path)}_denoised.tif" for path in inputs]
    refuse_inputs(targets, inputs)
    if len(set(targets)) < len(targets):
        raise OutputError("several inputs share a file name and would write the same output; "
                          "denoise them into separate folders")
    return targets


def cmd_denoise(args: argparse.Namespace) -> int:
    """Denoise files and write calibrated TIFF with the model's provenance."""
    options = from_arguments(DenoiseOptions, args)
    targets = _targets(args.inputs, Path(args.output))
    refuse_inputs(targets, [options.noise])
    check_model(options)
    check_device(options)
    check_noise(options)  # a bad noise model is refused before any file is read
    for path, target in zip(args.inputs, targets, strict=True):
        stack = io.read(path)
        with output_array(stack.shape, target.parent) as out:
            result = denoise_stack(stack, options, out)
            history = result.provenance["history"][-1]
            written = io.write(result, target, model=history["model"], weights_sha256=history["weights_sha256"])
        print(f"wrote {written}")
    return 0


MODEL_COLUMNS = ("MODEL", "FAMILY", "MODALITY", "OUTPUT", "SOURCE", "DEFAULT FOR")


def _quality_lines(card) -> list[str]:
    """The card's measured quality, each figure with the target it was measured against."""
    lines = []
    for set_name, figures in card.quality.get("sets", {}).items():
        target = {"atom map": "the atom map", "clean": "the clean image"}.get(figures.get("target"), "its target")
        lines.append(f"    synthetic set '{set_name}', against {target}: PSNR {figures['psnr']:.2f} dB, "
                     f"SSIM {figures['ssim']:.4f}")
    outside = card.quality.get("outside_benchmark_validation")
    if outside:
        doses = ", ".join(f"{dose} {values['psnr_minus_best_gaussian_db_mean']:+.2f} dB"
                          for dose, values in outside.get("per_dose", {}).items())
        lines.append(f"    outside benchmark (abTEM), PSNR minus the best Gaussian filter: {doses}")
    return lines


def cmd_models(args: argparse.Namespace) -> int:
    """List the available models, one row each under a header; ``-v`` adds descriptions and quality.

    PSNRs are printed per model with the target they were measured against (clean image or
    atom map), never in one column: figures against different targets do not compare.
    """
    from tem_denoise.models.registry import available_models

    missing = [folder for folder in args.user_dir or () if not Path(folder).is_dir()]
    if missing:
        raise ValueError(f"the user-model folder '{missing[0]}' does not exist")
    rows = [(card.name, card.family, card.modality, card.output_kind, card.source,
             card.modality if card.is_default else "") for card in available_models(args.user_dir or ()).values()]
    widths = [max(len(row[i]) for row in [MODEL_COLUMNS, *rows]) for i in range(len(MODEL_COLUMNS))]
    print("  ".join(text.ljust(width) for text, width in zip(MODEL_COLUMNS, widths, strict=True)).rstrip())
    cards = list(available_models(args.user_dir or ()).values())
    for row, card in zip(rows, cards, strict=True):
        print("  ".join(text.ljust(width) for text, width in zip(row, widths, strict=True)).rstrip())
        if args.verbose:
            print(f"    {card.description}")
            for line in _quality_lines(card):
                print(line)
    print("OUTPUT: restore = an image in the input's units; atom-map = Gaussian atoms on black, for the "
          "Atom positions dock and `tem-denoise atoms`.")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    """Time a model on random frames and print Mpixel/s (a quick check; see benchmarks/speed.py)."""
    from tem_denoise.engine import Denoiser

    check_model(DenoiseOptions(model=args.model))
    denoiser = Denoiser(args.model, device=args.device, tile=args.tile)
    frames = np.random.default_rng(0).poisson(5.0, (args.frames, args.size, args.size)).astype(np.float32)
    denoiser.denoise(frames[: max(1, denoiser.card.temporal_window)])  # warm-up
    start = time.perf_counter()
    denoiser.denoise(frames)
    seconds = time.perf_counter() - start
    pixels = frames.size / 1e6
    print(f"{args.model} on {denoiser.provenance()['device']}: {args.frames} x {args.size}^2 in "
          f"{seconds:.2f} s = {pixels / seconds:.2f} Mpixel/s ({seconds / args.frames:.3f} s/frame)")
    return 0


def add_denoise(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("denoise", help="denoise files with a bundled, user or classical model")
    p.add_argument("inputs", nargs="+", help="files to denoise (any readable format)")
    p.add_argument("-o", "--output", required=True, help=".tif for one input, else a folder")
    add_arguments(p, DenoiseOptions)
    p.set_defaults(handler=cmd_denoise)


def add_models(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list available models and their cards")
    p.add_argument("-v", "--verbose", action="store_true", help="descriptions and measured quality")
    p.add_argument("--user-dir", action="append", help="extra folder of user models (card.json + weights)")
    p.set_defaults(handler=cmd_models)


def add_bench(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="time a model on random frames (Mpixel/s)")
    p.add_argument("--model", default="wcid-2d", help="model name (see `tem-denoise models`) (default: wcid-2d)")
    p.add_argument("--size", type=positive_int, default=1024, help="frame edge in pixels (default: 1024)")
    p.add_argument("--frames", type=positive_int, default=4, help="frames to time (default: 4)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default: auto)")
    p.add_argument("--tile", type=positive_int, help="tile edge in pixels (default: the model's)")
    p.set_defaults(handler=cmd_bench)
