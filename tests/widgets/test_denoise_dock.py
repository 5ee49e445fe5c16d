"""Denoise dock in a real viewer: preview, denoise a stack, cancel, model defaults by modality."""

from __future__ import annotations

import numpy as np
import pytest

from tem_denoise.models.registry import default_model_name

pytestmark = pytest.mark.gui


@pytest.fixture
def dock(sample_dock):
    viewer, widget = sample_dock("Denoise")
    widget.layer.value = viewer.layers["HRTEM nucleation (noisy)"]
    return viewer, widget


def _wait(runner, qtbot, timeout=120_000):
    qtbot.waitUntil(lambda: not runner.running, timeout=timeout)


def test_default_model_follows_modality(dock):
    viewer, widget = dock
    assert widget.model.value == default_model_name("HRTEM", 16)
    viewer.open_sample("napari-tem-denoise", "haadf")
    widget.layer.value = viewer.layers["HAADF (noisy)"]
    assert widget.model.value == default_model_name("STEM-HAADF", 1)
    assert "Output:" in widget.about.value


def test_a_movie_of_electron_counts_gets_the_counting_model_and_is_restored(dock, qtbot):
    viewer, widget = dock
    viewer.open_sample("napari-tem-denoise", "counting_series")
    source = viewer.layers["HRTEM counting movie (noisy)"]
    clean = viewer.layers["HRTEM counting movie (clean)"].data
    widget.layer.value = source
    assert widget.model.value == default_model_name("HRTEM-counting", 32) == "unet-counting"
    widget.run.start()
    _wait(widget.run, qtbot)
    out = viewer.layers["HRTEM counting movie (noisy) (denoised: unet-counting)"]
    assert out.data.shape == source.data.shape
    error_before = np.sqrt(np.mean((source.data - clean) ** 2))
    error_after = np.sqrt(np.mean((out.data - clean) ** 2))
    assert error_after < error_before / 4  # in the input's units (electron counts)


def test_a_multiscale_layer_is_judged_by_its_full_resolution_level(dock):
    viewer, widget = dock
    frame = np.random.default_rng(0).poisson(2.0, (64, 64)).astype(np.float32)
    widget.layer.value = viewer.add_image([frame, frame[::2, ::2]], multiscale=True, name="pyramid")
    # one frame of counts that no file calls HRTEM may be STEM: it keeps the unknown modality
    assert widget.model.value == default_model_name(None, 1)
    widget.modality.value = "STEM-HAADF"
    assert widget.model.value == default_model_name("STEM-HAADF", 1)


def test_denoise_stack_adds_calibrated_layer_and_keeps_input(dock, qtbot):
    viewer, widget = dock
    source = viewer.layers["HRTEM nucleation (noisy)"]
    before = np.asarray(source.data).copy()
    widget.model.value = "gaussian-3d"
    widget.run.start()
    _wait(widget.run, qtbot)
    out = viewer.layers["HRTEM nucleation (noisy) (denoised: gaussian-3d)"]
    assert out.data.shape == source.data.shape
    for key in ("scale", "translate"):
        np.testing.assert_allclose(getattr(out, key), getattr(source, key))
    assert tuple(out.units) == tuple(source.units) and tuple(out.axis_labels) == tuple(source.axis_labels)
    history = out.metadata["provenance"]["history"]
    assert history[-1]["model"] == "gaussian-3d" and "package_version" in history[-1]
    np.testing.assert_array_equal(np.asarray(source.data), before)
    assert np.std(out.data[3]) < np.std(before[3])


def test_preview_current_frame(dock, qtbot):
    viewer, widget = dock
    viewer.dims.set_current_step(0, 5)
    widget.model.value = "gaussian-2d"
    widget.preview.start()
    _wait(widget.preview, qtbot)
    preview = viewer.layers["HRTEM nucleation (noisy) (preview: gaussian-2d)"]
    assert preview.data.shape == (256, 256)
    assert preview.metadata["provenance"]["history"][-1]["preview_of"] == "frame 5"
    np.testing.assert_allclose(preview.scale, viewer.layers["HRTEM nucleation (noisy)"].scale[-2:])


def test_cancel_leaves_no_half_layer(dock, qtbot):
    viewer, widget = dock
    big = np.random.default_rng(0).poisson(3.0, size=(400, 128, 128)).astype(np.float32)
    viewer.add_image(big, name="long stack")
    widget.layer.value = viewer.layers["long stack"]
    widget.model.value = "wiener"
    n_layers = len(viewer.layers)
    widget.run.start()
    qtbot.waitUntil(lambda: widget.run.progress.value >= 1, timeout=60_000)
    widget.run.cancel()
    _wait(widget.run, qtbot)
    assert len(viewer.layers) == n_layers
    assert widget.run.status.value.startswith("Cancelled")


def test_rgb_layer_is_refused_with_a_message(dock):
    viewer, widget = dock
    viewer.add_image(np.zeros((16, 16, 3), np.uint8), name="colour", rgb=True)
    widget.layer.value = viewer.layers["colour"]
    widget.run.start()
    assert not widget.run.running and "RGB" in widget.run.status.value


def test_labels_say_image_or_stack_and_tile_defaults_to_the_models(dock):
    viewer, widget = dock
    assert widget.run.button.text == "Denoise stack" and widget.preview.button.text == "Preview current frame"
    viewer.open_sample("napari-tem-denoise", "haadf")
    widget.layer.value = viewer.layers["HAADF (noisy)"]
    assert widget.run.button.text == "Denoise image" and widget.preview.button.text == "Preview image"
    assert widget.tile.value == widget.tile.min and widget.form.options().tile is None
    assert widget.tile.native.text() == "the model's"  # shown, not the box's lowest number
    widget.tile.value = 128
    assert widget.form.options().tile == 128 and isinstance(widget.form.options().tile, int)
