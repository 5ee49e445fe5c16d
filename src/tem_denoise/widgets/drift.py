"""Drift-correction dock: register a (t, y, x) stack and add the corrected stack as a new layer.

Wraps :func:`tem_denoise.analysis.iter_estimate_drift` and
:func:`tem_denoise.analysis.iter_apply_shifts`. The shifts can be estimated on the stack
itself (Gaussian pre-filtered) or on another layer of the same shape, e.g. its denoised copy,
and applied to any stack with the same frames ("apply these shifts to another layer").
"""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from magicgui.widgets import ComboBox, Container, FloatSpinBox, Label, PushButton

from tem_denoise.analysis import (
    CorrectedStack,
    DriftResult,
    Progress,
    iter_apply_shifts,
    iter_estimate_drift,
    read_shifts_csv,
    write_shifts_csv,
)
from tem_denoise.widgets.glue import add_derived_image
from tem_denoise.widgets.layer_geometry import pixel_size_nm, stack_choices
from tem_denoise.widgets.plot_canvas import PlotCanvas, ask_open_path, ask_save_path, notify, wrap_text
from tem_denoise.widgets.runner import JobRunner, carrying

if TYPE_CHECKING:
    import napari

REFERENCES = [("first frame", "first"), ("previous frame (cumulative)", "previous"), ("running mean", "mean")]
MODES = [("Fourier shift (sub-pixel)", "fourier"), ("integer shift, crop to common field", "crop")]


def _same_or_stack_choices(viewer: Any):
    stacks = stack_choices(viewer)

    def choices(_widget: Any = None) -> list[tuple[str, Any]]:
        return [("(the stack itself)", None), *stacks()]

    return choices


def _estimate_then_apply(
    data: Any, options: dict, mode: str
) -> Generator[Progress, None, tuple[DriftResult, CorrectedStack | None]]:
    """Estimate the shifts, then apply them unless no frame could be registered."""
    result = yield from iter_estimate_drift(data, **options)
    if len(result.failed) > 1 and result.failed[1:].all():
        return result, None
    corrected = yield from iter_apply_shifts(data, result.shifts, mode=mode)
    return result, corrected


