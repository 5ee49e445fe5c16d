"""Quality of every bundled model and classical baseline on held-out synthetic test sets.

Test sets (fixed seeds, disjoint from the training seeds of scripts/train_models.py):

- ``hrtem``: 100 NUC-like HRTEM frames (256², the paper's calibrated camera noise);
- ``haadf`` and ``bf``: 100 synthetic STEM frames each (256², the papers' STEM noise);
- ``counting``: a 100-frame drifting HRTEM movie in counting mode (Poisson, 2 e⁻/px/frame),
  scored with the HRTEM-counting, HRTEM and modality-free models.

Each model is scored against its own target: the clean image for ``restore`` models (PSNR
and SSIM with the clean set's range), the atom map for ``atom-map`` models (PSNR/SSIM with
peak 255, and IoU of both maps thresholded at half maximum). The noisy input is scored as a
``restore`` reference row. Blind-spot models are scored twice: with their starting weights and
after fine-tuning on the set's own noisy frames (400 self-supervised steps; no clean data), as a
user would. So that both kinds compare on one figure, atoms are also found in
the first 20 output frames of every row (centre-of-mass peaks, threshold 0.3, inverted where
atoms are dark) and matched to the true positions: F1 and RMS position error in pixels. The
clean image's own F1 is listed as the ceiling of a perfect ``restore`` model.

Prints a markdown table and writes JSON; ``--docs`` rewrites the table in docs/benchmarks.md
and the cards' table in docs/models.md; ``--cards`` stores each model's figures in its card.

Usage: ``python benchmarks/quality.py [--frames 100] [--docs] [--cards]``
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from tem_denoise.analysis.atoms import locate_atoms_stack
from tem_denoise.analysis.metrics import atom_map_iou, match_positions, psnr, ssim
from tem_denoise.engine import Denoiser
from tem_denoise.engine.training import SelfSupervisedConfig, iter_train_self_supervised
from tem_denoise.models.card import write_card
from tem_denoise.models.registry import PARENT_MODALITY, available_models, capabilities, load_model
from tem_denoise.physics import sample_counting_series
from tem_denoise.physics.datasets import synth_set
from tem_denoise.progress import run_to_end

ROOT = Path(__file__).resolve().parents[1]
SET_MODALITY = {"hrtem": "HRTEM", "haadf": "STEM-HAADF", "bf": "STEM-BF", "counting": "HRTEM-counting"}
SEEDS = {"hrtem": 9001, "haadf": 9002, "bf": 9003, "counting": 9004}
# Atom finding on every output, so that restore and atom-map models compare on one figure:
# (minimum separation px, match radius px, atoms dark in restored images).
LOCATE = {"hrtem": (3.0, 1.5, True), "haadf": (5.0, 2.0, False), "bf": (5.0, 2.0, True),
          "counting": (3.0, 1.5, True)}
LOCATE_FRAMES = 20
# The user journey for blind-spot models: fine-tune on the noisy stack itself (self-supervised).
FINETUNE = SelfSupervisedConfig(steps=400, crop=128, batch_size=8, lr=1e-2, seed=0)


def make_set(name: str, frames: int) -> dict[str, np.ndarray]:
    """The held-out set ``name``: noisy, clean and atom_map as float32 (n, 256, 256)."""
    if name == "counting":
        pair = sample_counting_series(frames, (256, 256), dose_e_per_px=2.0, seed=SEEDS[name])
        return {"noisy": pair.noisy, "clean": pair.clean, "atom_map": pair.atom_map,
                "positions": pair.positions_px, "series": True}
    data = synth_set(name, frames, (256, 256), seed=SEEDS[name])
    return {**data, "series": False}


def models_for(set_name: str, series: bool) -> list:
    """Cards to score on a set: models of its modality, its parent (HRTEM for counting) or 'any';
    temporal ones only on series."""
    modality = SET_MODALITY[set_name]
    wanted = (modality, PARENT_MODALITY.get(modality), "any")
    return [card for card in available_models().values()
            if (series or card.temporal_window == 1) and (card.source == "builtin" or card.modality in wanted)]


def score(output: np.ndarray, data: dict, kind: str) -> dict:
    """PSNR/SSIM (and IoU for atom maps) of ``output`` against the right target, per-frame mean."""
    if kind == "atom-map":
        target = data["atom_map"]
        return {"target": "atom map",
                "psnr": float(np.mean(psnr(target, np.clip(output, 0, 255), data_range=255.0))),
                "ssim": float(np.mean(ssim(target, np.clip(output, 0, 255), data_range=255.0))),
                "iou": float(atom_map_iou(np.clip(output, 0, None), target))}
    target = data["clean"]
    span = float(target.max() - target.min())
    return {"target": "clean", "psnr": float(np.mean(psnr(target, output, data_range=span))),
            "ssim": float(np.mean(ssim(target, output, data_range=span))), "iou": None}


def true_positions(data: dict) -> np.ndarray:
    """(m, 3) rows (frame, y, x) of the first LOCATE_FRAMES frames' true atoms."""
    rows = data["positions"]
    return rows[rows[:, 0] < LOCATE_FRAMES]


