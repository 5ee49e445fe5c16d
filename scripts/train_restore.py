"""Train the bundled restoration models on image-formation pairs made on the fly.

Each model (``restore-haadf``, ``restore-bf``, ``restore-hrtem``) is a
:class:`~tem_denoise.models.restore.RestoreUNet` trained by
:func:`~tem_denoise.engine.restore_training.iter_train_restore` on
:mod:`tem_denoise.physics.formation` pairs, and written to
``src/tem_denoise/models/weights/<name>/`` (``weights.safetensors`` + ``card.json`` with the
command, seed, configuration, sampling and dose ranges, steps and CPU time). Weights and card
are checkpointed every ``--checkpoint-minutes``; ``--resume`` continues from the bundled
checkpoint at the step it reached (the cosine schedule continues; the optimiser restarts).

Usage::

    python scripts/train_restore.py restore-haadf --minutes 40
    python scripts/train_restore.py restore-haadf --resume --minutes 40
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from dataclasses import asdict

import numpy as np
import torch

from tem_denoise import __version__
from tem_denoise.engine.restore_training import RestoreConfig, iter_train_restore
from tem_denoise.models.card import ModelCard, read_card, write_card
from tem_denoise.models.registry import BUNDLED_DIR, build_model
from tem_denoise.models.weights import load_into, save_weights
from tem_denoise.physics.formation import SPECS as FORMATION

ARCHITECTURE = {"base_channels": 12, "depth": 3}
WORKING_NM = 0.02
DESCRIPTIONS = {
    "STEM-HAADF": "HAADF images of random crystals, 2D sheets, particles on supports and single atoms "
                  "(incoherent imaging with random probes, scan distortions, Poisson detector noise)",
    "STEM-BF": "BF/ABF images of random specimens (dark columns on a bright background, random probes, "
               "scan distortions, Poisson detector noise)",
    "HRTEM": "HRTEM phase-contrast images of random specimens (phase object, random voltage, Cs, defocus, "
             "aperture and coherence; scintillator cameras with correlated noise, or counting)",
}
MODELS = {
    "restore-haadf": RestoreConfig("STEM-HAADF", WORKING_NM, steps=1800, seed=21),
    "restore-bf": RestoreConfig("STEM-BF", WORKING_NM, steps=1000, seed=22),
    "restore-hrtem": RestoreConfig("HRTEM", WORKING_NM, steps=2000, seed=23),
}


def card_for(name: str, config: RestoreConfig, training: dict, sha: str | None = None) -> ModelCard:
    """The card of restoration model ``name`` (weights and sha256 once written)."""
    spec = FORMATION[config.modality]
    return ModelCard(
        name=name, family="restore", architecture=dict(ARCHITECTURE), modality=config.modality,
        output_kind="restore", adapter="restore", pixel_size_nm=config.working_nm,
        sampling_range_nm=spec.pixel_range_nm, tile_size=256, speed_class="fast", is_default=True,
        weights_file="weights.safetensors" if sha else None, weights_sha256=sha,
        description=(f"Residual U-Net with a noise-map input ({ARCHITECTURE['base_channels']} base channels, "
                     f"{ARCHITECTURE['depth']} poolings), run at {config.working_nm * 1000:.0f} pm/px; trained on "
                     f"{DESCRIPTIONS[config.modality]}, {spec.pixel_range_nm[0] * 1000:.0f}-"
                     f"{spec.pixel_range_nm[1] * 1000:.0f} pm/px, {spec.dose_range[0]:g}-{spec.dose_range[1]:g} "
                     "e-/px. Restores the image in its own units."),
        training=training,
    )


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


def train(name: str, minutes: float | None, checkpoint_minutes: float, resume: bool, steps: int | None,
          loss: str | None = None) -> None:
    config = MODELS[name]
    config.max_minutes = minutes
    config.steps = steps or config.steps
    config.loss = loss or config.loss
    model = build_model(card_for(name, config, {}))
    start_step, runs = earlier_runs(name, model) if resume else (0, [])
    spec = FORMATION[config.modality]
    base = {
        "command": f"python scripts/train_restore.py {name}" + (" --resume" if resume else "")
                   + (f" --steps {steps}" if steps else "") + (f" --loss {loss}" if loss else ""),
        "config": asdict(config),
        "data": {"source": f"tem_denoise.physics.formation.restore_pair(SPECS[{config.modality!r}])",
                 "pixel_range_nm": list(spec.pixel_range_nm), "dose_range_e_per_px": list(spec.dose_range)},
        "package_version": __version__, "torch": torch.__version__,
        "hardware": f"{platform.machine()}, {torch.get_num_threads()} CPU threads",
    }
    started, last_save, losses = time.time(), time.time(), []
    steps = iter_train_restore(model, config, start_step)

    def record(step: int, complete: bool) -> dict:
        run = {"from_step": start_step, "to_step": step, "minutes": round((time.time() - started) / 60, 1),
               "cpu_minutes": round(time.process_time() / 60, 1),
               "final_loss": float(np.mean(losses[-50:])) if losses else None}
        return {**base, "steps": step, "complete": complete, "runs": [*runs, run]}

    for progress in steps:
        losses.append(progress.loss)
        if progress.done % 50 == 0:
            print(f"{name}: {progress.message} ({time.time() - started:.0f} s)", flush=True)
        if time.time() - last_save > 60 * checkpoint_minutes:
            save(name, config, model, record(progress.done, False))
            model.train()
            last_save = time.time()
    step = start_step + len(losses)
    save(name, config, model, record(step, step >= config.steps))
    print(f"{name}: saved at step {step}", flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="+", choices=sorted(MODELS), help="models to train")
    parser.add_argument("--minutes", type=float, help="wall-clock budget of this run, per model")
    parser.add_argument("--checkpoint-minutes", type=float, default=3.0)
    parser.add_argument("--resume", action="store_true", help="continue from the bundled checkpoint")
    parser.add_argument("--loss", choices=["noise-weighted", "log-mse"], help="loss (default: the model's)")
    parser.add_argument("--steps", type=int, help="total steps of the cosine schedule (default: the model's); "
                                                   "with --resume, more than the checkpoint's to train further")
    args = parser.parse_args(argv)
    for name in args.names:
        train(name, args.minutes, args.checkpoint_minutes, args.resume, args.steps, args.loss)
    return 0


if __name__ == "__main__":
    sys.exit(main())