class DriftWidget(Container):
    """Dock widget: estimate drift, show the shifts, add the drift-corrected stack."""

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        self.viewer = viewer
        self.layer = ComboBox(label="stack", choices=stack_choices(viewer))
        self.estimate_on = ComboBox(
            label="estimate on", choices=_same_or_stack_choices(viewer),
            tooltip="Correlate this layer instead (e.g. the denoised copy of the stack); "
                    "the shifts are applied to 'stack'.",
        )
        self.reference = ComboBox(label="reference", choices=REFERENCES, value="first")
        self.prefilter = FloatSpinBox(
            label="pre-filter σ (px)", value=1.0, min=0.0, max=20.0, step=0.25,
            tooltip="Gaussian blur before correlating (0 = none). About the atom-column σ works "
                    "best on raw low-dose frames.",
        )
        self.mode = ComboBox(label="apply by", choices=MODES, value="fourier")
        self.runner = JobRunner("Correct drift")
        self.summary = wrap_text(Label(value=""))
        self.export_button = PushButton(text="Export shifts CSV…", enabled=False)
        self.load_button = PushButton(text="Load shifts CSV…")
        self.apply_to = ComboBox(label="apply shifts to", choices=stack_choices(viewer))
        self.apply_runner = JobRunner("Apply these shifts")
        self.apply_runner.button.enabled = False
        super().__init__(widgets=[
            self.layer, self.estimate_on, self.reference, self.prefilter, self.mode, self.runner,
            self.summary,
            Container(widgets=[self.export_button, self.load_button], layout="horizontal", labels=False),
            self.apply_to, self.apply_runner,
        ])
        self.plot = PlotCanvas(self, figsize=(5, 3), min_height=220)
        self.result: DriftResult | None = None
        self.shifts: np.ndarray | None = None
        self.output: Any = None
        self._shift_source: dict = {}
        self.runner.bind(self._job, self._show_result)
        self.apply_runner.bind(self._apply_job, self._show_applied)
        self.export_button.changed.connect(self._ask_export)
        self.load_button.changed.connect(self._ask_load)

    # -- estimate and correct -------------------------------------------------------------
    def _job(self):
        layer = self.layer.value
        if layer is None:
            raise ValueError("open or choose a (t, y, x) stack to correct")
        source = self.estimate_on.value
        if source is not None and tuple(source.data.shape) != tuple(layer.data.shape):
            raise ValueError(
                f"'{source.name}' has shape {tuple(source.data.shape)} but '{layer.name}' has "
                f"{tuple(layer.data.shape)}; estimate on a layer with the same frames"
            )
        options = {
            "reference": self.reference.value,
            "prefilter_sigma_px": self.prefilter.value or None,
            "estimate_on": None if source is None else source.data,
        }
        step = {
            "operation": "drift correction",
            "reference": self.reference.value,
            "prefilter_sigma_px": self.prefilter.value or None,
            "estimated_on": layer.name if source is None else source.name,
            "mode": self.mode.value,
        }
        return carrying((layer, step), _estimate_then_apply(layer.data, options, self.mode.value))

    def _show_result(self, payload: tuple) -> None:
        (layer, step), (result, corrected) = payload
        self.result, self.shifts = result, result.shifts
        self._shift_source = {"name": step["estimated_on"], "frame_shape": tuple(layer.data.shape[-2:]),
                              "pixel_size_nm": pixel_size_nm(layer)}
        self.plot_shifts()
        self.export_button.enabled = self.apply_runner.button.enabled = True
        for message in result.warnings:  # napari does not relay warnings raised in workers
            notify(message)
        if corrected is None:
            self.summary.value = "No corrected stack was added.\n" + "\n".join(result.warnings)
            return
        self.output = self._add_corrected(layer, corrected, step)
        self.summary.value = self._describe(result) + "".join(f"\n⚠ {w}" for w in result.warnings)

    def _add_corrected(self, layer: Any, corrected: CorrectedStack, step: dict) -> Any:
        translate = np.array(layer.translate, dtype=np.float64)  # a copy: never the layer's own array
        translate[-2:] += corrected.origin_px * np.asarray(layer.scale[-2:], dtype=np.float64)
        output = add_derived_image(
            self.viewer, layer, corrected.data, f"{layer.name} (drift-corrected)", step,
            translate=tuple(translate),
        )
        output.metadata["drift"] = {
            "origin_px": corrected.origin_px.tolist(),
            **{name: np.asarray(values).tolist()
               for name, values in self._shift_table(corrected.shifts).items()},
        }
        return output

    def _shift_table(self, applied: np.ndarray) -> dict:
        size = self._shift_source.get("pixel_size_nm")
        if self.result is not None and np.array_equal(applied, self.result.shifts):
            return self.result.to_table(size)
        table = {"frame": np.arange(len(applied)), "shift_y_px": applied[:, 0], "shift_x_px": applied[:, 1]}
        if size is not None:
            table.update(shift_y_nm=applied[:, 0] * size[0], shift_x_nm=applied[:, 1] * size[1])
        return table

    def _describe(self, result: DriftResult) -> str:
        drift = result.drift
        size = self._shift_source.get("pixel_size_nm")
        total = float(np.hypot(*drift[-1]))
        largest = float(np.max(np.hypot(drift[:, 0], drift[:, 1])))
        unit_text = (f"{largest * size[1]:.3f} nm ({largest:.2f} px)" if size else f"{largest:.2f} px")
        lines = [f"{len(drift)} frames; largest drift {unit_text}; last frame {total:.2f} px"]
        if result.failed.any():
            lines.append(f"{int(result.failed.sum())} frame(s) failed and were interpolated")
        if len(result.rebased_at):
            lines.append(f"reference re-based at frame(s) {', '.join(map(str, result.rebased_at))}")
        return "\n".join(lines)

    def plot_shifts(self) -> None:
        """Plot the specimen drift (y, x) per frame in nm (px when uncalibrated)."""
        if self.shifts is None:
            return
        (ax,) = self.plot.axes()
        drift = -self.shifts
        size = self._shift_source.get("pixel_size_nm")
        scale = np.asarray(size) if size else np.ones(2)
        unit = "nm" if size else "px"
        frames = np.arange(len(drift))
        ax.plot(frames, drift[:, 0] * scale[0], "o-", ms=3, label="drift y")
        ax.plot(frames, drift[:, 1] * scale[1], "s-", ms=3, label="drift x")
        if self.result is not None and self.result.failed.any():
            bad = np.flatnonzero(self.result.failed)
            ax.plot(bad, drift[bad, 0] * scale[0], "rx", ms=8, label="failed (interpolated)")
            ax.plot(bad, drift[bad, 1] * scale[1], "rx", ms=8)
        ax.set_xlabel("frame")
        ax.set_ylabel(f"specimen drift ({unit})")
        ax.set_title(f"shifts estimated on {self._shift_source.get('name', '?')}", fontsize=9)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
        self.plot.draw()

    # -- shifts files ---------------------------------------------------------------------
    def export_shifts(self, path: str | Path) -> Path:
        """Write the current shifts as CSV (frame, shift_y_px, shift_x_px[, nm], ...)."""
        if self.shifts is None:
            raise ValueError("estimate or load shifts first")
        size = self._shift_source.get("pixel_size_nm")
        write_shifts_csv(path, self.result if self.result is not None else self.shifts, size)
        return Path(path)

    def load_shifts(self, path: str | Path) -> None:
        """Use shifts from a CSV written by :meth:`export_shifts` or ``tem-denoise drift``."""
        self.shifts, self.result = read_shifts_csv(path), None
        self._shift_source = {"name": Path(path).name}
        self.plot_shifts()
        self.summary.value = f"Loaded {len(self.shifts)} frame shifts from {Path(path).name}."
        self.export_button.enabled = self.apply_runner.button.enabled = True

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
        if target.data.shape[0] != len(self.shifts):
            raise ValueError(
                f"'{target.name}' has {target.data.shape[0]} frames but the shifts cover "
                f"{len(self.shifts)}; pick a stack with the same frames"
            )
        frame_shape = self._shift_source.get("frame_shape")
        if frame_shape is not None and tuple(target.data.shape[-2:]) != frame_shape:
            raise ValueError(
                f"the shifts are in pixels of {frame_shape} frames but '{target.name}' has "
                f"{tuple(target.data.shape[-2:])} frames; resample it to the same grid first"
            )
        step = {"operation": "apply drift shifts", "shifts_from": self._shift_source.get("name"),
                "mode": self.mode.value}
        return carrying((target, step), iter_apply_shifts(target.data, self.shifts, mode=self.mode.value))

    def _show_applied(self, payload: tuple) -> None:
        (target, step), corrected = payload
        self.output = self._add_corrected(target, corrected, step)
        self.summary.value = f"Applied the shifts of {step['shifts_from']} to {target.name}."
