"""Noise-calibration dock in a real viewer: vacuum sample -> fit -> plots -> JSON -> preview.

The dock's form is the options of ``tem-denoise calibrate`` (CalibrateOptions)."""

from __future__ import annotations

import numpy as np
import pytest

from tem_denoise import physics
from tem_denoise.operations.calibrate import CalibrateOptions

pytestmark = pytest.mark.gui


@pytest.fixture
def dock(make_napari_viewer, qtbot):
    viewer = make_napari_viewer(show=True)
    viewer.open_sample("napari-tem-denoise", "vacuum")
    _, widget = viewer.window.add_plugin_dock_widget("napari-tem-denoise", "Noise calibration")
    return viewer, widget


def _run(widget, qtbot):
    widget.runner.start()
    qtbot.waitUntil(lambda: not widget.runner.running, timeout=60000)


def test_vacuum_calibration_round_trip(dock, qtbot, tmp_path):
    viewer, widget = dock
    widget.stacks.value = list(viewer.layers)
    assert widget.currents.value == "1, 1.2, 1.4, 1.6, 1.8, 2"
    assert widget.form.options() == CalibrateOptions(currents=(1, 1.2, 1.4, 1.6, 1.8, 2))
    assert not widget.plot.shown  # no empty axes before the first fit
    _run(widget, qtbot)
    model = widget.model
    assert isinstance(model, physics.HRTEMNoise)
    assert model.k == pytest.approx(0.03583, rel=0.05)
    assert model.b == pytest.approx(1.379, rel=0.05)
    assert model.sigma_c == pytest.approx(0.6641, rel=0.05)
    assert len(widget.figure.axes) == 4 and widget.figure.axes[0].lines and widget.plot.shown
    assert "R2" in widget.summary.value

    saved = widget.save_model(tmp_path / "noise.json")
    widget.load_model(saved)
    assert widget.model == model

    n_before = len(viewer.layers)
    added = widget.preview_synthetic()
    assert len(viewer.layers) == n_before + 3
    assert [layer.name for layer in added] == ["synthetic (atom map)", "synthetic (clean)", "synthetic (noisy)"]
    for layer in added:
        np.testing.assert_allclose(layer.scale, viewer.layers[0].scale[-2:])
        assert str(layer.units[-1]) == "nanometer"


def test_single_images_and_bad_currents_are_refused(dock, qtbot):
    viewer, widget = dock
    viewer.add_image(np.ones((32, 32), np.float32), name="one frame")
    widget.stacks.value = [viewer.layers["one frame"]]
    widget.runner.start()
    assert not widget.runner.running and "single image" in widget.runner.status.value
    widget.stacks.value = [layer for layer in viewer.layers if layer.name.startswith("vacuum")][:3]
    widget.currents.value = "1, 2"
    widget.runner.start()
    assert not widget.runner.running and "one beam current per vacuum stack: 3 stacks, 2 currents" \
        in widget.runner.status.value
    widget.currents.value = "1, 2, x"
    widget.runner.start()
    assert "currents (nA): give one or more numbers separated by commas" in widget.runner.status.value
    widget.currents.value = "1, 2, 0"
    widget.runner.start()
    assert "beam currents must be positive numbers" in widget.runner.status.value
    assert widget.model is None


def test_stem_calibration_from_haadf_sample(make_napari_viewer, qtbot):
    viewer = make_napari_viewer(show=True)
    viewer.open_sample("napari-tem-denoise", "haadf")
    _, widget = viewer.window.add_plugin_dock_widget("napari-tem-denoise", "Noise calibration")
    widget.mode.value = "haadf"
    assert not widget.image.native.isHidden() and widget.stacks.native.isHidden()
    widget.image.value = viewer.layers["HAADF (noisy)"]
    assert widget.form.options() == CalibrateOptions(stem="haadf")
    _run(widget, qtbot)
    assert isinstance(widget.model, physics.STEMNoise), widget.runner.status.value
    assert "scan_sigma" in widget.report.lines
