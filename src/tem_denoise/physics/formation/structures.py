"""Random specimens seen in projection, for training restoration models.

A :class:`Structure` is a set of atomic columns in a field of view, in nm: their positions,
the atomic number of the atoms in each column and how many atoms each column holds. The
imaging modules turn it into HAADF/BF (incoherent, ``Z``-dependent columns) or HRTEM
(projected potential, then phase-contrast imaging) images at any sampling.

The generators cover what microscopists image: crystals in zone axes (a random Bravais lattice
with a random basis, or one of :data:`~tem_denoise.physics.lattices.LATTICES`) with thickness
gradients, vacancies and substitutions; 2D sheets (graphene- or MoS2-like) with vacancies and
dopants; crystalline particles on amorphous supports; amorphous films; heavy single atoms and
clusters on light supports; vacuum (holes and edges). All randomness comes from ``rng``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tem_denoise.physics.lattices import LATTICES

LIGHT_Z = (6, 7, 8, 14)
MEDIUM_Z = (16, 22, 26, 29, 31, 33, 34, 38, 42)
HEAVY_Z = (46, 52, 58, 74, 78, 79, 82)
AMORPHOUS_DENSITY = 100.0
"""Atoms per nm^3 of an amorphous carbon support (about 2 g/cm^3)."""


@dataclass
class Structure:
    """Atomic columns in a ``field_nm`` = (height, width) field of view.

    Attributes
    ----------
    positions : numpy.ndarray
        ``(n, 2)`` column positions (y, x) in nm, origin at the field's corner.
    z : numpy.ndarray
        ``(n,)`` atomic number of the atoms in each column.
    count : numpy.ndarray
        ``(n,)`` number of atoms stacked in each column (float: partial occupancy allowed).
    field_nm : tuple of float
        Height and width of the field of view in nm.
    kind : str
        Generator that made it.
    """

    positions: np.ndarray
    z: np.ndarray
    count: np.ndarray
    field_nm: tuple[float, float]
    kind: str

    def joined(self, other: Structure) -> Structure:
        """Both structures' columns in one (same field)."""
        return Structure(np.concatenate([self.positions, other.positions]), np.concatenate([self.z, other.z]),
                         np.concatenate([self.count, other.count]), self.field_nm, f"{self.kind}+{other.kind}")

    def keep(self, mask: np.ndarray) -> Structure:
        """Only the columns where ``mask`` is True."""
        return Structure(self.positions[mask], self.z[mask], self.count[mask], self.field_nm, self.kind)


def _rotation(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s], [s, c]])


