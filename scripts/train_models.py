"""Train the bundled models on synthetic data from tem_denoise.physics and write them into the package.

Each model is written to ``src/tem_denoise/models/weights/<name>/`` as ``weights.safetensors``
and ``card.json`` (architecture, modality, output kind, adapter, tile size, the command and
seed that made it, the compute budget it had, its loss history summary). Weights are
checkpointed every ``--checkpoint-minutes``, so a run that is stopped still leaves a usable
model whose card says how far it got.

Usage::

    python scripts/train_models.py                 # every model in SPECS, in order
    python scripts/train_models.py scgn-hrtem      # one model
    python scripts/train_models.py --minutes 5     # override each model's time budget
    python scripts/train_models.py scgn-hrtem --resume --minutes 25   # train the bundled weights further
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from tem_denoise import __version__
from tem_denoise.engine.training import (
    SelfSupervisedConfig,
    SupervisedConfig,
    iter_train_self_supervised,
    iter_train_supervised,
    make_supervised_set,
)
from tem_denoise.models.card import ModelCard, write_card
from tem_denoise.models.registry import BUNDLED_DIR, build_model
from tem_denoise.models.weights import save_weights
from tem_denoise.physics import sample_counting_series


@dataclass
class Spec:
    """One bundled model: its card fields and how it is trained."""

    card: dict
    config: SupervisedConfig | SelfSupervisedConfig
    data: dict = field(default_factory=dict)


SCENES = {"hrtem": ("HRTEM", "NUC-like HRTEM frames with the paper's calibrated noise"),
          "haadf": ("STEM-HAADF", "synthetic HAADF lattices, interfaces and random arrangements"),
          "bf": ("STEM-BF", "synthetic BF images (dark atoms)")}
# family -> (name in the description, CPU-sized architecture, its size in words, tile px, speed class)
CPU_SIZED = {
    "scgn": ("SCGN (seed 000)", {"channels": 16, "n_blocks": 2}, "16 channels, 2 blocks", 64, "medium"),
    "sfin": ("SFIN (seed 001)", {"channels": 16, "n_blocks": 2}, "16 channels, 2 blocks", 64, "medium"),
    "unet": ("U-Net (seed 003, AtomSegNet-like)", {"base_channels": 16, "depth": 2}, "16 base channels, 2 poolings",
             256, "fast"),
}


# Supervised training settings shared by the CPU-sized models: 64-px crops, a cosine from 1e-3.
CPU_TRAINING = dict(size=64, batch_size=16, lr=1e-3, lr_min=1e-5)


def atom_map_spec(family: str, kind: str, seed: int, epochs: int, n_pairs: int = 3000, minutes: float = 25,
                  default: bool = False) -> Spec:
    """A CPU-sized supervised model trained on 64-px synthetic ``kind`` pairs to output atom maps."""
    title, architecture, size, tile, speed = CPU_SIZED[family]
    modality, scenes = SCENES[kind]
    card = dict(family=family, architecture=dict(architecture), modality=modality, output_kind="atom-map",
                adapter="percentile-255", tile_size=tile, speed_class=speed, is_default=default,
                description=f"{title}, CPU-sized ({size}), trained on {scenes}; outputs an atom map.")
    if kind == "hrtem":
        card["pixel_size_nm"] = 0.07
    config = SupervisedConfig(kind=kind, target="atom-map", n_pairs=n_pairs, epochs=epochs, seed=seed,
                              max_minutes=minutes, **CPU_TRAINING)
    return Spec(card=card, config=config)


def counting_spec(seed: int, epochs: int, n_pairs: int, minutes: float, default: bool = False) -> Spec:
    """A 5-frame U-Net that restores the centre frame of counting-mode HRTEM movies.

    Trained with mean squared error (the conditional mean, which maximises PSNR; L1's median
    biased the output towards the background by 6 % of the mean dose in a trial run). Every
    training window is a whole movie around its centre frame: a run that also mirrored a
    quarter of the windows at a movie's first frames, as the engine reads a stack's ends,
    restored those frames better but scored 0.4 dB lower over the 100-frame test movie.
    """
    title, architecture, size, tile, speed = CPU_SIZED["unet"]
    card = dict(family="unet", architecture={**architecture, "final_activation": "none", "frames": 5},
                modality="HRTEM-counting", output_kind="restore", adapter="percentile-255", tile_size=tile,
                temporal_window=5, speed_class=speed, is_default=default, pixel_size_nm=0.07,
                description=f"{title} over 5 frames, CPU-sized ({size}), trained on synthetic drifting HRTEM "
                            "movies in counting mode (0.5-8 e-/px/frame, drift up to 1 px/frame); restores the "
                            "centre frame in the input's counts.")
    config = SupervisedConfig(kind="counting", target="restore", loss="mse", frames=5, n_pairs=n_pairs,
                              epochs=epochs, seed=seed, max_minutes=minutes, **CPU_TRAINING)
    return Spec(card=card, config=config)


def blind_spot_spec(frames: int, title: str, seed: int, default: bool = False) -> Spec:
    """Paper-size blind-spot starting weights, self-supervised on a synthetic counting-mode movie.

    The low-pass keeps periods down to 3 px (``lowpass_kernel=1.5``), chosen by
    benchmarks/blindspot_lowpass.py: the paper's 14 px removes atoms sampled ~4 px apart.
    """
    card = dict(family="blindspot",
                architecture={"frames": frames, "mid_channels": 3, "n_layers": 4, "lowpass_kernel": 1.5},
                modality="any", output_kind="restore", adapter="none", speed_class="fast",
                temporal_window=frames, is_default=default,
                description=f"{title}, paper size, low-pass keeping periods down to 3 px (the paper's 14 px "
                            "removes atoms sampled ~4 px apart); starting weights from self-supervised "
                            "training on synthetic counting-mode movies. Fine-tune on your own stack.")
    config = SelfSupervisedConfig(steps=1500, crop=128, batch_size=8, lr=1e-2, seed=seed, max_minutes=6)
    return Spec(card=card, config=config, data=dict(dose_e_per_px=2.0, n_frames=48))


# Atom-map networks are never Denoise defaults (the Atom positions dock offers them); the
# restoration defaults come from scripts/train_restore.py. Among restoring models here, the
# counting-mode U-Net and WCVD are the defaults of their modalities.
SPECS = {
    "scgn-hrtem": atom_map_spec("scgn", "hrtem", seed=1, epochs=12, n_pairs=2000, minutes=16),
    "sfin-haadf": atom_map_spec("sfin", "haadf", seed=2, epochs=16),
    "sfin-bf": atom_map_spec("sfin", "bf", seed=3, epochs=16),
    "unet-haadf": atom_map_spec("unet", "haadf", seed=12, epochs=24),
    "unet-bf": atom_map_spec("unet", "bf", seed=13, epochs=24),
    "unet-hrtem": atom_map_spec("unet", "hrtem", seed=11, epochs=24),
    "unet-counting": counting_spec(seed=14, epochs=28, n_pairs=4000, minutes=30, default=True),
    "wcid-2d": blind_spot_spec(1, "WCID (seed 002): blind-spot net, 2D", seed=4),
    "wcvd-3d": blind_spot_spec(3, "WCVD (seed 002): blind-spot net over 3 frames", seed=5, default=True),
}


def write_model(name: str, spec: Spec, model, training: dict) -> Path:
    folder = BUNDLED_DIR / name
    folder.mkdir(parents=True, exist_ok=True)
    sha = save_weights(model, folder / "weights.safetensors", metadata={"name": name})
    card = ModelCard(name=name, weights_file="weights.safetensors", weights_sha256=sha,
                     training=training, **spec.card)
    return write_card(card, folder / "card.json")


def previous_run(name: str, model) -> dict:
    """Load the bundled weights of ``name`` into ``model`` and return their card's training record."""
    from tem_denoise.models.card import read_card
    from tem_denoise.models.weights import load_into

    card = read_card(BUNDLED_DIR / name / "card.json")
    load_into(model, card.weights_path, card.weights_sha256)
    earlier = card.training.get("resumed_from", [])
    run = {key: card.training.get(key) for key in ("steps", "minutes", "final_loss", "config")}
    return {"resumed_from": [*earlier, run | {"weights_sha256": card.weights_sha256}]}


