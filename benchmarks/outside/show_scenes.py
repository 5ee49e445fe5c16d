"""Contact sheet of the cached noise-free scenes, with the true columns, defects and vacuum marked.

For checking the set by eye (numpy + matplotlib; either venv)::

    python benchmarks/outside/show_scenes.py [--part validation|final] [--out PNG] [--table]

Writes ``<cache>/scenes_overview[_<part>].png`` unless ``--out`` is given. Looking at the final
part's images is allowed (they are noise-free truths); tuning on them is not.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import dataset  # noqa: E402


def draw_item(ax, item: dataset.Item) -> None:
    """One image with columns (cyan dots), defect sites (red circles) and the vacuum edge (yellow)."""
    lo, hi = np.percentile(item.truth, [0.5, 99.5])
    ax.imshow(item.truth, cmap="gray", vmin=lo, vmax=hi)
    if len(item.columns_yx_px):
        ax.plot(item.columns_yx_px[:, 1], item.columns_yx_px[:, 0], ".", color="c", ms=1.5)
    for defect in item.meta.get("defects", []):
        y, x = defect["yx_px"]
        ax.plot(x, y, "o", mfc="none", mec="r", ms=9)
    if item.vacuum.any():
        ax.contour(item.vacuum, levels=[0.5], colors="y", linewidths=0.6)
    ax.set_title(f"{item.item_id}\n{item.meta['part']}, {item.pixel_size_nm * 1000:.0f} pm/px", fontsize=7)
    ax.axis("off")


def scene_table(items: list[dataset.Item]) -> str:
    """Markdown table of the scenes (one line per scene file) from their metadata."""
    lines = ["| scene | part | modality | what | kV | Cs (mm) | defocus (nm) | aperture / convergence (mrad) "
             "| pm/px | shape | sim. s |", "|" + "---|" * 11]
    seen = set()
    for item in items:
        m = item.meta
        if m["scene_id"] in seen:
            continue
        seen.add(m["scene_id"])
        angle = m.get("objective_aperture_mrad") or m.get("convergence_semiangle_mrad")
        modality = "HRTEM" if m["modality"] == "HRTEM" else (f"STEM HAADF {m['haadf_mrad'][0]:g}-{m['haadf_mrad'][1]:g}"
                                                             f" + ABF {m['abf_mrad'][0]:g}-{m['abf_mrad'][1]:g} mrad")
        lines.append(f"| {m['scene_id']} | {m['part']} | {modality} | {m['description']} | {m['voltage_kV']:g} | "
                     f"{m['Cs_mm']:g} | {m['defocus_nm']:.1f} | {angle:g} | {m['pixel_size_nm'] * 1000:.1f} | "
                     f"{m['shape_yx'][0]}x{m['shape_yx'][1]} | {m['simulation_seconds']:.0f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=dataset.PARTS)
    parser.add_argument("--out")
    parser.add_argument("--table", action="store_true", help="print a markdown table of the scenes instead")
    args = parser.parse_args(argv)
    items = dataset.all_items(args.part)
    if not items:
        print("no scenes cached; run make_abtem_set.py first")
        return 1
    if args.table:
        print(scene_table(items))
        return 0
    cols = 5
    rows = -(-len(items) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 2.6, rows * 2.8))
    for ax in np.ravel(axes):
        ax.axis("off")
    for ax, item in zip(np.ravel(axes), items):
        draw_item(ax, item)
    fig.tight_layout()
    suffix = f"_{args.part}" if args.part else ""
    out = Path(args.out) if args.out else dataset.cache_dir() / f"scenes_overview{suffix}.png"
    fig.savefig(out, dpi=110)
    print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
