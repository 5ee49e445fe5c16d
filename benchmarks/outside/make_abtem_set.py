"""Make the outside benchmark set: noise-free abTEM multislice simulations, cached.

abTEM is never a dependency of the package: this script runs in its own virtual
environment, made once with::

    python3 -m venv /work/venvs/abtem
    /work/venvs/abtem/bin/pip install abtem ase bm3d matplotlib   # abTEM 1.0.11, ase 3.29, bm3d 4.0.3 here

and run from the repository root with::

    OMP_NUM_THREADS=1 nice -n 10 /work/venvs/abtem/bin/python benchmarks/outside/make_abtem_set.py

Each scene is written to ``<cache>/scenes/<scene_id>.npz`` (see dataset.py for the cache
folder; ``$TEM_DENOISE_OUTSIDE_CACHE`` overrides it); finished scenes are skipped on a rerun
(``--force`` remakes them, ``--only ID[,ID]`` makes some, ``--refresh-metadata`` rewrites
only the metadata of cached scenes from their seeds, without simulating).

What is simulated
-----------------
* HRTEM: a plane wave through the multislice potential (Lobato parametrisation, infinite
  projection, 2 Å slices, static lattice: no frozen phonons), then the objective lens as a
  contrast transfer function (defocus, Cs, objective aperture, focal-spread envelope), the
  intensity, and Fourier cropping to the image's pixel size. Vacuum intensity is 1.
* STEM: PRISM (abTEM ``SMatrix``, interpolation factor ``prism_f``) with the probe's
  defocus and Cs, scanned over the whole periodic cell at the probe's Nyquist sampling,
  a HAADF and an annular bright-field (ABF) detector, Fourier interpolation to the image's
  pixel size and a Gaussian source-size blur. Values are the fraction of the incident
  probe intensity reaching the detector.

Every cell is periodic in x and y and is simulated whole, so the images have no seams.

Metadata stored with each image (``meta_json``): scene id, recipe, variant, ``part``
(``validation`` or ``final``, one variant of each recipe each, drawn with the fixed seed
:data:`SPLIT_SEED`), modality, description, pixel size (nm), shape, voltage (kV), Cs (mm),
defocus (nm, abTEM sign: positive is underfocus), objective aperture or probe convergence
semi-angle (mrad), focal spread (nm), detector angles (mrad), potential sampling (Å),
PRISM interpolation, scan sampling (Å), source size (Å), atom count, defects (kind,
position and intact reference sites in px), heavy/light column classes, abTEM version and
simulation time. Arrays: ``signal_<name>`` images, ``columns_yx_px``, ``column_class``,
``column_n_atoms`` and ``vacuum_mask``.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import dataset  # noqa: E402
import scenes  # noqa: E402

SPLIT_SEED = 20260  # decides which variant of each recipe is validation and which is final
ANTIALIAS = 2.0 / 3.0  # abTEM's default antialias cutoff (fraction of the grid's Nyquist frequency)


@dataclass(frozen=True)
class Spec:
    """One scene to simulate. Lengths in Å unless the name says otherwise.

    ``build`` names a function of :mod:`scenes`, called with ``kwargs`` and a seeded
    generator; ``side`` (Å) is the wanted field of view. HRTEM specs use ``aperture_mrad``
    (objective aperture) and ``focal_spread_A``; STEM specs use ``aperture_mrad`` as the
    probe's convergence semi-angle, ``haadf_mrad`` / ``abf_mrad`` detector ranges,
    ``prism_f`` and ``source_sigma_A``. ``defocus_A=None`` is Scherzer defocus for the Cs.
    """

    scene_id: str
    recipe: str
    variant: str
    modality: str  # "HRTEM" or "STEM"
    build: str
    kwargs: dict
    pixel_A: float
    side: float
    kV: float
    Cs_mm: float
    aperture_mrad: float
    seed: int
    defocus_A: float | None = None
    focal_spread_A: float = 0.0
    potential_sampling_A: float = 0.05
    haadf_mrad: tuple = (70.0, 200.0)
    abf_mrad: tuple = field(default=())
    prism_f: int = 4
    source_sigma_A: float = 0.25


SPECS = [
    # --- HRTEM ---
    Spec("hrtem_crystal_si110", "hrtem_crystal", "a", "HRTEM", "crystal_si110", {"thickness": 38.4},
         pixel_A=0.20, side=51.2, kV=300, Cs_mm=1.2, aperture_mrad=17, focal_spread_A=40, seed=101),
    Spec("hrtem_crystal_au100", "hrtem_crystal", "b", "HRTEM", "crystal_au100", {"thickness": 40.8},
         pixel_A=0.12, side=30.7, kV=200, Cs_mm=-0.015, aperture_mrad=35, focal_spread_A=25,
         potential_sampling_A=0.04, seed=102),
    Spec("hrtem_sheet_graphene", "hrtem_sheet", "a", "HRTEM", "sheet_with_defects",
         {"material": "graphene", "n_host_vacancies": 2, "n_chalcogen_vacancies": 0, "dopant": "Si"},
         pixel_A=0.10, side=25.6, kV=80, Cs_mm=0.02, aperture_mrad=40, focal_spread_A=20, seed=201),
    Spec("hrtem_sheet_mos2", "hrtem_sheet", "b", "HRTEM", "sheet_with_defects",
         {"material": "MoS2", "n_host_vacancies": 1, "n_chalcogen_vacancies": 2, "dopant": "W"},
         pixel_A=0.15, side=38.4, kV=60, Cs_mm=-0.01, aperture_mrad=40, focal_spread_A=30, seed=202),
    Spec("hrtem_particle_au110_ac", "hrtem_particle", "a", "HRTEM", "particle_on_support",
         {"element": "Au", "lattice": 4.078, "zone": "110", "support_thickness": 30.0, "length": 9, "cutoff": 3},
         pixel_A=0.30, side=76.8, kV=300, Cs_mm=0.015, aperture_mrad=30, focal_spread_A=30, seed=301),
    Spec("hrtem_particle_pt100_ac", "hrtem_particle", "b", "HRTEM", "particle_on_support",
         {"element": "Pt", "lattice": 3.924, "zone": "100", "support_thickness": 40.0, "length": 9, "cutoff": 3},
         pixel_A=0.40, side=102.4, kV=200, Cs_mm=1.0, aperture_mrad=20, focal_spread_A=50,
         potential_sampling_A=0.058, seed=302),
    Spec("hrtem_amorphous_edge_300kv", "hrtem_amorphous", "a", "HRTEM", "amorphous_edge", {"thickness": 50.0},
         pixel_A=0.50, side=128.0, kV=300, Cs_mm=1.2, defocus_A=1000.0, aperture_mrad=18, focal_spread_A=40,
         potential_sampling_A=0.10, seed=401),
    Spec("hrtem_amorphous_edge_200kv", "hrtem_amorphous", "b", "HRTEM", "amorphous_edge", {"thickness": 30.0},
         pixel_A=0.25, side=64.0, kV=200, Cs_mm=0.02, defocus_A=200.0, aperture_mrad=40, focal_spread_A=30,
         potential_sampling_A=0.05, seed=402),
    # --- STEM (HAADF + ABF) ---
    Spec("stem_sheet_mos2", "stem_sheet", "a", "STEM", "sheet_with_defects",
         {"material": "MoS2", "n_host_vacancies": 1, "n_chalcogen_vacancies": 2, "dopant": "W"},
         pixel_A=0.16, side=41.0, kV=60, Cs_mm=0.0, aperture_mrad=30, haadf_mrad=(70, 200), abf_mrad=(15, 30),
         prism_f=4, source_sigma_A=0.25, seed=501),
    Spec("stem_sheet_wse2", "stem_sheet", "b", "STEM", "sheet_with_defects",
         {"material": "WSe2", "n_host_vacancies": 1, "n_chalcogen_vacancies": 2, "dopant": "Mo"},
         pixel_A=0.12, side=30.7, kV=80, Cs_mm=0.0, aperture_mrad=25, haadf_mrad=(70, 200), abf_mrad=(12, 25),
         prism_f=4, source_sigma_A=0.25, seed=502),
    Spec("stem_perovskite_srtio3", "stem_perovskite", "a", "STEM", "perovskite_100",
         {"formula": "SrTiO3", "lattice": 3.905, "thickness": 39.0},
         pixel_A=0.12, side=35.1, kV=200, Cs_mm=0.0, aperture_mrad=20, haadf_mrad=(70, 200), abf_mrad=(10, 20),
         prism_f=4, source_sigma_A=0.30, seed=601),
    Spec("stem_perovskite_batio3", "stem_perovskite", "b", "STEM", "perovskite_100",
         {"formula": "BaTiO3", "lattice": 4.00, "thickness": 32.0},
         pixel_A=0.12, side=36.0, kV=300, Cs_mm=0.0, aperture_mrad=20, haadf_mrad=(60, 150), abf_mrad=(10, 20),
         prism_f=5, source_sigma_A=0.30, seed=602),
    Spec("stem_heavy_pt_ac", "stem_heavy_support", "a", "STEM", "particle_on_support",
         {"element": "Pt", "lattice": 3.924, "zone": "100", "support_thickness": 20.0, "length": 5, "cutoff": 1,
          "n_single_atoms": 10, "support_fraction": 0.6},
         pixel_A=0.16, side=41.0, kV=200, Cs_mm=0.0, aperture_mrad=20, haadf_mrad=(60, 150), abf_mrad=(10, 20),
         prism_f=5, source_sigma_A=0.30, seed=701),
    Spec("stem_heavy_au_ac", "stem_heavy_support", "b", "STEM", "particle_on_support",
         {"element": "Au", "lattice": 4.078, "zone": "110", "support_thickness": 30.0, "length": 7, "cutoff": 2,
          "n_single_atoms": 8, "support_fraction": 0.6},
         pixel_A=0.25, side=64.0, kV=200, Cs_mm=0.5, aperture_mrad=12, haadf_mrad=(50, 150), abf_mrad=(6, 12),
         prism_f=8, source_sigma_A=0.40, seed=702),
]


def assign_parts(specs: list[Spec]) -> dict[str, str]:
    """Scene id -> ``validation`` or ``final``: per recipe, one variant each, drawn with :data:`SPLIT_SEED`."""
    rng = np.random.default_rng(SPLIT_SEED)
    recipes = sorted({s.recipe for s in specs})
    parts = {}
    for recipe in recipes:
        variants = sorted(s.variant for s in specs if s.recipe == recipe)
        validation = variants[int(rng.integers(len(variants)))]
        for s in specs:
            if s.recipe == recipe:
                parts[s.scene_id] = "validation" if s.variant == validation else "final"
    return parts


def wavelength_A(kV: float) -> float:
    """Relativistic electron wavelength (Å) at ``kV`` kilovolts."""
    import abtem

    return float(abtem.core.energy.energy2wavelength(kV * 1e3))


def image_shape(atoms, pixel_A: float) -> tuple[int, int]:
    """``(ny, nx)`` pixels covering the cell at about ``pixel_A`` Å per pixel."""
    lx, ly = atoms.cell[0, 0], atoms.cell[1, 1]
    return int(round(ly / pixel_A)), int(round(lx / pixel_A))


def defocus_for(spec: Spec) -> float:
    """Defocus in Å (abTEM sign): the spec's, or Scherzer defocus for its Cs."""
    import abtem

    if spec.defocus_A is not None:
        return spec.defocus_A
    if spec.Cs_mm == 0:
        return 0.0
    return float(abtem.transfer.scherzer_defocus(spec.Cs_mm * 1e7, spec.kV * 1e3))