def localisation(output: np.ndarray, data: dict, set_name: str, kind: str) -> dict:
    """F1 and RMS error (px) of atoms found in the first frames of ``output``."""
    separation, radius, dark = LOCATE[set_name]
    frames = output[:LOCATE_FRAMES]
    table = locate_atoms_stack(-frames if (dark and kind == "restore") else frames, separation,
                               threshold_rel=0.3, method="com")
    found = np.column_stack([table["frame"], table["y_px"], table["x_px"]])
    match = match_positions(found, true_positions(data), radius)
    return {"f1": float(match.f1), "rms_px": float(match.rms_error)}


def run(denoiser: Denoiser, data: dict) -> np.ndarray:
    """Output of ``denoiser`` on the set: the whole series at once, or frame by frame."""
    if data["series"]:
        return denoiser.denoise(data["noisy"])
    return np.stack([denoiser.denoise(frame) for frame in data["noisy"]])


def fine_tuned(card, data: dict) -> Denoiser:
    """A blind-spot model fine-tuned self-supervised on the set's own noisy frames (no clean data)."""
    model = load_model(card)
    run_to_end(iter_train_self_supervised(model, data["noisy"], FINETUNE))
    return Denoiser(model, card=card, device="cpu")


def row(set_name: str, label: str, kind: str, output: np.ndarray, data: dict, seconds: float) -> dict:
    result = {"set": set_name, "model": label, "kind": kind, **score(output, data, kind),
              **localisation(output, data, set_name, kind), "seconds": round(seconds, 1)}
    print(f"{set_name:9s} {label:36s} {result['psnr']:6.2f} dB  SSIM {result['ssim']:.4f}  "
          f"F1 {result['f1']:.3f}  ({seconds:.0f} s)", flush=True)
    return result


def evaluate(frames: int) -> list[dict]:
    rows = []
    for set_name in SET_MODALITY:
        data = make_set(set_name, frames)
        rows.append(row(set_name, "noisy input", "restore", data["noisy"], data, 0.0))
        rows.append({"set": set_name, "model": "clean image (best a restore model can do)", "kind": "restore",
                     "target": "clean", "psnr": None, "ssim": None, "iou": None,
                     **localisation(data["clean"], data, set_name, "restore"), "seconds": 0.0})
        for card in models_for(set_name, data["series"]):
            start = time.time()
            output = run(Denoiser(card, device="cpu"), data)
            rows.append(row(set_name, card.name, card.output_kind, output, data, time.time() - start))
            if capabilities(card).self_supervised:
                start = time.time()
                output = run(fine_tuned(card, data), data)
                rows.append(row(set_name, f"{card.name} + fine-tune on the set", card.output_kind, output, data,
                                time.time() - start))
    return rows