def _tile(a1: np.ndarray, a2: np.ndarray, basis: np.ndarray, field: tuple[float, float],
          rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Positions (y, x) in nm covering ``field`` of a lattice rotated at random, and each
    position's basis index."""
    rot = _rotation(rng.uniform(0, 2 * np.pi))
    a1, a2 = rot @ a1, rot @ a2
    centre = np.array(field) / 2 + rng.uniform(-0.5, 0.5, 2)
    reach = np.hypot(*field) / 2 + 1.0
    limit = int(np.ceil(reach / min(np.linalg.norm(a1), np.linalg.norm(a2), 0.1) * 1.5)) + 1
    limit = min(limit, 400)
    n1, n2 = np.meshgrid(np.arange(-limit, limit + 1), np.arange(-limit, limit + 1), indexing="ij")
    cells = np.stack([n1.ravel(), n2.ravel()], axis=1).astype(np.float64)
    frac = cells[:, None, :] + basis[None, :, :]
    points = frac[..., 0:1] * a1 + frac[..., 1:2] * a2
    index = np.broadcast_to(np.arange(len(basis)), frac.shape[:2])
    points = points.reshape(-1, 2) + centre
    index = index.reshape(-1)
    inside = np.all((points > -0.5) & (points < np.array(field) + 0.5), axis=1)
    return points[inside], index[inside]


def _random_lattice(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, list]:
    """Lattice vectors, fractional basis and per-site atomic numbers: a catalogued material
    (half of the time) or a random Bravais lattice with 1-3 columns per cell."""
    if rng.random() < 0.5:
        lattice = LATTICES[rng.choice(sorted(LATTICES))]
        basis = np.array([(f1, f2) for f1, f2, _ in lattice.basis])
        zs = [list(zlist) for _, _, zlist in lattice.basis]
        return np.array(lattice.a1_nm)[::-1], np.array(lattice.a2_nm)[::-1], basis, zs
    a = rng.uniform(0.22, 0.45)
    b = a * rng.uniform(0.8, 1.6)
    gamma = rng.choice([np.pi / 2, np.pi / 3, rng.uniform(np.pi / 3, np.pi / 2)])
    a1 = np.array([0.0, a])
    a2 = np.array([b * np.sin(gamma), b * np.cos(gamma)])
    sites = int(rng.integers(1, 4))
    basis = np.concatenate([[[0.0, 0.0]], rng.uniform(0.25, 0.75, (sites - 1, 2))])
    pool = np.array(LIGHT_Z + MEDIUM_Z + HEAVY_Z)
    zs = [[int(rng.choice(pool))] for _ in range(sites)]
    return a1, a2, basis, zs


def _thickness(positions: np.ndarray, field: tuple[float, float], lo: float, hi: float,
               rng: np.random.Generator) -> np.ndarray:
    """Atoms per column: a linear wedge plus a gentle bump, between ``lo`` and ``hi``."""
    direction = _rotation(rng.uniform(0, 2 * np.pi)) @ np.array([1.0, 0.0])
    ramp = positions @ direction / max(field)
    bump = np.exp(-np.sum((positions - rng.uniform(0, 1, 2) * field) ** 2, axis=1) / (0.3 * max(field)) ** 2)
    shape = rng.uniform(-1, 1) * ramp + rng.uniform(0, 1) * bump
    shape = (shape - shape.min()) / max(np.ptp(shape), 1e-6)
    return lo + (hi - lo) * shape


def crystal(field: tuple[float, float], rng: np.random.Generator, thin: bool = False) -> Structure:
    """A crystal in a zone axis: columns of 1-40 atoms (``thin``: 1-3), a thickness gradient,
    0-5 % vacant columns and 0-5 % substituted columns."""
    a1, a2, basis, zs = _random_lattice(rng)
    positions, site = _tile(a1, a2, basis, field, rng)
    per_site = np.array([np.mean(z) for z in zs])
    repeat = np.array([len(z) for z in zs], dtype=np.float64)
    z = per_site[site]
    top = rng.uniform(1, 3) if thin else rng.uniform(2, 40)
    count = np.maximum(1.0, np.round(repeat[site] * _thickness(positions, field, max(1.0, top / 4), top, rng)))
    vacant = rng.random(len(z)) < rng.uniform(0, 0.05)
    swap = rng.random(len(z)) < rng.uniform(0, 0.05)
    z = np.where(swap, rng.choice(np.array(LIGHT_Z + MEDIUM_Z + HEAVY_Z), len(z)), z)
    return Structure(positions, z, count, field, "crystal").keep(~vacant)


def sheet(field: tuple[float, float], rng: np.random.Generator) -> Structure:
    """A 2D material: a honeycomb of one or two species (graphene-, hBN- or MoS2-like), with
    0-8 % vacancies and 0-3 % heavy dopants."""
    a = rng.uniform(0.24, 0.34)
    a1, a2 = np.array([0.0, a]), np.array([a * np.sqrt(3) / 2, a / 2])
    basis = np.array([[0.0, 0.0], [1 / 3, 1 / 3]])
    positions, site = _tile(a1, a2, basis, field, rng)
    metal, other = rng.choice([(6, 6), (5, 7), (42, 16), (74, 34), (42, 34), (74, 16)])
    z = np.where(site == 0, metal, other).astype(np.float64)
    count = np.where(site == 0, 1.0, 1.0 if metal == other or metal < 10 else 2.0)
    vacancy_rate = rng.uniform(0, 0.08)
    partial = (rng.random(len(z)) < vacancy_rate) & (count > 1)
    count = np.where(partial, count - 1, count)
    dopant = rng.random(len(z)) < rng.uniform(0, 0.03)
    z = np.where(dopant, rng.choice(np.array(MEDIUM_Z + HEAVY_Z), len(z)), z)
    vacant = (rng.random(len(z)) < vacancy_rate) & ~partial
    return Structure(positions, z, count, field, "sheet").keep(~vacant)


def amorphous(field: tuple[float, float], rng: np.random.Generator, thickness_nm: float | None = None,
              z: int = 6) -> Structure:
    """An amorphous film of atoms ``z`` (default carbon), ``thickness_nm`` thick (random 1-10 nm),
    each atom its own position (projected amorphous matter has no columns)."""
    thickness = rng.uniform(1.0, 10.0) if thickness_nm is None else thickness_nm
    n = int(rng.poisson(AMORPHOUS_DENSITY * thickness * field[0] * field[1]))
    positions = rng.random((n, 2)) * field
    return Structure(positions, np.full(n, float(z)), np.ones(n), field, "amorphous")


def _ellipse(positions: np.ndarray, centre: np.ndarray, radii: np.ndarray, angle: float) -> np.ndarray:
    """Normalised squared radius of each position in an ellipse (< 1 inside)."""
    local = (positions - centre) @ _rotation(angle)
    return np.sum((local / radii) ** 2, axis=1)


def particle_on_support(field: tuple[float, float], rng: np.random.Generator) -> Structure:
    """A crystalline particle (heavy atoms, 1-4 nm, columns thickest at its centre) on an
    amorphous light support."""
    particle = crystal(field, rng)
    particle.z = np.full(len(particle.z), float(rng.choice(np.array(HEAVY_Z + MEDIUM_Z))))
    radii = rng.uniform(0.5, 2.0, 2) * (1 + rng.random())
    centre = rng.uniform(0.2, 0.8, 2) * field
    r2 = _ellipse(particle.positions, centre, radii, rng.uniform(0, np.pi))
    particle.count = np.round(np.sqrt(np.clip(1 - r2, 0, 1)) * radii.mean() / 0.2 * rng.uniform(0.7, 1.3))
    particle = particle.keep(particle.count >= 1)
    return amorphous(field, rng, rng.uniform(1, 6)).joined(particle)


def single_atoms(field: tuple[float, float], rng: np.random.Generator) -> Structure:
    """Heavy single atoms and small clusters on a thin light support."""
    support = amorphous(field, rng, rng.uniform(0.5, 4.0))
    n = int(rng.integers(3, 40))
    centres = rng.random((n, 2)) * field
    size = rng.integers(1, 4, n)
    offsets = [rng.normal(0, 0.15, (k, 2)) for k in size]
    positions = np.concatenate([c + o for c, o in zip(centres, offsets)])
    heavy = float(rng.choice(np.array(HEAVY_Z)))
    atoms = Structure(positions, np.full(len(positions), heavy), np.ones(len(positions)), field, "atoms")
    return support.joined(atoms)


def cut_vacuum(structure: Structure, rng: np.random.Generator) -> Structure:
    """Remove the columns beyond a random edge or inside a random hole (vacuum)."""
    field = np.array(structure.field_nm)
    if rng.random() < 0.5:
        normal = _rotation(rng.uniform(0, 2 * np.pi)) @ np.array([1.0, 0.0])
        wiggle = 0.3 * np.sin(structure.positions @ normal[::-1] * rng.uniform(0.5, 2.0))
        offset = (structure.positions - field * rng.uniform(0.3, 0.7, 2)) @ normal
        return structure.keep(offset + wiggle < 0)
    r2 = _ellipse(structure.positions, rng.uniform(0.2, 0.8, 2) * field, rng.uniform(0.1, 0.4, 2) * field,
                  rng.uniform(0, np.pi))
    return structure.keep(r2 > 1)


GENERATORS = {
    "crystal": lambda field, rng: crystal(field, rng),
    "thin-crystal": lambda field, rng: crystal(field, rng, thin=True),
    "sheet": sheet,
    "particle": particle_on_support,
    "amorphous": lambda field, rng: amorphous(field, rng),
    "single-atoms": single_atoms,
}
WEIGHTS = {"crystal": 0.3, "thin-crystal": 0.15, "sheet": 0.2, "particle": 0.15, "amorphous": 0.05,
           "single-atoms": 0.15}


def random_structure(field: tuple[float, float], rng: np.random.Generator) -> Structure:
    """A specimen drawn from :data:`GENERATORS` by :data:`WEIGHTS`; a third get vacuum cut in."""
    names = sorted(WEIGHTS)
    probabilities = np.array([WEIGHTS[n] for n in names])
    name = names[int(rng.choice(len(names), p=probabilities / probabilities.sum()))]
    structure = GENERATORS[name](field, rng)
    structure.kind = name
    return cut_vacuum(structure, rng) if rng.random() < 0.33 else structure
