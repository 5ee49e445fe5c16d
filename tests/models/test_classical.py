"""Classical baselines: the network interface, known-truth behaviour."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage, signal

from tem_denoise.models.classical import Gaussian2D, Gaussian3D, Wiener


def test_gaussian_2d_is_scipy_gaussian_per_frame():
    rng = np.random.default_rng(0)
    x = rng.random((2, 1, 17, 23)).astype(np.float32)
    out = Gaussian2D(sigma=1.2)(x)
    assert out.shape == x.shape and out.dtype == np.float32
    np.testing.assert_allclose(out[1, 0], ndimage.gaussian_filter(x[1, 0], 1.2), rtol=1e-5, atol=1e-6)


def test_gaussian_3d_weights_frames_and_equals_2d_on_a_static_scene():
    g = Gaussian3D(sigma=1.0, sigma_t=1.0)
    assert g.temporal_window == 5
    np.testing.assert_allclose(g.temporal_weights.sum(), 1.0, rtol=1e-6)
    assert g.temporal_weights[2] == g.temporal_weights.max()
    frame = np.random.default_rng(1).random((13, 11)).astype(np.float32)
    static = np.repeat(frame[None, None], 5, axis=1)
    np.testing.assert_allclose(g(static)[0, 0], Gaussian2D(1.0)(frame[None, None])[0, 0], rtol=1e-5, atol=1e-6)
    ramp = np.arange(5, dtype=np.float32)[None, :, None, None] * np.ones((1, 5, 4, 4), np.float32)
    np.testing.assert_allclose(g(ramp), 2.0, rtol=1e-5)  # symmetric weights keep the centre of a linear ramp


def test_wiener_matches_scipy_inside_the_frame_and_is_safe_on_flat_frames():
    rng = np.random.default_rng(2)
    x = (rng.normal(size=(30, 30)) + 5).astype(np.float32)
    ours = Wiener(size=5, noise=0.8)(x[None, None])[0, 0]
    np.testing.assert_allclose(ours[2:-2, 2:-2], signal.wiener(x.astype(np.float64), 5, 0.8)[2:-2, 2:-2],
                               rtol=1e-5, atol=1e-5)
    flat = np.full((2, 1, 9, 9), 3.0, np.float32)
    np.testing.assert_array_equal(Wiener()(flat), flat)


def test_bad_windows_and_parameters_are_refused():
    with pytest.raises(ValueError, match=r"\(B, 1, H, W\)"):
        Gaussian2D()(np.zeros((3, 4), np.float32))
    with pytest.raises(ValueError, match="sigma"):
        Gaussian2D(sigma=0)
    with pytest.raises(ValueError, match="odd"):
        Wiener(size=4)
