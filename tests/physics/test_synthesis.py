"""Synthetic scenes: geometry, targets, reproducibility and noise statistics."""

import json

import numpy as np
import pytest
from scipy.spatial import cKDTree
from skimage.registration import phase_cross_correlation

from tem_denoise.physics import (
    LATTICES,
    HRTEMNoise,
    atom_map,
    fractal_noise,
    poisson_disk,
    render_gaussians,
    sample_haadf,
    sample_hrtem_series,
    sample_vacuum_stacks,
    stem_arrangement,
    synth_hrtem_nucleation,
    synth_stem,
    synth_time_series,
)


def test_poisson_disk_respects_minimum_distance():
    pts = poisson_disk((200, 300), 5.0, rng=0)
    assert pts.shape[1] == 2 and len(pts) > 0.5 * 200 * 300 / 25
    assert cKDTree(pts).query(pts, k=2)[0][:, 1].min() >= 5.0
    assert pts[:, 0].max() < 200 and pts[:, 1].max() < 300 and pts.min() >= 0


def test_perlin_shift_is_exact_and_seeded():
    a = fractal_noise((64, 80), 20, rng=3)
    b = fractal_noise((64, 80), 20, rng=3, origin=(3.0, 7.0))
    np.testing.assert_allclose(a[3:, 7:], b[:-3, :-7], atol=1e-6)
    assert not np.allclose(a, fractal_noise((64, 80), 20, rng=4))


def test_render_is_exact_gaussian():
    pos = np.array([[30.3, 40.7], [10.0, 12.5]])
    img = render_gaussians((64, 64), pos, [2.0, 1.0], [1.5, 2.0])
    yy, xx = np.mgrid[:64, :64]
    ref = sum(a * np.exp(-((yy - p[0]) ** 2 + (xx - p[1]) ** 2) / (2 * s**2))
              for p, a, s in zip(pos, [2.0, 1.0], [1.5, 2.0]))
    np.testing.assert_allclose(img, ref, atol=1e-3)


def _check_atom_map(pair):
    amap = pair.atom_map
    assert amap.dtype == np.float32 and amap.max() <= 255.0 + 1e-3 and amap.min() >= 0
    pos = pair.positions_px[:, -2:]
    iy, ix = np.rint(pos).astype(int).T
    d2 = ((pos - np.stack([iy, ix], 1)) ** 2).sum(1)
    expected = 255.0 * np.exp(-d2 / (2 * 0.75**2))
    np.testing.assert_allclose(amap[iy, ix], expected, rtol=1e-3, atol=0.5)
    on_grid = atom_map((32, 32), np.array([[10.0, 20.0]]))
    assert on_grid[10, 20] == pytest.approx(255.0) and on_grid[0, 0] == 0


def test_hrtem_pair_shapes_targets_and_seed():
    pair = synth_hrtem_nucleation((128, 160), rng=5)
    for arr in (pair.noisy, pair.clean, pair.atom_map):
        assert arr.shape == (128, 160) and arr.dtype == np.float32
    assert pair.positions_px.shape[1] == 2 and len(pair.positions_px) > 100
    assert cKDTree(pair.positions_px).query(pair.positions_px, k=2)[0][:, 1].min() >= 4.0 - 1e-4
    _check_atom_map(pair)
    again = synth_hrtem_nucleation((128, 160), rng=5)
    np.testing.assert_array_equal(pair.noisy, again.noisy)
    json.dumps(pair.params)
    assert 0.1 <= pair.params["vacuum_fraction"] <= 0.6


def test_hrtem_frames_have_the_statistics_of_their_model():
    model = HRTEMNoise(k=0.05, b=1.2, sigma_c=0.8)
    pairs = [synth_hrtem_nucleation((256, 256), noise=model, rng=seed) for seed in range(12)]
    noisy = np.stack([p.noisy for p in pairs])
    clean = np.stack([p.clean for p in pairs])
    resid = noisy - clean
    columns = resid.mean(axis=1)
    point = resid - columns[:, None, :]
    sigma_c = np.sqrt(columns.var() - point.var() / 256)
    assert sigma_c == pytest.approx(0.8, rel=0.05)
    inten = clean.ravel()
    edges = np.quantile(inten, np.linspace(0, 1, 11))
    idx = np.clip(np.digitize(inten, edges) - 1, 0, 9)
    x = np.array([inten[idx == i].mean() for i in range(10)])
    y = np.array([point.ravel()[idx == i].std() for i in range(10)])
    slope, intercept = np.polyfit(x, y, 1)
    assert slope == pytest.approx(0.05, rel=0.05)
    assert intercept == pytest.approx(1.2, rel=0.05)


