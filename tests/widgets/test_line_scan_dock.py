"""Line-scan dock in a real viewer: draw a line, the plot and contrast follow line and frame."""

from __future__ import annotations

import numpy as np
import pytest
from napari.utils._test_utils import read_only_mouse_event
from napari.utils.interactions import mouse_move_callbacks, mouse_press_callbacks, mouse_release_callbacks

from tem_denoise.analysis import read_csv

pytestmark = pytest.mark.gui

PIXEL_NM = 0.05
PERIOD_PX = 8.0
AMPLITUDES = (0.25, 0.5, 0.75)  # per frame; offset 1, so the Michelson contrast equals the amplitude


def _fringes(amplitudes, shape=(48, 96)):
    """(t, y, x) cosine fringes along x: 1 + a_t cos(2 pi x / period), peaks at x = 0, 8, 16..."""
    x = np.arange(shape[1])
    rows = 1.0 + np.asarray(amplitudes)[:, None] * np.cos(2 * np.pi * x / PERIOD_PX)[None, :]
    return np.broadcast_to(rows[:, None, :], (len(amplitudes), *shape)).astype(np.float32)


@pytest.fixture
def dock(make_napari_viewer):
    viewer = make_napari_viewer(show=True)
    calibration = {"scale": (1.0, PIXEL_NM, PIXEL_NM), "translate": (0.0, 2.0, -1.0),
                   "units": ("s", "nm", "nm"), "axis_labels": ("t", "y", "x")}
    raw = viewer.add_image(_fringes(AMPLITUDES), name="raw", **calibration)
    flat = viewer.add_image(_fringes([0.1, 0.1, 0.1]), name="weak", **calibration)
    _, widget = viewer.window.add_plugin_dock_widget("napari-tem-denoise", "Line-scan contrast")
    widget.layers.value = [raw, flat]
    return viewer, widget


def test_line_plot_contrast_and_spacing_follow_line_and_frame(dock, tmp_path):
    viewer, widget = dock
    shapes = widget.start_drawing()
    assert shapes.ndim == 2 and shapes.mode == "add_line"
    np.testing.assert_allclose(shapes.scale, (PIXEL_NM, PIXEL_NM))
    np.testing.assert_allclose(shapes.translate, (2.0, -1.0))
    assert str(shapes.units[-1]) == "nanometer"

    viewer.dims.set_current_step(0, 0)
    shapes.add_lines(np.array([[20.0, 4.0], [20.0, 76.0]]))  # 72 px = 3.6 nm, along x
    assert set(widget.profiles) == {"raw", "weak"}
    assert widget.profiles["raw"].unit == "nm"
    assert widget.profiles["raw"].distance[-1] == pytest.approx(72 * PIXEL_NM)
    assert widget.contrast["raw"] == pytest.approx(AMPLITUDES[0], abs=0.01)
    assert widget.contrast["weak"] == pytest.approx(0.1, abs=0.01)
    assert widget.peaks["raw"].mean_spacing == pytest.approx(PERIOD_PX * PIXEL_NM, rel=0.01)
    assert "contrast 0.250" in widget.results.value and "spacing 0.400 nm" in widget.results.value
    ax = widget.plot.figure.axes[0]
    assert len(ax.lines) >= 2 and "nm" in ax.get_xlabel()

    viewer.dims.set_current_step(0, 2)  # the frame slider
    assert widget.contrast["raw"] == pytest.approx(AMPLITUDES[2], abs=0.01)
    assert "frame 2" in widget.plot.figure.axes[0].get_title()

    widget.width_unit.value = "nm"
    widget.line_width.value = 0.5  # 10 px across the fringes: same profile
    assert widget.contrast["raw"] == pytest.approx(AMPLITUDES[2], abs=0.01)

    csv = widget.export_csv(tmp_path / "scan.csv")
    table = read_csv(csv)
    assert set(table) == {"layer", "distance_nm", "value"}
    summary = read_csv(tmp_path / "scan_summary.csv")
    assert summary["michelson_contrast"][0] == pytest.approx(0.75, abs=0.01)
    assert widget.export_png(tmp_path / "scan.png").stat().st_size > 1000


def test_profile_updates_while_a_vertex_is_dragged(dock):
    viewer, widget = dock
    shapes = widget.start_drawing()
    shapes.add_lines(np.array([[20.0, 4.0], [20.0, 76.0]]))
    assert widget.profiles["raw"].distance[-1] == pytest.approx(3.6)
    shapes.mode = "direct"
    shapes.selected_data = {0}
    end, moved = shapes.data_to_world((20.0, 76.0)), shapes.data_to_world((20.0, 44.0))
    mouse_press_callbacks(shapes, read_only_mouse_event(type="mouse_press", position=end))
    mouse_move_callbacks(shapes, read_only_mouse_event(type="mouse_move", is_dragging=True, position=moved))
    # before the mouse is released the plot already shows the shorter line
    assert widget.profiles["raw"].distance[-1] == pytest.approx(40 * PIXEL_NM, abs=0.01)
    mouse_release_callbacks(shapes, read_only_mouse_event(type="mouse_release", is_dragging=True,
                                                          position=moved))
    assert widget.profiles["raw"].distance[-1] == pytest.approx(40 * PIXEL_NM, abs=0.01)


def test_uncalibrated_width_in_nm_is_reported_not_raised(make_napari_viewer):
    viewer = make_napari_viewer(show=True)
    layer = viewer.add_image(_fringes([0.5])[0], name="pixels")
    _, widget = viewer.window.add_plugin_dock_widget("napari-tem-denoise", "Line-scan contrast")
    widget.layers.value = [layer]
    widget.width_unit.value = "nm"
    widget.start_drawing().add_lines(np.array([[10.0, 0.0], [10.0, 40.0]]))
    assert "no nm calibration" in widget.results.value
    widget.width_unit.value = "px"
    assert widget.profiles["pixels"].unit == "px"
    assert widget.peaks["pixels"].mean_spacing == pytest.approx(PERIOD_PX, rel=0.01)
