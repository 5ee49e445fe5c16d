"""Run methods on the outside benchmark and print/write the table (scene x dose x method).

From the repository root, in the project venv::

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/outside/run.py \\
        --methods gaussian,bm3d,tkrem,tem_denoise:default --part validation

The set must exist (make_abtem_set.py). ``--part final`` is refused unless
``--unseal-final`` is given: the final part is for the end, after all tuning is done.
Results go to ``<cache>/results/<part>/`` as ``<name>.csv`` (one row per frame and method)
and ``<name>.md`` (``--name``, default ``table``); methods' outputs are cached, so a rerun
only computes what is new.
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import dataset  # noqa: E402
import dose_noise  # noqa: E402
import frames as frames_mod  # noqa: E402
import peers  # noqa: E402
import score  # noqa: E402

LEVELS = tuple(dose_noise.DOSE_FACTORS)


def score_methods(methods: list, frames: list, log=print) -> tuple[list[dict], list[str]]:
    """Run every method on the frames (cached) and score its outputs; returns (rows, notes)."""
    rows, notes = [], []
    for method in methods:
        if method.skip_note:
            notes.append(method.skip_note)
            log(method.skip_note)
            continue
        log(f"running {method.name} ...")
        outputs = method.run(frames)
        missing = [f.frame_id for f in frames if method.applies_to(f) and f.frame_id not in outputs]
        if missing:
            notes.append(f"{method.name}: no output for {len(missing)} frames (see the log above)")
        skipped = sum(not method.applies_to(f) for f in frames)
        if skipped:
            notes.append(f"{method.name}: not run on {skipped} frames of another modality than its card's")
        for frame in frames:
            if frame.frame_id in outputs:
                out = outputs[frame.frame_id]
                rows.append({**score.score_frame(out.denoised, frame), "method": method.name,
                             "seconds": out.seconds, "note": out.note})
    return rows, notes


# --- tables -------------------------------------------------------------------------------------


def frame_key(row: dict) -> tuple:
    return (row["scene"], row["signal"], row["variant"], LEVELS.index(row["level"]))


def fmt(value, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{digits}f}"


def pivot(rows: list[dict], methods: list[str], cell, title: str, only=None, best=max) -> str:
    """A markdown table: one line per frame, one column per method, ``cell(row) -> str``.

    ``best`` (max, min or None) bolds the best value of each line among non-reference methods.
    """
    by_frame = defaultdict(dict)
    for row in rows:
        if only is None or only(row):
            by_frame[frame_key(row)][row["method"]] = row
    if not by_frame:
        return ""
    lines = [f"### {title}", "", "| scene | signal | noise | dose | e-/Å² | " + " | ".join(methods) + " |",
             "|" + "---|" * (5 + len(methods))]
    for key in sorted(by_frame):
        cells = by_frame[key]
        any_row = next(iter(cells.values()))
        values = {m: cell(cells[m]) for m in methods if m in cells}
        numeric = {m: v[0] for m, v in values.items() if v[0] is not None and m not in ("noisy", "gaussian")}
        top = best(numeric.values()) if best and numeric else None
        shown = []
        for m in methods:
            if m not in values:
                shown.append("")
                continue
            number, text = values[m]
            shown.append(f"**{text}**" if top is not None and number == top and m in numeric else text)
        lines.append(f"| {key[0]} | {key[1]} | {key[2]} | {any_row['level']} | {any_row['dose_e_per_A2']:g} | "
                     + " | ".join(shown) + " |")
    return "\n".join(lines) + "\n"


def number_cell(field: str, digits: int = 2):
    def cell(row):
        value = row.get(field)
        return (value if value is not None else None), fmt(value, digits)
    return cell


def defect_cell(row):
    if "defects" not in row:
        return None, "–"
    ratios = ", ".join(f"{r:.2f}" for r in row["defect_ratio"])
    return row["defects_kept"], f"{row['defects_kept']}/{row['defects']} ({ratios})"


def ratio_cell(row):
    value = row.get("light_heavy_err")
    return (abs(value) if value is not None else None), ("–" if value is None else f"{100 * value:+.0f} %")


def gain_summary(rows: list[dict], methods: list[str]) -> str:
    """Middle dose: each method's PSNR minus the Gaussian oracle's, per frame (dB)."""
    oracle = {r["frame"]: r["psnr"] for r in rows if r["method"] == "gaussian"}
    if not oracle:
        return ""
    wanted = [m for m in methods if m != "gaussian"]
    gains = [dict(r, gain=r["psnr"] - oracle[r["frame"]]) for r in rows
             if r["level"] == "middle" and r["frame"] in oracle and r["method"] in wanted]
    table = pivot(gains, wanted, number_cell("gain", 1), "Middle dose: PSNR minus best-σ Gaussian (dB)",
                  best=max)
    means = []
    for m in wanted:
        values = [g["gain"] for g in gains if g["method"] == m]
        if values:
            means.append(f"{m}: mean {sum(values) / len(values):+.2f} dB, min {min(values):+.2f}, "
                         f"max {max(values):+.2f} over {len(values)} frames")
    return table + "\n" + "\n".join(f"- {line}" for line in means) + "\n"


def timing_table(rows: list[dict], methods: list[str]) -> str:
    lines = ["### Run time", "", "| method | frames | mean s/frame | s per Mpx |", "|---|---|---|---|"]
    for m in methods:
        mine = [r for r in rows if r["method"] == m]
        if not mine:
            continue
        seconds = sum(r["seconds"] for r in mine)
        megapixels = sum(r["pixels"] for r in mine) / 1e6
        lines.append(f"| {m} | {len(mine)} | {seconds / len(mine):.2f} | {seconds / megapixels:.1f} |")
    return "\n".join(lines) + "\n"


def models_used(rows: list[dict]) -> list[str]:
    """One line per project method: which model ran on which modality (from the outputs' notes)."""
    lines = []
    for method in sorted({r["method"] for r in rows if r["method"].startswith("tem_denoise:")}):
        pairs = sorted({(r["modality"], r["note"]) for r in rows if r["method"] == method and r["note"]})
        lines.append(f"{method}: " + "; ".join(f"{m} -> {n}" for m, n in pairs))
    return lines


def markdown(rows: list[dict], methods: list[str], notes: list[str], part: str) -> str:
    parts = [
        f"## Outside benchmark, {part} part\n",
        "Scores after an affine fit of each output to the noise-free simulation. `gaussian` is the "
        "best-σ Gaussian chosen against the truth (an oracle). Bold: best non-reference method.\n",
        pivot(rows, methods, number_cell("psnr"), "PSNR (dB)"),
        gain_summary(rows, methods),
        pivot(rows, methods, number_cell("ssim", 3), "SSIM"),
        pivot(rows, methods, number_cell("f1", 3), "Column F1 (STEM; truth's own F1 in the notes below)",
              only=lambda r: "f1" in r),
        pivot(rows, methods, defect_cell, "Point defects kept (contrast within 30 % of the truth's; ratios)",
              only=lambda r: "defects" in r),
        pivot(rows, methods, ratio_cell, "Light/heavy column intensity ratio (Z-contrast), error vs clean",
              only=lambda r: "light_heavy_err" in r, best=min),
        pivot(rows, methods, number_cell("invented", 0), "Columns invented in vacuum",
              only=lambda r: "invented" in r, best=min),
        timing_table(rows, methods),
    ]
    truth_f1 = sorted({(r["scene"], r["signal"], round(r["f1_truth"], 3)) for r in rows if "f1_truth" in r})
    if truth_f1:
        parts.append("Column detector on the truth itself (F1): "
                     + "; ".join(f"{s}.{g} {v}" for s, g, v in truth_f1) + "\n")
    notes = models_used(rows) + notes
    if notes:
        parts.append("Notes:\n\n" + "\n".join(f"- {n}" for n in notes) + "\n")
    return "\n".join(p for p in parts if p)


def write_csv(rows: list[dict], path: Path) -> None:
    fields = ["frame", "scene", "signal", "modality", "variant", "level", "dose_e_per_A2", "pixel_size_nm", "method",
              "psnr", "ssim", "f1", "f1_truth", "defects_kept", "defects", "defect_ratio", "light_heavy_err",
              "invented", "seconds", "note"]
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        for row in sorted(rows, key=lambda r: (frame_key(r), r["method"])):
            writer.writerow(row)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--methods", default="gaussian,bm3d,tkrem,tem_denoise:default",
                        help="comma-separated: gaussian, bm3d, tkrem, tem_denoise:<model>, tem_denoise:default, "
                             "py:<module>:<function> (the noisy input is always added as a reference)")
    parser.add_argument("--part", choices=dataset.PARTS, default="validation")
    parser.add_argument("--unseal-final", action="store_true", help="allow --part final (only at the very end)")
    parser.add_argument("--levels", default=",".join(LEVELS), help="dose levels, e.g. middle")
    parser.add_argument("--scenes", help="only scene ids containing one of these comma-separated words")
    parser.add_argument("--name", default="table", help="results file name (<name>.md, <name>.csv); default: table")
    args = parser.parse_args(argv)
    if args.part == "final" and not args.unseal_final:
        parser.error("the final part stays unseen until the end; add --unseal-final when all tuning is done")
    items = dataset.all_items(args.part)
    if args.scenes:
        words = args.scenes.split(",")
        items = [i for i in items if any(w in i.scene for w in words)]
    if not items:
        parser.error(f"no {args.part} scenes in {dataset.scenes_dir()}; run make_abtem_set.py first")
    frames = frames_mod.frames_for(items, tuple(args.levels.split(",")))
    names = ["noisy"] + [m for m in args.methods.split(",") if m and m != "noisy"]
    methods = [peers.make_method(n) for n in names]
    print(f"{len(items)} items, {len(frames)} frames, methods: {', '.join(names)}", flush=True)
    rows, notes = score_methods(methods, frames, log=lambda s: print(s, flush=True))
    for row in rows:
        row["pixels"] = int(next(f.noisy.size for f in frames if f.frame_id == row["frame"]))
    shown = [m.name for m in methods if not m.skip_note]
    text = markdown(rows, shown, notes, args.part)
    out_dir = dataset.cache_dir() / "results" / args.part
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{args.name}.md").write_text(text)
    write_csv(rows, out_dir / f"{args.name}.csv")
    print(text)
    print(f"written: {out_dir / (args.name + '.md')}, {out_dir / (args.name + '.csv')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