def table(rows: list[dict], frames: int) -> str:
    lines = [f"| set ({frames} frames) | model | output | target | PSNR (dB) | SSIM | IoU | atom F1 | RMS (px) |",
             "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        psnr, ssim, iou = (f"{r[key]:{form}}" if r[key] is not None else "–"
                           for key, form in (("psnr", ".2f"), ("ssim", ".4f"), ("iou", ".4f")))
        lines.append(f"| {r['set']} | {r['model']} | {r['kind']} | {r['target']} | {psnr} | {ssim} | {iou} | "
                     f"{r['f1']:.3f} | {r['rms_px']:.2f} |")
    return "\n".join(lines)


def write_block(path: Path, key: str, markdown: str) -> Path:
    """Replace the text between ``<!-- key:start -->`` and ``<!-- key:end -->`` in ``path``."""
    text = path.read_text()
    start, end = f"<!-- {key}:start -->", f"<!-- {key}:end -->"
    if start not in text:
        raise ValueError(f"{path} has no {start} marker")
    path.write_text(text.split(start)[0] + f"{start}\n{markdown}\n{end}" + text.split(end)[1])
    return path


def _budget(training: dict) -> str:
    """A card's training budget in words: minutes, steps (with the crops per step of a
    restoration model, whose card lists its ``runs``, weight averages among them) and runs."""
    if "runs" in training:  # restoration models: the runs that trained or resumed them, and weight averages
        runs = [r for r in training["runs"] if "averaged_with" not in r]
        crops = training.get("config", {}).get("batch_size")
        averaged = ", weights averaged with earlier ones" if len(runs) < len(training["runs"]) else ""
        return (f"{sum(r.get('minutes') or 0 for r in runs):.1f} min, {training.get('steps')} steps of {crops} crops "
                f"in {len(runs)} run(s){averaged}")
    runs = [*training.get("resumed_from", []), training]
    minutes, steps = sum(r.get("minutes") or 0 for r in runs), sum(r.get("steps") or 0 for r in runs)
    return f"{minutes:.1f} min, {steps} steps in {len(runs)} run(s)"


def cards_table() -> str:
    """The bundled models' cards as a markdown table (architecture, size, training budget)."""
    from tem_denoise.models.registry import build_model

    lines = ["| model | family | architecture | parameters | modality | default | output | tile | training |",
             "| --- | --- | --- | ---: | --- | --- | --- | ---: | --- |"]
    for card in available_models().values():
        if card.source != "bundled":
            continue
        n = sum(p.numel() for p in build_model(card).parameters())
        arch = ", ".join(f"{k}={v}" for k, v in card.architecture.items())
        t = card.training
        budget = f"{_budget(t)} on {t.get('hardware')}, seed {t.get('config', {}).get('seed')}"
        default = "yes" if card.is_default else ""
        lines.append(f"| {card.name} | {card.family} | {arch} | {n:,} | {card.modality} | {default} | "
                     f"{card.output_kind} | {card.tile_size or 'whole frame'} | {budget} |")
    return "\n".join(lines)


def write_cards(rows: list[dict], frames: int) -> None:
    for card in available_models().values():
        if card.source != "bundled":
            continue
        keys = ("target", "psnr", "ssim", "iou", "f1", "rms_px")
        mine = {r["set"]: {k: r[k] for k in keys} for r in rows if r["model"] == card.name}
        if mine:
            card.quality = {"benchmark": "benchmarks/quality.py", "frames_per_set": frames, "sets": mine}
            write_card(card, card.directory / "card.json")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "quality.json"))
    parser.add_argument("--docs", action="store_true", help="write the table into docs/benchmarks.md")
    parser.add_argument("--cards", action="store_true", help="store the figures in the bundled cards")
    args = parser.parse_args()
    rows = evaluate(args.frames)
    markdown = table(rows, args.frames)
    print(markdown)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps({"frames": args.frames, "rows": rows}, indent=1))
    if args.docs:
        print(f"wrote {write_block(ROOT / 'docs' / 'benchmarks.md', 'quality', markdown)}")
        print(f"wrote {write_block(ROOT / 'docs' / 'models.md', 'cards', cards_table())}")
    if args.cards:
        write_cards(rows, args.frames)


if __name__ == "__main__":
    main()
