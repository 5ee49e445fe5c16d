"""Line-scan dock: intensity profiles along a drawn line, Michelson contrast, peak spacing.

The user draws a line on a 2D Shapes layer ("line scan", added in the image's scale by
*Draw line*); the profile of every chosen image layer is taken along it on the frame shown
by the slider (:func:`tem_denoise.analysis.line_profile`), averaged over a width in nm or
px, and plotted with the distance in nm. The plot and the contrast follow the line while it
is dragged and the frame slider as it moves.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from magicgui.widgets import (
    Container,
    Label,
    PushButton,
    Select,
)

from tem_denoise.analysis import (
    LineProfile,
    ProfilePeaks,
    write_csv,
    write_profiles_csv,
)
from tem_denoise.io import Calibration
from tem_denoise.operations.profile import ProfileOptions, line_scan
from tem_denoise.widgets.forms import OptionsForm
from tem_denoise.widgets.glue import image_layer_choices, layer_named
from tem_denoise.widgets.layer_geometry import (
    chosen_shape,
    current_frame,
    find_or_add_shapes,
    frame_index,
    shape_world_vertices,
    world_to_pixels,
)
from tem_denoise.widgets.plot_canvas import (
    PlotCanvas,
    ask_save_path,
    limit_rows,
    wrap_text,
)

if TYPE_CHECKING:
    import napari

SHAPES_NAME = "line scan"
MAX_LISTED_PEAKS = 8


class LineScanWidget(Container):
    """Dock widget: live line profiles of several layers with contrast and peak spacing."""

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        self.viewer = viewer
        self.layers = limit_rows(Select(label="layers", choices=image_layer_choices(viewer)))
        self.form = OptionsForm(ProfileOptions)
        self.draw_button = PushButton(text="Draw line")
        self.results = wrap_text(Label(value="Choose layers, then draw a line."))
        self.csv_button = PushButton(text="Export CSV…", enabled=False)
        self.png_button = PushButton(text="Export PNG…", enabled=False)
        super().__init__(widgets=[
            self.layers, *self.form.widgets.values(), self.draw_button, self.results,
            Container(widgets=[self.csv_button, self.png_button], layout="horizontal", labels=False),
        ])
        self.plot = PlotCanvas(self, figsize=(5, 3.4), min_height=260)
        self.profiles: dict[str, LineProfile] = {}
        self.peaks: dict[str, ProfilePeaks] = {}
        self.contrast: dict[str, float] = {}
        self._watched: Any = None
        self._last_key: tuple | None = None
        self.draw_button.changed.connect(self.start_drawing)
        self.csv_button.changed.connect(self._ask_csv)
        self.png_button.changed.connect(self._ask_png)
        for control in (self.layers, *self.form.widgets.values()):
            control.changed.connect(self.update_profiles)
        viewer.dims.events.current_step.connect(self.update_profiles)
        viewer.layers.events.inserted.connect(self._watch_shapes)
        self._watch_shapes()

    # -- the line -------------------------------------------------------------------------
    def shapes_layer(self) -> Any:
        """The Shapes layer holding the line, or None."""
        from napari.layers import Shapes

        return layer_named(self.viewer, SHAPES_NAME, Shapes)

    def _watch_shapes(self, _event: Any = None) -> None:
        shapes = self.shapes_layer()
        if shapes is not None and shapes is not self._watched:
            # data: lines added, removed, edited; set_data: every refresh, i.e. each mouse
            # move while a vertex or the whole line is dragged (napari emits no data event then)
            shapes.events.data.connect(self.update_profiles)
            shapes.events.set_data.connect(self.update_profiles)
            shapes.selected_data.events.items_changed.connect(self.update_profiles)
            self._watched = shapes

    def start_drawing(self) -> Any:
        """Add (or select) the line layer in the first chosen layer's scale and enter line mode."""
        like = self._layers()[0] if self._layers() else self.viewer.layers.selection.active
        if like is None:
            raise ValueError("choose an image layer first")
        shapes = find_or_add_shapes(self.viewer, SHAPES_NAME, like)
        self._watch_shapes()
        self.viewer.layers.selection.active = shapes
        shapes.mode = "add_line"
        return shapes

    def line_world(self) -> np.ndarray | None:
        """(2, 2) world (y, x) end points of the chosen line, or None."""
        shapes = self.shapes_layer()
        if shapes is None or len(shapes.data) == 0:
            return None
        index = chosen_shape(shapes, ("line",))
        if index is None:
            return None
        return shape_world_vertices(shapes, index)[[0, -1]]

    def _layers(self) -> list:
        return [layer for layer in self.layers.value if layer in self.viewer.layers]

    # -- profiles -------------------------------------------------------------------------
    def update_profiles(self, _event: Any = None) -> None:
        """Recompute every chosen layer's profile along the line on the displayed frame.

        Skipped when neither the line, the layers, their displayed frames nor the width
        changed since the last update (refresh events fire often).
        """
        line = self.line_world()
        layers = self._layers()
        if line is None or not layers:
            self.results.value = "Choose layers, then draw a line (Draw line)."
            self._last_key = None
            return
        key = (line.tobytes(), tuple((id(layer), frame_index(self.viewer, layer)) for layer in layers),
               float(self.line_width.value), self.width_unit.value)
        options = self.form.options()
        if key == self._last_key:
            return
        self._last_key = key
        profiles, peaks, contrast, problems = {}, {}, {}, []
        for layer in layers:
            try:
                calibration = Calibration.of_layer(layer)
                start, end = world_to_pixels(self.viewer, layer, line)
                width_px = calibration.to_px(options.line_width, options.width_unit)
                scan = line_scan(current_frame(self.viewer, layer), calibration, start, end,
                                 replace(options, line_width=width_px, width_unit="px"))
                profiles[layer.name], peaks[layer.name] = scan.profile, scan.peaks
                contrast[layer.name] = scan.contrast
            except ValueError as exc:
                problems.append(f"{layer.name}: {exc}")
        self.profiles, self.peaks, self.contrast = profiles, peaks, contrast
        self.results.value = "\n".join([self._describe(name) for name in profiles] + problems)
        self.csv_button.enabled = self.png_button.enabled = bool(profiles)
        self._plot(layers[0])

    def _describe(self, name: str) -> str:
        peaks = self.peaks.get(name)
        text = f"{name}: contrast {self.contrast[name]:.3f}" if name in self.contrast else f"{name}:"
        if peaks is None:
            return text
        unit = peaks.unit
        text += f"; {len(peaks.positions)} peaks"
        if len(peaks.positions) > 1:
            text += f", mean spacing {peaks.mean_spacing:.3f} {unit}"
        if 0 < len(peaks.positions) <= MAX_LISTED_PEAKS:
            text += " at " + ", ".join(f"{p:.2f}" for p in peaks.positions) + f" {unit}"
        return text

    def _plot(self, first: Any) -> None:
        (ax,) = self.plot.axes()
        for index, (name, profile) in enumerate(self.profiles.items()):
            colour = f"C{index}"
            ax.plot(profile.distance, profile.values, color=colour, lw=1.2,
                    label=f"{name} (C = {self.contrast[name]:.2f})" if name in self.contrast else name)
            peaks = self.peaks.get(name)
            if peaks is not None and len(peaks.positions):
                ax.plot(peaks.positions, peaks.heights, "v", color=colour, ms=5)
        unit = next(iter(self.profiles.values())).unit if self.profiles else "px"
        ax.set_xlabel(f"distance along line ({unit})")
        ax.set_ylabel("intensity")
        frame = frame_index(self.viewer, first) if first in self.viewer.layers else None
        ax.set_title("line profile" + (f", frame {frame}" if frame is not None else ""), fontsize=9)
        if self.profiles:
            ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
        self.plot.draw()

    # -- export ---------------------------------------------------------------------------
    def export_csv(self, path: str | Path) -> Path:
        """Write the profiles (long format) and, beside them, ``<name>_summary.csv``."""
        if not self.profiles:
            raise ValueError("draw a line over a chosen layer first")
        path = Path(path)
        write_profiles_csv(path, self.profiles)
        names = list(self.profiles)
        write_csv(path.with_name(f"{path.stem}_summary.csv"), {
            "layer": np.array(names, dtype=str),
            "michelson_contrast": np.array([self.contrast.get(n, np.nan) for n in names]),
            "n_peaks": np.array([len(self.peaks[n].positions) for n in names]),
            f"mean_spacing_{self.profiles[names[0]].unit}": np.array([self.peaks[n].mean_spacing for n in names]),
        })
        return path

    def export_png(self, path: str | Path) -> Path:
        """Save the plot as PNG."""
        return self.plot.save_png(path)

    def _ask_csv(self) -> None:
        path = ask_save_path(self.native, "Export profiles", "line_scan.csv", "CSV (*.csv)")
        if path:
            self.export_csv(path)

    def _ask_png(self) -> None:
        path = ask_save_path(self.native, "Export plot", "line_scan.png", "PNG (*.png)")
        if path:
            self.export_png(path)
