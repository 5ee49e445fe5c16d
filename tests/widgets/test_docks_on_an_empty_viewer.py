"""Every dock opens before any image is loaded (a user often opens the dock first), and
picks the image up when one arrives."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.gui

DOCKS = ["Denoise", "Fine-tune on this stack", "Noise calibration", "Drift correction", "Atom positions",
         "Line-scan contrast", "Power spectrum (FFT)", "No-reference quality"]


@pytest.mark.parametrize("name", DOCKS)
def test_a_dock_opens_on_an_empty_viewer(make_napari_viewer, name):
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget("napari-tem-denoise", name)
    assert widget is not None
    viewer.open_sample("napari-tem-denoise", "hrtem_series")  # a stack: every dock can take it
    if hasattr(widget, "layer"):  # the image box fills as the layers arrive
        assert widget.layer.value in list(viewer.layers)
