"""Speed of the synthetic-data generators on one CPU core.

Run: ``python benchmarks/synthesis_speed.py [--repeats N]``. Prints the median time per
256 x 256 pair for HRTEM (NUC-like), HAADF and BF STEM, a 16-frame time series, and the
projected time for a 1,000-pair training set. Goal (issue 3): <= 50 ms per pair, about a
minute per 1,000 pairs. Thread pools are pinned to one thread before numpy is imported.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from tem_denoise.physics import (  # noqa: E402
    calibrate_hrtem_vacuum,
    calibrate_stem,
    sample_vacuum_stacks,
    synth_hrtem_nucleation,
    synth_stem,
    synth_time_series,
)


def median_seconds(func, repeats: int) -> float:
    """Median wall time of ``func(seed)`` over ``repeats`` seeds, after one warm-up call."""
    func(10_000)
    times = []
    for seed in range(repeats):
        start = time.perf_counter()
        func(seed)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    machine = platform.processor() or platform.machine()
    print(f"python {platform.python_version()}, numpy {np.__version__}, {machine}")
    cases = {
        "HRTEM nucleation pair 256x256": lambda s: synth_hrtem_nucleation((256, 256), rng=s),
        "HAADF STEM pair 256x256": lambda s: synth_stem((256, 256), mode="haadf", rng=s),
        "BF STEM pair 256x256": lambda s: synth_stem((256, 256), mode="bf", rng=s),
    }
    for name, func in cases.items():
        t = median_seconds(func, args.repeats)
        print(f"{name:32s} {1e3 * t:7.1f} ms/pair   1,000 pairs ~ {1e3 * t:5.0f} s")
    t = median_seconds(lambda s: synth_time_series(16, (256, 256), rng=s), max(args.repeats // 5, 3))
    print(f"{'HRTEM time series 16x256x256':32s} {1e3 * t:7.1f} ms/series ({1e3 * t / 16:.1f} ms/frame)")
    vac = sample_vacuum_stacks()
    start = time.perf_counter()
    calibrate_hrtem_vacuum(vac.stacks, vac.currents_na)
    print(f"{'calibrate 6 vacuum stacks 20x256x256':32s} {time.perf_counter() - start:7.2f} s")
    images = [synth_stem((512, 512), rng=s).noisy for s in range(4)]
    start = time.perf_counter()
    calibrate_stem(images)
    print(f"{'calibrate STEM 4x512x512':32s} {time.perf_counter() - start:7.2f} s")


if __name__ == "__main__":
    main()
