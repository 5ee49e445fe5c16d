"""Drift dock in a real viewer on the plugin's sample movie: shifts, corrected layers, cancel."""

from __future__ import annotations

import numpy as np
import pytest

from napari.utils.notifications import notification_manager

from tem_denoise.analysis import read_shifts_csv
from tem_denoise.physics import sample_hrtem_series

pytestmark = pytest.mark.gui

NOISY, CLEAN = "HRTEM nucleation (noisy)", "HRTEM nucleation (clean)"


@pytest.fixture
def dock(sample_dock):
    return sample_dock("Drift correction")


def _run(runner, qtbot):
    runner.start()
    qtbot.waitUntil(lambda: not runner.running, timeout=60000)


def _rms_px(estimated_drift, true_drift):
    return float(np.sqrt(np.mean(np.sum((estimated_drift - true_drift) ** 2, axis=1))))


def test_sample_movie_is_corrected_in_its_own_scale(dock, qtbot, tmp_path):
    viewer, widget = dock
    truth = sample_hrtem_series().shifts_px
    noisy = viewer.layers[NOISY]
    widget.layer.value = noisy
    widget.prefilter.value = 1.0
    _run(widget.runner, qtbot)
    assert _rms_px(-widget.shifts, truth) < 0.15, widget.summary.value
    out = viewer.layers[f"{NOISY} (drift-corrected)"]
    assert widget.output == out
    assert out.data.shape == noisy.data.shape, (out.data.shape, noisy.data.shape)
    np.testing.assert_allclose(out.scale, noisy.scale)
    np.testing.assert_allclose(out.translate, noisy.translate)
    assert tuple(out.units) == tuple(noisy.units) and tuple(out.axis_labels) == ("t", "y", "x")
    assert len(out.metadata["drift"]["shift_y_px"]) == 16
    assert out.metadata["provenance"]["history"][-1]["operation"] == "drift correction"
    ax = widget.plot.figure.axes[0]
    assert len(ax.lines) >= 2 and "nm" in ax.get_ylabel()
    figure = widget.plot.figure
    figure.set_size_inches(3.5, 3.0)  # the dock's default width, about 350 px: the title fits in it
    figure.canvas.draw()
    title = ax.title.get_window_extent(figure.canvas.get_renderer())
    assert ax.get_title() == f"estimated on {NOISY}" and 0 <= title.x0 and title.x1 <= figure.bbox.width

    # estimate on the noise-free copy (as on a denoised one), apply to the raw stack
    widget.estimate_on.value = viewer.layers[CLEAN]
    widget.mode.value = "crop"
    _run(widget.runner, qtbot)
    assert _rms_px(-widget.shifts, truth) < 0.05
    cropped = widget.output
    origin = np.asarray(cropped.metadata["drift"]["origin_px"])
    assert cropped.data.shape[1] < 256 and cropped.data.dtype == noisy.data.dtype
    np.testing.assert_allclose(np.asarray(cropped.translate[-2:]),
                               np.asarray(noisy.translate[-2:]) + origin * np.asarray(noisy.scale[-2:]))

    # apply the same shifts to the clean stack: its frames now line up
    path = widget.export_shifts(tmp_path / "shifts.csv")
    widget.load_shifts(path)
    np.testing.assert_allclose(widget.shifts, read_shifts_csv(path))
    widget.mode.value = "fourier"
    widget.apply_to.value = viewer.layers[CLEAN]
    _run(widget.apply_runner, qtbot)
    aligned, clean = widget.output.data, viewer.layers[CLEAN].data
    inner = (slice(16, -16), slice(16, -16))
    before = np.mean((clean[-1][inner] - clean[0][inner]) ** 2)
    after = np.mean((aligned[-1][inner] - aligned[0][inner]) ** 2)
    assert after < 0.25 * before  # what remains is the growth of the particle
    assert widget.output.name == f"{CLEAN} (drift-corrected)"


def test_pure_noise_warns_and_adds_nothing(make_napari_viewer, qtbot):
    viewer = make_napari_viewer(show=True)
    noise = np.random.default_rng(1).poisson(3.0, (6, 64, 64)).astype(np.float32)
    viewer.add_image(noise, name="noise", scale=(1, 0.07, 0.07), units=("s", "nm", "nm"))
    _, widget = viewer.window.add_plugin_dock_widget("napari-tem-denoise", "Drift correction")
    widget.prefilter.value = 0.0
    _run(widget.runner, qtbot)
    # the DriftWarning raised in the worker reaches napari's notifications
    assert any("failed for every frame" in str(note.message) for note in notification_manager.records)
    assert len(viewer.layers) == 1
    assert "No corrected stack" in widget.summary.value and "failed for every frame" in widget.summary.value


def test_cancel_leaves_no_half_layer(make_napari_viewer, qtbot):
    viewer = make_napari_viewer(show=True)
    frames = np.random.default_rng(2).poisson(5.0, (40, 64, 64)).astype(np.float32)
    viewer.add_image(frames, name="frames")
    _, widget = viewer.window.add_plugin_dock_widget("napari-tem-denoise", "Drift correction")
    widget.runner.start()
    widget.runner.cancel()  # the user clicks Cancel at once
    qtbot.waitUntil(lambda: not widget.runner.running, timeout=60000)
    assert widget.runner.status.value.startswith("Cancelled")
    assert len(viewer.layers) == 1 and widget.output is None and widget.shifts is None


def test_analysis_docks_sit_in_napari_layers_menus():
    from npe2 import PluginManifest

    menus = PluginManifest.from_distribution("napari-tem-denoise").contributions.menus
    commands = {menu: [item.command for item in items] for menu, items in menus.items()}
    assert "napari-tem-denoise.drift_widget" in commands["napari/layers/register"]
    for name in ("atoms", "line_scan", "fft", "quality"):
        assert f"napari-tem-denoise.{name}_widget" in commands["napari/layers/measure"]


def test_stack_and_apply_to_default_to_the_newest_result(make_napari_viewer):
    """A hidden atom map added first is not the default: the newest result (e.g. the denoised
    stack) is, for the stack to correct and for the layer the shifts are applied to."""
    viewer = make_napari_viewer(show=True)
    frames = np.random.default_rng(3).poisson(5.0, (4, 32, 32)).astype(np.float32)
    viewer.add_image(frames, name="atom map", visible=False)
    raw = viewer.add_image(frames, name="raw")
    denoised = viewer.add_image(frames, name="raw (denoised)",
                                metadata={"provenance": {"derived_from": "raw"}})
    viewer.layers.selection.active = raw
    _, widget = viewer.window.add_plugin_dock_widget("napari-tem-denoise", "Drift correction")
    assert widget.layer.value is denoised and widget.apply_to.value is denoised
    assert widget.layer.label == "stack" and widget.apply_to.label == "apply shifts to"
