"""Camera noise correlated by the detector's blur: is it measured, and does it help?

HRTEM frames of the project's image-formation generator (``tem_denoise.physics.formation``)
recorded by its scintillator camera (a point-spread of 0-1.2 px, so the noise of neighbouring
pixels is correlated) at 8-15 pm/px, where the noise spectrum can be measured
(:mod:`tem_denoise.physics.noise_spectrum`). For each frame it prints the pixel variance the
spectrum finds over the true one (``-`` where none is found: the noise is taken for white),
and PSNR (after an affine fit to the clean frame) of the noisy frame and of ``restore-hrtem``
without and with the spectrum (without: the engine as it was, noise taken for white).

    PYTHONPATH=src .venv/bin/python benchmarks/camera_noise.py [--frames 12] [--json out.json]
"""

from __future__ import annotations

import argparse
import json

import numpy as np

PIXELS_NM = (0.008, 0.010, 0.012, 0.015)
SIZE_PX = 384
SEED = 100


def psnr(output: np.ndarray, clean: np.ndarray) -> float:
    """PSNR (dB, range of ``clean``) of ``output`` after the affine fit that best matches ``clean``."""
    x = output.ravel() - output.mean()
    y = clean.ravel() - clean.mean()
    residual = (x @ y) / (x @ x) * x - y
    return float(10 * np.log10(np.ptp(clean) ** 2 / np.mean(residual**2)))


def camera_pair(index: int):
    """The ``index`` th noisy/clean HRTEM pair, always from the analogue camera."""
    from tem_denoise.physics.formation import SPECS, detector, pairs

    rng = np.random.default_rng(SEED + index)
    pixel = PIXELS_NM[index % len(PIXELS_NM)]
    dose = float(np.exp(rng.uniform(*np.log(SPECS["HRTEM"].dose_range))))
    intensity, kind = pairs._intensity("HRTEM", (SIZE_PX, SIZE_PX), pixel, rng)
    noisy, clean, level = detector.linear_camera(intensity, dose, rng)
    return noisy, clean, level, pixel, dose, kind


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--json", help="write the rows to this JSON file")
    args = parser.parse_args()

    from tem_denoise.engine import Denoiser, adapters
    from tem_denoise.physics.noise_level import sigma_map
    from tem_denoise.physics.noise_spectrum import estimate_spectrum

    denoiser = Denoiser("restore-hrtem", device="cpu")
    measure = adapters.estimate_spectrum
    rows = []
    for index in range(args.frames):
        noisy, clean, level, pixel, dose, kind = camera_pair(index)
        spectrum = estimate_spectrum([noisy], pixel)
        true_variance = float(np.mean(sigma_map(clean, level) ** 2))
        with_spectrum = denoiser.denoise(noisy, pixel_size_nm=pixel)
        adapters.estimate_spectrum = lambda *args: None  # the engine as before: white noise
        try:
            white = denoiser.denoise(noisy, pixel_size_nm=pixel)
        finally:
            adapters.estimate_spectrum = measure
        row = {"frame": index, "pixel_nm": pixel, "scene": kind, "dose_e_per_px": round(dose, 2),
               "variance_found_over_true": None if spectrum is None else round(spectrum.variance / true_variance, 3),
               "noisy_db": round(psnr(noisy, clean), 2), "white_db": round(psnr(white, clean), 2),
               "spectrum_db": round(psnr(with_spectrum, clean), 2)}
        rows.append(row)
        found = "-" if row["variance_found_over_true"] is None else f"{row['variance_found_over_true']:.2f}"
        print(f"{index:3d} {pixel * 1000:3.0f} pm {kind:13s} {dose:8.1f} e-/px  found/true {found:>5s}  "
              f"noisy {row['noisy_db']:6.2f}  white {row['white_db']:6.2f}  spectrum {row['spectrum_db']:6.2f} dB",
              flush=True)
    gains = [r["spectrum_db"] - r["white_db"] for r in rows]
    print(f"spectrum - white: mean {np.mean(gains):+.2f} dB, min {min(gains):+.2f}, max {max(gains):+.2f}; "
          f"better on {sum(g > 0.05 for g in gains)}, worse on {sum(g < -0.05 for g in gains)} of {len(rows)}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(rows, handle, indent=1)


if __name__ == "__main__":
    main()