def simulate_hrtem(spec: Spec, atoms, shape: tuple[int, int]) -> tuple[dict, dict]:
    """HRTEM image ``(y, x)`` of ``atoms`` on ``shape`` pixels; returns (signals, metadata)."""
    import abtem

    ny, nx = shape
    k = max(1, math.ceil(spec.pixel_A / spec.potential_sampling_A))
    potential = abtem.Potential(atoms, gpts=(nx * k, ny * k), slice_thickness=2.0, projection="infinite",
                                parametrization="lobato")
    defocus = defocus_for(spec)
    ctf = abtem.CTF(energy=spec.kV * 1e3, semiangle_cutoff=spec.aperture_mrad, focal_spread=spec.focal_spread_A,
                    Cs=spec.Cs_mm * 1e7, defocus=defocus)
    nyquist_mrad = wavelength_A(spec.kV) / (2 * spec.pixel_A) * 1e3
    if spec.aperture_mrad > nyquist_mrad:
        raise ValueError(f"{spec.scene_id}: aperture {spec.aperture_mrad} mrad beyond the pixel's Nyquist angle "
                         f"{nyquist_mrad:.1f} mrad")
    exit_wave = abtem.PlaneWave(energy=spec.kV * 1e3).multislice(potential)
    image = exit_wave.apply_ctf(ctf).intensity().interpolate(gpts=(nx, ny), method="fft")
    array = np.asarray(image.compute().array).T
    meta = {"defocus_nm": defocus / 10, "objective_aperture_mrad": spec.aperture_mrad,
            "focal_spread_nm": spec.focal_spread_A / 10, "potential_gpts": [ny * k, nx * k],
            "potential_sampling_A": float(atoms.cell[0, 0] / (nx * k)), "n_slices": len(potential)}
    return {"hrtem": array}, meta


