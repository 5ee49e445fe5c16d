"""Drift-correction dock: layer -> Stack -> :func:`tem_denoise.operations.drift.iter_correct_drift`
-> layer.

The form is :class:`~tem_denoise.operations.drift.DriftOptions` (the options of
``tem-denoise drift``). The shifts can be estimated on the stack itself (Gaussian
pre-filtered) or on another layer of the same shape, e.g. its denoised copy, and applied to
any stack with the same frames ("apply these shifts to another layer").
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from magicgui.widgets import ComboBox, Container, Label, PushButton

from tem_denoise.operations.drift import (
    DriftCorrection,
    DriftOptions,
    iter_correct_drift,
)
from tem_denoise.widgets.forms import OptionsForm
from tem_denoise.widgets.glue import add_result_image, image_combo, image_layer_choices, layer_stack
from tem_denoise.widgets.plot_canvas import (
    PlotCanvas,
    ask_open_path,
    ask_save_path,
    notify,
    wrap_text,
)
from tem_denoise.widgets.runner import JobRunner, carrying

if TYPE_CHECKING:
    import napari


def _same_or_stack_choices(viewer: Any):
    stacks = image_layer_choices(viewer, ndim=3)

    def choices(_widget: Any = None) -> list[tuple[str, Any]]:
        return [("(the stack itself)", None), *stacks()]

    return choices


class DriftWidget(Container):
    """Dock widget: estimate drift, show the shifts, add the drift-corrected stack."""

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        self.viewer = viewer
        self.layer = image_combo(viewer, ndim=3, label="stack")
        self.estimate_on = ComboBox(
            label="estimate on", choices=_same_or_stack_choices(viewer),
            tooltip="Correlate this layer instead (e.g. the denoised copy of the stack); "
                    "the shifts are applied to 'stack'.",
        )
        self.form = OptionsForm(DriftOptions)
        self.runner = JobRunner("Correct drift")
        self.summary = wrap_text(Label(value=""))
        self.export_button = PushButton(text="Export shifts CSV…", enabled=False)
        self.load_button = PushButton(text="Load shifts CSV…")
        self.apply_to = image_combo(viewer, ndim=3, label="apply shifts to")
        self.apply_runner = JobRunner("Apply these shifts")
        self.apply_runner.button.enabled = False
        super().__init__(widgets=[
            self.layer, self.estimate_on, *self.form.widgets.values(), self.runner, self.summary,
            Container(widgets=[self.export_button, self.load_button], layout="horizontal", labels=False),
            self.apply_to, self.apply_runner,
        ])
        self.plot = PlotCanvas(self, figsize=(5, 3), min_height=220)
        self.correction: DriftCorrection | None = None
        self.shifts: np.ndarray | None = None
        self.output: Any = None
        self._shifts_from = ""
        self._frame_shape: tuple | None = None
        self.runner.bind(self._job, self._show_result)
        self.apply_runner.bind(self._apply_job, self._show_applied)
        self.export_button.changed.connect(self._ask_export)
        self.load_button.changed.connect(self._ask_load)

    # -- estimate and correct -------------------------------------------------------------
    def _job(self):
        if self.layer.value is None:
            raise ValueError("open or choose a (t, y, x) stack to correct")
        stack = layer_stack(self.layer.value)
        source = self.estimate_on.value
        estimate_on = None if source is None else layer_stack(source)
        return carrying(self.layer.value, iter_correct_drift(stack, self.form.options(), estimate_on=estimate_on))

    def _show_result(self, payload: tuple) -> None:
        layer, correction = payload
        self._use(correction)
        for message in correction.estimate.warnings:  # napari does not relay warnings raised in workers
            notify(message)
        if not correction.registered:
            self.summary.value = "No corrected stack was added.\n" + "\n".join(correction.estimate.warnings)
            return
        self.output = self._add_corrected(layer, correction)
        self.summary.value = correction.summary()

    def _use(self, correction: DriftCorrection) -> None:
        """Keep ``correction``'s shifts for export, plotting and applying to other layers."""
        self.correction, self.shifts, self._shifts_from = correction, correction.shifts, correction.shifts_from
        self._frame_shape = None if correction.stack is None else tuple(self.layer.value.data.shape[-2:])
        self.plot_shifts()
        self.export_button.enabled = self.apply_runner.button.enabled = True

    def _add_corrected(self, layer: Any, correction: DriftCorrection) -> Any:
        translate = np.array(layer.translate, dtype=np.float64)  # a copy: never the layer's own array
        translate[-2:] += correction.origin_px * np.asarray(layer.scale[-2:], dtype=np.float64)
        output = add_result_image(self.viewer, layer, correction.stack, translate=tuple(translate))
        output.metadata["drift"] = {"origin_px": correction.origin_px.tolist(),
                                    **{name: np.asarray(values).tolist()
                                       for name, values in correction.table().items()}}
        return output

    def plot_shifts(self) -> None:
        """Plot the specimen drift (y, x) per frame in nm (px when uncalibrated)."""
        if self.correction is None:
            return
        (ax,) = self.plot.axes()
        drift = -self.correction.shifts
        calibration = self.correction.calibration
        scale = np.asarray(calibration.pixel_size or (1.0, 1.0))
        frames = np.arange(len(drift))
        ax.plot(frames, drift[:, 0] * scale[0], "o-", ms=3, label="drift y")
        ax.plot(frames, drift[:, 1] * scale[1], "s-", ms=3, label="drift x")
        estimate = self.correction.estimate
        if estimate is not None and estimate.failed.any():
            bad = np.flatnonzero(estimate.failed)
            ax.plot(bad, drift[bad, 0] * scale[0], "rx", ms=8, label="failed (interpolated)")
            ax.plot(bad, drift[bad, 1] * scale[1], "rx", ms=8)
        ax.set_xlabel("frame")
        ax.set_ylabel(f"specimen drift ({calibration.unit})")
        ax.set_title(f"estimated on {self._shifts_from}", fontsize=9, wrap=True)  # wraps at the dock's width
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
        self.plot.draw()

    # -- shifts files ---------------------------------------------------------------------
    def export_shifts(self, path: str | Path) -> Path:
        """Write the current shifts as CSV (frame, shift_y_px, shift_x_px[, nm], ...)."""
        if self.correction is None:
            raise ValueError("estimate or load shifts first")
        self.correction.write_shifts(path)
        return Path(path)

    def load_shifts(self, path: str | Path) -> None:
        """Use shifts from a CSV written by :meth:`export_shifts` or ``tem-denoise drift``."""
        from tem_denoise.analysis import read_shifts_csv
        from tem_denoise.io import Calibration

        shifts = read_shifts_csv(path)
        self._use(DriftCorrection(None, shifts, np.zeros(2), Calibration(), None, Path(path).name))
        self.summary.value = f"Loaded {len(shifts)} frame shifts from {Path(path).name}."

    def _ask_export(self) -> None:
        path = ask_save_path(self.native, "Export shifts", "shifts.csv", "CSV (*.csv)")
        if path:
            self.export_shifts(path)

    def _ask_load(self) -> None:
        path = ask_open_path(self.native, "Load shifts", "CSV (*.csv)")
        if path:
            self.load_shifts(path)

    # -- apply to another layer -----------------------------------------------------------
    def _apply_job(self):
        target = self.apply_to.value
        if self.shifts is None:
            raise ValueError("estimate drift (or load shifts) first")
        if target is None:
            raise ValueError("choose the (t, y, x) stack to apply the shifts to")
        if self._frame_shape is not None and tuple(target.data.shape[-2:]) != self._frame_shape:
            raise ValueError(f"the shifts are in pixels of {self._frame_shape} frames but '{target.name}' has "
                             f"{tuple(target.data.shape[-2:])} frames; resample it to the same grid first")
        job = iter_correct_drift(layer_stack(target), self.form.options(), shifts=self.shifts,
                                 shifts_from=self._shifts_from)
        return carrying(target, job)

    def _show_applied(self, payload: tuple) -> None:
        target, correction = payload
        self.output = self._add_corrected(target, correction)
        self.summary.value = f"Applied the shifts of {self._shifts_from} to {target.name}."
