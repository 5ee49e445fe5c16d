"""Drift estimation and correction against synthetic series with known sub-pixel shifts."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import ndimage as ndi

from tem_denoise.analysis import (
    DriftWarning,
    Progress,
    apply_shifts,
    estimate_drift,
    iter_estimate_drift,
    read_shifts_csv,
    transform_points,
    write_shifts_csv,
)


def _random_walk(rng, n_frames, step):
    drift = np.cumsum(rng.normal(0.0, step, (n_frames, 2)), axis=0)
    return drift - drift[0]


def _rms(error):
    return float(np.sqrt(np.mean(np.sum(error**2, axis=1))))


@pytest.fixture
def drifting(rng, synth):
    clean = synth.random_atom_image((256, 256), 1200, 1.5, rng)
    drift = _random_walk(rng, 10, 1.2)
    return clean, drift


@pytest.mark.parametrize("reference", ["first", "previous", "mean"])
def test_subpixel_shifts_recovered_with_prefilter(drifting, rng, synth, reference):
    clean, drift = drifting
    stack = synth.drifting_series(clean, drift, noise=0.3, rng=rng)  # atoms peak ~1
    with warnings.catch_warnings():
        warnings.simplefilter("error", DriftWarning)
        result = estimate_drift(stack, reference=reference, prefilter_sigma_px=1.5)
    assert result.shifts.shape == (10, 2)
    np.testing.assert_array_equal(result.shifts[0], [0.0, 0.0])
    assert _rms(result.shifts + drift) <= 0.1
    np.testing.assert_allclose(result.drift, -result.shifts)
    assert not result.failed.any()
    assert np.all(result.significance[1:] > 8)


def test_estimate_on_denoised_copy_corrects_raw(drifting, rng, synth):
    clean, drift = drifting
    raw = synth.drifting_series(clean, drift, noise=1.0, rng=rng)
    denoised = synth.drifting_series(clean, drift, noise=0.0, rng=rng)
    result = estimate_drift(raw, estimate_on=denoised)
    assert _rms(result.shifts + drift) <= 0.05
    corrected = apply_shifts(raw, result.shifts).data
    # the mean of the corrected raw frames differs from the clean image by noise alone
    inner = (slice(16, -16), slice(16, -16))
    noise_floor = 1.0 / np.sqrt(len(raw))
    assert np.std(corrected.mean(axis=0)[inner] - clean[inner]) < 1.03 * noise_floor
    assert np.std(raw.mean(axis=0)[inner] - clean[inner]) > 1.2 * noise_floor


def test_pure_noise_warns_and_returns_zero_shifts(rng):
    noise = rng.standard_normal((8, 128, 128)).astype(np.float32)
    with pytest.warns(DriftWarning, match="every frame"):
        result = estimate_drift(noise, prefilter_sigma_px=1.5)
    assert result.failed[1:].all()
    np.testing.assert_array_equal(result.shifts, 0.0)
    assert np.all(result.significance[1:] < 5.8)
    assert result.warnings
    _advice_names_real_controls(result.warnings[0])


def _advice_names_real_controls(message):
    """The advice names the CLI flags and dock labels that exist (not Python argument names)."""
    from tem_denoise.cli import build_parser
    from tem_denoise.operations.drift import DriftOptions
    from tem_denoise.operations.options import fields_of

    prefilter = next(item for item in fields_of(DriftOptions) if item.name == "prefilter")
    args = build_parser().parse_args(["drift", "in.tif", "-o", "out.tif", "--estimate-on", "d.tif",
                                      prefilter.flag, "2"])
    assert args.estimate_on == "d.tif" and args.prefilter == 2
    assert "--estimate-on FILE" in message and f"{prefilter.flag} SIGMA_PX" in message
    assert "dock 'estimate on'" in message and f"dock '{prefilter.label}'" in message
    assert "prefilter_sigma_px" not in message and "(estimate_on)" not in message


def test_single_bad_frame_is_interpolated(drifting, rng, synth):
    clean, _ = drifting
    drift = np.stack([np.linspace(0, 3.5, 8), np.linspace(0, -2.25, 8)], axis=1)
    stack = synth.drifting_series(clean, drift, noise=0.1, rng=rng)
    stack[4] = rng.standard_normal(stack[4].shape)
    with pytest.warns(DriftWarning, match="1 of 8"):
        result = estimate_drift(stack, reference="previous")
    np.testing.assert_array_equal(np.flatnonzero(result.failed), [4])
    # linear drift: the interpolated frame 4 lies on the line too
    assert _rms(result.shifts + drift) <= 0.1


def test_reference_rebases_when_drift_grows(rng, synth):
    clean = synth.random_atom_image((128, 128), 300, 1.5, rng)
    drift = np.stack([np.arange(12) * 2.3, np.arange(12) * -1.1], axis=1)
    stack = synth.drifting_series(clean, drift, noise=0.05, rng=rng)
    result = estimate_drift(stack, reference="first", rebase_threshold_px=8.0)
    assert len(result.rebased_at) >= 2
    assert _rms(result.shifts + drift) <= 0.1


def test_generator_reports_every_frame(drifting, rng, synth):
    clean, drift = drifting
    stack = synth.drifting_series(clean[:64, :64], drift, noise=0.0, rng=rng)
    records = []
    generator = iter_estimate_drift(stack)
    while True:
        try:
            records.append(next(generator))
        except StopIteration as stop:
            result = stop.value
            break
    assert records == [Progress(t + 1, 10, "drift") for t in range(10)]
    assert result.shifts.shape == (10, 2)


def test_fourier_apply_undoes_known_shift(rng, synth):
    clean = synth.random_atom_image((96, 96), 200, 1.5, rng)
    drift = np.array([[0.0, 0.0], [1.25, -2.5], [-3.4, 0.6]])
    stack = synth.drifting_series(clean, drift, noise=0.0, rng=rng)
    out = apply_shifts(stack, -drift, fill_value=-1.0)
    assert out.data.dtype == np.float32 and out.data.shape == stack.shape
    np.testing.assert_array_equal(out.origin_px, [0.0, 0.0])
    inner = (slice(5, -5), slice(5, -5))
    for frame in out.data:
        np.testing.assert_allclose(frame[inner], clean[inner], atol=1e-4)
    # wrapped-around borders are filled: frame 1 moved by (-1.25, +2.5) -> last 2 rows, first 3 cols
    assert np.all(out.data[1][-2:, :] == -1.0) and np.all(out.data[1][:, :3] == -1.0)
    assert np.all(out.data[1][:-2, 3:] > -1.0)


def test_fourier_apply_keeps_non_negative_data_non_negative(rng):
    counts = rng.poisson(0.3, (3, 64, 64)).astype(np.uint16)
    out = apply_shifts(counts, [[0, 0], [0.5, 0.5], [-0.3, 1.7]], dtype=np.uint16)
    assert out.data.dtype == np.uint16
    floats = apply_shifts(counts, [[0, 0], [0.5, 0.5], [-0.3, 1.7]]).data
    assert floats.min() >= 0.0


def test_crop_mode_uses_integer_shifts_and_common_field(rng):
    base = rng.random((40, 50)).astype(np.float32)
    drift = np.array([[0, 0], [2, -3], [-1, 4]])
    stack = np.stack([np.roll(base, d, axis=(0, 1)) for d in drift])
    out = apply_shifts(stack, -drift + 0.2, mode="crop")
    # corrected frames are the same crop of the reference grid: rows 1..38, cols 3..45
    np.testing.assert_array_equal(out.origin_px, [1, 3])
    assert out.data.shape == (3, 40 - 3, 50 - 7)
    assert out.data.dtype == np.float32
    for frame in out.data:
        np.testing.assert_array_equal(frame, base[1:38, 3:46])
    np.testing.assert_array_equal(out.shifts, -drift)


def test_crop_mode_rejects_drift_larger_than_frame(rng):
    stack = rng.random((2, 16, 16))
    with pytest.raises(ValueError, match="common"):
        apply_shifts(stack, [[0, 0], [20, 0]], mode="crop")


def test_points_follow_the_correction():
    shifts = np.array([[0.0, 0.0], [-2.0, 3.0]])
    raw = np.array([[1, 10.0, 20.0], [0, 5.0, 6.0]])
    corrected = transform_points(raw, shifts, origin_px=(0.0, 3.0))
    np.testing.assert_allclose(corrected, [[1, 8.0, 20.0], [0, 5.0, 3.0]])
    np.testing.assert_allclose(transform_points(corrected, shifts, (0.0, 3.0), inverse=True), raw)
    with pytest.raises(ValueError, match="frame"):
        transform_points([[2, 0.0, 0.0]], shifts)


def test_shifts_csv_round_trip(tmp_path, drifting, rng, synth):
    clean, drift = drifting
    result = estimate_drift(synth.drifting_series(clean[:96, :96], drift, noise=0.0, rng=rng))
    path = tmp_path / "shifts.csv"
    write_shifts_csv(path, result, pixel_size_nm=0.02)
    header = path.read_text().splitlines()[0].split(",")
    assert header == [
        "frame", "shift_y_px", "shift_x_px", "shift_y_nm", "shift_x_nm", "significance", "consistent", "failed"
    ]
    np.testing.assert_allclose(read_shifts_csv(path), result.shifts, atol=1e-7)
    write_shifts_csv(path, -drift)
    np.testing.assert_allclose(read_shifts_csv(path), -drift, atol=1e-7)


def test_bad_input_is_explained(rng):
    stack = rng.random((3, 32, 32))
    with pytest.raises(ValueError, match=r"\(t, y, x\)"):
        estimate_drift(stack[0])
    with pytest.raises(ValueError, match="estimate_on"):
        estimate_drift(stack, estimate_on=stack[:2])
    with pytest.raises(ValueError, match="reference"):
        estimate_drift(stack, reference="last")
    with pytest.raises(ValueError, match="shape"):
        apply_shifts(stack, np.zeros((2, 2)))
    with pytest.raises(ValueError, match="mode"):
        apply_shifts(stack, np.zeros((3, 2)), mode="spline")
    bad = stack.copy()
    bad[1, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        estimate_drift(bad)


def test_gaussian_prefilter_equals_estimating_on_filtered_copy(drifting, rng, synth):
    clean, drift = drifting
    stack = synth.drifting_series(clean[:128, :128], drift[:5], noise=0.3, rng=rng)
    filtered = ndi.gaussian_filter(stack.astype(np.float64), (0, 1.5, 1.5))
    a = estimate_drift(stack, prefilter_sigma_px=1.5)
    b = estimate_drift(stack, estimate_on=filtered)
    np.testing.assert_allclose(a.shifts, b.shifts, atol=1e-6)


def test_crystalline_particle_is_registered_not_flagged(rng, synth):
    # a lattice particle puts most power in a few Bragg spots, so its significance is low;
    # the half-frame consistency check must still accept the (correct) shifts
    coords = np.arange(-12.0, 140.0, 7.0)
    lattice = np.stack(np.meshgrid(coords, coords, indexing="ij"), axis=-1).reshape(-1, 2)
    particle = lattice[np.hypot(*(lattice - 64).T) < 40]
    drift = _random_walk(rng, 6, 0.8)
    frames = np.stack([synth.render_atoms(particle + d, (128, 128), 1.5) for d in drift])
    noisy = (frames + 0.1 * rng.standard_normal(frames.shape)).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DriftWarning)
        result = estimate_drift(noisy, prefilter_sigma_px=1.0)
    assert np.all(result.significance[1:] < 6.0)
    assert result.consistent[1:].all() and not result.failed.any()
    assert _rms(result.shifts + drift) <= 0.1
