"""No-reference quality dock: layer -> Stack -> :func:`tem_denoise.operations.quality.iter_quality`
-> table and plots.

For each chosen denoised (t, y, x) layer: uMSE and uPSNR against the raw stack's temporally
adjacent frames and the structural similarity of consecutive denoised frames (CSS). The form
is :class:`~tem_denoise.operations.quality.QualityOptions` (the options of ``tem-denoise
quality``). Results go into a table and two plots in the dock, and can be exported as CSV.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from magicgui.widgets import ComboBox, Container, PushButton, Select, Table

from tem_denoise.operations.quality import (
    COLUMNS,
    QualityOptions,
    StackQuality,
    iter_quality,
    rows,
)
from tem_denoise.widgets.forms import OptionsForm
from tem_denoise.widgets.glue import image_layer_choices, layer_stack
from tem_denoise.widgets.plot_canvas import PlotCanvas, ask_save_path, limit_rows
from tem_denoise.widgets.runner import JobRunner

if TYPE_CHECKING:
    import napari


class QualityWidget(Container):
    """Dock widget: uMSE/uPSNR and CSS of denoised stacks against their raw stack."""

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        self.viewer = viewer
        self.noisy = ComboBox(label="raw stack", choices=image_layer_choices(viewer, ndim=3))
        self.denoised = limit_rows(Select(label="denoised stacks", choices=image_layer_choices(viewer, ndim=3)))
        self.form = OptionsForm(QualityOptions)
        self.runner = JobRunner("Compute quality")
        self.table = Table(value={name: [] for name in COLUMNS})
        self.table.read_only = True
        self.export_button = PushButton(text="Export CSV…", enabled=False)
        super().__init__(widgets=[self.noisy, self.denoised, *self.form.widgets.values(), self.runner,
                                  self.table, self.export_button])
        self.plot = PlotCanvas(self, figsize=(5, 4), min_height=280)
        self.results: list[StackQuality] = []
        self.runner.bind(self._job, self._show_result)
        self.denoised.changed.connect(self._guess_first_frame)
        self.export_button.changed.connect(self._ask_export)

    def _guess_first_frame(self) -> None:
        raw = self.noisy.value
        counts = {layer.data.shape[0] for layer in self.denoised.value}
        if raw is not None and len(counts) == 1:
            self.first_frame.value = max(0, (raw.data.shape[0] - counts.pop()) // 2)

    def _job(self):
        raw = self.noisy.value
        chosen = list(self.denoised.value)
        if raw is None or not chosen:
            raise ValueError("choose the raw stack and one or more denoised stacks")
        return iter_quality(layer_stack(raw), [layer_stack(layer) for layer in chosen], self.form.options())

    def rows(self) -> dict[str, list]:
        """The results table as columns (see :data:`~tem_denoise.operations.quality.COLUMNS`)."""
        return rows(self.results)

    def _show_result(self, results: list[StackQuality]) -> None:
        self.results = results
        self.table.value = {name: [_fmt(v) for v in values] for name, values in self.rows().items()}
        self.table.native.resizeColumnsToContents()
        self.export_button.enabled = True
        top, bottom = self.plot.axes(2)
        for index, result in enumerate(results):
            top.plot(result.umse.frames, result.umse.per_frame, "o-", ms=3, color=f"C{index}", label=result.name)
            bottom.plot(np.arange(len(result.css)) + 0.5, result.css, "o-", ms=3, color=f"C{index}")
        top.set_ylabel("uMSE")
        top.set_xlabel("raw frame i")
        top.legend(fontsize=7)
        bottom.set_ylabel("CSS(n, n+1)")
        bottom.set_xlabel("denoised frame n + 0.5")
        for ax in (top, bottom):
            ax.grid(alpha=0.3)
        self.plot.draw()

    def export_csv(self, path: str | Path) -> Path:
        """Write the results table (one row per denoised layer) as CSV."""
        if not self.results:
            raise ValueError("compute the quality first")
        from tem_denoise.analysis import write_csv

        write_csv(path, {name.split(" (")[0].replace(" ", "_"): np.asarray(values)
                         for name, values in self.rows().items()})
        return Path(path)

    def _ask_export(self) -> None:
        path = ask_save_path(self.native, "Export quality", "quality.csv", "CSV (*.csv)")
        if path:
            self.export_csv(path)


def _fmt(value: Any) -> Any:
    return f"{value:.4g}" if isinstance(value, float) else value
