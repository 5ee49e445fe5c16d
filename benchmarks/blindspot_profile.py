"""Where a blind-spot net spends its time: milliseconds per megapixel for each stage.

Times the stages of :meth:`BlindSpotNet.forward` separately on one frame (random weights;
speed does not depend on them): circular padding, the stacked blind convolution, the 1x1
layers over whole frames and in cache-sized chunks (what inference uses on CPU), and the FFT
low-pass. The sum bounds the Mpixel/s any tiling of this architecture can reach on the
machine; ``benchmarks/speed.py`` measures the whole engine.

Usage: ``python benchmarks/blindspot_profile.py [--size 1024] [--device cpu] [--repeats 5]``
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.nn import functional as F

from tem_denoise.models.blindspot import POINTWISE_CHUNK, BlindSpotNet, pointwise


def ms_per_mpx(step, pixels: int, repeats: int, device: torch.device) -> float:
    """Mean wall time of ``step()`` in milliseconds per megapixel, after one warm-up call."""
    step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / repeats * 1e3 / (pixels / 1e6)


def stages(frames: int, size: int, device: torch.device) -> dict:
    """Callables for each stage of a paper-size net with ``frames`` input frames on ``size``² input."""
    net = BlindSpotNet(frames=frames, lowpass_kernel=1.5).to(device).eval()
    x = torch.poisson(torch.full((1, frames, size, size), 3.0, device=device))
    blind, layers, output = net.fused_weights()
    r = net.receptive_radius
    padded = F.pad(x, (r, r, r, r), mode="circular")
    features = F.conv2d(padded, blind).reshape(1, len(net.members), -1, size * size)

    def chunked():
        for start in range(0, size * size, POINTWISE_CHUNK):
            pointwise(features[..., start:start + POINTWISE_CHUNK], layers, output, inplace=True)

    y = net.blind(x)
    return {
        "circular padding": lambda: F.pad(x, (r, r, r, r), mode="circular"),
        "blind convolution": lambda: F.conv2d(padded, blind),
        "1x1 layers, whole frame": lambda: pointwise(features, layers, output, inplace=True),
        f"1x1 layers, {POINTWISE_CHUNK}-pixel chunks": chunked,
        "FFT low-pass": lambda: net.frame_filter(y),
        "forward (all of it)": lambda: net(x),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    device = torch.device(args.device)
    print(f"| stage ({args.size}², {device.type}, {torch.get_num_threads()} threads) | WCID ms/Mpx | WCVD ms/Mpx |")
    print("| --- | ---: | ---: |")
    with torch.inference_mode():
        timings = {frames: {name: ms_per_mpx(step, args.size**2, args.repeats, device)
                            for name, step in stages(frames, args.size, device).items()}
                   for frames in (1, 3)}
    for name in timings[1]:
        print(f"| {name} | {timings[1][name]:.1f} | {timings[3][name]:.1f} |")


if __name__ == "__main__":
    main()