def test_at_least_twelve_lattices_with_real_geometry():
    assert len(LATTICES) >= 12
    for name in ("square", "hexagonal", "honeycomb", "perovskite_001", "rocksalt_001", "dumbbell_110"):
        assert name in LATTICES
    assert LATTICES["dumbbell_110"].nearest_neighbour_nm == pytest.approx(0.5653 / 4, rel=1e-3)
    assert LATTICES["honeycomb"].nearest_neighbour_nm == pytest.approx(0.142, rel=0.01)


@pytest.mark.parametrize("arrangement", ["lattice", "interface", "random"])
def test_stem_arrangements(arrangement):
    pos, w, size, rec = stem_arrangement((128, 128), 0.02, arrangement=arrangement, rng=1)
    assert rec["arrangement"] == arrangement and len(pos) == len(w) == len(size) > 20
    assert np.all((w > 0) & (w <= 1))
    if arrangement == "interface":
        assert len(rec["structures"]) == 2


def test_stem_pairs_haadf_and_bf():
    haadf = synth_stem((128, 128), mode="haadf", arrangement="lattice", rng=2)
    bf = synth_stem((128, 128), mode="bf", arrangement="lattice", rng=2)
    for pair in (haadf, bf):
        assert pair.noisy.shape == pair.clean.shape == pair.atom_map.shape == (128, 128)
        assert pair.noisy.dtype == np.float32 and 0 <= pair.noisy.min() and pair.noisy.max() <= 255
        _check_atom_map(pair)
        json.dumps(pair.params)
    iy, ix = np.rint(haadf.positions_px).astype(int).T
    assert haadf.clean[iy, ix].mean() > haadf.clean.mean()
    assert bf.clean[iy, ix].mean() < bf.clean.mean()
    again = synth_stem((128, 128), mode="haadf", arrangement="lattice", rng=2)
    np.testing.assert_array_equal(haadf.noisy, again.noisy)


def test_time_series_shifts_are_the_true_drift():
    series = synth_time_series(6, (128, 128), drift_px_per_frame=1.3, atom_jitter_px=0.0, growth=0.0, rng=4)
    assert series.noisy.shape == (6, 128, 128) and series.shifts_px.shape == (6, 2)
    assert series.positions_px.shape[1] == 3
    np.testing.assert_array_equal(series.shifts_px[0], 0)
    for t in (2, 5):
        found, _, _ = phase_cross_correlation(series.atom_map[0], series.atom_map[t], upsample_factor=50)
        np.testing.assert_allclose(found, -series.shifts_px[t], atol=0.06)
    frame = series.positions_px[series.positions_px[:, 0] == 3][:, 1:]
    _check_atom_map(type(series)(series.noisy[3], series.clean[3], series.atom_map[3], frame,
                                 series.pixel_size_nm, {}))


def test_stem_time_series():
    series = synth_time_series(3, (96, 96), kind="haadf", rng=0)
    assert series.noisy.shape == (3, 96, 96) and series.params["kind"] == "haadf"
    with pytest.raises(ValueError, match="at least 2 frames"):
        synth_time_series(1)


def test_samples():
    movie = sample_hrtem_series(n_frames=3, shape=(64, 64))
    assert movie.noisy.shape == movie.clean.shape == movie.atom_map.shape == (3, 64, 64)
    assert movie.pixel_size_nm > 0 and movie.shifts_px.shape == (3, 2)
    image = sample_haadf((64, 64))
    assert image.noisy.shape == (64, 64)
    vac = sample_vacuum_stacks(currents_na=(1.0, 2.0), n_frames=3, shape=(32, 32))
    assert [s.shape for s in vac.stacks] == [(3, 32, 32)] * 2
    assert vac.stacks[1].mean() == pytest.approx(16.0, rel=0.1)
    np.testing.assert_array_equal(vac.stacks[0], sample_vacuum_stacks((1.0, 2.0), 3, (32, 32)).stacks[0])
