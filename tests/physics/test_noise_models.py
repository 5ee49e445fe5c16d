"""Noise models: JSON round trip, shapes, reproducibility and their statistics."""

import json

import numpy as np
import pytest
from scipy import stats

from tem_denoise.physics import (
    NOISE_MODELS,
    BackgroundBrightnessNoise,
    Counting,
    GaussianNoise,
    GaussianSaltPepperNoise,
    HRTEMNoise,
    SaltPepperNoise,
    STEMNoise,
    load_noise_model,
    noise_model_from_dict,
    row_correlated_noise,
    tukey_lambda_noise,
)
from tem_denoise.physics.noise_models import FORMAT_VERSION

MODELS = [
    HRTEMNoise(k=0.05, b=1.1, sigma_c=0.5, gain=7.5, offset=0.3),
    STEMNoise.bf(),
    STEMNoise(value_range=None, tukey_lambda=0.1),
    Counting(dose_e_per_px=3.0, gain=2.0, offset=1.0, read_sigma=0.5),
    GaussianNoise(0.15, 255.0),
    SaltPepperNoise(0.02),
    GaussianSaltPepperNoise(0.1, 0.03),
    BackgroundBrightnessNoise(c_noise=0.1, grid=4),
]


def test_every_kind_is_covered():
    assert {type(m).kind for m in MODELS} == set(NOISE_MODELS)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.kind)
def test_json_round_trip(model, tmp_path):
    path = model.save(tmp_path / "noise.json")
    data = json.loads(path.read_text())
    assert data["format_version"] == FORMAT_VERSION and data["kind"] == model.kind
    assert load_noise_model(path) == model


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.kind)
def test_apply_shape_dtype_and_seed(model):
    clean = np.linspace(0.1, 0.9, 32 * 40, dtype=np.float32).reshape(32, 40)
    clean = clean * (200.0 if isinstance(model, (STEMNoise, HRTEMNoise)) else 1.0)
    a = model.apply(clean, 7)
    b = model.apply(clean, 7)
    c = model.apply(clean, 8)
    assert a.shape == clean.shape and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_bad_files_are_refused(tmp_path):
    with pytest.raises(ValueError, match="format_version"):
        noise_model_from_dict({"format_version": 99, "kind": "hrtem", "params": {}})
    with pytest.raises(ValueError, match="unknown noise-model kind"):
        noise_model_from_dict({"format_version": 1, "kind": "nope", "params": {}})
    with pytest.raises(ValueError, match="unknown parameters"):
        noise_model_from_dict({"format_version": 1, "kind": "hrtem", "params": {"q": 1}})
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_noise_model(bad)


def test_hrtem_noise_statistics():
    model = HRTEMNoise()
    clean = np.broadcast_to(np.repeat(np.array([4.0, 20.0], np.float32), 64)[None, None, :], (40, 128, 128))
    noisy = model.apply(clean, 0)
    resid = noisy - clean
    columns = resid.mean(axis=1)
    point = resid - columns[:, None, :]
    sigma_c = np.sqrt(columns.var() - (point.var() / 128))
    assert sigma_c == pytest.approx(0.6641, rel=0.05)
    for level in (4.0, 20.0):
        sel = clean[0, 0] == level
        assert point[:, :, sel].std() == pytest.approx(0.03583 * level + 1.379, rel=0.02)


def test_stem_pointwise_is_tukey_lambda_with_linear_sigma():
    model = STEMNoise(scan_k=0.0, scan_b=0.0, value_range=None, tukey_lambda=0.3)
    clean = np.full((256, 256), 100.0, np.float32)
    resid = model.apply(clean, 1) - clean
    assert resid.std() == pytest.approx(0.07 * 100 + 11.35, rel=0.02)
    lam = stats.ppcc_max(resid.ravel()[:40000], brack=(-0.2, 0.5), dist="tukeylambda")
    assert lam == pytest.approx(0.3, abs=0.04)


def test_scan_noise_follows_gradient_and_rows():
    model = STEMNoise(pointwise_k=0.0, pointwise_b=0.0, value_range=None, scan_gradient_sigma_px=0.0)
    ramp = np.tile(np.arange(256, dtype=np.float32) * 0.5, (256, 1))
    resid = model.apply(ramp, 2) - ramp
    core = resid[:, 8:-8]
    assert core.std() == pytest.approx(0.11 * 8 * 0.5 + 4.76, rel=0.05)
    row_corr = np.corrcoef(core[:, :-1].ravel(), core[:, 1:].ravel())[0, 1]
    col_corr = np.corrcoef(core[:-1].ravel(), core[1:].ravel())[0, 1]
    assert row_corr > 0.9 and abs(col_corr) < 0.05


def test_unit_variance_helpers():
    field = row_correlated_noise((512, 300), 10, 0)
    assert field.std() == pytest.approx(1.0, rel=0.02)
    assert np.abs(field.std(axis=0) - 1).max() < 0.15
    assert tukey_lambda_noise((200000,), 0.27, 0).std() == pytest.approx(1.0, rel=0.02)


def test_counting_is_poisson_at_the_dose():
    model = Counting(dose_e_per_px=2.5)
    clean = np.ones((300, 300), np.float32) * 7.0
    noisy = model.apply(clean, 0)
    assert np.all(noisy == np.round(noisy))
    assert noisy.mean() == pytest.approx(2.5, rel=0.01)
    assert noisy.var() == pytest.approx(2.5, rel=0.03)
    np.testing.assert_allclose(model.expected(clean), 2.5)
    with pytest.raises(ValueError, match="non-negative"):
        Counting().apply(-clean)


def test_seed003_noise_types():
    clean = np.zeros((128, 128), np.float32)
    clean[:, 64:] = 1.0
    sp = SaltPepperNoise(0.1).apply(clean, 0)
    flipped = sp != clean
    assert flipped.mean() == pytest.approx(0.1, abs=0.01)
    assert np.all(sp[:, :64][flipped[:, :64]] == 1.0) and np.all(sp[:, 64:][flipped[:, 64:]] == 0.0)
    g = GaussianNoise(0.2).apply(np.full((128, 128), 0.5, np.float32), 0)
    assert g.min() >= 0 and g.max() <= 1 and g.std() == pytest.approx(0.2, rel=0.05)
    bb = BackgroundBrightnessNoise(c_noise=0.0, grid=4)
    dark = bb.apply(np.zeros((64, 64), np.float32), 0)
    levels = dark[::16, ::16]
    assert levels.shape == (4, 4) and 0.2 * 0.4 - 0.1 < levels.min() and levels.max() < 0.2 * 1.2 + 0.1
    assert np.allclose(dark[:16, :16], dark[0, 0])


def test_a_cameras_noise_spectrum_is_checked_and_old_files_still_load():
    with pytest.raises(ValueError, match="mtf_f2"):
        HRTEMNoise(noise_spectrum=(0.0, 0.3))
    with pytest.raises(ValueError, match="white share"):
        HRTEMNoise(noise_spectrum=(0.18, 1.5))
    with pytest.raises(ValueError, match="mtf_f2, white_share"):
        HRTEMNoise(noise_spectrum=(0.18,))
    with pytest.raises(ValueError, match="law"):
        HRTEMNoise(law="cubic")
    version_one = {"format_version": 1, "kind": "hrtem", "params": {"k": 0.1, "b": 1.0, "sigma_c": 0.5}}
    model = noise_model_from_dict(version_one)
    assert model.law == "sigma" and model.noise_spectrum is None
