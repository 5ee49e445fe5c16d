"""Relative contrast of the HRTEM training generator's specimens, with and without physical phases.

For each specimen kind of :mod:`tem_denoise.physics.formation.structures`, ``--count`` noise-free
HRTEM images at ``--pixel-nm`` with random microscopes; prints the 10th, 50th and 90th
percentile of their relative contrast (standard deviation over mean, %) with the voltage-
independent strength of the bundled ``restore-hrtem``'s data and with physical phases
(``physical_phase``; docs/restoration.md, *Phase strength*), and, when the outside benchmark's
scenes are cached, that of its abTEM HRTEM scenes.

    PYTHONPATH=src .venv/bin/python benchmarks/hrtem_contrast.py [--count 40] [--pixel-nm 0.02]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

SCENES = Path.home() / ".cache" / "napari-tem-denoise" / "outside" / "scenes"


def contrast(image: np.ndarray) -> float:
    """Standard deviation over mean of a (y, x) intensity, in %."""
    return 100.0 * float(np.std(image) / np.mean(image))


def generator_contrast(kind: str, physical: bool, count: int, pixel_nm: float, size: int = 128) -> np.ndarray:
    """Relative contrasts (%) of ``count`` noise-free images of specimens of ``kind`` (seeded)."""
    from tem_denoise.physics.formation import hrtem, structures

    rng = np.random.default_rng(5)
    field = (size * pixel_nm, size * pixel_nm)
    return np.array([contrast(hrtem.hrtem(structures.GENERATORS[kind](field, rng), (size, size), pixel_nm, rng,
                                          physical_phase=physical)) for _ in range(count)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=40)
    parser.add_argument("--pixel-nm", type=float, default=0.02)
    args = parser.parse_args()
    from tem_denoise.physics.formation import structures

    print(f"{'specimen':14s} {'bundled strength: p10 / p50 / p90 %':>36s} {'physical phases: p10 / p50 / p90 %':>36s}")
    for kind in sorted(structures.GENERATORS):
        cells = [" / ".join(f"{v:.1f}" for v in np.percentile(generator_contrast(kind, physical, args.count,
                                                                                 args.pixel_nm), [10, 50, 90]))
                 for physical in (False, True)]
        print(f"{kind:14s} {cells[0]:>36s} {cells[1]:>36s}", flush=True)
    for path in sorted(SCENES.glob("hrtem_*.npz")):
        with np.load(path, allow_pickle=False) as scene:
            meta = json.loads(str(scene["meta_json"]))
            print(f"abTEM {meta['scene_id']} ({meta['voltage_kV']} kV): {contrast(scene['signal_hrtem']):.1f} %")


if __name__ == "__main__":
    main()
