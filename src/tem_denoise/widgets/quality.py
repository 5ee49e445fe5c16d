"""No-reference quality dock: compare denoised stacks on real data without ground truth.

For each chosen denoised (t, y, x) layer: uMSE and uPSNR against the raw stack's temporally
adjacent frames (:func:`tem_denoise.analysis.umse`, seed 002 eqs. 1-2) and the structural
similarity of consecutive denoised frames (:func:`tem_denoise.analysis.css`, seed 004 eq. 10).
Results go into a table and two plots in the dock, and can be exported as CSV.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from magicgui.widgets import ComboBox, Container, LineEdit, PushButton, Select, SpinBox, Table

from tem_denoise.analysis import Progress, UnsupervisedMSE, css, umse, write_csv
from tem_denoise.widgets.layer_geometry import stack_choices
from tem_denoise.widgets.plot_canvas import PlotCanvas, ask_save_path, limit_rows
from tem_denoise.widgets.runner import JobRunner

if TYPE_CHECKING:
    import napari

COLUMNS = ("layer", "uMSE", "uPSNR (dB)", "mean CSS", "min CSS")


@dataclass(frozen=True)
class LayerQuality:
    """No-reference scores of one denoised stack."""

    name: str
    umse: UnsupervisedMSE
    css: np.ndarray


def parse_offsets(text: str) -> tuple[int, int, int]:
    """Three comma-separated integer frame offsets a, b, c (e.g. "-1, 1, 2")."""
    try:
        values = tuple(int(v) for v in text.replace(";", ",").split(",") if v.strip())
    except ValueError as exc:
        raise ValueError(f"offsets must be three integers such as '-1, 1, 2', not {text!r}") from exc
    if len(values) != 3:
        raise ValueError(f"give three offsets a, b, c (e.g. '-1, 1, 2'); got {text!r}")
    return values  # type: ignore[return-value]


def iter_quality(
    noisy: np.ndarray, stacks: list[tuple[str, np.ndarray]], *, first_frame: int,
    offsets: tuple[int, int, int],
) -> Generator[Progress, None, list[LayerQuality]]:
    """uMSE of each denoised stack, then CSS of its consecutive frames, yielding per frame pair.

    The CSS constants are scaled by the raw stack's peak (the M of uPSNR), the same for every
    compared stack.
    """
    peak = float(np.max(noisy))
    total = sum(max(len(data) - 1, 1) for _, data in stacks)
    done, results = 0, []
    for name, data in stacks:
        scores = umse(data, noisy, first_frame=first_frame, offsets=offsets, peak=peak)
        values = []
        for n in range(len(data) - 1):
            values.append(css(data[n], data[n + 1], data_range=peak))
            done += 1
            yield Progress(done, total, f"CSS of {name}")
        results.append(LayerQuality(name, scores, np.asarray(values)))
    return results


class QualityWidget(Container):
    """Dock widget: uMSE/uPSNR and CSS of denoised stacks against their raw stack."""

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        self.viewer = viewer
        self.noisy = ComboBox(label="raw stack", choices=stack_choices(viewer))
        self.denoised = limit_rows(Select(label="denoised stacks", choices=stack_choices(viewer)))
        self.first_frame = SpinBox(
            label="raw index of frame 0", value=0, min=0, max=100000,
            tooltip="index in the raw stack of the denoised stack's first frame (1 when the "
                    "denoiser dropped the first frame)",
        )
        self.offsets = LineEdit(label="offsets a, b, c", value="-1, 1, 2",
                                tooltip="raw frames i+a, i+b, i+c serve as independent noisy views of frame i")
        self.runner = JobRunner("Compute quality")
        self.table = Table(value={name: [] for name in COLUMNS})
        self.table.read_only = True
        self.export_button = PushButton(text="Export CSV…", enabled=False)
        super().__init__(widgets=[self.noisy, self.denoised, self.first_frame, self.offsets, self.runner,
                                  self.table, self.export_button])
        self.plot = PlotCanvas(self, figsize=(5, 4), min_height=280)
        self.results: list[LayerQuality] = []
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
        for layer in chosen:
            if tuple(layer.data.shape[1:]) != tuple(raw.data.shape[1:]):
                raise ValueError(f"'{layer.name}' has frames of {tuple(layer.data.shape[1:])} but the raw "
                                 f"stack has {tuple(raw.data.shape[1:])}")
        noisy = np.asarray(raw.data, dtype=np.float32)
        stacks = [(layer.name, np.asarray(layer.data, dtype=np.float32)) for layer in chosen]
        return iter_quality(noisy, stacks, first_frame=int(self.first_frame.value),
                            offsets=parse_offsets(self.offsets.value))

    def rows(self) -> dict[str, list]:
        """The results table as columns (see :data:`COLUMNS`)."""
        return {
            "layer": [r.name for r in self.results],
            "uMSE": [r.umse.umse for r in self.results],
            "uPSNR (dB)": [r.umse.upsnr for r in self.results],
            "mean CSS": [float(np.mean(r.css)) if len(r.css) else float("nan") for r in self.results],
            "min CSS": [float(np.min(r.css)) if len(r.css) else float("nan") for r in self.results],
        }

    def _show_result(self, results: list[LayerQuality]) -> None:
        self.results = results
        rows = self.rows()
        self.table.value = {name: [_fmt(v) for v in values] for name, values in rows.items()}
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
        rows = self.rows()
        write_csv(path, {name.split(" (")[0].replace(" ", "_"): np.asarray(values)
                         for name, values in rows.items()})
        return Path(path)

    def _ask_export(self) -> None:
        path = ask_save_path(self.native, "Export quality", "quality.csv", "CSV (*.csv)")
        if path:
            self.export_csv(path)


def _fmt(value: Any) -> Any:
    return f"{value:.4g}" if isinstance(value, float) else value
