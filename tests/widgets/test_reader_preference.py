"""Files opened in napari without naming a plugin (drag and drop, File > Open, ``napari FILE``,
``viewer.open(path, plugin=None)``) go to this plugin's reader and keep their nm calibration,
unless the user's preferences already name another reader."""

from __future__ import annotations

import numpy as np
import pytest
from npe2 import PluginManager
from qtpy.QtCore import QUrl

from hyperspy_writer import axis, write_hspy
from tem_denoise import io
from tem_denoise.napari_hooks import PLUGIN_NAME, file_patterns

pytestmark = pytest.mark.gui


@pytest.fixture
def new_session(make_napari_viewer):
    """A viewer with napari's preferences at their defaults and the plugin not yet used in
    this session (as after starting napari)."""
    from napari.settings import get_settings

    viewer = make_napari_viewer()
    assert get_settings().plugins.extension2reader == {}
    PluginManager.instance().deactivate(PLUGIN_NAME)
    return viewer


def _use_the_plugin(viewer):
    """What a user does first: open one of the plugin's docks (napari activates the plugin)."""
    viewer.window.add_plugin_dock_widget(PLUGIN_NAME, "Power spectrum (FFT)")


def _drop(viewer, path):
    """Drag and drop ``path`` onto the canvas (QtViewer.dropEvent without the Qt event)."""
    before = len(viewer.layers)
    viewer.window._qt_viewer._open_from_list_of_urls_data(
        [QUrl.fromLocalFile(str(path))], stack=False, choose_plugin=False)
    return list(viewer.layers)[before:]


def test_tif_dropped_or_opened_without_a_plugin_keeps_nm(new_session, tmp_path, small_stack):
    from napari.settings import get_settings

    viewer = new_session
    path = io.write(small_stack, tmp_path / "frames.tif")
    _use_the_plugin(viewer)
    assert get_settings().plugins.extension2reader == dict.fromkeys(file_patterns(), PLUGIN_NAME)

    (dropped,) = _drop(viewer, path)
    (opened,) = viewer.open(str(path), plugin=None)
    for layer in (dropped, opened):
        assert layer.source.reader_plugin == PLUGIN_NAME
        assert [str(u) for u in layer.units] == ["second", "nanometer", "nanometer"]
        np.testing.assert_allclose(layer.scale, (0.1, 0.05, 0.05), rtol=1e-6)


def test_a_reader_the_user_chose_is_kept(new_session, tmp_path, small_stack):
    from napari.settings import get_settings

    viewer = new_session
    get_settings().plugins.extension2reader = {"*.tif": "napari"}
    path = io.write(small_stack, tmp_path / "frames.tif")
    _use_the_plugin(viewer)
    chosen = get_settings().plugins.extension2reader
    assert chosen["*.tif"] == "napari" and chosen["*.emd"] == PLUGIN_NAME

    (layer,) = _drop(viewer, path)
    assert layer.source.reader_plugin == "napari"
    assert tuple(layer.scale) == (1.0, 1.0, 1.0)


def test_without_a_preference_napari_asks_and_viewer_open_uses_napari(new_session, tmp_path, small_stack):
    """What napari does before the plugin has been used in a session: two readers claim
    ``*.tif``, so napari asks (``plugin=None``); ``viewer.open(path)`` names napari's reader."""
    from napari.components.viewer_model import MultipleReaderError

    viewer = new_session
    path = io.write(small_stack, tmp_path / "frames.tif")
    with pytest.raises(MultipleReaderError):
        viewer.open(str(path), plugin=None)
    (layer,) = viewer.open(str(path))
    assert layer.source.reader_plugin == "napari" and tuple(layer.scale) == (1.0, 1.0, 1.0)


def test_hyperspy_stack_dropped_opens_in_nm(new_session, tmp_path):
    """No other reader claims ``.hspy``: napari uses this plugin's reader at once."""
    data = np.arange(2 * 6 * 7, dtype=np.float32).reshape(2, 6, 7)
    path = write_hspy(tmp_path / "series.hspy", data,
                       [axis("Time", "s", 0.5, navigate=True), axis("y", "nm", 0.02), axis("x", "nm", 0.02)])
    (layer,) = _drop(new_session, path)
    assert layer.source.reader_plugin == PLUGIN_NAME and tuple(layer.axis_labels) == ("t", "y", "x")
    assert [str(u) for u in layer.units] == ["second", "nanometer", "nanometer"]
    np.testing.assert_allclose(layer.scale, (0.5, 0.02, 0.02))


@pytest.mark.realdata
def test_velox_frames_beside_a_spectrum_image_drop_as_a_stack(new_session, real):
    (layer,) = _drop(new_session, real("velox_si"))
    assert layer.name == "HAADF" and layer.data.shape == (5, 16, 16)
    assert layer.metadata["modality"] == "STEM-HAADF"
    assert [str(u) for u in layer.units] == ["second", "nanometer", "nanometer"]
