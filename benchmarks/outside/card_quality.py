"""Write a results table's figures into the bundled restoration models' cards.

For each bundled model named in the table (``tem_denoise:<model>`` rows), per dose level: the
mean, min and max of its PSNR minus the best-σ Gaussian's, and tk_r_em's mean on the same
frames, into ``card.quality["outside_benchmark_validation"]``. Only the validation part is
ever written (the final part stays sealed)::

    .venv/bin/python benchmarks/outside/card_quality.py --name doc
"""

from __future__ import annotations

import argparse
import csv
import datetime
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import dataset  # noqa: E402
from tem_denoise.models.card import read_card, write_card  # noqa: E402
from tem_denoise.models.registry import BUNDLED_DIR  # noqa: E402


def psnr_table(path: Path) -> dict[str, dict[str, float]]:
    """``{method: {frame: psnr}}`` of a results CSV."""
    table: dict[str, dict[str, float]] = defaultdict(dict)
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            table[row["method"]][row["frame"]] = float(row["psnr"])
    return table


def per_dose(table: dict, method: str) -> dict:
    """Per dose level: frames, mean/min/max PSNR minus the best Gaussian's, tk_r_em's mean."""
    gaussian, peer = table["gaussian"], table.get("tkrem", {})
    levels: dict[str, dict] = {}
    for level in ("low", "middle", "high"):
        frames = [f for f in table[method] if f.endswith(f".{level}") and f in gaussian]
        if not frames:
            continue
        gains = np.array([table[method][f] - gaussian[f] for f in frames])
        entry = {"frames": len(frames), "psnr_minus_best_gaussian_db_mean": round(float(gains.mean()), 2),
                 "min": round(float(gains.min()), 2), "max": round(float(gains.max()), 2)}
        peered = [peer[f] - gaussian[f] for f in frames if f in peer]
        if peered:
            entry["tk_r_em_minus_best_gaussian_db_mean"] = round(float(np.mean(peered)), 2)
        levels[level] = entry
    return levels


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", default="doc", help="results table name (validation part)")
    args = parser.parse_args(argv)
    table = psnr_table(dataset.cache_dir() / "results" / "validation" / f"{args.name}.csv")
    for method in sorted(table):
        model = method.removeprefix("tem_denoise:")
        path = BUNDLED_DIR / model / "card.json"
        if model == method or not path.exists():
            continue
        card = read_card(path, source="bundled")
        card.quality = {**card.quality, "outside_benchmark_validation": {
            "command": f"python benchmarks/outside/run.py --part validation --name {args.name}",
            "set": "abTEM simulations made by benchmarks/outside/make_abtem_set.py (validation part)",
            "date": datetime.date.today().isoformat(), "per_dose": per_dose(table, method),
            "docs": "docs/outside_benchmark.md"}}
        write_card(card, path)
        print(f"{model}: quality written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
