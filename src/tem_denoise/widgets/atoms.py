"""Atom-localisation dock: find atom columns in a frame or stack and show them as a Points layer.

Wraps :func:`tem_denoise.analysis.iter_locate_atoms_stack` (peak finding with an optional
LoG pre-filter, then Gaussian-fit or centre-of-mass refinement). Atoms are searched on the
image itself or, optionally, on the output of an atom-map network (bright Gaussian atoms on
black, e.g. ``unet-haadf``): an analysis step, never a denoised image. The Points layer shares the
image's scale, translate, units and axis labels; its features table holds the frame, the
position in px and nm, the fitted intensity, sigma and fit quality of every atom.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from magicgui.widgets import CheckBox, ComboBox, Container, FloatSpinBox, Label, PushButton

from tem_denoise.analysis import atoms_in_nm, iter_locate_atoms_stack, write_atoms_csv
from tem_denoise.widgets.glue import calibration_of, image_layer_choices
from tem_denoise.widgets.layer_geometry import frame_index, origin_nm, pixel_size_nm
from tem_denoise.widgets.plot_canvas import PlotCanvas, ask_save_path, wrap_text
from tem_denoise.widgets.runner import JobRunner

if TYPE_CHECKING:
    import napari

FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))
DEFAULT_SEPARATION_PX = 3.0
"""Minimum separation offered for uncalibrated layers (our choice; 0.2 nm at the sample's 0.07 nm/px)."""


def _negated(data: Any) -> Any:
    """``-data`` as float32, lazily for dask arrays (dark atoms become bright)."""
    if hasattr(data, "map_blocks"):
        return -data.astype(np.float32)
    return -np.asarray(data, dtype=np.float32)


def _search_choices(_widget: Any = None) -> list[tuple[str, str]]:
    """"the image itself" and every atom-map network (re-read, so new user models appear)."""
    from tem_denoise.models.registry import available_models

    maps = [(f"atom map of {card.name} ({card.modality})", name)
            for name, card in available_models().items() if card.output_kind == "atom-map"]
    return [("the image itself", ""), *maps]


def _on_atom_map(model: str, data: Any, separation: float, options: dict):
    """Make the atom map of ``data`` with network ``model``, then locate atoms on it; yields the
    engine's and then the localisation's progress, returns the atom table."""
    from tem_denoise.engine import Denoiser

    atom_map = yield from Denoiser(model).iter_denoise(data)
    return (yield from iter_locate_atoms_stack(atom_map, separation, **options))


class AtomsWidget(Container):
    """Dock widget: locate atoms and add them as a Points layer with a features table."""

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        self.viewer = viewer
        self.layer = ComboBox(label="image", choices=image_layer_choices(viewer))
        self.search_on = ComboBox(label="search on", choices=_search_choices, value="",
                                  tooltip="the image itself, or the atom map an atom-map network makes of it")
        self.frames = ComboBox(label="frames", choices=[("current frame", "current"), ("all frames", "all")],
                               value="all")
        self.separation = FloatSpinBox(label="min separation", value=0.2, min=0.01, max=1000.0, step=0.01)
        self.separation_unit = ComboBox(label="separation unit", choices=["nm", "px"], value="nm")
        self.threshold = FloatSpinBox(
            label="threshold", value=0.2, min=-1e9, max=1e9, step=0.05,
            tooltip="relative: fraction of the way from the median to the maximum of the searched "
                    "image; absolute: image value (for dark atoms: atoms darker than this)",
        )
        self.threshold_kind = ComboBox(label="threshold is", choices=["relative", "absolute"], value="relative")
        self.invert = CheckBox(text="invert (dark atoms, e.g. HRTEM)", value=False)
        self.log = CheckBox(text="LoG pre-filter", value=False)
        self.log_sigma = FloatSpinBox(label="LoG σ (px)", value=1.0, min=0.3, max=50.0, step=0.1)
        self.method = ComboBox(label="refinement", choices=[("2D Gaussian fit", "gaussian"),
                                                            ("centre of mass", "com")], value="gaussian")
        self.runner = JobRunner("Find atoms")
        self.count_label = wrap_text(Label(value=""))
        self.export_button = PushButton(text="Export atoms CSV…", enabled=False)
        super().__init__(widgets=[
            self.layer, self.search_on, self.frames, self.separation, self.separation_unit, self.threshold,
            self.threshold_kind, self.invert, self.log, self.log_sigma, self.method, self.runner,
            self.count_label, self.export_button,
        ])
        self.plot = PlotCanvas(self, figsize=(5, 3.4), min_height=240)
        self.table: dict | None = None
        self.output: Any = None
        self._pending: dict = {}
        self.runner.bind(self._job, self._show_result)
        self.export_button.changed.connect(self._ask_export)
        self.layer.changed.connect(self._layer_changed)
        viewer.dims.events.current_step.connect(self._show_count)
        self._layer_changed()

    def _layer_changed(self) -> None:
        """Give the separation in nm for calibrated layers (keeping its length), else in px."""
        layer = self.layer.value
        size = None if layer is None else pixel_size_nm(layer)
        if size is not None and self.separation_unit.value == "px":
            self.separation_unit.value = "nm"
            self.separation.value = round(float(self.separation.value) * float(np.mean(size)), 3)
        elif size is None and self.separation_unit.value == "nm":
            self.separation_unit.value, self.separation.value = "px", DEFAULT_SEPARATION_PX
        self.frames.visible = layer is not None and layer.ndim == 3

    def separation_px(self, layer: Any) -> float:
        """The minimum separation in pixels of ``layer``."""
        if self.separation_unit.value == "px":
            return float(self.separation.value)
        size = pixel_size_nm(layer)
        if size is None:
            raise ValueError(f"'{layer.name}' has no nm calibration; give the minimum separation in px")
        return float(self.separation.value) / float(np.mean(size))

    def _job(self):
        layer = self.layer.value
        if layer is None:
            raise ValueError("choose an image layer (a denoised frame, stack or atom map)")
        if layer.ndim not in (2, 3):
            raise ValueError(f"'{layer.name}' has {layer.ndim} dimensions; expected (y, x) or (t, y, x)")
        data, first = layer.data, 0
        if layer.ndim == 3 and self.frames.value == "current":
            first = frame_index(self.viewer, layer)
            data = data[first]
        if self.invert.value and not self.search_on.value:
            data = _negated(data)
        options: dict[str, Any] = {"method": self.method.value,
                                   "log_sigma_px": self.log_sigma.value if self.log.value else None}
        if self.threshold_kind.value == "relative":
            options["threshold_rel"] = float(self.threshold.value)
        else:
            value = float(self.threshold.value)
            options.update(threshold_rel=None, threshold_abs=-value if self.invert.value else value)
        separation = self.separation_px(layer)
        if separation < 1:
            raise ValueError(f"the minimum separation is {separation:.2f} px; it must be at least 1 px "
                             "(check its unit)")
        model = self.search_on.value
        step = {"operation": "atom localisation", "min_separation_px": separation,
                "inverted": bool(self.invert.value) and not model, "atom_map_model": model or None, **options}
        self._pending = {"layer": layer, "first": first, "step": step}
        if model:
            return _on_atom_map(model, data, separation, options)
        return iter_locate_atoms_stack(data, separation, **options)

    def _show_result(self, table: dict) -> None:
        layer, first = self._pending["layer"], self._pending["first"]
        table = dict(table)
        table["frame"] = table["frame"] + first
        if self._pending["step"]["inverted"]:
            table["background"] = -table["background"]
        self.table = table
        self._pending["calibration"] = (pixel_size_nm(layer), origin_nm(layer) if pixel_size_nm(layer) else None)
        self.output = self._add_points(layer, table, self._pending["step"])
        self.export_button.enabled = True
        self._show_count()
        self._plot()

    def features(self) -> dict:
        """The atom table with nm columns when the image is calibrated."""
        size, origin = self._pending["calibration"]
        return self.table if size is None else atoms_in_nm(self.table, size, origin)

    def _add_points(self, layer: Any, table: dict, step: dict) -> Any:
        yx = np.stack([table["y_px"], table["x_px"]], axis=1)
        data = np.column_stack([table["frame"], yx]) if layer.ndim == 3 else yx
        size = np.maximum(FWHM_PER_SIGMA * table["sigma_px"], 1.0)
        features = self.features()
        if self.output is not None and self.output in self.viewer.layers \
                and self.output.metadata.get("atoms_of") == layer.name:
            points = self.output
            points.data = data
            points.features = features
            points.size = size
            points.metadata["provenance"] = {"derived_from": layer.name, "history": [step]}
            return points
        return self.viewer.add_points(
            data,
            name=f"{layer.name} atoms",
            features=features,
            size=size,
            face_color="transparent",
            border_color="#ffd000",
            border_width=0.15,
            out_of_slice_display=False,
            metadata={"atoms_of": layer.name, "provenance": {"derived_from": layer.name, "history": [step]}},
            **calibration_of(layer),
        )

    def counts(self) -> dict[int, int]:
        """Number of atoms found per frame index."""
        if self.table is None:
            return {}
        frames, numbers = np.unique(self.table["frame"], return_counts=True)
        return dict(zip(frames.tolist(), numbers.tolist(), strict=True))

    def _show_count(self, _event: Any = None) -> None:
        if self.table is None:
            return
        layer = self._pending["layer"]
        counts = self.counts()
        index = frame_index(self.viewer, layer) if layer in self.viewer.layers else None
        if index is None:
            self.count_label.value = f"{len(self.table['frame'])} atoms"
            return
        here = counts.get(index, 0)
        processed = sorted({int(f) for f in self.table["frame"]})
        text = f"frame {index}: {here} atoms"
        if len(processed) > 1:
            values = np.array([counts.get(f, 0) for f in range(processed[0], processed[-1] + 1)])
            text += f"\n{len(processed)} frames: {values.mean():.0f} ± {values.std():.0f} atoms per frame"
        self.count_label.value = text

    def _plot(self) -> None:
        counts = self.counts()
        features = self.features()
        unit = "nm" if "sigma_nm" in features else "px"
        sigma = features["sigma_nm" if unit == "nm" else "sigma_px"]
        top, bottom = self.plot.axes(2)
        if counts:
            top.plot(list(counts), list(counts.values()), "o-", ms=3)
        top.set_xlabel("frame")
        top.set_ylabel("atoms")
        top.grid(alpha=0.3)
        if len(sigma):
            bottom.hist(sigma, bins=40, color="#c08000")
        bottom.set_xlabel(f"fitted σ ({unit})")
        bottom.set_ylabel("atoms")
        self.plot.draw()

    def export_csv(self, path: str | Path) -> Path:
        """Write the atom table (frame, y_px, x_px[, y_nm, x_nm], intensity, ...) as CSV."""
        if self.table is None:
            raise ValueError("find atoms first")
        size, origin = self._pending["calibration"]
        write_atoms_csv(path, self.table, size, origin or (0.0, 0.0))
        return Path(path)

    def _ask_export(self) -> None:
        path = ask_save_path(self.native, "Export atoms", "atoms.csv", "CSV (*.csv)")
        if path:
            self.export_csv(path)
