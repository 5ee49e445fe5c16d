"""Atomic structures of the outside benchmark scenes.

Runs in the abTEM virtual environment (needs ``ase``, ``numpy`` and ``scipy``); it is
imported by :mod:`make_abtem_set` and never by the package.

Conventions
-----------
* Lengths are in Å (ase and abTEM units); the beam travels along +z; the image plane is
  (x, y). Every cell is orthogonal and periodic in x and y, so a scene can be simulated
  as a whole periodic cell (no seams) and resampled exactly by Fourier cropping.
* A :class:`Scene` lists which atoms form *columns* (the crystal, sheet, particle or
  single heavy atoms; never the amorphous support) and, for defect scenes, the defect
  sites with equivalent intact sites to compare their contrast with.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from ase import Atoms
from ase.build import bulk, graphene, mx2, surface
from ase.cluster import Octahedron
from ase.data import atomic_numbers
from scipy.spatial import cKDTree

CARBON_NUMBER_DENSITY = 0.10  # atoms / Å^3, about 2.0 g/cm^3 (amorphous carbon film)
CARBON_MIN_DISTANCE = 1.30  # Å, closest C-C distance allowed in the random film
COLUMN_MERGE_RADIUS = 0.30  # Å, atoms closer than this in projection share a column


@dataclass
class Scene:
    """One structure ready for simulation.

    Attributes
    ----------
    atoms : ase.Atoms
        Orthogonal periodic cell; z is the beam direction.
    column_mask : ndarray of bool, shape (n_atoms,)
        Atoms that form atomic columns (scored by column F1); support atoms are False.
    defects : list of dict
        ``kind`` (text), ``xy`` (Å, the site), ``ref_xy`` (list of Å positions of intact
        equivalent sites).
    description : str
        One line for the tables.
    heavy_light : tuple of str or None
        Column classes ``(heavy, light)`` whose intensity ratio is scored (perovskite).
    visible_classes : dict
        Per signal (``"hrtem"``, ``"haadf"``, ``"abf"``) the column classes that count for
        column F1 (None: all; e.g. oxygen columns are not counted in HAADF, and no column is
        counted in the ABF image of particles on amorphous carbon, whose support shows
        column-like dark spots in ABF).
    """

    atoms: Atoms
    column_mask: np.ndarray
    defects: list = field(default_factory=list)
    description: str = ""
    heavy_light: tuple | None = None
    visible_classes: dict = field(default_factory=dict)


# --- building blocks -------------------------------------------------------------------------


def amorphous_carbon(lx: float, ly: float, thickness: float, rng: np.random.Generator,
                     z0: float = 0.0) -> Atoms:
    """A random amorphous carbon film filling ``lx`` x ``ly`` Å (periodic in x, y).

    Uniform random positions at :data:`CARBON_NUMBER_DENSITY`, thinned so that no two atoms
    are closer than :data:`CARBON_MIN_DISTANCE` (a hard-sphere liquid, which images like
    amorphous carbon: no order beyond the first neighbour shell). The film spans
    ``z0 .. z0 + thickness``.
    """
    n_wanted = int(round(CARBON_NUMBER_DENSITY * lx * ly * thickness))
    candidates = rng.uniform((0, 0, 0), (lx, ly, thickness), size=(int(n_wanted * 1.7), 3))
    tree = cKDTree(candidates, boxsize=(lx, ly, 1e6))
    removed = np.zeros(len(candidates), dtype=bool)
    for i, j in tree.query_pairs(CARBON_MIN_DISTANCE, output_type="ndarray"):
        if not removed[i] and not removed[j]:
            removed[j] = True
    kept = candidates[~removed][:n_wanted]
    kept[:, 2] += z0
    return Atoms(numbers=np.full(len(kept), 6), positions=kept, cell=(lx, ly, 1.0), pbc=True)


def periodic_strip(xy: np.ndarray, lx: float, ly: float, centre: float, width: float,
                   rng: np.random.Generator, roughness: float = 0.0) -> np.ndarray:
    """True for points inside a strip along y, ``width`` Å wide around x = ``centre``.

    The two edges wander by up to ``roughness`` Å with a smooth random profile that is
    periodic in y, so the strip tiles the periodic cell without a seam.
    """
    y = xy[:, 1] / ly * 2 * np.pi
    edges = []
    for _ in range(2):
        profile = np.zeros_like(y)
        for harmonic in (1, 2, 3, 5):
            amplitude, phase = rng.uniform(0, 1), rng.uniform(0, 2 * np.pi)
            profile += amplitude / harmonic * np.sin(harmonic * y + phase)
        edges.append(roughness * profile / 1.5)
    dx = (xy[:, 0] - centre + lx / 2) % lx - lx / 2
    return (dx > -width / 2 + edges[0]) & (dx < width / 2 + edges[1])


def stack(*parts: Atoms, cell: tuple[float, float, float]) -> Atoms:
    """Join atoms into one cell of size ``cell`` (Å), with x, y wrapped into it."""
    atoms = Atoms(cell=cell, pbc=True)
    for part in parts:
        atoms += part
    atoms.set_cell(cell)
    atoms.pbc = True
    atoms.wrap(pbc=(True, True, False))
    return atoms


def repeat_to(unit: Atoms, target_xy: float) -> Atoms:
    """Repeat an orthogonal unit cell to about ``target_xy`` Å in x and y (at least one)."""
    reps = [max(1, int(round(target_xy / unit.cell[i, i]))) for i in (0, 1)]
    return unit * (reps[0], reps[1], 1)


def shift_z(atoms: Atoms, z0: float) -> Atoms:
    """Move atoms so that the lowest one sits at ``z0`` Å."""
    atoms = atoms.copy()
    atoms.positions[:, 2] += z0 - atoms.positions[:, 2].min()
    return atoms


def total_height(atoms: Atoms, margin: float = 2.0) -> float:
    """Cell height along z (Å) holding every atom with ``margin`` above the top one."""
    return float(atoms.positions[:, 2].max() + margin)


def sites_far_apart(candidates: np.ndarray, n: int, lx: float, ly: float, rng: np.random.Generator,
                    min_distance: float, border: float) -> list[int]:
    """Indices of ``n`` candidate xy sites, at least ``min_distance`` Å apart (periodic) and
    ``border`` Å from the cell edges (defects stay inside the image, away from its border)."""
    order = rng.permutation(len(candidates))
    chosen: list[int] = []
    for i in order:
        x, y = candidates[i]
        if not (border < x < lx - border and border < y < ly - border):
            continue
        d = candidates[chosen] - candidates[i] if chosen else np.zeros((0, 2))
        d = (d + [lx / 2, ly / 2]) % [lx, ly] - [lx / 2, ly / 2]
        if chosen and np.min(np.hypot(d[:, 0], d[:, 1])) < min_distance:
            continue
        chosen.append(int(i))
        if len(chosen) == n:
            return chosen
    raise ValueError(f"could not place {n} defects {min_distance} Å apart")


def nearest_intact(xy: np.ndarray, site: np.ndarray, exclude: np.ndarray, lx: float, ly: float,
                   n: int = 8) -> list[list[float]]:
    """The ``n`` positions in ``xy`` nearest to ``site`` (periodic), skipping rows in ``exclude``."""
    d = (xy - site + [lx / 2, ly / 2]) % [lx, ly] - [lx / 2, ly / 2]
    dist = np.hypot(d[:, 0], d[:, 1])
    dist[exclude] = np.inf
    dist[dist < 0.5] = np.inf
    return [xy[i].tolist() for i in np.argsort(dist)[:n]]


# --- scenes ----------------------------------------------------------------------------------


def crystal_si110(side: float, thickness: float, rng: np.random.Generator) -> Scene:
    """Si viewed along [110] (dumbbells 1.36 Å apart), a strip of crystal with vacuum beside it.

    ``side`` is the wanted field of view (Å); ``thickness`` the crystal thickness (Å).
    """
    unit = surface(bulk("Si", "diamond", a=5.431, cubic=True), (1, 1, 0),
                   layers=max(1, int(round(thickness / 3.840))), periodic=True)
    crystal = shift_z(repeat_to(unit, side), 2.0)
    return _crystal_strip(crystal, rng, "Si [110], crystal strip with vacuum beside it")


def crystal_au100(side: float, thickness: float, rng: np.random.Generator) -> Scene:
    """Au viewed along [100] (columns 2.04 Å apart), a strip of crystal with vacuum beside it."""
    unit = bulk("Au", "fcc", a=4.078, cubic=True)
    unit = unit * (1, 1, max(1, int(round(thickness / 4.078))))
    crystal = shift_z(repeat_to(unit, side), 2.0)
    return _crystal_strip(crystal, rng, "Au [100], crystal strip with vacuum beside it")


def _crystal_strip(crystal: Atoms, rng: np.random.Generator, description: str) -> Scene:
    """Keep a strip of ``crystal`` covering 60 % of the cell width (straight edges along y)."""
    lx, ly = crystal.cell[0, 0], crystal.cell[1, 1]
    keep = periodic_strip(crystal.positions[:, :2], lx, ly, centre=lx / 2, width=0.6 * lx, rng=rng)
    atoms = crystal[keep]
    atoms.set_cell((lx, ly, total_height(atoms)))
    return Scene(atoms=atoms, column_mask=np.ones(len(atoms), bool), description=description,
                 visible_classes={"hrtem": None})


def sheet_with_defects(material: str, side: float, rng: np.random.Generator, n_host_vacancies: int,
                       n_chalcogen_vacancies: int, dopant: str) -> Scene:
    """A 2D sheet (``"graphene"``, ``"MoS2"`` or ``"WSe2"``) filling the cell, with point defects.

    graphene: ``n_host_vacancies`` single C vacancies and one substitutional ``dopant``
    (raised 1 Å out of the plane, as a Si dopant sits). Transition-metal dichalcogenides:
    ``n_host_vacancies`` metal vacancies, ``n_chalcogen_vacancies`` single chalcogen
    vacancies (the top atom of an X2 column removed: X2 -> X1) and one ``dopant`` on a
    metal site. Defects are 8 Å or more apart and 5 Å or more from the cell edges.
    """
    if material == "graphene":
        unit = graphene(formula="C2", a=2.46, vacuum=2.0)
    else:
        params = {"MoS2": (3.18, 3.19), "WSe2": (3.28, 3.34)}[material]
        unit = mx2(formula=material, kind="2H", a=params[0], thickness=params[1], vacuum=2.0)
    from abtem import orthogonalize_cell

    sheet = repeat_to(orthogonalize_cell(unit), side)
    lx, ly = sheet.cell[0, 0], sheet.cell[1, 1]
    symbols = np.array(sheet.get_chemical_symbols())
    host = {"graphene": "C", "MoS2": "Mo", "WSe2": "W"}[material]
    host_idx = np.flatnonzero(symbols == host)
    n_sites = n_host_vacancies + 1 + n_chalcogen_vacancies
    xy = sheet.positions[:, :2]
    site_xy = xy[host_idx]
    chosen = sites_far_apart(site_xy, n_sites, lx, ly, rng, min_distance=8.0, border=5.0)
    defects, remove = [], []
    intact_host = np.ones(len(host_idx), bool)
    intact_host[chosen] = False
    for k, site in enumerate(chosen):
        atom = host_idx[site]
        refs = nearest_intact(site_xy, site_xy[site], ~intact_host, lx, ly)
        if k < n_host_vacancies:
            remove.append(atom)
            defects.append({"kind": f"{host} vacancy", "xy": site_xy[site].tolist(), "ref_xy": refs})
        elif k == n_host_vacancies:
            sheet.numbers[atom] = atomic_numbers[dopant]
            if material == "graphene":
                sheet.positions[atom, 2] += 1.0
            defects.append({"kind": f"{dopant} dopant on {host} site", "xy": site_xy[site].tolist(),
                            "ref_xy": refs})
        else:
            remove.append(_chalcogen_vacancy(sheet, site_xy[site], lx, ly, defects, rng))
    sheet = sheet[np.setdiff1d(np.arange(len(sheet)), remove)]
    sheet.set_cell((lx, ly, total_height(sheet)))
    n_vac = f"{n_host_vacancies} {host} vacanc{'y' if n_host_vacancies == 1 else 'ies'}"
    chalcogen = {"graphene": "", "MoS2": "S", "WSe2": "Se"}[material]
    extra = f", {n_chalcogen_vacancies} single {chalcogen} vacancies ({chalcogen}2 -> {chalcogen}1)" \
        if n_chalcogen_vacancies else ""
    return Scene(atoms=sheet, column_mask=np.ones(len(sheet), bool), defects=defects,
                 description=f"{material} sheet, {n_vac}{extra}, 1 {dopant} dopant",
                 visible_classes={"hrtem": None, "haadf": None, "abf": None})


def _chalcogen_vacancy(sheet: Atoms, metal_xy: np.ndarray, lx: float, ly: float, defects: list,
                       rng: np.random.Generator) -> int:
    """Pick the X2 column next to the metal site ``metal_xy``; record the defect and return
    the index of its top atom (to be removed). Reference sites are intact X2 columns."""
    symbols = np.array(sheet.get_chemical_symbols())
    chalcogen = np.flatnonzero(~np.isin(symbols, ["Mo", "W"]))
    xy = sheet.positions[chalcogen, :2]
    d = (xy - metal_xy + [lx / 2, ly / 2]) % [lx, ly] - [lx / 2, ly / 2]
    dist = np.hypot(d[:, 0], d[:, 1])
    near = chalcogen[np.argsort(dist)[:2]]  # the two atoms of the nearest X2 column
    top = near[np.argmax(sheet.positions[near, 2])]
    column_xy = sheet.positions[top, :2]
    columns = np.unique(np.round(xy, 2), axis=0)
    cd = (columns - column_xy + [lx / 2, ly / 2]) % [lx, ly] - [lx / 2, ly / 2]
    exclude = np.hypot(cd[:, 0], cd[:, 1]) < 0.5
    refs = nearest_intact(columns, column_xy, exclude, lx, ly)
    defects.append({"kind": f"{symbols[top]} vacancy ({symbols[top]}2 -> {symbols[top]}1)",
                    "xy": column_xy.tolist(), "ref_xy": refs})
    return int(top)


def particle_on_support(element: str, lattice: float, zone: str, side: float, support_thickness: float,
                        rng: np.random.Generator, length: int = 7, cutoff: int = 2,
                        n_single_atoms: int = 0, support_fraction: float = 0.65) -> Scene:
    """An fcc ``element`` particle (truncated octahedron) in a ``zone`` axis ([100] or [110])
    on an amorphous carbon film that covers ``support_fraction`` of the cell width (rough
    edges, vacuum beyond), plus ``n_single_atoms`` single atoms of the same element on the
    film. Columns: the particle's projected columns and the single atoms."""
    lx = ly = side
    film = amorphous_carbon(lx, ly, support_thickness, rng, z0=2.0)
    in_film = periodic_strip(film.positions[:, :2], lx, ly, lx * 0.45, support_fraction * lx, rng,
                             roughness=6.0)
    film = film[in_film]
    particle = Octahedron(element, length=length, cutoff=cutoff, latticeconstant=lattice)
    if zone == "110":
        particle.rotate(45, "x")
    particle.positions -= particle.positions.mean(axis=0)
    centre = np.array([lx * (0.45 + support_fraction / 2) - 0.12 * lx, ly * 0.5])  # near the film edge
    particle.positions[:, :2] += centre
    particle = shift_z(particle, 2.0 + support_thickness + 0.5)
    singles = _single_atoms(element, n_single_atoms, film, particle, lx, ly, rng, support_thickness)
    atoms = stack(film, particle, singles, cell=(lx, ly, 1.0))
    atoms.set_cell((lx, ly, total_height(atoms)))
    column_mask = atoms.numbers != 6
    single_text = f", {n_single_atoms} single {element} atoms" if n_single_atoms else ""
    return Scene(atoms=atoms, column_mask=column_mask,
                 description=(f"{element} particle ({len(particle)} atoms, [{zone}]) on "
                              f"{support_thickness / 10:.0f} nm amorphous C{single_text}, vacuum beside"),
                 visible_classes={"hrtem": None, "haadf": None, "abf": []})


