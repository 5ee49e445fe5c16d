"""File > Open through the plugin's reader in a real napari viewer (Xvfb)."""

from __future__ import annotations

import numpy as np
import pytest
import zarr

from tem_denoise import io

pytestmark = pytest.mark.gui


def _open(viewer, path):
    layers = viewer.open(str(path), plugin="napari-tem-denoise")
    assert layers, "the reader returned no layers"
    return layers


def test_calibrated_stack_opens_as_t_y_x_in_nm(make_napari_viewer, tmp_path, small_stack):
    path = io.write(small_stack, tmp_path / "frames.tif")
    viewer = make_napari_viewer(show=True)
    (layer,) = _open(viewer, path)
    assert layer.data.shape == (4, 40, 56)
    assert tuple(layer.axis_labels) == ("t", "y", "x")
    assert [str(u) for u in layer.units] == ["second", "nanometer", "nanometer"]
    np.testing.assert_allclose(layer.scale, (0.1, 0.05, 0.05), rtol=1e-6)
    assert layer.metadata["provenance"]["source"] == str(path)
    low, high = layer.contrast_limits
    assert 0 < low < high <= small_stack.data.max()
    shot = viewer.screenshot(canvas_only=True, flash=False)
    assert shot.shape[2] == 4 and shot[..., :3].max() > 200, "the canvas shows the bright disc"


@pytest.mark.realdata
def test_velox_stack_file_open(make_napari_viewer, real):
    viewer = make_napari_viewer(show=True)
    (layer,) = _open(viewer, real("velox_stack"))
    assert layer.ndim == 3 and tuple(layer.axis_labels) == ("t", "y", "x")
    assert str(layer.units[-1]) == "nanometer"
    np.testing.assert_allclose(layer.scale[-1], 0.008172883192297852)
    assert layer.metadata["modality"] == "HRTEM"


@pytest.mark.realdata
def test_velox_file_with_several_images_gives_several_layers(make_napari_viewer, real):
    viewer = make_napari_viewer(show=True)
    with pytest.warns(io.SkippedDatasetWarning):
        layers = _open(viewer, real("velox_dpc"))
    assert {"iDPC", "DF4-A", "B-D"} <= {layer.name for layer in layers}


def test_writer_saves_layer_as_calibrated_tiff(make_napari_viewer, tmp_path, small_stack):
    viewer = make_napari_viewer()
    (layer,) = _open(viewer, io.write(small_stack, tmp_path / "in.tif"))
    out = tmp_path / "saved.tif"
    written = viewer.layers.save(str(out), selected=False, plugin="napari-tem-denoise")
    assert written == [str(out)]
    back = io.read(out)
    assert back.calibration.pixel_size == pytest.approx((0.05,) * 2, rel=1e-6)
    np.testing.assert_array_equal(np.asarray(back.data), small_stack.data)


def test_an_ome_zarr_folder_opens_lazily_in_nm(make_napari_viewer, tmp_path, small_stack):
    from tem_denoise.io import ngff
    from tem_denoise.napari_hooks import get_reader

    store = tmp_path / "frames_denoised.ome.zarr"
    ngff.create(store, small_stack, io.provenance(small_stack, model="gaussian-3d"))
    zarr.open_array(store / ngff.ARRAY, mode="r+")[...] = small_stack.data
    (tmp_path / "plain").mkdir()
    assert get_reader(str(tmp_path / "plain")) is None and get_reader(str(store)) is not None
    viewer = make_napari_viewer(show=True)
    (layer,) = _open(viewer, store)
    assert layer.data.shape == (4, 40, 56) and tuple(layer.axis_labels) == ("t", "y", "x")
    assert [str(u) for u in layer.units] == ["second", "nanometer", "nanometer"]
    np.testing.assert_allclose(layer.scale, (0.1, 0.05, 0.05), rtol=1e-6)
    assert layer.metadata["provenance"]["written_by"]["model"] == "gaussian-3d"
    assert layer.source.reader_plugin == "napari-tem-denoise"
    shot = viewer.screenshot(canvas_only=True, flash=False)
    assert shot[..., :3].max() > 200, "the canvas shows the bright disc"
