"""Subcommands on adapting and sharing models: ``finetune``, ``noise-diagnosis`` and ``export-bioimageio``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tem_denoise import io
from tem_denoise.cli.types import finite_float, positive_float, positive_int
from tem_denoise.models.card import MODALITIES

MODE_CHOICES = ("blind-spot", "frame-pairs", "calibrated", "unpaired")


def _diagnosis(path: str) -> str:
    from tem_denoise.engine.noise_diagnosis import diagnose_noise

    stack = io.read(path)
    return f"{stack.name}: {stack.shape}\n" + diagnose_noise(stack.data).summary()


def cmd_noise_diagnosis(args: argparse.Namespace) -> int:
    """Print the noise autocorrelation of a stack and the fine-tuning mode that suits it."""
    print(_diagnosis(args.input))
    return 0


def _pixel_size(stack: io.Stack) -> float | None:
    """The stack's mean pixel size in nm, None when uncalibrated."""
    calibration = stack.calibration
    return calibration.mean_pixel_size if calibration.calibrated else None


def _progress(step) -> None:
    eta = f", about {step.eta_s:.0f} s left" if step.eta_s is not None else ""
    sys.stderr.write(f"\r  {step.message}{eta}" + " " * 10)
    sys.stderr.flush()


def cmd_finetune(args: argparse.Namespace) -> int:
    """Fine-tune a model on a stack in one of four modes and save it as a user model."""
    from tem_denoise.engine.finetune_modes import iter_finetune_mode
    from tem_denoise.engine.tuning import TuneConfig
    from tem_denoise.progress import run_to_end

    if args.diagnose:
        print(_diagnosis(args.input))
        return 0
    if not args.name:
        raise ValueError("name the new model with --name (or use --diagnose to only measure the noise)")
    if args.base:
        from tem_denoise.models.registry import get_card

        get_card(args.base)
    stack = io.read(args.input)
    settings = {"crop": args.crop, "batch_size": args.batch_size, "lr": args.lr, "val_fraction": args.val_fraction}
    config = TuneConfig(
        mode=args.mode, name=args.name, steps=args.steps, max_minutes=args.minutes, device=args.device,
        base=args.base, blind_radius=args.blind_radius, lowpass_period_px=args.lowpass_period,
        noise_model=args.noise, pixel_size_nm=args.pixel_size or _pixel_size(stack),
        modality=args.modality or stack.modality, source=str(args.input),
        **{key: value for key, value in settings.items() if value is not None})
    tuned = run_to_end(iter_finetune_mode(stack.data, config, args.folder, args.resume), _progress)
    sys.stderr.write("\n")
    card = tuned.card
    validation = card.training["validation"]
    print(f"saved '{card.name}' in {card.directory}: {args.mode}, {tuned.steps} steps in "
          f"{card.training['budget']['minutes']:.2f} min, best validation loss {validation['best_loss']:.4g} at step "
          f"{validation['best_step']}; use it with --model {card.name}")
    return 0


def cmd_export_bioimageio(args: argparse.Namespace) -> int:
    """Export a model to a BioImage.IO package (zip), validated with bioimageio.spec."""
    from tem_denoise.engine.bioimageio_export import export_bioimageio
    from tem_denoise.models.registry import get_card

    output = Path(args.output)
    if output.suffix.lower() != ".zip":
        raise ValueError(f"-o must name a .zip file, not {output}")
    card = get_card(args.model, args.user_dir or ())
    written = export_bioimageio(card, output)
    print(f"wrote {written}: '{card.name}' as a BioImage.IO model (validated with bioimageio.spec)")
    return 0


def add_finetune(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("finetune", help="adapt a model to your own stack (blind-spot, frame pairs, calibrated "
                                        "synthesis or unpaired)")
    p.add_argument("input", help="noisy stack (any readable format)")
    p.add_argument("--mode", choices=MODE_CHOICES, default="blind-spot",
                   help="blind-spot: the stack alone (default); frame-pairs: neighbouring frames of a movie; "
                        "calibrated: pairs made with your noise model (--noise); unpaired: against simulated atoms")
    p.add_argument("--diagnose", action="store_true", help="only measure the noise correlation and recommend a mode")
    p.add_argument("--name", help="name of the new user model")
    p.add_argument("--base", help="model to start from (default: the mode's: wcvd-3d/wcid-2d, a new U-Net, "
                                  "restore-<modality>, unet-<modality>)")
    p.add_argument("--steps", type=positive_int, default=300, help="optimiser steps (default: 300)")
    p.add_argument("--minutes", type=positive_float, help="stop after this many minutes")
    p.add_argument("--crop", type=positive_int, help="training crop edge in pixels (default: 64)")
    p.add_argument("--batch-size", type=positive_int, help="crops per step (default: 8)")
    p.add_argument("--lr", type=positive_float, help="learning rate (default: the mode's)")
    p.add_argument("--val-fraction", type=positive_float, help="share of rows held out for validation (default: 0.15)")
    p.add_argument("--blind-radius", type=int, metavar="PX",
                   help="blind-spot: half-width of the blind region (default: from the measured noise correlation)")
    p.add_argument("--lowpass-period", type=finite_float, metavar="PX",
                   help="blind-spot: shortest period in pixels the output low-pass keeps, below your atom spacing "
                        "(0: no low-pass; default: the base model's)")
    p.add_argument("--noise", metavar="JSON", help="calibrated: your camera's noise model (tem-denoise calibrate)")
    p.add_argument("--pixel-size", type=positive_float, metavar="NM",
                   help="pixel size in nm, when the file does not state it")
    p.add_argument("--modality", choices=[m for m in MODALITIES if m != "any"],
                   help="what the data are, when the file does not say (picks the base model)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default: auto)")
    p.add_argument("--resume", action="store_true", help="continue the run of this --name from its last checkpoint")
    p.add_argument("--folder", help="user-model folder (default: the plugin's)")
    p.set_defaults(handler=cmd_finetune)


def add_noise_diagnosis(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("noise-diagnosis", help="measure the noise correlation of a stack and recommend a "
                                               "fine-tuning mode")
    p.add_argument("input", help="raw stack or frame (any readable format)")
    p.set_defaults(handler=cmd_noise_diagnosis)


def add_export_bioimageio(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export-bioimageio", help="export a model as a BioImage.IO package (zip) for the model zoo")
    p.add_argument("model", help="model name (see `tem-denoise models`)")
    p.add_argument("-o", "--output", required=True, help="the .zip to write")
    p.add_argument("--user-dir", action="append", help="extra folder of user models")
    p.set_defaults(handler=cmd_export_bioimageio)
