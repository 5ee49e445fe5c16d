"""Atom dock in a real viewer on the plugin's sample movie: Points in the image's scale."""

from __future__ import annotations

import numpy as np
import pytest

from tem_denoise.analysis import match_positions, read_csv
from tem_denoise.physics import sample_hrtem_series

pytestmark = pytest.mark.gui

ATOM_MAP, CLEAN, NOISY = ("HRTEM nucleation (atom map)", "HRTEM nucleation (clean)",
                          "HRTEM nucleation (noisy)")


def _run(widget, qtbot):
    widget.runner.start()
    qtbot.waitUntil(lambda: not widget.runner.running, timeout=60000)


def test_atoms_of_the_sample_movie_as_points(sample_dock, qtbot, tmp_path):
    viewer, widget = sample_dock("Atom positions")
    truth = sample_hrtem_series().positions_px
    image = viewer.layers[ATOM_MAP]
    widget.layer.value = image
    widget.frames.value = "all"
    widget.min_separation_nm.value = 0.2  # 2.9 px; the sample's closest atoms are 0.27 nm apart
    _run(widget, qtbot)

    points = viewer.layers[f"{ATOM_MAP} atoms"]
    np.testing.assert_allclose(points.scale, image.scale)
    np.testing.assert_allclose(points.translate, image.translate)
    assert tuple(points.units) == tuple(image.units) and tuple(points.axis_labels) == ("t", "y", "x")
    found = np.asarray(points.data)
    match = match_positions(found, truth, radius=1.5)
    assert match.f1 > 0.98 and match.rms_error < 0.1, (match.f1, match.rms_error)
    features = points.features
    for column in ("frame", "y_px", "x_px", "y_nm", "x_nm", "intensity", "sigma_px", "quality"):
        assert column in features.columns
    np.testing.assert_allclose(features["y_nm"], features["y_px"] * image.scale[1] + image.translate[1])
    # atom-map atoms have sigma 0.75 px: the points are drawn one FWHM (1.77 px) wide
    assert np.median(points.size) == pytest.approx(2.3548 * 0.75, rel=0.05)

    viewer.dims.set_current_step(0, 3)
    assert widget.count_label.value.startswith(f"frame 3: {widget.counts()[3]} atoms")
    assert "16 frames" in widget.count_label.value
    table = read_csv(widget.export_csv(tmp_path / "atoms.csv"))
    assert list(table)[:5] == ["frame", "y_px", "x_px", "y_nm", "x_nm"]
    assert len(table["frame"]) == len(found)

    # dark atoms on the clean HRTEM frame, current frame only, centre-of-mass refinement
    widget.layer.value = viewer.layers[CLEAN]
    widget.frames.value = "current"
    widget.invert.value = True
    widget.log_sigma_px.value = 1.0
    widget.method.value = "com"
    _run(widget, qtbot)
    dark = viewer.layers[f"{CLEAN} atoms"]
    assert set(dark.features["frame"]) == {3}
    match = match_positions(np.asarray(dark.data), truth[truth[:, 0] == 3], radius=1.5)
    assert match.f1 > 0.9, match.f1


def test_cancel_leaves_no_half_layer(make_napari_viewer, qtbot):
    viewer = make_napari_viewer(show=True)
    frames = np.random.default_rng(0).poisson(5.0, (30, 64, 64)).astype(np.float32)
    viewer.add_image(frames, name="frames")
    _, widget = viewer.window.add_plugin_dock_widget("napari-tem-denoise", "Atom positions")
    assert widget.min_separation_nm.native.isHidden() and not widget.min_separation_px.native.isHidden()
    widget.min_separation_px.value = 3.0  # pure noise has no spacing to estimate
    widget.runner.start()
    widget.runner.cancel()
    qtbot.waitUntil(lambda: not widget.runner.running, timeout=60000)
    assert widget.runner.status.value.startswith("Cancelled")
    assert len(viewer.layers) == 1 and widget.table is None

    # a single uncalibrated image: (y, x) points in pixels, no nm columns
    yy, xx = np.mgrid[:48, :48]
    centres = [(10.3, 12.6), (30.0, 20.2), (24.7, 38.1)]
    blobs = sum(np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / 2.0) for y, x in centres).astype(np.float32)
    image = viewer.add_image(blobs, name="blobs")
    widget.layer.value = image
    _run(widget, qtbot)
    points = viewer.layers["blobs atoms"]
    assert points.data.shape == (3, 2) and "y_nm" not in points.features.columns
    found = np.asarray(points.data)[np.argsort(points.data[:, 0])]
    np.testing.assert_allclose(found, sorted(centres), atol=0.01)


def test_atoms_searched_on_an_atom_map_network(sample_dock, qtbot):
    """The atom-map networks live here: the dock runs one, then finds atoms on its map."""
    viewer, widget = sample_dock("Atom positions")
    assert "unet-hrtem" in widget.search_on.choices
    widget.layer.value = viewer.layers[NOISY]
    widget.search_on.value = "unet-hrtem"
    widget.frames.value = "current"
    widget.min_separation_nm.value = 0.2
    _run(widget, qtbot)
    points = viewer.layers[f"{NOISY} atoms"]
    assert points.metadata["provenance"]["history"][0]["atom_map_model"] == "unet-hrtem"
    truth = sample_hrtem_series().positions_px
    frame = int(viewer.dims.current_step[0])
    match = match_positions(np.asarray(points.data), truth[truth[:, 0] == frame], radius=1.5)
    assert match.f1 > 0.8, match.f1
    assert [layer.name for layer in viewer.layers if "atom map of" in layer.name] == []


def test_defaults_to_the_newest_result_and_estimates_the_separation(sample_dock, qtbot):
    """A new user opens the sample, denoises it and finds atoms with every field at its default."""
    viewer, widget = sample_dock("Atom positions")
    assert not widget.plot.shown  # no empty plot box before the first run
    source = viewer.layers[ATOM_MAP]
    result = viewer.add_image(source.data[:2], name=f"{ATOM_MAP} (denoised: gaussian-2d)", scale=source.scale,
                              units=source.units, metadata={"provenance": {"derived_from": ATOM_MAP}})
    assert widget.layer.value is result
    _run(widget, qtbot)
    points = viewer.layers[f"{result.name} atoms"]
    truth = sample_hrtem_series().positions_px
    match = match_positions(np.asarray(points.data), truth[truth[:, 0] < 2], radius=1.5)
    assert match.f1 > 0.97, match.f1
    assert "nm (" in widget.count_label.value and "spacing" in widget.count_label.value
    assert widget.plot.shown