def simulate_stem(spec: Spec, atoms, shape: tuple[int, int]) -> tuple[dict, dict]:
    """HAADF and ABF images ``(y, x)`` of ``atoms`` on ``shape`` pixels by PRISM; returns (signals, metadata)."""
    import abtem

    ny, nx = shape
    lx, ly = atoms.cell[0, 0], atoms.cell[1, 1]
    lam = wavelength_A(spec.kV)
    sampling = 0.98 * ANTIALIAS * lam / (2 * spec.haadf_mrad[1] * 1e-3)  # HAADF outer angle inside the antialias cutoff
    f = spec.prism_f
    gpts = tuple(int(math.ceil(length / sampling / f) * f) for length in (lx, ly))
    potential = abtem.Potential(atoms, gpts=gpts, slice_thickness=2.0, projection="infinite", parametrization="lobato")
    s_matrix = abtem.SMatrix(potential=potential, energy=spec.kV * 1e3, semiangle_cutoff=spec.aperture_mrad,
                             interpolation=f)
    defocus = defocus_for(spec)
    ctf = abtem.CTF(energy=spec.kV * 1e3, semiangle_cutoff=spec.aperture_mrad, Cs=spec.Cs_mm * 1e7, defocus=defocus)
    nyquist_scan = lam / (4 * spec.aperture_mrad * 1e-3)
    scan_gpts = tuple(int(math.ceil(length / nyquist_scan)) for length in (lx, ly))
    scan = abtem.GridScan(start=(0, 0), end=(lx, ly), gpts=scan_gpts, endpoint=False)
    detectors = [abtem.AnnularDetector(*spec.haadf_mrad), abtem.AnnularDetector(*spec.abf_mrad)]
    measurements = s_matrix.scan(scan=scan, detectors=detectors, ctf=ctf)
    import dask

    computed = dask.compute(*[m.array for m in measurements])
    signals = {}
    for name, array in zip(("haadf", "abf"), computed):
        images = abtem.Images(np.asarray(array), sampling=(lx / scan_gpts[0], ly / scan_gpts[1]))
        images = images.interpolate(gpts=(nx, ny), method="fft").gaussian_filter(spec.source_sigma_A)
        signals[name] = np.asarray(images.array).T
    meta = {"defocus_nm": defocus / 10, "convergence_semiangle_mrad": spec.aperture_mrad,
            "haadf_mrad": list(spec.haadf_mrad), "abf_mrad": list(spec.abf_mrad), "prism_interpolation": f,
            "n_plane_waves": len(s_matrix), "potential_gpts": [gpts[1], gpts[0]],
            "potential_sampling_A": float(lx / gpts[0]), "scan_gpts": [scan_gpts[1], scan_gpts[0]],
            "scan_sampling_A": float(lx / scan_gpts[0]), "source_size_sigma_A": spec.source_sigma_A,
            "n_slices": len(potential), "thermal_diffuse_scattering": "none (static lattice)"}
    return signals, meta