def _single_atoms(element: str, n: int, film: Atoms, particle: Atoms, lx: float, ly: float,
                  rng: np.random.Generator, support_thickness: float) -> Atoms:
    """``n`` single atoms lying on the film, 6 Å or more from each other, the particle and the
    cell edges."""
    if n == 0:
        return Atoms()
    film_xy = film.positions[:, :2]
    taken = [p for p in particle.positions[:, :2]]
    placed = []
    for _ in range(20000):
        xy = film_xy[rng.integers(len(film_xy))] + rng.normal(0, 0.5, 2)
        if not (5 < xy[0] < lx - 5 and 5 < xy[1] < ly - 5):
            continue
        others = np.array(taken + placed)
        if np.min(np.hypot(*(others - xy).T)) < 6.0:
            continue
        placed.append(xy)
        if len(placed) == n:
            break
    z = 2.0 + support_thickness + 0.3
    positions = [(x, y, z) for x, y in placed]
    return Atoms(symbols=[element] * len(positions), positions=positions)


def amorphous_edge(side: float, thickness: float, rng: np.random.Generator, fraction: float = 0.55) -> Scene:
    """Vacuum and an amorphous carbon film with a rough edge; no atomic columns."""
    film = amorphous_carbon(side, side, thickness, rng, z0=2.0)
    keep = periodic_strip(film.positions[:, :2], side, side, side * 0.5, fraction * side, rng, roughness=10.0)
    film = film[keep]
    film.set_cell((side, side, total_height(film)))
    return Scene(atoms=film, column_mask=np.zeros(len(film), bool),
                 description=f"vacuum and {thickness / 10:.0f} nm amorphous carbon film (rough edge)",
                 visible_classes={"hrtem": None})


