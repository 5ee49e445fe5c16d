"""Side-by-side panel of cached outputs: noisy, clean, and each method, for a few frames.

Run after run.py (it reads the cached outputs; nothing is computed here), in the project venv::

    .venv/bin/python benchmarks/outside/panel.py --out docs/images/outside_benchmark_panel.png

Each output is shown after the same affine fit to the truth as in the scores, on the truth's
grey scale (0.5-99.5 percentiles), cropped to ``--crop`` px around the first defect (or the
image centre); red circles on the clean image mark defect sites. Titles give the PSNR (dB).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import dataset  # noqa: E402
import frames as frames_mod  # noqa: E402
import peers  # noqa: E402
import score  # noqa: E402

DEFAULT_FRAMES = "hrtem_sheet_graphene.hrtem.poisson.middle,stem_heavy_au_ac.haadf.poisson.middle"
LABELS = {"gaussian": "best-σ Gaussian (oracle)", "tkrem": "tk_r_em", "bm3d": "BM3D (Anscombe)"}


def crop_window(frame, size: int) -> tuple[slice, slice]:
    """A ``size`` x ``size`` window around the frame's first defect, or its centre."""
    ny, nx = frame.truth.shape
    defects = frame.item.meta.get("defects") or []
    cy, cx = defects[0]["yx_px"] if defects else (ny / 2, nx / 2)
    size = min(size, ny, nx)
    y0 = int(np.clip(round(cy - size / 2), 0, ny - size))
    x0 = int(np.clip(round(cx - size / 2), 0, nx - size))
    return slice(y0, y0 + size), slice(x0, x0 + size)


def find_frames(ids: list[str]) -> list:
    """The frames with these ids (their items must be in the validation part)."""
    items = {i.item_id: i for i in dataset.all_items("validation")}
    found = []
    for frame_id in ids:
        item_id = ".".join(frame_id.split(".")[:2])
        if item_id not in items:
            raise SystemExit(f"{frame_id}: no such validation item (have: {', '.join(sorted(items))})")
        level = frame_id.split(".")[3]
        found += [f for f in frames_mod.frames_for([items[item_id]], (level,)) if f.frame_id == frame_id]
    return found


def main(argv=None) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", default=DEFAULT_FRAMES, help="comma-separated frame ids")
    parser.add_argument("--methods", default="gaussian,tkrem,tem_denoise:default")
    parser.add_argument("--crop", type=int, default=160, help="crop edge in px")
    parser.add_argument("--out", default=str(dataset.cache_dir() / "panel.png"))
    args = parser.parse_args(argv)
    frames = find_frames(args.frames.split(","))
    methods = [peers.make_method(m) for m in args.methods.split(",")]
    columns = ["noisy", "clean"] + [m.name for m in methods]
    fig, axes = plt.subplots(len(frames), len(columns), figsize=(2.3 * len(columns), 2.6 * len(frames)),
                             squeeze=False)
    for row, frame in zip(axes, frames):
        window = crop_window(frame, args.crop)
        lo, hi = np.percentile(frame.truth, [0.5, 99.5])
        images = {"noisy": (frame.noisy, None), "clean": (frame.truth, None)}
        for method in methods:
            cached = peers.outputs_dir(method.slug) / f"{frame.frame_id}.npz"
            images[method.name] = (peers.read_output(cached).denoised, None) if cached.exists() else (None, "not run")
        for ax, name in zip(row, columns):
            image, missing = images[name]
            ax.axis("off")
            if image is None:
                ax.set_title(f"{name}\n({missing})", fontsize=7)
                continue
            fitted = score.affine_fit(image, frame.truth)
            ax.imshow(fitted[window], cmap="gray", vmin=lo, vmax=hi)
            title = LABELS.get(name, name.replace("tem_denoise:", "project: "))
            if name != "clean":
                title += f"\n{score.psnr(fitted, frame.truth):.1f} dB"
            else:
                for d in frame.item.meta.get("defects") or []:
                    y, x = d["yx_px"][0] - window[0].start, d["yx_px"][1] - window[1].start
                    if 0 <= y < args.crop and 0 <= x < args.crop:
                        ax.plot(x, y, "o", mfc="none", mec="r", ms=10, mew=0.8)
                title += f"\n{frame.item.scene}"
            ax.set_title(title, fontsize=7)
        row[0].text(-0.08, 0.5, f"{frame.modality}\n{frame.pixel_size_nm * 1000:.0f} pm/px\n{frame.dose:g} e-/Å²",
                    transform=row[0].transAxes, ha="right", va="center", fontsize=7)
    fig.tight_layout()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