def to_pixels(xy_A: np.ndarray, atoms, shape: tuple[int, int]) -> np.ndarray:
    """Å (x, y) positions -> ``(row, column)`` pixels (pixel i at coordinate i * pixel size)."""
    xy_A = np.asarray(xy_A, float).reshape(-1, 2)
    ny, nx = shape
    return np.column_stack([xy_A[:, 1] * ny / atoms.cell[1, 1], xy_A[:, 0] * nx / atoms.cell[0, 0]])


SIMULATION_KEYS = ("defocus_nm", "objective_aperture_mrad", "focal_spread_nm", "potential_gpts", "potential_sampling_A",
                   "n_slices", "convergence_semiangle_mrad", "haadf_mrad", "abf_mrad", "prism_interpolation",
                   "n_plane_waves", "scan_gpts", "scan_sampling_A", "source_size_sigma_A", "thermal_diffuse_scattering",
                   "simulation_seconds", "abtem_version")


def cached_simulation(path: Path) -> tuple[dict, dict]:
    """The images and simulation metadata of a cached scene file (for :func:`make_scene` ``reuse``)."""
    import json

    with np.load(path) as data:
        meta = json.loads(str(data["meta_json"]))
        signals = {k[len("signal_"):]: data[k] for k in data.files if k.startswith("signal_")}
    return signals, {k: meta[k] for k in SIMULATION_KEYS if k in meta} | {"_n_atoms": meta["n_atoms"]}


