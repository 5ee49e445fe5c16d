"""FFT dock: power spectrum of the displayed frame (or a rectangle ROI) in 1/nm, Bragg peaks,
and a line scan across the spectrum (seed 002 Fig. S10).

Wraps :func:`tem_denoise.analysis.power_spectrum`, :func:`~tem_denoise.analysis.find_bragg_peaks`
and :func:`~tem_denoise.analysis.fft_line_profile`. The spectrum is a new Image layer whose
scale is the reciprocal pixel size, so the zero frequency sits at world (0, 0) and the viewer's
coordinates read in 1/nm; the Bragg peaks are a Points layer on it with a features table
(ky, kx, |k|, d-spacing, angle, power ratio).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FloatSpinBox,
    Label,
    PushButton,
)

from tem_denoise.analysis import LineProfile, PowerSpectrum, fft_line_profile, write_csv
from tem_denoise.io import Calibration
from tem_denoise.operations.spectrum import SpectrumOptions, spectrum_of
from tem_denoise.widgets.forms import OptionsForm
from tem_denoise.widgets.glue import derived_metadata, image_layer_choices, layer_named, show_layer
from tem_denoise.widgets.layer_geometry import (
    chosen_shape,
    current_frame,
    find_or_add_shapes,
    frame_index,
    shape_world_vertices,
    world_to_pixels,
)
from tem_denoise.widgets.plot_canvas import PlotCanvas, ask_save_path, wrap_text

if TYPE_CHECKING:
    import napari

ROI_NAME = "FFT ROI"
LINE_NAME = "FFT line scan"
LINE_REACH = 1.4
"""The default line runs through the strongest Bragg pair to 1.4 times its frequency (our choice)."""


class FFTWidget(Container):
    """Dock widget: power spectrum layer, Bragg peaks as Points and a spectrum line scan."""

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        self.viewer = viewer
        self.layer = ComboBox(label="image", choices=image_layer_choices(viewer))
        self.region = ComboBox(label="region", choices=[("whole frame", "frame"), ("rectangle ROI", "roi")],
                               value="frame")
        self.roi_button = PushButton(text="Draw ROI rectangle")
        self.form = OptionsForm(SpectrumOptions)
        self.follow = CheckBox(text="follow the frame slider", value=True)
        self.compute_button = PushButton(text="Compute spectrum")
        self.peaks_label = wrap_text(Label(value=""))
        self.line_width = FloatSpinBox(label="scan width (px)", value=3.0, min=1.0, max=100.0, step=1.0)
        self.line_button = PushButton(text="Line scan across spectrum", enabled=False)
        self.export_button = PushButton(text="Export peaks CSV…", enabled=False)
        super().__init__(widgets=[
            self.layer, self.region, self.roi_button, *self.form.widgets.values(), self.follow,
            self.compute_button, self.peaks_label, self.line_width,
            Container(widgets=[self.line_button, self.export_button], layout="horizontal", labels=False),
        ])
        self.plot = PlotCanvas(self, figsize=(5, 3), min_height=220)
        self.spectrum: PowerSpectrum | None = None
        self.peaks: dict | None = None
        self.profile: LineProfile | None = None
        self.spectrum_layer: Any = None
        self.peaks_layer: Any = None
        self._source: Any = None
        self._watched: Any = None
        self.compute_button.changed.connect(self.compute)
        self.roi_button.changed.connect(self.start_roi)
        self.line_button.changed.connect(self.start_line)
        self.export_button.changed.connect(self._ask_export)
        self.line_width.changed.connect(self.update_profile)
        viewer.dims.events.current_step.connect(self._frame_moved)

    # -- spectrum -------------------------------------------------------------------------
    def start_roi(self) -> Any:
        """Add (or select) the ROI Shapes layer in the image's scale and enter rectangle mode."""
        layer = self._image()
        shapes = find_or_add_shapes(self.viewer, ROI_NAME, layer)
        self.viewer.layers.selection.active = shapes
        shapes.mode = "add_rectangle"
        self.region.value = "roi"
        return shapes

    def _image(self) -> Any:
        layer = self.layer.value
        if layer is None:
            raise ValueError("choose an image layer")
        return layer

    def roi_px(self, layer: Any) -> tuple[int, int, int, int] | None:
        """The ROI rectangle as (y0, x0, y1, x1) pixels of ``layer``, clipped to the frame."""
        if self.region.value != "roi":
            return None
        from napari.layers import Shapes

        shapes = layer_named(self.viewer, ROI_NAME, Shapes)
        index = chosen_shape(shapes, ("rectangle", "polygon")) if shapes is not None else None
        if index is None:
            raise ValueError(f"draw a rectangle on the '{ROI_NAME}' layer (Draw ROI rectangle) first")
        corners = world_to_pixels(self.viewer, layer, shape_world_vertices(shapes, index))
        ny, nx = layer.data.shape[-2:]
        y0, x0 = np.clip(np.floor(corners.min(axis=0) + 0.5), 0, (ny, nx)).astype(int)
        y1, x1 = np.clip(np.floor(corners.max(axis=0) + 0.5), 0, (ny, nx)).astype(int)
        return int(y0), int(x0), int(y1), int(x1)

    def compute(self) -> PowerSpectrum:
        """Compute the spectrum of the displayed frame (or ROI), show it and its Bragg peaks."""
        layer = self._image()
        result = spectrum_of(current_frame(self.viewer, layer), Calibration.of_layer(layer), self.form.options(),
                             roi=self.roi_px(layer))
        spectrum = result.spectrum
        self.spectrum, self.peaks, self._source = spectrum, result.peaks, layer
        self._show_spectrum(layer, spectrum)
        self._show_peaks(layer, result)
        self.line_button.enabled = self.export_button.enabled = True
        self.update_profile()
        return spectrum

    def _calibration(self, spectrum: PowerSpectrum) -> dict:
        unit = "1/nm" if spectrum.unit == "1/nm" else "1/pixel"
        return {"scale": tuple(spectrum.reciprocal_pixel_size), "translate": tuple(spectrum.translate),
                "units": (unit, unit), "axis_labels": ("ky", "kx")}

    def _show_spectrum(self, layer: Any, spectrum: PowerSpectrum) -> None:
        image = spectrum.log_power()
        low, high = np.percentile(image, [50, 99.95])
        step = {"operation": "power spectrum", "frame": frame_index(self.viewer, layer),
                "roi_px": self.roi_px(layer), "window": self.window.value, "display": "log10 power"}
        self.spectrum_layer = show_layer(
            self.viewer, f"{layer.name} FFT", image, colormap="inferno", contrast_limits=(float(low), float(high)),
            metadata=derived_metadata(layer, step), **self._calibration(spectrum),
            reuse=lambda target: target.metadata.get("provenance", {}).get("derived_from") == layer.name,
        )

    def _show_peaks(self, layer: Any, result: Any) -> None:
        peaks, spectrum = result.peaks, result.spectrum
        self.peaks_label.value = result.describe()
        self.peaks_layer = show_layer(
            self.viewer, f"{layer.name} Bragg peaks", np.stack([peaks["y_px"], peaks["x_px"]], axis=1), "points",
            features=peaks, size=max(3.0, min(spectrum.data.shape) / 40), face_color="transparent",
            border_color="#00e5ff", border_width=0.12, **self._calibration(spectrum),
        )

    def _frame_moved(self, _event: Any = None) -> None:
        if self.follow.value and self.spectrum is not None and self._source in self.viewer.layers \
                and self._source.ndim == 3 and self.spectrum_layer in self.viewer.layers:
            try:
                self.compute()
            except ValueError as exc:
                self.peaks_label.value = str(exc)

    # -- line scan across the spectrum ----------------------------------------------------
    def start_line(self) -> Any:
        """Add the spectrum's line layer with a line through the strongest Bragg pair."""
        if self.spectrum_layer is None or self.spectrum_layer not in self.viewer.layers:
            raise ValueError("compute a spectrum first")
        shapes = find_or_add_shapes(self.viewer, LINE_NAME, self.spectrum_layer)
        if shapes is not self._watched:
            shapes.events.data.connect(self.update_profile)
            self._watched = shapes
        if len(shapes.data) == 0:
            shapes.add_lines(self.default_line())
        self.viewer.layers.selection.active = shapes
        shapes.mode = "direct"
        return shapes

    def default_line(self) -> np.ndarray:
        """(2, 2) spectrum pixels (y, x) of a line through the centre and the strongest peak pair."""
        centre = np.asarray(self.spectrum.centre, dtype=np.float64)
        if self.peaks is not None and len(self.peaks["y_px"]):
            strongest = int(np.argmax(self.peaks["ratio"]))
            reach = LINE_REACH * (np.array([self.peaks["y_px"][strongest], self.peaks["x_px"][strongest]]) - centre)
        else:
            reach = np.array([0.0, 0.4 * self.spectrum.data.shape[1]])
        return np.array([centre - reach, centre + reach])

    def update_profile(self, _event: Any = None) -> None:
        """Profile the log power along the line of the spectrum's line layer and plot it."""
        from napari.layers import Shapes

        shapes = layer_named(self.viewer, LINE_NAME, Shapes)
        if self.spectrum is None or shapes is None or self.spectrum_layer not in self.viewer.layers:
            return
        index = chosen_shape(shapes, ("line",))
        if index is None:
            return
        start, end = world_to_pixels(self.viewer, self.spectrum_layer, shape_world_vertices(shapes, index)[[0, -1]])
        try:
            self.profile = fft_line_profile(self.spectrum, start, end, width_px=float(self.line_width.value))
        except ValueError as exc:
            self.peaks_label.value = str(exc)
            return
        (ax,) = self.plot.axes()
        half = self.profile.distance[-1] / 2
        ax.plot(self.profile.distance - half, self.profile.values, lw=1.2)
        ax.set_xlabel(f"spatial frequency along the line ({self.profile.unit}), 0 at its middle")
        ax.set_ylabel("log10 power")
        ax.grid(alpha=0.3)
        self.plot.draw()

    # -- export ---------------------------------------------------------------------------
    def export_peaks(self, path: str | Path) -> Path:
        """Write the Bragg peak table as CSV."""
        if self.peaks is None:
            raise ValueError("compute a spectrum first")
        write_csv(path, self.peaks)
        return Path(path)

    def _ask_export(self) -> None:
        path = ask_save_path(self.native, "Export Bragg peaks", "bragg_peaks.csv", "CSV (*.csv)")
        if path:
            self.export_peaks(path)