def perovskite_100(formula: str, lattice: float, side: float, thickness: float, rng: np.random.Generator,
                   crystal_fraction: float = 0.6) -> Scene:
    """An ABO3 perovskite (``"SrTiO3"``, ``"BaTiO3"``; cubic, lattice ``lattice`` Å) along [100]:
    columns of A (heavy), of B-O (light) and of O (visible in ABF only); a strip of crystal
    ``crystal_fraction`` of the cell wide with vacuum beside it."""
    a_site, b_site = formula[:2], formula[2:4]
    frac = [(0, 0, 0), (0.5, 0.5, 0.5), (0.5, 0.5, 0), (0.5, 0, 0.5), (0, 0.5, 0.5)]
    unit = Atoms(symbols=[a_site, b_site, "O", "O", "O"], scaled_positions=frac,
                 cell=(lattice, lattice, lattice), pbc=True)
    unit = unit * (1, 1, max(1, int(round(thickness / lattice))))
    crystal = shift_z(repeat_to(unit, side), 2.0)
    lx, ly = crystal.cell[0, 0], crystal.cell[1, 1]
    # edges half way between columns, so that no column is cut in two
    width = (round(crystal_fraction * lx / lattice) + 0.5) * lattice
    keep = periodic_strip(crystal.positions[:, :2], lx, ly, centre=width / 2 - 0.25 * lattice,
                          width=width, rng=rng)
    atoms = crystal[keep]
    atoms.set_cell((lx, ly, total_height(atoms)))
    heavy, light = a_site, f"{b_site}O"
    return Scene(atoms=atoms, column_mask=np.ones(len(atoms), bool), heavy_light=(heavy, light),
                 description=f"{formula} [100], {thickness / 10:.1f} nm, crystal edge with vacuum",
                 visible_classes={"haadf": [heavy, light], "abf": [heavy, light, "O"]})


