"""Projected crystal lattices (atomic columns seen along a zone axis) for STEM scenes.

Seed 001 §3.3 renders 15 material structures with abTEM; this module keeps the
geometry as 2-D projected unit cells with real lattice constants (nm) and gives each
column a HAADF weight ``sum(Z ** 1.7)`` over the atoms stacked in it per repeat
(the usual Z-contrast exponent), normalised to 1 for the brightest column.
"""

from __future__ import annotations

import dataclasses

import numpy as np

Z_EXPONENT = 1.7


@dataclasses.dataclass(frozen=True)
class ProjectedLattice:
    """A 2-D lattice with a basis of atomic columns.

    Parameters
    ----------
    name : str
        Short identifier.
    a1_nm, a2_nm : tuple of float
        Lattice vectors ``(x, y)`` in nm.
    basis : tuple
        ``(f1, f2, (Z, ...))`` per column: fractional coordinates along ``a1``, ``a2``
        and the atomic numbers of the atoms in that column per repeat.
    description : str
        Material and zone axis the geometry follows.
    """

    name: str
    a1_nm: tuple[float, float]
    a2_nm: tuple[float, float]
    basis: tuple[tuple[float, float, tuple[int, ...]], ...]
    description: str

    @property
    def weights(self) -> np.ndarray:
        """Relative HAADF brightness per basis column (max 1)."""
        w = np.array([sum(z**Z_EXPONENT for z in zs) for _, _, zs in self.basis])
        return w / w.max()

    @property
    def nearest_neighbour_nm(self) -> float:
        """Shortest distance between two columns, in nm."""
        frac = np.array([(f1, f2) for f1, f2, _ in self.basis])
        n1, n2 = [g.ravel() for g in np.meshgrid(np.arange(-2, 3), np.arange(-2, 3))]
        f1 = (n1[:, None] + frac[None, :, 0]).ravel()
        f2 = (n2[:, None] + frac[None, :, 1]).ravel()
        xy = f1[:, None] * np.array(self.a1_nm) + f2[:, None] * np.array(self.a2_nm)
        dist = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
        return float(dist[dist > 1e-9].min())

    def positions(
        self,
        shape: tuple[int, int],
        pixel_size_nm: float,
        rotation_rad: float = 0.0,
        origin_px: tuple[float, float] = (0.0, 0.0),
        margin_px: float = 0.0,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Column positions covering an image.

        Parameters
        ----------
        shape : tuple of int
            Image ``(height, width)`` in pixels.
        pixel_size_nm : float
            Pixel size in nm.
        rotation_rad : float
            Counter-clockwise rotation of the lattice in radians.
        origin_px : tuple of float
            ``(y, x)`` position of the lattice origin in pixels.
        margin_px : float
            Also keep columns up to this far outside the image.

        Returns
        -------
        positions : numpy.ndarray
            ``(n, 2)`` column centres ``(y, x)`` in pixels.
        weights : numpy.ndarray
            ``(n,)`` relative brightness of each column.
        """
        if pixel_size_nm <= 0:
            raise ValueError(f"pixel_size_nm must be > 0, got {pixel_size_nm}")
        c, s = np.cos(rotation_rad), np.sin(rotation_rad)
        rot = np.array([[c, -s], [s, c]])
        vectors = (rot @ np.array([self.a1_nm, self.a2_nm]).T).T / pixel_size_nm  # rows: (x, y)
        height, width = shape
        corners = np.array(
            [[-margin_px, -margin_px], [width + margin_px, -margin_px],
             [-margin_px, height + margin_px], [width + margin_px, height + margin_px]]
        ) - np.array([origin_px[1], origin_px[0]])
        frac = np.linalg.solve(vectors.T, corners.T).T
        lo = np.floor(frac.min(axis=0)).astype(int) - 1
        hi = np.ceil(frac.max(axis=0)).astype(int) + 1
        n1, n2 = np.meshgrid(np.arange(lo[0], hi[0] + 1), np.arange(lo[1], hi[1] + 1), indexing="ij")
        basis = np.array([(f1, f2) for f1, f2, _ in self.basis])
        f1 = (n1.ravel()[:, None] + basis[None, :, 0]).ravel()
        f2 = (n2.ravel()[:, None] + basis[None, :, 1]).ravel()
        x = f1 * vectors[0, 0] + f2 * vectors[1, 0] + origin_px[1]
        y = f1 * vectors[0, 1] + f2 * vectors[1, 1] + origin_px[0]
        weights = np.tile(self.weights, n1.size)
        inside = (
            (y >= -margin_px) & (y < height + margin_px) & (x >= -margin_px) & (x < width + margin_px)
        )
        return np.stack([y[inside], x[inside]], axis=1), weights[inside]


def _hex(a: float) -> tuple[tuple[float, float], tuple[float, float]]:
    return (a, 0.0), (a / 2, a * np.sqrt(3) / 2)


def _rect(a: float, b: float) -> tuple[tuple[float, float], tuple[float, float]]:
    return (a, 0.0), (0.0, b)


def _build() -> dict[str, ProjectedLattice]:
    r2 = np.sqrt(2.0)
    entries = [
        ("square", *_rect(0.30, 0.30), ((0, 0, (42,)),), "simple square, 0.30 nm (generic)"),
        ("rectangular", *_rect(0.30, 0.42), ((0, 0, (42,)),), "simple rectangular 0.30 x 0.42 nm"),
        (
            "oblique", (0.30, 0.0), (0.36 * np.cos(np.radians(72)), 0.36 * np.sin(np.radians(72))),
            ((0, 0, (42,)),), "oblique 0.30 / 0.36 nm at 72 degrees",
        ),
        ("hexagonal", *_hex(0.2775), ((0, 0, (78,)),), "Pt fcc [111]: triangular, 0.2775 nm"),
        (
            "honeycomb", *_hex(0.246), ((0, 0, (6,)), (1 / 3, 1 / 3, (6,))),
            "graphene [001], a = 0.246 nm",
        ),
        (
            "mos2", *_hex(0.316), ((0, 0, (42,)), (1 / 3, 1 / 3, (16, 16))),
            "2H-MoS2 [001]: Mo and S2 columns, a = 0.316 nm",
        ),
        (
            "kagome", *_hex(0.50), ((0, 0, (26,)), (0.5, 0, (26,)), (0, 0.5, (26,))),
            "kagome net, a = 0.50 nm",
        ),
        (
            "perovskite_001", *_rect(0.3905, 0.3905),
            ((0, 0, (38,)), (0.5, 0.5, (22, 8)), (0.5, 0, (8,)), (0, 0.5, (8,))),
            "SrTiO3 [001]: Sr, Ti-O and O columns, a = 0.3905 nm",
        ),
        (
            "perovskite_110", *_rect(0.3905 / r2, 0.3905),
            ((0, 0, (38, 8)), (0, 0.5, (22,)), (0.5, 0.5, (8, 8))),
            "SrTiO3 [110]: Sr-O, Ti and O2 columns",
        ),
        (
            "rocksalt_001", *_rect(0.646, 0.646),
            ((0, 0, (82,)), (0.5, 0.5, (82,)), (0.5, 0, (52,)), (0, 0.5, (52,))),
            "PbTe rock-salt [001], a = 0.646 nm",
        ),
        (
            "dumbbell_110", *_rect(0.5653 / r2, 0.5653),
            ((0, 0, (31,)), (0, 0.25, (33,)), (0.5, 0.5, (31,)), (0.5, 0.75, (33,))),
            "GaAs zinc-blende [110]: Ga-As dumbbells 0.141 nm apart",
        ),
        (
            "fcc_110", *_rect(0.408 / r2, 0.408), ((0, 0, (79,)), (0.5, 0.5, (79,))),
            "Au fcc [110]: centred rectangular",
        ),
        (
            "fluorite_110", *_rect(0.541 / r2, 0.541),
            ((0, 0, (58,)), (0.5, 0.5, (58,)), (0, 0.25, (8,)), (0, 0.75, (8,)),
             (0.5, 0.25, (8,)), (0.5, 0.75, (8,))),
            "CeO2 fluorite [110]: Ce and O columns",
        ),
    ]
    return {
        name: ProjectedLattice(name, tuple(a1), tuple(a2), tuple(basis), text)
        for name, a1, a2, basis, text in entries
    }


LATTICES: dict[str, ProjectedLattice] = _build()
