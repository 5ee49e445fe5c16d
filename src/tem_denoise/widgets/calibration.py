"""Noise-calibration dock: layer(s) -> Stack(s) -> :func:`tem_denoise.operations.calibrate.iter_calibrate`
-> noise model, plots, JSON, synthetic preview layers.

The form is :class:`~tem_denoise.operations.calibrate.CalibrateOptions` (the options of
``tem-denoise calibrate``). HRTEM: pick one or more vacuum stack layers and their beam currents
(filled in from the layer metadata ``beam_current_nA`` when present). STEM: pick one
atomic-resolution image; the frame shown is fitted. The model can be saved/loaded as JSON and
previewed (:func:`~tem_denoise.operations.calibrate.synthetic_preview`) as synthetic noisy /
clean / atom-map layers at the source's pixel size and origin.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from magicgui.widgets import ComboBox, Container, Label, PushButton, Select

from tem_denoise import physics
from tem_denoise.figures import plot_fit_report
from tem_denoise.io import Calibration
from tem_denoise.layers import stack_to_layer_data
from tem_denoise.operations.calibrate import CalibrateOptions, describe_model, iter_calibrate, synthetic_preview
from tem_denoise.widgets.forms import OptionsForm
from tem_denoise.widgets.glue import image_layer_choices, layer_stack
from tem_denoise.widgets.layer_geometry import frame_index
from tem_denoise.widgets.plot_canvas import PlotCanvas, ask_open_path, ask_save_path, limit_rows, wrap_text
from tem_denoise.widgets.runner import JobRunner

if TYPE_CHECKING:
    import napari


class CalibrationWidget(Container):
    """Dock widget: fit a noise model (:func:`~tem_denoise.operations.calibrate.iter_calibrate`),
    plot the fit, save/load it as JSON and preview it on synthetic frames."""

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        self.viewer = viewer
        self.form = OptionsForm(CalibrateOptions)
        self.mode, self.currents = self.form["stem"], self.form["currents"]
        self.stacks = limit_rows(Select(label="vacuum stacks", choices=image_layer_choices(viewer)), rows=6)
        self.image = ComboBox(label="STEM image", choices=image_layer_choices(viewer))
        self.runner = JobRunner("Calibrate")
        self.summary = wrap_text(Label(value="No calibration yet."))
        self.save_button = PushButton(text="Save model…", enabled=False)
        self.load_button = PushButton(text="Load model…")
        self.preview_button = PushButton(text="Preview synthetic", enabled=False)
        super().__init__(widgets=[
            self.mode, self.stacks, self.currents, self.image, self.runner, self.summary,
            Container(widgets=[self.save_button, self.load_button], layout="horizontal", labels=False),
            self.preview_button,
        ])
        self.model: physics.NoiseModel | None = None
        self.report: physics.FitReport | None = None
        self._calibration: Calibration | None = None
        self.plot = PlotCanvas(self, figsize=(5, 6), min_height=420)
        self.figure = self.plot.figure
        self.runner.bind(self._job, self._show_result)
        self.mode.changed.connect(self._mode_changed)
        self.stacks.changed.connect(self._fill_currents)
        self.save_button.changed.connect(self._ask_save)
        self.load_button.changed.connect(self._ask_load)
        self.preview_button.changed.connect(self.preview_synthetic)
        self._mode_changed()

    def _mode_changed(self) -> None:
        hrtem = self.mode.value is None
        self.stacks.visible = self.currents.visible = hrtem
        self.image.visible = not hrtem

    def _fill_currents(self) -> None:
        currents = [layer.metadata.get("beam_current_nA") for layer in self.stacks.value]
        if currents and all(c is not None for c in currents):
            self.currents.value = ", ".join(f"{c:g}" for c in currents)

    def _layers(self) -> list:
        """The chosen data layers: the vacuum stacks (HRTEM) or the STEM image."""
        if self.mode.value is None:
            return list(self.stacks.value)
        if self.image.value is None:
            raise ValueError("choose an atomic-resolution STEM image layer")
        return [self.image.value]

    def _job(self):
        """Check the inputs now (errors shown at once) and return the calibration generator."""
        layers = self._layers()
        stacks = [layer_stack(layer) for layer in layers]
        frame = frame_index(self.viewer, layers[0]) if self.mode.value and layers else None
        job = iter_calibrate(stacks, self.form.options(frame=frame or 0))
        self._calibration = stacks[0].calibration if stacks else None
        return job

    def _show_result(self, result: tuple[physics.NoiseModel, physics.FitReport]) -> None:
        self.model, self.report = result
        self.summary.value = f"{describe_model(self.model)}\n{self.report.summary()}"
        self.plot.canvas.setVisible(True)  # hidden until the first fit
        plot_fit_report(self.report, self.figure)
        self.plot.draw()
        self.save_button.enabled = self.preview_button.enabled = True

    def save_model(self, path: str | Path) -> Path:
        """Write the fitted noise model as JSON."""
        if self.model is None:
            raise ValueError("calibrate or load a noise model first")
        return self.model.save(path)

    def load_model(self, path: str | Path) -> None:
        """Load a noise model saved earlier (JSON) so it can be previewed."""
        self.model = physics.load_noise_model(path)
        self.report = None
        self.summary.value = f"Loaded {Path(path).name}: {describe_model(self.model)}"
        self.preview_button.enabled = self.save_button.enabled = True

    def _ask_save(self) -> None:
        path = ask_save_path(self.native, "Save noise model", "noise.json", "JSON (*.json)")
        if path:
            self.save_model(path)

    def _ask_load(self) -> None:
        path = ask_open_path(self.native, "Load noise model", "JSON (*.json)")
        if path:
            self.load_model(path)

    def preview_synthetic(self) -> list:
        """Add synthetic atom map / clean / noisy layers made with the current model, at the
        calibrated data's pixel size and origin."""
        if self.model is None:
            raise ValueError("calibrate or load a noise model first")
        layers = []
        for stack in synthetic_preview(self.model, self._calibration):
            data, kwargs, _ = stack_to_layer_data(stack)
            layers.append(self.viewer.add_image(data, **kwargs))
        return layers
