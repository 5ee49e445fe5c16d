"""Train the bundled restoration models on image-formation pairs made on the fly.

Each model (``restore-haadf``, ``restore-bf``, ``restore-hrtem`` and their ``-large``
variants) is a :class:`~tem_denoise.models.restore.RestoreUNet` trained on
:mod:`tem_denoise.physics.formation` pairs (:mod:`tem_denoise.engine.restore_training`), and
written to ``src/tem_denoise/models/weights/<name>/`` (``weights.safetensors`` + ``card.json``
with the command, seed, configuration, sampling and dose ranges, steps, time and hardware).
Models of one modality named together learn in lockstep from the same batches (the data are
made once). ``--workers`` processes make the data; ``--device cuda`` trains on a GPU. Weights
and card are checkpointed every ``--checkpoint-minutes``; ``--resume`` continues from the
bundled checkpoint at the step it reached (the cosine schedule continues; the optimiser
restarts). With ``--minutes``, the cosine ends with the budget if that comes before the steps.

Usage::

    python scripts/train_restore.py restore-haadf --minutes 40
    python scripts/train_restore.py restore-haadf --resume --minutes 40
    python scripts/train_restore.py restore-hrtem restore-hrtem-large --device cuda --workers 5 --minutes 7
    python scripts/train_restore.py restore-hrtem --multislice 0.5 --physical-phase --minutes 60
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from dataclasses import asdict, replace

import numpy as np
import torch

from tem_denoise import __version__
from tem_denoise.engine.restore_training import RestoreConfig, RestoreTrainer, iter_lockstep
from tem_denoise.models.card import ModelCard, read_card, write_card
from tem_denoise.models.registry import BUNDLED_DIR, build_model
from tem_denoise.models.weights import load_into, save_weights
from tem_denoise.physics.formation import SPECS as FORMATION

SMALL = {"base_channels": 12, "depth": 3}
LARGE = {"base_channels": 24, "depth": 4}
WORKING_NM = 0.02
DESCRIPTIONS = {
    "STEM-HAADF": "HAADF images of random crystals, 2D sheets, particles on supports and single atoms "
                  "(incoherent imaging with random probes, scan distortions, Poisson detector noise)",
    "STEM-BF": "BF/ABF images of random specimens (dark columns on a bright background, random probes, "
               "scan distortions, Poisson detector noise)",
    "HRTEM": "HRTEM phase-contrast images of random specimens ({exit_wave}, random voltage, Cs, defocus, "
             "aperture and coherence; scintillator cameras with correlated noise, or counting)",
}
CONFIGS = {
    "restore-haadf": RestoreConfig("STEM-HAADF", WORKING_NM, steps=1800, seed=21),
    "restore-bf": RestoreConfig("STEM-BF", WORKING_NM, steps=1000, seed=22),
    "restore-hrtem": RestoreConfig("HRTEM", WORKING_NM, steps=2000, seed=23),
}
MODELS = {name: (config, SMALL) for name, config in CONFIGS.items()}
MODELS.update({f"{name}-large": (config, LARGE) for name, config in CONFIGS.items()})


def card_for(name: str, config: RestoreConfig, training: dict, sha: str | None = None) -> ModelCard:
    """The card of restoration model ``name`` (weights and sha256 once written)."""
    spec = FORMATION[config.modality]
    architecture = MODELS[name][1]
    large = architecture is LARGE
    return ModelCard(
        name=name, family="restore", architecture=dict(architecture), modality=config.modality,
        output_kind="restore", adapter="restore", pixel_size_nm=config.working_nm,
        sampling_range_nm=spec.pixel_range_nm, tile_size=256, speed_class="slow" if large else "fast",
        is_default=not large, weights_file="weights.safetensors" if sha else None, weights_sha256=sha,
        description=(f"Residual U-Net with a noise-map input ({architecture['base_channels']} base channels, "
                     f"{architecture['depth']} poolings), run at {config.working_nm * 1000:.0f} pm/px; trained on "
                     f"{description(config)}, {spec.pixel_range_nm[0] * 1000:.0f}-"
                     f"{spec.pixel_range_nm[1] * 1000:.0f} pm/px, {spec.dose_range[0]:g}-{spec.dose_range[1]:g} "
                     "e-/px. Restores the image in its own units."),
        training=training,
    )


def description(config: RestoreConfig) -> str:
    """What the model of ``config`` is trained on, in words."""
    exit_wave = "phase object"
    if config.multislice_share >= 1:
        exit_wave = "light multislice"
    elif config.multislice_share > 0:
        exit_wave = f"phase object, or light multislice for {config.multislice_share:.0%} of specimens"
    if config.physical_phase:
        exit_wave += "; phases from the voltage's interaction constant"
    return DESCRIPTIONS[config.modality].format(exit_wave=exit_wave)


def save(name: str, config: RestoreConfig, model, training: dict) -> None:
    folder = BUNDLED_DIR / name
    folder.mkdir(parents=True, exist_ok=True)
    model.eval()
    sha = save_weights(model, folder / "weights.safetensors", metadata={"name": name})
    write_card(card_for(name, config, training, sha), folder / "card.json")


def earlier_runs(name: str, model) -> tuple[int, list]:
    """Load the bundled checkpoint of ``name`` into ``model``: (steps done, runs so far)."""
    card = read_card(BUNDLED_DIR / name / "card.json")
    load_into(model, card.weights_path, card.weights_sha256)
    return int(card.training["steps"]), list(card.training.get("runs", []))


def hardware(device: str, workers: int) -> str:
    """Where the run trains, in words."""
    where = torch.cuda.get_device_name(0) if device.startswith("cuda") else f"{torch.get_num_threads()} CPU threads"
    return f"{platform.machine()}, {where}" + (f", {workers} data processes" if workers else "")


def lockstep_groups(names: list[str]) -> list[list[str]]:
    """Names grouped by training configuration: each group learns from one stream of batches."""
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(repr(MODELS[name][0]), []).append(name)
    return list(groups.values())


def train(names: list[str], args: argparse.Namespace, command: str) -> None:
    """Train the models ``names`` (one configuration) in lockstep, checkpointing as it goes."""
    config = replace(MODELS[names[0]][0], max_minutes=args.minutes, steps=args.steps or MODELS[names[0]][0].steps,
                     loss=args.loss or MODELS[names[0]][0].loss,
                     batch_size=args.batch_size or MODELS[names[0]][0].batch_size,
                     multislice_share=MODELS[names[0]][0].multislice_share if args.multislice is None
                     else args.multislice,
                     physical_phase=args.physical_phase or MODELS[names[0]][0].physical_phase)
    models = {name: build_model(card_for(name, config, {})) for name in names}
    earlier = {name: earlier_runs(name, model) if args.resume else (0, []) for name, model in models.items()}
    start_step = earlier[names[0]][0]
    if any(steps != start_step for steps, _ in earlier.values()):
        raise SystemExit(f"cannot resume {', '.join(names)} together: their checkpoints are at different steps")
    spec = FORMATION[config.modality]
    base = {
        "command": command, "config": asdict(config),
        "data": {"source": f"tem_denoise.physics.formation.restore_pair(SPECS[{config.modality!r}])",
                 "pixel_range_nm": list(spec.pixel_range_nm), "dose_range_e_per_px": list(spec.dose_range),
                 "multislice_share": config.multislice_share, "physical_phase": config.physical_phase},
        "package_version": __version__, "torch": torch.__version__, "hardware": hardware(args.device, args.workers),
    }
    torch.manual_seed(config.seed + start_step)
    trainers = {name: RestoreTrainer(model, config, args.device) for name, model in models.items()}
    losses: dict[str, list[float]] = {name: [] for name in names}
    started = last_save = time.time()

    def record(name: str, step: int, complete: bool) -> dict:
        run = {"from_step": start_step, "to_step": step, "minutes": round((time.time() - started) / 60, 1),
               "final_loss": float(np.mean(losses[name][-50:])) if losses[name] else None}
        return {**base, "steps": step, "complete": complete, "runs": [*earlier[name][1], run]}

    def save_all(step: int, complete: bool) -> None:
        for name, model in models.items():
            save(name, config, model, record(name, step, complete))
            model.train()

    done = start_step
    for done, step_losses, lr, elapsed in iter_lockstep(list(trainers.values()), config, start_step, args.workers):
        for name, loss in zip(names, step_losses):
            losses[name].append(loss)
        if done % 50 == 0:
            shown = ", ".join(f"{name} {np.mean(values[-50:]):.4g}" for name, values in losses.items())
            print(f"step {done}/{config.steps} ({elapsed:.0f} s, lr {lr:.2e}): {shown}", flush=True)
        if time.time() - last_save > 60 * args.checkpoint_minutes:
            save_all(done, False)
            last_save = time.time()
    save_all(done, True)  # the cosine has ended: with the steps or with the time budget
    print(f"{', '.join(names)}: saved at step {done}", flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="+", choices=sorted(MODELS), help="models to train")
    parser.add_argument("--minutes", type=float, help="wall-clock budget of this run, per model")
    parser.add_argument("--checkpoint-minutes", type=float, default=3.0)
    parser.add_argument("--resume", action="store_true", help="continue from the bundled checkpoint")
    parser.add_argument("--loss", choices=["noise-weighted", "log-mse"], help="loss (default: the model's)")
    parser.add_argument("--steps", type=int, help="total steps of the cosine schedule (default: the model's); "
                                                   "with --resume, more than the checkpoint's to train further")
    parser.add_argument("--batch-size", type=int, help="crops per step (default: the model's)")
    parser.add_argument("--device", default="cpu", help="torch device to train on (default: cpu)")
    parser.add_argument("--workers", type=int, default=0, help="processes making the data (default: 0, in-process)")
    parser.add_argument("--multislice", type=float, metavar="SHARE",
                        help="HRTEM: share of specimens imaged by light multislice instead of as phase objects "
                             "(0-1; default: the model's, 0)")
    parser.add_argument("--physical-phase", action="store_true",
                        help="HRTEM: atoms' phases from the voltage's interaction constant and their projected "
                             "potential (default: the model's, a strength independent of the voltage)")
    args = parser.parse_args(argv)
    if args.multislice is not None and not 0.0 <= args.multislice <= 1.0:
        parser.error("--multislice is a share of specimens, between 0 and 1")
    command = "python scripts/train_restore.py " + " ".join(argv if argv is not None else sys.argv[1:])
    for names in lockstep_groups(args.names):
        train(names, args, command)
    return 0


if __name__ == "__main__":
    sys.exit(main())