def make_scene(spec: Spec, part: str, path: Path, reuse: tuple[dict, dict] | None = None) -> float:
    """Build, simulate and save one scene; returns the simulation time in seconds.

    With ``reuse`` (from :func:`cached_simulation`) the images are not simulated again: the
    structure is rebuilt from the same seed (checked by its atom count) and only the
    metadata, columns, defects and vacuum mask are rewritten.
    """
    import abtem

    start = time.perf_counter()
    rng = np.random.default_rng(spec.seed)
    build = getattr(scenes, spec.build)
    scene = build(side=spec.side, rng=rng, **spec.kwargs)
    atoms = scene.atoms
    shape = image_shape(atoms, spec.pixel_A)
    if reuse is None:
        simulate = simulate_hrtem if spec.modality == "HRTEM" else simulate_stem
        signals, sim_meta = simulate(spec, atoms, shape)
    else:
        signals, sim_meta = reuse[0], dict(reuse[1])
        if sim_meta.pop("_n_atoms") != len(atoms):
            raise RuntimeError(f"{spec.scene_id}: the rebuilt structure differs from the simulated one; use --force")
    columns_xy, classes, counts = scenes.project_columns(atoms, scene.column_mask)
    vacuum = scenes.vacuum_mask(atoms, shape)
    px_y, px_x = atoms.cell[1, 1] / shape[0], atoms.cell[0, 0] / shape[1]
    defects = [{"kind": d["kind"], "yx_px": to_pixels(d["xy"], atoms, shape)[0].tolist(),
                "ref_yx_px": to_pixels(d["ref_xy"], atoms, shape).tolist()} for d in scene.defects]
    seconds = sim_meta.pop("simulation_seconds", None) or time.perf_counter() - start
    meta = {
        "scene_id": spec.scene_id, "recipe": spec.recipe, "variant": spec.variant, "part": part,
        "modality": spec.modality, "description": scene.description, "shape_yx": list(shape),
        "pixel_size_nm": float((px_x + px_y) / 2 / 10), "pixel_size_nm_yx": [px_y / 10, px_x / 10],
        "voltage_kV": spec.kV, "Cs_mm": spec.Cs_mm, "n_atoms": len(atoms),
        "thickness_nm": float(np.ptp(atoms.positions[:, 2]) / 10), "defects": defects,
        "heavy_light": list(scene.heavy_light) if scene.heavy_light else None,
        "visible_classes": scene.visible_classes, "seed": spec.seed, "abtem_version": abtem.__version__,
        "simulation_seconds": round(seconds, 1), "spec": asdict(spec), **sim_meta,
    }
    dataset.save_scene(path, signals, meta, to_pixels(columns_xy, atoms, shape), classes, counts, vacuum)
    return seconds


def configure_abtem() -> None:
    """CPU, float32, FFTW with one thread per task and two dask worker threads; no progress bars."""
    import abtem
    import dask

    abtem.config.set({"device": "cpu", "fft": "fftw", "fftw.threads": 1, "precision": "float32",
                      "diagnostics.progress_bar": False})
    dask.config.set(scheduler="threads", num_workers=2)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help="comma-separated scene ids to make")
    parser.add_argument("--force", action="store_true", help="remake scenes that are already cached")
    parser.add_argument("--list", action="store_true", help="list the scenes and their part, then exit")
    parser.add_argument("--refresh-metadata", action="store_true",
                        help="rewrite the metadata, columns, defects and vacuum of cached scenes without simulating")
    args = parser.parse_args(argv)
    parts = assign_parts(SPECS)
    wanted = set(args.only.split(",")) if args.only else {s.scene_id for s in SPECS}
    unknown = wanted - {s.scene_id for s in SPECS}
    if unknown:
        parser.error(f"unknown scene ids: {sorted(unknown)}")
    if args.list:
        for s in SPECS:
            print(f"{s.scene_id:30s} {parts[s.scene_id]:10s} {s.modality:5s} {s.kV:4.0f} kV  "
                  f"{s.pixel_A * 100:.0f} pm/px")
        return 0
    configure_abtem()
    total = 0.0
    for spec in SPECS:
        if spec.scene_id not in wanted:
            continue
        path = dataset.scenes_dir() / f"{spec.scene_id}.npz"
        if args.refresh_metadata:
            if path.exists():
                make_scene(spec, parts[spec.scene_id], path, reuse=cached_simulation(path))
                print(f"{spec.scene_id}: metadata rewritten", flush=True)
            continue
        if path.exists() and not args.force:
            print(f"{spec.scene_id}: cached ({path})", flush=True)
            continue
        seconds = make_scene(spec, parts[spec.scene_id], path)
        total += seconds
        print(f"{spec.scene_id}: {seconds:.0f} s -> {path}", flush=True)
    print(f"done; {total:.0f} s simulated in this run", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
