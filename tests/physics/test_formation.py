"""Image formation for restoration training: specimens, imaging, detectors, noise laws, sampling."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from tem_denoise.physics.formation import SPECS, detector, hrtem, restore_pair, stem, structures
from tem_denoise.physics.noise_level import NoiseLevel, estimate_level, level_from_model, sigma_map
from tem_denoise.physics.noise_models import HRTEMNoise
from tem_denoise.sampling import factor_for, noise_gain, to_native, to_working, working_shape


@pytest.mark.parametrize("kind", sorted(structures.GENERATORS))
def test_every_specimen_kind_fills_its_field(kind):
    rng = np.random.default_rng(1)
    specimen = structures.GENERATORS[kind]((3.0, 4.0), rng)
    assert len(specimen.positions) > 5
    assert np.all(specimen.count >= 1) and np.all(specimen.z >= 5)
    inside = np.all((specimen.positions > -0.6) & (specimen.positions < np.array([3.6, 4.6])), axis=1)
    assert inside.all()


def test_haadf_columns_are_bright_where_the_atoms_are():
    rng = np.random.default_rng(2)
    specimen = structures.Structure(np.array([[1.0, 1.0], [1.0, 2.0]]), np.array([79.0, 6.0]), np.ones(2),
                                    (2.0, 3.0), "test")
    image = stem.haadf(specimen, (100, 150), 0.02, rng, {"fwhm_nm": 0.1, "tail": 0.0, "tail_scale": 3.0})
    heavy, light = image[49:51, 49:51].mean(), image[49:51, 99:101].mean()
    assert heavy > 10 * light > 0
    assert image[10, 10] < 1e-3


def test_hrtem_vacuum_is_one_and_atoms_give_contrast():
    rng = np.random.default_rng(3)
    specimen = structures.sheet((3.0, 3.0), rng)
    optics = {**hrtem.random_optics(rng), "defocus_nm": -10.0, "cs_nm": 0.0, "aperture_per_nm": None}
    vacuum = hrtem.hrtem(structures.Structure(np.zeros((0, 2)), np.zeros(0), np.zeros(0), (3.0, 3.0), "none"),
                         (60, 60), 0.05, rng, optics)
    image = hrtem.hrtem(specimen, (60, 60), 0.05, rng, optics)
    np.testing.assert_allclose(vacuum, 1.0, atol=1e-6)
    assert image.std() > 0.01


def _column_crystal(count: float) -> structures.Structure:
    """Gold columns of ``count`` atoms on a 0.3 nm square lattice, 3 x 3 nm."""
    grid = (np.stack(np.meshgrid(np.arange(10), np.arange(10), indexing="ij"), -1).reshape(-1, 2) + 0.5) * 0.3
    return structures.Structure(grid, np.full(len(grid), 79.0), np.full(len(grid), count), (3.0, 3.0), "test")


def test_multislice_slices_hold_every_atom_once():
    rng = np.random.default_rng(6)
    specimen = _column_crystal(30.0).joined(structures.amorphous((3.0, 3.0), rng, thickness_nm=2.0))
    slices, dz = hrtem.slice_counts(specimen, rng)
    assert 3 <= len(slices) <= hrtem.MAX_SLICES  # 30 atoms 0.2-0.35 nm apart: 6-10.5 nm
    assert dz <= hrtem.SLICE_NM
    np.testing.assert_allclose(np.sum(slices, axis=0), specimen.count)
    single = specimen.count < 2
    assert np.all(np.sum(np.stack(slices)[:, single] > 0, axis=0) == 1)  # single atoms: one slice each


def test_multislice_of_a_specimen_thinner_than_a_slice_is_the_phase_object():
    specimen = _column_crystal(3.0)
    phase_object = hrtem.exit_wave(specimen, (90, 90), 0.033, np.random.default_rng(7))
    multislice = hrtem.exit_wave(specimen, (90, 90), 0.033, np.random.default_rng(7), hrtem.WAVELENGTH_NM[300])
    np.testing.assert_allclose(multislice, phase_object)


def test_multislice_scatters_a_thick_crystal_dynamically():
    specimen = _column_crystal(40.0)
    phase_object = hrtem.exit_wave(specimen, (90, 90), 0.033, np.random.default_rng(8))
    multislice = hrtem.exit_wave(specimen, (90, 90), 0.033, np.random.default_rng(8), hrtem.WAVELENGTH_NM[200])
    assert np.mean(np.abs(multislice) ** 2) <= 1.0  # transmissions and propagators add no energy
    # the same absorption; little is scattered beyond the band limit (2/3 of Nyquist)
    assert 0.8 < np.mean(np.abs(multislice) ** 2) / np.mean(np.abs(phase_object) ** 2) <= 1.0
    assert np.sqrt(np.mean(np.abs(multislice - phase_object) ** 2)) > 0.1  # the wave spreads between slices


def test_the_propagator_defocuses_as_the_transfer_function_does():
    shape, pixel = (64, 64), 0.02
    optics = {"kv": 300, "cs_nm": 0.0, "defocus_nm": 3.0, "astigmatism_nm": 0.0, "astigmatism_angle": 0.0,
              "aperture_per_nm": None, "convergence_rad": 0.0, "focal_spread_nm": 0.0}
    propagator = hrtem._propagator(shape, pixel, hrtem.WAVELENGTH_NM[300], 3.0)
    inside = propagator != 0
    assert 0.3 < inside.mean() < 0.5  # the 2/3 band limit: a disc of radius 1/3 cycle/px
    np.testing.assert_allclose(propagator[inside], hrtem.transfer(shape, pixel, optics)[inside])


def test_training_crops_take_the_configured_multislice_share_and_phases(monkeypatch):
    from tem_denoise.engine.restore_training import RestoreConfig, training_example

    calls = []
    exit_wave = hrtem.exit_wave

    def recording(structure, shape, pixel_nm, rng, wavelength_nm=None, interaction=None):
        calls.append((wavelength_nm, interaction))
        return exit_wave(structure, shape, pixel_nm, rng, wavelength_nm, interaction)

    monkeypatch.setattr(hrtem, "exit_wave", recording)
    for share, physical in ((0.0, False), (1.0, True)):
        config = RestoreConfig("HRTEM", 0.02, size=24, multislice_share=share, physical_phase=physical)
        training_example(config, np.random.default_rng(10))
    assert calls[0] == (None, None)
    assert calls[1][0] in hrtem.WAVELENGTH_NM.values()
    kv = next(k for k, wavelength in hrtem.WAVELENGTH_NM.items() if wavelength == calls[1][0])
    assert calls[1][1] == hrtem.interaction_constant(kv)


def test_the_interaction_constant_is_the_textbook_one():
    assert hrtem.interaction_constant(200) == pytest.approx(7.29e-3, rel=2e-3)  # rad / (V nm), Kirkland's table
    assert hrtem.interaction_constant(80) / hrtem.interaction_constant(300) == pytest.approx(1.545, rel=2e-3)


def test_physical_phases_integrate_to_a_carbon_atom_s_projected_potential():
    """One carbon atom's phase, summed over the plane, is the interaction constant times its
    projected potential (times the specimen's random factor); the voltage-independent strength
    gives several times less."""
    atom = structures.Structure(np.array([[0.8, 0.8]]), np.array([6.0]), np.ones(1), (1.6, 1.6), "test")
    pixel = 0.01
    replay = np.random.default_rng(11)
    replay.uniform(0.02, 0.04)  # the atoms' width
    factor = replay.uniform(*hrtem.POTENTIAL_FACTOR)
    for kv in (80, 300):
        wave = hrtem.exit_wave(atom, (160, 160), pixel, np.random.default_rng(11),
                               interaction=hrtem.interaction_constant(kv))
        integrated = float(np.sum(np.angle(wave))) * pixel**2  # rad nm^2
        expected = hrtem.interaction_constant(kv) * hrtem.CARBON_POTENTIAL_V_NM3 * factor
        assert integrated == pytest.approx(expected, rel=1e-3)
    weak = hrtem.exit_wave(atom, (160, 160), pixel, np.random.default_rng(11))
    physical = hrtem.interaction_constant(300) * hrtem.CARBON_POTENTIAL_V_NM3
    assert float(np.sum(np.angle(weak))) * pixel**2 < 0.5 * physical


def test_physical_phases_give_a_graphene_sheet_percent_contrast():
    """A graphene-like sheet at 80 kV, aberration-corrected near Scherzer focus: a few percent of
    contrast with physical phases (abTEM's simulation of the outside benchmark: 4.9 %), a
    fraction of a percent with the voltage-independent strength."""
    rng = np.random.default_rng(12)
    a = 0.246
    positions, _ = structures._tile(np.array([0.0, a]), np.array([a * np.sqrt(3) / 2, a / 2]),
                                    np.array([[0.0, 0.0], [1 / 3, 1 / 3]]), (2.4, 2.4), rng)
    sheet = structures.Structure(positions, np.full(len(positions), 6.0), np.ones(len(positions)), (2.4, 2.4), "sheet")
    optics = {"kv": 80, "cs_nm": 0.02e6, "defocus_nm": 11.0, "astigmatism_nm": 0.0, "astigmatism_angle": 0.0,
              "aperture_per_nm": None, "convergence_rad": 1e-4, "focal_spread_nm": 2.0}
    contrast = {physical: [np.std(image) / np.mean(image) for image in
                           (hrtem.hrtem(sheet, (240, 240), 0.01, np.random.default_rng(seed), optics,
                                        physical_phase=physical) for seed in range(3))]
                for physical in (False, True)}
    assert all(0.02 < c < 0.15 for c in contrast[True])
    assert all(c < 0.02 for c in contrast[False])


def test_hrtem_pairs_by_multislice_are_valid_and_the_phase_object_stream_is_unchanged():
    spec = SPECS["HRTEM"]
    default = restore_pair(spec, (48, 48), np.random.default_rng(9), pixel_nm=0.03, dose=50.0)
    # sums made by the phase-object code before multislice existed (the bundled models' data)
    assert float(default.clean.astype(np.float64).sum()) == pytest.approx(5327255.8974609375, rel=1e-9)
    assert float(default.noisy.astype(np.float64).sum()) == pytest.approx(5325935.98815918, rel=1e-9)
    pair = restore_pair(replace(spec, multislice_share=1.0), (48, 48), np.random.default_rng(9), pixel_nm=0.03,
                        dose=50.0)
    assert np.all(np.isfinite(pair.noisy)) and pair.clean.min() > 0 and pair.clean.std() > 0


@pytest.mark.parametrize("record", [detector.linear_camera, detector.scintillator_stem, detector.counting_camera])
def test_detectors_follow_the_noise_law_they_report(record):
    rng = np.random.default_rng(4)
    flat = np.full((256, 256), 1.0)
    noisy, clean, level = record(flat, 40.0, rng)
    centre = noisy[16:-16, 16:-16]
    expected = float(level.sigma(np.array([clean.mean()], np.float32))[0]) ** 2
    residual = centre - centre.mean(axis=0, keepdims=True) + centre.mean()  # column offsets are part of the law
    assert np.var(centre) == pytest.approx(expected, rel=0.15) or np.var(residual) == pytest.approx(expected, rel=0.15)
    assert clean.mean() == pytest.approx(noisy.mean(), rel=0.05)


def test_counting_pairs_are_whole_poisson_counts():
    pair = restore_pair(SPECS["HRTEM-counting"], (64, 64), np.random.default_rng(5), pixel_nm=0.03, dose=2.0)
    assert np.all(pair.noisy == np.round(pair.noisy)) and pair.noisy.min() >= 0
    assert pair.level.gain == 1.0 and pair.level.offset == 0.0


@pytest.mark.parametrize("modality", sorted(SPECS))
def test_pairs_have_the_requested_shape_and_differ_only_by_noise(modality):
    pair = restore_pair(SPECS[modality], (48, 56), np.random.default_rng(6), dose=1000.0)
    assert pair.noisy.shape == pair.clean.shape == (48, 56)
    sigma = sigma_map(pair.clean, pair.level)
    assert np.mean(np.abs(pair.noisy - pair.clean) / sigma) < 2.0


def test_estimated_noise_level_recovers_a_poisson_gaussian_law():
    rng = np.random.default_rng(7)
    ramp = np.tile(np.linspace(100, 2000, 256, dtype=np.float32), (256, 1))
    noisy = ramp + rng.normal(0, 1, ramp.shape) * np.sqrt(3.0 * ramp + 400.0)
    level = estimate_level(noisy)
    assert level.gain == pytest.approx(3.0, rel=0.15)
    assert np.sqrt(level.offset) == pytest.approx(20.0, rel=0.3)


def test_noise_level_follows_a_linear_change_of_the_data():
    level = NoiseLevel(2.0, 9.0, "test")
    changed = level.scaled(4.0, 10.0)
    intensity = np.array([5.0, 50.0], np.float32)
    np.testing.assert_allclose(changed.sigma(4 * intensity + 10), 4 * level.sigma(intensity), rtol=1e-5)


def test_calibrated_model_gives_its_own_law():
    model = HRTEMNoise(k=0.05, b=2.0, sigma_c=1.0)
    level = level_from_model(model)
    assert level.source == "calibration"
    np.testing.assert_allclose(level.sigma(np.array([100.0], np.float32)), np.sqrt(7.0**2 + 1.0), rtol=1e-5)


def test_resampling_keeps_the_field_and_lowers_noise():
    assert factor_for(0.01, 0.02) == 2.0 and factor_for(0.03, 0.02) == 1.0
    frame = np.random.default_rng(8).standard_normal((200, 300)).astype(np.float32)
    down = to_working(frame, 2.5)
    assert down.shape == working_shape(frame.shape, 2.5) == (80, 120)
    assert down[8:-8, 8:-8].std() == pytest.approx(noise_gain(2.5), rel=0.1)
    assert 0.15 < noise_gain(2.5) < 0.5 and noise_gain(1.0) == 1.0
    assert to_native(down, frame.shape).shape == frame.shape
    smooth = np.outer(np.sin(np.linspace(0, 3, 200)), np.cos(np.linspace(0, 2, 300))).astype(np.float32)
    assert np.abs(to_native(to_working(smooth, 2.0), smooth.shape) - smooth)[5:-5, 5:-5].max() < 0.02
