"""Subcommands on models: ``denoise``, ``models`` and ``bench``."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from tem_denoise import io


def _progress_line(event) -> None:
    eta = f", about {event.eta_s:.0f} s left" if event.eta_s is not None else ""
    sys.stderr.write(f"\r  {event.message}{eta}" + " " * 10)
    sys.stderr.flush()


def denoise_stack(stack: io.Stack, model: str | None, device: str, tile: int | None) -> io.Stack:
    """Denoise ``stack`` with ``model`` (None: the default for its modality, HRTEM-counting for raw
    counts); a new Stack."""
    from tem_denoise.engine import Denoiser
    from tem_denoise.engine.counting import default_model_for

    name = model or default_model_for(stack.modality, stack.data, stack.n_frames)
    denoiser = Denoiser(name, device=device, tile=tile)
    print(f"{stack.name}: {denoiser.card.summary()} on {denoiser.provenance()['device']}")
    output = denoiser.denoise(stack.data, progress=_progress_line)
    sys.stderr.write("\n")
    return stack.derive(output, f"{stack.name} (denoised: {name})", denoiser.provenance())


def _targets(inputs: list[str], output: Path) -> list[Path]:
    if output.suffix.lower() in (".tif", ".tiff"):
        if len(inputs) > 1:
            raise ValueError(f"with several inputs, -o must be a folder, not a file ({output})")
        return [output]
    if output.suffix:
        raise ValueError(f"-o must be a .tif file or a folder, not {output}")
    return [output / f"{Path(path).stem}_denoised.tif" for path in inputs]


def cmd_denoise(args: argparse.Namespace) -> int:
    """Denoise files and write calibrated TIFF with the model's provenance."""
    for path, target in zip(args.inputs, _targets(args.inputs, Path(args.output)), strict=True):
        stack = io.read(path)
        result = denoise_stack(stack, args.model, args.device, args.tile)
        history = result.provenance["history"][-1]
        written = io.write(result, target, model=history["model"], weights_sha256=history["weights_sha256"])
        print(f"wrote {written}")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    """List the available models with their cards' summaries."""
    from tem_denoise.models.registry import available_models

    for card in available_models(args.user_dir or ()).values():
        default = "  [default for " + card.modality + "]" if card.is_default else ""
        print(f"{card.name:16s} {card.family:12s} {card.modality:14s} {card.output_kind:9s} "
              f"{card.source:8s}{default}")
        if args.verbose:
            print(f"    {card.description}")
            for set_name, figures in card.quality.get("sets", {}).items():
                print(f"    {set_name}: PSNR {figures['psnr']:.2f} dB, SSIM {figures['ssim']:.4f}")
    return 0


def cmd_finetune(args: argparse.Namespace) -> int:
    """Fine-tune a blind-spot model on a noisy stack and save it as a user model."""
    from tem_denoise.progress import run_to_end
    from tem_denoise.engine.finetune import iter_finetune
    from tem_denoise.engine.training import SelfSupervisedConfig
    from tem_denoise.models.registry import get_card

    stack = io.read(args.input)
    config = SelfSupervisedConfig(steps=args.steps, crop=args.crop, max_minutes=args.minutes)
    steps = iter_finetune(get_card(args.base), np.asarray(stack.data, dtype=np.float32), args.name, config,
                          folder=args.folder, source=str(args.input), modality=stack.modality,
                          lowpass_period_px=args.lowpass_period)
    tuned = run_to_end(steps, lambda event: sys.stderr.write(f"\r  {event.message}   "))
    sys.stderr.write("\n")
    print(f"saved '{tuned.card.name}' in {tuned.card.directory}: {tuned.result.steps} steps, "
          f"final loss {tuned.card.training['final_loss']:.4g}; use it with --model {tuned.card.name}")
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
    p.set_defaults(handler=cmd_denoise)


def add_models(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list available models and their cards")
    p.add_argument("-v", "--verbose", action="store_true", help="descriptions and measured quality")
    p.add_argument("--user-dir", action="append", help="extra folder of user models (card.json + weights)")
    p.set_defaults(handler=cmd_models)


def add_bench(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="time a model on random frames (Mpixel/s)")
    p.add_argument("--model", default="wcid-2d")
    p.add_argument("--size", type=int, default=1024)
    p.add_argument("--frames", type=int, default=4)
    p.add_argument("--device", default="auto")
    p.add_argument("--tile", type=int)
    p.set_defaults(handler=cmd_bench)


def add_finetune(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("finetune", help="fine-tune a blind-spot model on your own noisy stack")
    p.add_argument("input", help="noisy stack (any readable format)")
    p.add_argument("--base", default="wcvd-3d", help="blind-spot model to start from (wcid-2d, wcvd-3d)")
    p.add_argument("--name", required=True, help="name of the new user model")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--crop", type=int, default=128, help="training crop edge in pixels")
    p.add_argument("--minutes", type=float, help="stop after this many minutes")
    p.add_argument("--lowpass-period", type=float, metavar="PX",
                   help="shortest period in pixels the output low-pass keeps, below your atom spacing "
                        "(0: no low-pass; default: the base model's)")
    p.add_argument("--folder", help="user-model folder (default: the plugin's)")
    p.set_defaults(handler=cmd_finetune)
