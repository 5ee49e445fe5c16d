"""Atom localisation against Gaussian atoms at known sub-pixel positions."""

from __future__ import annotations

import numpy as np
import pytest

from tem_denoise.analysis import (
    ATOM_COLUMNS,
    Progress,
    atoms_in_nm,
    find_atoms,
    iter_locate_atoms_stack,
    locate_atoms,
    locate_atoms_stack,
    match_positions,
    read_csv,
    refine_atoms,
    write_atoms_csv,
)


@pytest.fixture
def atoms(rng, synth):
    """Disordered atoms (separation >= 5.6 px) of sigma 1.2 px, peak 1 on background 0.1."""
    truth = synth.jittered_grid((128, 128), 8.0, 1.2, rng, margin=3.0)
    image = synth.render_atoms(truth, (128, 128), 1.2, amplitude=1.0, background=0.1)
    return truth, image


def _positions(table):
    return np.stack([table["y_px"], table["x_px"]], axis=1)


def test_gaussian_fit_recovers_clean_positions_exactly(atoms):
    truth, image = atoms
    table = locate_atoms(image, min_separation_px=5)
    match = match_positions(_positions(table), truth, radius=2.0)
    assert match.f1 == 1.0 and match.precision == 1.0 and match.recall == 1.0
    assert match.rms_error < 0.01
    order = match.pairs[:, 0]
    np.testing.assert_allclose(table["sigma_px"][order], 1.2, atol=0.01)
    np.testing.assert_allclose(table["intensity"][order], 1.0, atol=0.02)
    np.testing.assert_allclose(table["background"][order], 0.1, atol=0.02)
    assert np.all(table["quality"] > 0.99)
    np.testing.assert_array_equal(table["frame"], 0)
    assert list(table) == list(ATOM_COLUMNS)


def test_centre_of_mass_is_subpixel(atoms):
    truth, image = atoms
    table = locate_atoms(image, min_separation_px=5, method="com", patch_radius_px=3)
    match = match_positions(_positions(table), truth, radius=2.0)
    assert match.f1 == 1.0
    assert match.rms_error < 0.1


def test_noisy_frame_with_log_prefilter_reaches_cramer_rao_bound(atoms, rng):
    truth, image = atoms
    noise = 0.15
    noisy = image + noise * rng.standard_normal(image.shape)
    table = locate_atoms(noisy, min_separation_px=5, log_sigma_px=1.2, threshold_rel=0.3)
    match = match_positions(_positions(table), truth, radius=2.0)
    assert match.f1 >= 0.97
    # Cramer-Rao bound of a Gaussian's centre in white noise: sigma_noise * sqrt(2 / pi) / A
    # per axis, i.e. about 0.17 px radially here
    bound = np.sqrt(2) * noise * np.sqrt(2 / np.pi) / 1.0
    assert match.rms_error < 1.3 * bound


def test_atoms_at_the_frame_edge_are_fitted(synth):
    truth = np.array([[0.8, 20.3], [20.6, 126.4], [64.2, 64.7]])
    image = synth.render_atoms(truth, (128, 128), 1.0)
    table = refine_atoms(image, np.rint(truth), patch_radius_px=3)
    np.testing.assert_allclose(_positions(table), truth, atol=0.01)


def test_stack_table_carries_frame_index(atoms, synth):
    truth, _ = atoms
    offsets = np.array([[0.0, 0.0], [0.4, -0.7], [1.3, 0.25]])
    stack = np.stack([synth.render_atoms(truth + o, (128, 128), 1.2) for o in offsets]).astype(np.float32)
    records = list(_drain(iter_locate_atoms_stack(stack, 5)))
    assert records == [Progress(t + 1, 3, "atoms") for t in range(3)]
    table = locate_atoms_stack(stack, 5)
    for t, offset in enumerate(offsets):
        mine = table["frame"] == t
        match = match_positions(_positions(table)[mine], truth + offset, radius=2.0)
        assert match.f1 == 1.0 and match.rms_error < 0.02
    frames_found = np.column_stack([table["frame"], _positions(table)])
    frames_true = np.concatenate([np.column_stack([np.full(len(truth), t), truth + o]) for t, o in enumerate(offsets)])
    assert match_positions(frames_found, frames_true, radius=2.0).f1 == 1.0


