"""Fixtures of the dock tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def sample_dock(make_napari_viewer):
    """``make(name) -> (viewer, widget)``: a real viewer holding the plugin's HRTEM sample movie
    and the plugin's dock ``name``."""

    def make(name: str):
        viewer = make_napari_viewer(show=True)
        viewer.open_sample("napari-tem-denoise", "hrtem_series")
        _, widget = viewer.window.add_plugin_dock_widget("napari-tem-denoise", name)
        return viewer, widget

    return make
