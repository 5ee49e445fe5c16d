"""Noise-calibration dock: fit the camera's noise model from vacuum stacks or a STEM image.

HRTEM: pick one or more vacuum stack layers and their beam currents (read from the layer
metadata ``beam_current_nA`` when present). STEM: pick one atomic-resolution image. Calibrate
runs in a worker; the fit plots appear in the dock; the model can be saved/loaded as JSON and
previewed as synthetic noisy / clean / atom-map layers in the source's nm scale.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from magicgui.widgets import ComboBox, Container, Label, LineEdit, PushButton, Select

from tem_denoise import physics
from tem_denoise.figures import plot_fit_report
from tem_denoise.io import Calibration
from tem_denoise.operations.calibrate import CalibrateOptions, iter_calibrate
from tem_denoise.widgets.glue import image_layer_choices, layer_stack, plane_calibration
from tem_denoise.widgets.layer_geometry import frame_index
from tem_denoise.widgets.plot_canvas import PlotCanvas, ask_open_path, ask_save_path
from tem_denoise.widgets.runner import JobRunner

if TYPE_CHECKING:
    import napari

HRTEM, STEM_HAADF, STEM_BF = "HRTEM vacuum stacks", "STEM HAADF image", "STEM BF image"


def parse_currents(text: str, n: int) -> list[float] | None:
    """Beam currents from comma-separated text: None when empty, else exactly ``n`` values."""
    if not text.strip():
        return None
    try:
        values = [float(v) for v in text.replace(";", ",").split(",") if v.strip()]
    except ValueError as exc:
        raise ValueError(f"beam currents must be numbers separated by commas, not {text!r}") from exc
    if len(values) != n:
        raise ValueError(f"give one beam current per selected stack: {n} stacks, {len(values)} currents")
    return values


class CalibrationWidget(Container):
    """Dock widget wrapping :func:`tem_denoise.physics.calibrate_hrtem_vacuum` and
    :func:`tem_denoise.physics.calibrate_stem`."""

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        self.viewer = viewer
        self.mode = ComboBox(label="data", choices=[HRTEM, STEM_HAADF, STEM_BF], value=HRTEM)
        self.stacks = Select(label="vacuum stacks", choices=image_layer_choices(viewer))
        self.currents = LineEdit(label="currents (nA)", value="")
        self.image = ComboBox(label="STEM image", choices=image_layer_choices(viewer))
        self.runner = JobRunner("Calibrate")
        self.summary = Label(value="No calibration yet.")
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
        self._source: Any = None
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
        hrtem = self.mode.value == HRTEM
        self.stacks.visible = self.currents.visible = hrtem
        self.image.visible = not hrtem

    def _fill_currents(self) -> None:
        currents = [layer.metadata.get("beam_current_nA") for layer in self.stacks.value]
        if currents and all(c is not None for c in currents):
            self.currents.value = ", ".join(f"{c:g}" for c in currents)

    def _job(self):
        """Check the inputs now (errors shown at once) and return the calibration generator."""
        if self.mode.value == HRTEM:
            layers = list(self.stacks.value)
            stacks = [layer_stack(layer) for layer in layers]
            currents = parse_currents(self.currents.value, len(layers))
            job = iter_calibrate(stacks, CalibrateOptions(), currents=currents)
        else:
            layer = self.image.value
            if layer is None:
                raise ValueError("choose an atomic-resolution STEM image layer")
            layers = [layer]
            options = CalibrateOptions(stem="bf" if self.mode.value == STEM_BF else "haadf")
            job = iter_calibrate([layer_stack(layer)], options, frame=frame_index(self.viewer, layer) or 0)
        self._source = layers[0] if layers else None
        return job

    def _show_result(self, result: tuple[physics.NoiseModel, physics.FitReport]) -> None:
        self.model, self.report = result
        self.summary.value = f"{_describe_model(self.model)}\n{self.report.summary()}"
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
        self.summary.value = f"Loaded {Path(path).name}: {_describe_model(self.model)}"
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
        """Add a synthetic noisy / clean / atom-map triple made with the current model."""
        if self.model is None:
            raise ValueError("calibrate or load a noise model first")
        pixel_nm = self._source_pixel_nm()
        if isinstance(self.model, physics.STEMNoise):
            extra = {"pixel_size_nm_range": (pixel_nm, pixel_nm)} if pixel_nm else {}
            pair = physics.synth_stem((256, 256), noise=self.model, rng=0, **extra)
        else:
            extra = {"pixel_size_nm": pixel_nm} if pixel_nm else {}
            pair = physics.synth_hrtem_nucleation((256, 256), noise=self.model, rng=0, **extra)
        calibration = self._preview_calibration(pair.pixel_size_nm)
        step = {"operation": "synthetic preview", "noise_model": self.model.to_dict()}
        return [
            self.viewer.add_image(data, name=f"synthetic ({label})", colormap="gray",
                                  metadata={"provenance": {"history": [step]}}, **calibration)
            for label, data in (("atom map", pair.atom_map), ("clean", pair.clean), ("noisy", pair.noisy))
        ]

    def _source_pixel_nm(self) -> float | None:
        """Mean pixel size (nm) of the calibrated layer, or None when it is not in length units."""
        calibration = Calibration.of_layer(self._source) if self._source is not None else Calibration()
        return calibration.mean_pixel_size if calibration.calibrated else None

    def _preview_calibration(self, pixel_nm: float) -> dict:
        """2D calibration in nm: the synthesis's pixel size, the source layer's origin and axis labels."""
        calibration = {"scale": (pixel_nm,) * 2, "units": ("nm", "nm"), "axis_labels": ("y", "x")}
        if self._source is not None:
            calibration["axis_labels"] = plane_calibration(self._source)["axis_labels"]
            source = Calibration.of_layer(self._source)
            if source.calibrated:
                calibration["translate"] = source.origin
        return calibration


def _describe_model(model: physics.NoiseModel) -> str:
    params = model.to_dict().get("params", {})
    fields = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())
    return f"{type(model).__name__}: {fields}"