def _drain(generator):
    while True:
        try:
            yield next(generator)
        except StopIteration:
            return


def test_single_frame_accepted_by_stack_function(atoms):
    truth, image = atoms
    table = locate_atoms_stack(image, 5)
    assert len(table["y_px"]) == len(truth)


def test_nm_columns_and_csv(tmp_path, atoms):
    _, image = atoms
    table = locate_atoms(image, 5)
    nm = atoms_in_nm(table, 0.05, origin_nm=(1.0, 2.0))
    np.testing.assert_allclose(nm["y_nm"], 1.0 + table["y_px"] * 0.05)
    np.testing.assert_allclose(nm["x_nm"], 2.0 + table["x_px"] * 0.05)
    np.testing.assert_allclose(nm["sigma_nm"], table["sigma_px"] * 0.05)
    path = tmp_path / "atoms.csv"
    write_atoms_csv(path, table, pixel_size_nm=0.05)
    back = read_csv(path)
    assert list(back)[:5] == ["frame", "y_px", "x_px", "y_nm", "x_nm"]
    np.testing.assert_allclose(back["x_px"], table["x_px"], rtol=1e-8)
    assert back["frame"].dtype.kind == "i"


def test_thresholds_and_candidates(atoms):
    truth, image = atoms
    candidates = find_atoms(image, 5)
    assert candidates.dtype == np.int64 and len(candidates) == len(truth)
    assert len(find_atoms(image, 5, threshold_abs=2.0)) == 0
    assert len(find_atoms(image, 5, threshold_rel=None, threshold_abs=0.5)) == len(truth)


def test_bad_input_is_explained(atoms):
    _, image = atoms
    with pytest.raises(ValueError, match=r"\(y, x\)"):
        find_atoms(image[None], 5)
    with pytest.raises(ValueError, match="min_separation"):
        find_atoms(image, 0.5)
    with pytest.raises(ValueError, match="threshold_rel"):
        find_atoms(image, 5, threshold_rel=1.5)
    with pytest.raises(ValueError, match="inside"):
        refine_atoms(image, [[200, 3]])
    with pytest.raises(ValueError, match="method"):
        refine_atoms(image, [[20, 3]], method="fit")


def test_frame_without_atoms_gives_empty_table():
    table = locate_atoms_stack(np.zeros((2, 32, 32)), 5)
    assert list(table) == list(ATOM_COLUMNS)
    assert all(len(column) == 0 for column in table.values())


def test_thinning_many_candidates_far_apart_stays_small(rng):
    """200k noisy maxima with a 100 px separation (a raw 2048^2 frame at a wide spacing) once
    needed every pair within reach (17 GB); now memory stays within a few bytes per candidate."""
    import tracemalloc

    from scipy.spatial.distance import pdist

    from tem_denoise.analysis.atoms import _thin

    points = rng.uniform(0, 2048, (200_000, 2))
    tracemalloc.start()
    keep = _thin(points, 100.0)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 50e6
    kept = points[keep]
    assert kept[0].tolist() == points[0].tolist() and pdist(kept).min() > 100.0
    # every dropped candidate lies within reach of a kept one
    from scipy.spatial import cKDTree

    assert np.all(cKDTree(kept).query(points[~keep])[0] <= 100.0)


def test_thinning_ways_agree(rng):
    """The one-by-one thinning used for crowded candidates gives the pairwise result."""
    from scipy.spatial import cKDTree

    from tem_denoise.analysis.atoms import _thin_greedy, _thin_pairs

    points = rng.uniform(0, 200, (3000, 2))
    tree = cKDTree(points)
    for radius in (2.0, 7.0, 25.0):
        pairs = tree.query_pairs(radius, output_type="ndarray")
        np.testing.assert_array_equal(_thin_greedy(tree, points, radius), _thin_pairs(pairs, len(points)))
