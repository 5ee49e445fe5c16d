"""Subcommands on adapting and sharing models: ``finetune``, ``noise-diagnosis`` and ``export-bioimageio``."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from tem_denoise import io
from tem_denoise.models.registry import USER_DIRS_ENV
from tem_denoise.operations.finetune import FinetuneOptions, check_options, diagnose, iter_finetune
from tem_denoise.operations.options import add_arguments, from_arguments


def _diagnosis(path: str) -> str:
    stack = io.read(path)
    return f"{stack.name}: {stack.shape}\n" + diagnose(stack).summary()


def cmd_noise_diagnosis(args: argparse.Namespace) -> int:
    """Print the noise autocorrelation of a stack and the fine-tuning mode that suits it."""
    print(_diagnosis(args.input))
    return 0


def _progress(step) -> None:
    eta = f", about {step.eta_s:.0f} s left" if step.eta_s is not None else ""
    sys.stderr.write(f"\r  {step.message}{eta}" + " " * 10)
    sys.stderr.flush()


def cmd_finetune(args: argparse.Namespace) -> int:
    """Fine-tune a model on a stack in one of four modes and save it as a user model."""
    from tem_denoise.engine.tuning import figures_at_best, reported_figures
    from tem_denoise.progress import run_to_end

    options = from_arguments(FinetuneOptions, args)
    if args.diagnose:
        print(_diagnosis(args.input))
        return 0
    if not args.name:
        raise ValueError("name the new model with --name (or use --diagnose to only measure the noise)")
    check_options(options)
    stack = io.read(args.input)
    steps = iter_finetune(stack, args.name, options, folder=args.folder, resume=args.resume, source=str(args.input))
    tuned = run_to_end(steps, _progress)
    sys.stderr.write("\n")
    card = tuned.card
    validation = card.training["validation"]
    figures = reported_figures(figures_at_best(card))
    print(f"saved '{card.name}' in {card.directory}: {options.mode}, {tuned.steps} steps in "
          f"{card.training['budget']['minutes']:.2f} min, best validation loss {validation['best_loss']:.4g} "
          f"({validation['units']}) at step {validation['best_step']}{f' ({figures})' if figures else ''}; "
          f"{_how_to_use(card.name, args.folder)}")
    return 0


def _how_to_use(name: str, folder: str | None) -> str:
    """The denoise command that finds the new model: a model saved outside the plugin's folder
    is found through ``TEM_DENOISE_MODELS``."""
    if folder is None:
        return f"use it with: tem-denoise denoise FILE -o OUTPUT --model {shlex.quote(name)}"
    found_in = shlex.quote(str(Path(folder).resolve()))
    return f"use it with: {USER_DIRS_ENV}={found_in} tem-denoise denoise FILE -o OUTPUT --model {shlex.quote(name)}"


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
    p.add_argument("--diagnose", action="store_true", help="only measure the noise correlation and recommend a mode")
    p.add_argument("--name", help="name of the new user model")
    add_arguments(p, FinetuneOptions)
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
