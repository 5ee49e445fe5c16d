"""Which low-pass period suits a blind-spot net on finely sampled lattices (seed 002's FFT low-pass).

The bundled ``wcid-2d`` / ``wcvd-3d`` are fine-tuned self-supervised on each held-out set of
benchmarks/quality.py (its noisy frames only, as a user would), then the output low-pass is
swept: off, and periods of 2, 3, 4, 6 and 14 px (14 px = the paper's cut-off 1 / (2·7)
cycles per pixel). Scores on the first 20 frames as in quality.py: PSNR/SSIM against the clean
image and atom-finding F1. Training never uses the low-pass, so one fine-tuned model serves
every period.

Prints a markdown table and writes JSON. Usage: ``python benchmarks/blindspot_lowpass.py``
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from quality import fine_tuned, localisation, make_set, run, score
from tem_denoise.engine import Denoiser
from tem_denoise.engine.tune_blindspot import lowpass_period, with_lowpass_period
from tem_denoise.models.registry import available_models, build_model

ROOT = Path(__file__).resolve().parents[1]
PERIODS = (0.0, 2.0, 3.0, 4.0, 6.0, 14.0)
CASES = (("counting", "wcid-2d"), ("counting", "wcvd-3d"), ("hrtem", "wcid-2d"), ("haadf", "wcid-2d"),
         ("bf", "wcid-2d"))
SCORED_FRAMES = 20


def sweep(set_name: str, model_name: str, frames: int) -> list[dict]:
    """Fine-tune ``model_name`` on the set, then score each low-pass period."""
    data = make_set(set_name, frames)
    card = available_models()[model_name]
    weights = fine_tuned(card, data).model.state_dict()
    head = {key: value[:SCORED_FRAMES] if key in ("noisy", "clean", "atom_map") else value
            for key, value in data.items()}
    rows = []
    for period in PERIODS:
        variant = with_lowpass_period(card, period)
        model = build_model(variant)
        model.load_state_dict(weights)
        output = run(Denoiser(model, card=variant, device="cpu"), head)
        rows.append({"set": set_name, "model": model_name, "period_px": period,
                     **score(output, head, "restore"), **localisation(output, head, set_name, "restore")})
        print(f"{set_name:9s} {model_name:8s} period {period:4.0f} px  {rows[-1]['psnr']:6.2f} dB  "
              f"SSIM {rows[-1]['ssim']:.4f}  F1 {rows[-1]['f1']:.3f}", flush=True)
    return rows


def table(rows: list[dict]) -> str:
    lines = ["| set | model (fine-tuned on the set) | low-pass period | PSNR (dB) | SSIM | atom F1 |",
             "| --- | --- | --- | ---: | ---: | ---: |"]
    for r in rows:
        period = "off" if r["period_px"] == 0 else f"{r['period_px']:g} px"
        lines.append(f"| {r['set']} | {r['model']} | {period} | {r['psnr']:.2f} | {r['ssim']:.4f} | {r['f1']:.3f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=100, help="frames per set used for fine-tuning")
    parser.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "blindspot_lowpass.json"))
    args = parser.parse_args()
    bundled = {name: lowpass_period(available_models()[name]) for name in ("wcid-2d", "wcvd-3d")}
    rows = [row for set_name, model_name in CASES for row in sweep(set_name, model_name, args.frames)]
    print(table(rows))
    Path(args.json).write_text(json.dumps({"frames": args.frames, "bundled_periods_px": bundled, "rows": rows},
                                          indent=1))


if __name__ == "__main__":
    main()
