"""Inference speed of every model family through the Denoiser: Mpixel/s, tiling overhead, peak memory.

Prints a markdown table and writes JSON. Each measurement runs in its own
process (so the peak resident memory belongs to it alone; on CUDA the peak
allocated GPU memory is reported too). CPU seconds per frame are reported
beside wall time: on a machine shared with other jobs the wall time is not
the program's own. Weights are random unless the model is
a bundled or user model: speed does not depend on them.

Usage::

    python benchmarks/speed.py                       # CPU, all models, 256/1024/2048 and a 100 x 1024 stack
    python benchmarks/speed.py --device cuda --json docs/speed_gpu.json
    python benchmarks/speed.py --models wcid wcvd --sizes 1024 --max-seconds 20

Aims (issue 4): blind-spot >= 30 Mpixel/s on a 2-core CPU; a supervised model at
<= 1 s per 1024^2 frame on CPU; tiling overhead <= 10 %; on a GPU blind-spot
>= 1000 Mpixel/s and paper-size SCGN >= 100 frames/s at 1024^2.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

# name -> (family, architecture, card overrides); untrained, speed only
MODELS = {
    "wcid": ("blindspot", {"frames": 1}, {}),
    "wcvd": ("blindspot", {"frames": 3}, {"temporal_window": 3}),
    "scgn-paper": ("scgn", {"channels": 64, "n_blocks": 8}, {"tile_size": 256, "adapter": "percentile-255"}),
    "scgn-small": ("scgn", {"channels": 32, "n_blocks": 4}, {"tile_size": 256, "adapter": "percentile-255"}),
    "scgn-tiny": ("scgn", {"channels": 16, "n_blocks": 2}, {"tile_size": 256, "adapter": "percentile-255"}),
    "sfin-paper": ("sfin", {"channels": 64, "n_blocks": 8}, {"tile_size": 256, "adapter": "percentile-255"}),
    "unet": ("unet", {"base_channels": 64}, {"tile_size": 256, "adapter": "percentile-255"}),
    "gaussian-2d": ("gaussian-2d", {"sigma": 1.5}, {}),
    "gaussian-3d": ("gaussian-3d", {"sigma": 1.5, "sigma_t": 1.0, "temporal_radius": 2}, {"temporal_window": 5}),
    "wiener": ("wiener", {"size": 5}, {}),
}
CLASSICAL = {"gaussian-2d", "gaussian-3d", "wiener"}
LOCAL_TILE = 512
CASES = {"256": (1, 256), "1024": (1, 1024), "2048": (1, 2048), "stack": (100, 1024)}


def build(name: str):
    """Model and card for a benchmark name (a model object with random weights) or a registered
    model name (its card, which the engine loads as the dock and the CLI do: channels-last on the
    CPU, see :class:`~tem_denoise.engine.Denoiser`)."""
    from tem_denoise.models import ModelCard, available_models, build_model

    if name in MODELS:
        family, arch, extra = MODELS[name]
        card = ModelCard(name, family, arch, **extra)
        return build_model(card), card
    card = available_models()[name]
    return card, card


def measure(name: str, device: str, case: str, tile: int | None, max_seconds: float) -> dict:
    """One measurement in this process: warm-up frame, then the case's frames until done or out of time.

    ``tile`` None means the card's tile size, or 512 pixels for a card without one.
    """
    import torch

    from tem_denoise.engine import Denoiser

    model, card = build(name)
    if tile is None:
        tile = card.tile_size or LOCAL_TILE
    n, size = CASES[case]
    n = max(n, card.temporal_window)
    rng = np.random.default_rng(0)
    stack = np.empty((n, size, size), np.float32)
    for frame in stack:
        frame[...] = rng.poisson(3.0, (size, size))
    denoiser = Denoiser(model, device=device, card=card, tile=tile)
    warm = stack[:card.temporal_window] if card.temporal_window > 1 else stack[0]
    denoiser.denoise(warm)
    if denoiser.device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start, cpu_start = time.perf_counter(), time.process_time()
    first_eta, frames_done = None, n
    steps = denoiser.iter_denoise(stack if n > 1 else stack[0])
    for event in steps:
        if first_eta is None and event.eta_s is not None:
            first_eta = event.eta_s + (time.perf_counter() - start)
        if time.perf_counter() - start > max_seconds and event.frames_done < n:
            frames_done = event.frames_done
            steps.close()  # the one cancel path: stop the generator
            break
    if denoiser.device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    cpu_seconds = time.process_time() - cpu_start
    frames_done = max(frames_done, 1)
    run = denoiser.provenance()
    result = {
        "model": name, "device": run["device"], "case": case, "frames": n, "frames_done": frames_done,
        "size": size, "tile": run.get("last_run", {}).get("tile", denoiser.tile),
        "seconds": seconds, "seconds_per_frame": seconds / frames_done,
        "mpix_per_s": frames_done * size * size / seconds / 1e6,
        "cpu_seconds": cpu_seconds, "first_eta_s": first_eta, "precision": run["precision"],
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_before_mib": rss_before,
    }
    if denoiser.device.type == "cuda":
        result["peak_gpu_mib"] = torch.cuda.max_memory_allocated() / 2**20
    return result


def run_isolated(args: list[str]) -> dict:
    """Run one measurement in a fresh interpreter and parse its JSON line."""
    cmd = [sys.executable, __file__, "--one", *args]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr else "failed", "args": args}
    return json.loads(done.stdout.strip().splitlines()[-1])


def table(rows: list[dict]) -> str:
    """Markdown table: one line per model, case and tiling, with the tiling overhead."""
    whole = {(r["model"], r["case"]): r["seconds_per_frame"] for r in rows if "error" not in r and r["mode"] == "whole"}
    lines = ["| model | case | mode | tile | s/frame | Mpixel/s | CPU s/frame | tiling overhead | "
             "peak RSS MiB (+ over input) | peak GPU MiB |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {' '.join(r['args'][:3])} | | | | error: {r['error']} | | | | | |")
            continue
        base = whole.get((r["model"], r["case"]))
        overhead = f"{100 * (r['seconds_per_frame'] / base - 1):+.0f} %" if base and r["mode"] == "tiled" else ""
        partial = f" ({r['frames_done']}/{r['frames']} frames)" if r["frames_done"] < r["frames"] else ""
        gpu = f"{r['peak_gpu_mib']:.0f}" if "peak_gpu_mib" in r else ""
        lines.append(f"| {r['model']} | {r['case']}{partial} | {r['mode']} | {r['tile'] or 'frame'} | "
                     f"{r['seconds_per_frame']:.3f} | {r['mpix_per_s']:.1f} | "
                     f"{r['cpu_seconds'] / r['frames_done']:.3f} | {overhead} | "
                     f"{r['peak_rss_mib']:.0f} (+{r['peak_rss_mib'] - r['rss_before_mib']:.0f}) | {gpu} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--max-seconds", type=float, default=30.0, help="time limit per measurement")
    parser.add_argument("--json", type=Path, default=Path("speed.json"))
    parser.add_argument("--one", nargs=5, metavar=("MODEL", "DEVICE", "CASE", "TILE", "MAXS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        name, device, case, tile, max_s = args.one
        print(json.dumps(measure(name, device, case, None if tile == "card" else int(tile), float(max_s))))
        return
    rows = []
    for name in args.models:
        modes = (("whole", "0"),) if name in CLASSICAL else (("whole", "0"), ("tiled", "card"))
        for case in args.cases:
            for mode, tile in modes:
                row = run_isolated([name, args.device, case, tile, str(args.max_seconds)])
                row["mode"] = mode
                rows.append(row)
                print(table([row]).splitlines()[-1], flush=True)
    report = table(rows)
    print()
    print(report)
    args.json.write_text(json.dumps({"machine": platform.platform(), "python": sys.version.split()[0],
                                     "rows": rows}, indent=1) + "\n")
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