def train(name: str, spec: Spec, checkpoint_minutes: float, resume: bool = False) -> None:
    torch.set_num_threads(max(1, torch.get_num_threads()))
    torch.manual_seed(spec.config.seed)
    card = ModelCard(name=name, **spec.card)
    model = build_model(card)
    history = previous_run(name, model) if resume else {}
    start = time.time()
    if isinstance(spec.config, SupervisedConfig):
        inputs, targets = make_supervised_set(spec.config)
        print(f"{name}: {len(inputs)} synthetic pairs made in {time.time() - start:.0f} s", flush=True)
        steps = iter_train_supervised(model, inputs, targets, spec.config)
        frames = f", frames={spec.config.frames}" if spec.config.frames > 1 else ""
        data = {"source": f"tem_denoise.physics.datasets.iter_pairs(kind={spec.config.kind!r}{frames})",
                "pairs": spec.config.n_pairs, "size": spec.config.size}
    else:
        movie = sample_counting_series(spec.data["n_frames"], dose_e_per_px=spec.data["dose_e_per_px"],
                                       seed=spec.config.seed).noisy
        steps = iter_train_self_supervised(model, movie, spec.config)
        data = {"source": "tem_denoise.physics.synth_time_series(kind='hrtem', noise=Counting)", **spec.data}
    base = {
        "command": f"python scripts/train_models.py {name}" + (" --resume" if resume else ""),
        "config": asdict(spec.config),
        "data": data,
        "package_version": __version__,
        "torch": torch.__version__,
        "hardware": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} CPU threads",
        **history,
    }
    last_save, losses = time.time(), []
    result = None
    while True:
        try:
            progress = next(steps)
        except StopIteration as stop:
            result = stop.value
            break
        losses.append(progress.loss)
        if progress.done % 25 == 0:
            print(f"{name}: {progress.message} ({time.time() - start:.0f} s)", flush=True)
        if time.time() - last_save > 60 * checkpoint_minutes:
            model.eval()
            write_model(name, spec, model, {**base, "steps": progress.done, "complete": False,
                                            "minutes": round((time.time() - start) / 60, 1),
                                            "final_loss": float(np.mean(losses[-25:]))})
            model.train()
            last_save = time.time()
    training = {**base, "steps": result.steps, "complete": True,
                "stopped_by_budget": result.stopped_by_budget,
                "minutes": round(result.seconds / 60, 1),
                "final_loss": float(np.mean(result.losses[-25:]))}
    print(f"wrote {write_model(name, spec, model, training)}", flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"models to train (default all: {', '.join(SPECS)})")
    parser.add_argument("--minutes", type=float, help="override each model's wall-clock budget")
    parser.add_argument("--checkpoint-minutes", type=float, default=3.0)
    parser.add_argument("--resume", action="store_true",
                        help="continue from the bundled weights (a fresh optimiser; the card lists earlier runs)")
    args = parser.parse_args(argv)
    for name in args.names or SPECS:
        spec = SPECS[name]
        if args.minutes is not None:
            spec.config.max_minutes = args.minutes
        train(name, spec, args.checkpoint_minutes, args.resume)
    return 0


if __name__ == "__main__":
    sys.exit(main())
