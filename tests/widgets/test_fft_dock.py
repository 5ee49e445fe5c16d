"""FFT dock in a real viewer: spectrum layer in 1/nm, Bragg peaks, ROI, line scan, frame follow."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.gui

PIXEL_NM = 0.05
SIZE = 128
PERIODS_PX = (8.0, 16.0)  # fringes along x in frame 0 and frame 1: d = 0.4 nm and 0.8 nm


def _fringes():
    x = np.arange(SIZE)
    frames = [np.broadcast_to(10 + np.cos(2 * np.pi * x / p), (SIZE, SIZE)) for p in PERIODS_PX]
    noise = np.random.default_rng(0).normal(0, 0.2, (2, SIZE, SIZE))
    return (np.stack(frames) + noise).astype(np.float32)


def test_spectrum_peaks_roi_and_line_scan(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer(show=True)
    image = viewer.add_image(_fringes(), name="fringes", scale=(1, PIXEL_NM, PIXEL_NM),
                             units=("s", "nm", "nm"), axis_labels=("t", "y", "x"))
    _, widget = viewer.window.add_plugin_dock_widget("napari-tem-denoise", "Power spectrum (FFT)")
    widget.layer.value = image
    viewer.dims.set_current_step(0, 0)
    widget.compute()

    spectrum = viewer.layers["fringes FFT"]
    step = 1 / (SIZE * PIXEL_NM)
    np.testing.assert_allclose(spectrum.scale, (step, step))
    np.testing.assert_allclose(spectrum.translate, (-SIZE / 2 * step, -SIZE / 2 * step))
    assert str(spectrum.units[0]) == "1 / nanometer"
    peaks = viewer.layers["fringes Bragg peaks"]
    np.testing.assert_allclose(peaks.scale, spectrum.scale)
    assert len(peaks.data) == 2  # the Friedel pair of the fringes
    np.testing.assert_allclose(peaks.features["d_spacing"], 0.4, rtol=0.01)
    np.testing.assert_allclose(np.abs(peaks.features["kx"]), 2.5, rtol=0.01)
    assert "d = 0.4 nm" in widget.peaks_label.value
    widget.streak_bins.value = 20  # the fringes' peaks sit 16 bins from kx = 0: now skipped
    widget.compute()
    assert len(viewer.layers["fringes Bragg peaks"].data) == 0 and "No Bragg peaks" in widget.peaks_label.value
    widget.streak_bins.value = 0
    widget.compute()

    shapes = widget.start_line()
    profile = widget.profile
    assert profile.unit == "1/nm"
    centred = profile.distance - profile.distance[-1] / 2
    strongest = centred[np.argsort(profile.values)[-2:]]
    np.testing.assert_allclose(np.sort(np.abs(strongest)), [2.5, 2.5], atol=step)
    assert "1/nm" in widget.plot.figure.axes[0].get_xlabel()
    shapes.data = [np.array([[64.0, 40.0], [64.0, 88.0]])]  # a shorter line: the plot follows
    assert widget.profile.distance[-1] == pytest.approx(48 * step, rel=0.02)

    viewer.dims.set_current_step(0, 1)  # the spectrum follows the frame slider
    np.testing.assert_allclose(viewer.layers["fringes Bragg peaks"].features["d_spacing"], 0.8, rtol=0.02)

    roi = widget.start_roi()
    roi.add_rectangles(np.array([[0.0, 0.0], [32.0, 64.0]]))
    widget.compute()
    assert widget.spectrum.data.shape == (32, 64)
    np.testing.assert_allclose(viewer.layers["fringes FFT"].scale, (1 / (32 * PIXEL_NM), 1 / (64 * PIXEL_NM)))
    assert widget.export_peaks(tmp_path / "peaks.csv").read_text().startswith("y_px,x_px,ky,kx,k,d_spacing")
