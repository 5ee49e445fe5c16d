"""Subcommands on models: ``denoise``, ``models`` and ``bench``."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from tem_denoise import io
from tem_denoise.cli.types import positive_int
from tem_denoise.memory import available_bytes
from tem_denoise.models.card import MODALITIES
from tem_denoise.outputs import OutputError, refuse_inputs


def _progress_line(event) -> None:
    eta = f", about {event.eta_s:.0f} s left" if event.eta_s is not None else ""
    sys.stderr.write(f"\r  {event.message}{eta}" + " " * 10)
    sys.stderr.flush()


def denoise_stack(stack: io.Stack, model: str | None, device: str, tile: int | None, out=None,
                  noise=None) -> io.Stack:
    """Denoise ``stack`` with ``model`` (None: the default for its modality, HRTEM-counting for a
    movie of raw counts) into ``out`` (None: a new array), with the noise level ``noise`` when
    calibrated; a new Stack."""
    from tem_denoise.engine import Denoiser
    from tem_denoise.engine.counting import default_model_for

    name = model or default_model_for(stack.modality, stack.data, stack.n_frames)
    denoiser = Denoiser(name, device=device, tile=tile)
    print(f"{stack.name}: {denoiser.card.summary()} on {denoiser.provenance()['device']}")
    output = denoiser.denoise(stack.data, out=out, progress=_progress_line, pixel_size_nm=stack.pixel_size,
                              noise=noise)
    sys.stderr.write("\n")
    return stack.derive(output, f"{stack.name} (denoised: {name})", denoiser.provenance())


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
        targets = [output / f"{Path(path).stem}_denoised.tif" for path in inputs]
    refuse_inputs(targets, inputs)
    if len(set(targets)) < len(targets):
        raise OutputError("several inputs share a file name and would write the same output; "
                          "denoise them into separate folders")
    return targets


def cmd_denoise(args: argparse.Namespace) -> int:
    """Denoise files and write calibrated TIFF with the model's provenance."""
    from tem_denoise.models.registry import get_card

    targets = _targets(args.inputs, Path(args.output))
    refuse_inputs(targets, [args.noise])
    if args.model:
        get_card(args.model)
    noise = noise_level(args.noise)
    for path, target in zip(args.inputs, targets, strict=True):
        stack = io.read(path)
        if args.modality:
            stack = dataclasses.replace(stack, modality=args.modality)
        with output_array(stack.shape, target.parent) as out:
            result = denoise_stack(stack, args.model, args.device, args.tile, out, noise)
            history = result.provenance["history"][-1]
            written = io.write(result, target, model=history["model"], weights_sha256=history["weights_sha256"])
        print(f"wrote {written}")
    return 0


def noise_level(path: str | None):
    """The noise level of a calibrated noise model JSON (None: none given)."""
    if path is None:
        return None
    from tem_denoise.physics import load_noise_model
    from tem_denoise.physics.noise_level import level_from_model

    return level_from_model(load_noise_model(path))


def cmd_models(args: argparse.Namespace) -> int:
    """List the available models with their cards' summaries."""
    from tem_denoise.models.registry import available_models

    missing = [folder for folder in args.user_dir or () if not Path(folder).is_dir()]
    if missing:
        raise ValueError(f"the user-model folder '{missing[0]}' does not exist")
    for card in available_models(args.user_dir or ()).values():
        default = "  [default for " + card.modality + "]" if card.is_default else ""
        print(f"{card.name:16s} {card.family:12s} {card.modality:14s} {card.output_kind:9s} "
              f"{card.source:8s}{default}")
        if args.verbose:
            print(f"    {card.description}")
            for set_name, figures in card.quality.get("sets", {}).items():
                print(f"    {set_name}: PSNR {figures['psnr']:.2f} dB, SSIM {figures['ssim']:.4f}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    """Time a model on random frames and print Mpixel/s (a quick check; see benchmarks/speed.py)."""
    from tem_denoise.engine import Denoiser

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
    p.add_argument("--model", help="model name (see `tem-denoise models`); default: by the data's modality")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--tile", type=int, help="tile edge in pixels (default: the model's)")
    p.add_argument("--modality", choices=[m for m in MODALITIES if m != "any"],
                   help="what the data are, when the file does not say or says it wrongly; picks the default model")
    p.add_argument("--noise", metavar="JSON",
                   help="calibrated noise model (from `tem-denoise calibrate` or the calibration dock); "
                        "restoration models then use it instead of estimating the noise from the data")
    p.set_defaults(handler=cmd_denoise)


def add_models(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list available models and their cards")
    p.add_argument("-v", "--verbose", action="store_true", help="descriptions and measured quality")
    p.add_argument("--user-dir", action="append", help="extra folder of user models (card.json + weights)")
    p.set_defaults(handler=cmd_models)


def add_bench(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="time a model on random frames (Mpixel/s)")
    p.add_argument("--model", default="wcid-2d")
    p.add_argument("--size", type=positive_int, default=1024, help="frame edge in pixels (default 1024)")
    p.add_argument("--frames", type=positive_int, default=4, help="frames to time (default 4)")
    p.add_argument("--device", default="auto")
    p.add_argument("--tile", type=int)
    p.set_defaults(handler=cmd_bench)
