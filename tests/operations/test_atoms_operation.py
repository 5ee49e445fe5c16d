"""Atom finding with no separation given, on lattices with a weaker basis column."""

from __future__ import annotations

import numpy as np
import pytest

from tem_denoise.analysis import match_positions
from tem_denoise.analysis.atoms import SEPARATION_PER_SPACING, lattice_spacing
from tem_denoise.io import Stack
from tem_denoise.operations.atoms import AtomOptions, find_atoms
from tem_denoise.physics.lattices import LATTICES
from tem_denoise.physics.render import render_gaussians


@pytest.mark.parametrize("name", ["mos2", "square", "honeycomb"])
def test_separation_estimated_from_the_lattice_finds_every_column(name):
    """MoS2's Mo-S distance (0.18 nm) is below the old 0.2 nm default; the estimate stays below it."""
    lattice, pixel = LATTICES[name], 0.02
    positions, weights = lattice.positions((160, 160), pixel, rotation_rad=0.3)
    image = render_gaussians((160, 160), positions, weights, 0.04 / pixel)
    noisy = np.random.default_rng(0).poisson(image * 40 + 4).astype(np.float32)
    stack = Stack.from_array(noisy, pixel_size=pixel, name=name)
    atoms = find_atoms(stack, AtomOptions())
    assert atoms.min_separation_px * pixel < lattice.nearest_neighbour_nm
    inside = positions[(positions > 3).all(axis=1) & (positions < 156).all(axis=1)]
    found = np.stack([atoms.table["y_px"], atoms.table["x_px"]], axis=1)
    found = found[(found > 3).all(axis=1) & (found < 156).all(axis=1)]
    assert match_positions(found, inside, radius=1.5).f1 > 0.95
    assert "nm" in atoms.separation_text()
    np.testing.assert_allclose(atoms.table["x_nm"], atoms.table["x_px"] * pixel)


def test_an_image_with_no_repeat_asks_for_the_separation():
    with pytest.raises(ValueError, match="minimum atom separation"):
        lattice_spacing(np.ones((64, 64), np.float32))


def test_particles_on_a_support_do_not_pass_for_the_atom_lattice():
    """A field of nanoparticles repeats every 3 nm, far more strongly than their 0.25 nm columns
    (the Au particle file gave a 7 nm 'spacing'): only repeats up to 1 nm are columns."""
    pixel, size = 0.01, 720
    y, x = np.mgrid[:size, :size] * pixel
    particles = np.exp(-((np.mod(y, 3.0) - 1.5) ** 2 + (np.mod(x, 3.0) - 1.5) ** 2) / (2 * 0.6**2))
    columns = 0.5 + 0.5 * np.cos(2 * np.pi * x / 0.25) * np.cos(2 * np.pi * y / 0.25)
    image = (40 * particles * (0.7 + 0.3 * columns) + 2).astype(np.float32)
    with pytest.raises(ValueError, match="no repeat distance"):
        lattice_spacing(image)  # unbounded, the particles' envelope hides the columns' repeat
    atoms = find_atoms(Stack.from_array(image, pixel_size=pixel, name="particles"), AtomOptions())
    spacing_nm = atoms.min_separation_px / SEPARATION_PER_SPACING * pixel
    assert abs(spacing_nm - 0.25 / np.sqrt(2)) < 0.01  # nearest columns of the checkerboard, on the diagonal