# --- columns ---------------------------------------------------------------------------------


def column_class(numbers: np.ndarray) -> str:
    """Name of a column from the elements in it, heaviest first, without counts (e.g. ``"TiO"``)."""
    from ase.data import chemical_symbols

    unique = sorted(set(int(z) for z in numbers), reverse=True)
    return "".join(chemical_symbols[z] for z in unique)


def project_columns(atoms: Atoms, mask: np.ndarray) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Group the masked atoms into projected columns.

    Returns ``(xy, classes, n_atoms)``: column positions in Å (mean of its atoms, periodic),
    class names (:func:`column_class`) and the number of atoms in each column. Atoms closer
    than :data:`COLUMN_MERGE_RADIUS` in projection belong to the same column.
    """
    lx, ly = atoms.cell[0, 0], atoms.cell[1, 1]
    idx = np.flatnonzero(mask)
    if len(idx) == 0:
        return np.zeros((0, 2)), [], np.zeros(0, int)
    xy = atoms.positions[idx, :2] % [lx, ly]
    parent = np.arange(len(idx))

    def root(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in cKDTree(xy, boxsize=(lx, ly)).query_pairs(COLUMN_MERGE_RADIUS):
        parent[root(i)] = root(j)
    roots = np.array([root(i) for i in range(len(idx))])
    positions, classes, counts = [], [], []
    for r in np.unique(roots):
        members = np.flatnonzero(roots == r)
        d = (xy[members] - xy[members[0]] + [lx / 2, ly / 2]) % [lx, ly] - [lx / 2, ly / 2]
        positions.append((xy[members[0]] + d.mean(axis=0)) % [lx, ly])
        classes.append(column_class(atoms.numbers[idx[members]]))
        counts.append(len(members))
    return np.array(positions), classes, np.array(counts)


def vacuum_mask(atoms: Atoms, shape_yx: tuple[int, int], distance: float = 4.0) -> np.ndarray:
    """Pixels (rows y, columns x; pixel i at coordinate i * pixel size) farther than ``distance``
    Å in projection from every atom: the vacuum of the scene."""
    lx, ly = atoms.cell[0, 0], atoms.cell[1, 1]
    ny, nx = shape_yx
    gy, gx = np.meshgrid(np.arange(ny) * ly / ny, np.arange(nx) * lx / nx, indexing="ij")
    tree = cKDTree(atoms.positions[:, :2] % [lx, ly], boxsize=(lx, ly))
    dist, _ = tree.query(np.column_stack([gx.ravel(), gy.ravel()]))
    return (dist > distance).reshape(ny, nx)
