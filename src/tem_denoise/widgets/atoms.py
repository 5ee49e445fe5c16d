"""Atom-localisation dock: layer -> Stack -> :func:`tem_denoise.operations.atoms.iter_find_atoms`
-> Points layer.

The form is generated from :class:`~tem_denoise.operations.atoms.AtomOptions` (the same
fields as ``tem-denoise atoms``); with no separation given it is estimated from the image and
reported in nm. The image defaults to the newest result layer (the denoised or drift-corrected
stack) and follows new results. The Points layer shares the image's scale, translate, units
and axis labels; its features table holds the frame, the position in px and nm, the fitted
intensity, sigma and fit quality of every atom.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from magicgui.widgets import ComboBox, Container, Label, PushButton

from tem_denoise.operations.atoms import AtomOptions, AtomTable, iter_find_atoms
from tem_denoise.widgets.forms import OptionsForm
from tem_denoise.widgets.glue import (
    calibration_of,
    follow_new_results,
    image_layer_choices,
    layer_stack,
    newest_image,
    preferred_device,
    show_layer,
)
from tem_denoise.widgets.layer_geometry import frame_index
from tem_denoise.widgets.plot_canvas import PlotCanvas, ask_save_path, wrap_text
from tem_denoise.widgets.runner import JobRunner, carrying

if TYPE_CHECKING:
    import napari

FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))


def _search_choices(_widget: Any = None) -> list[tuple[str, str]]:
    """"the image itself" and every atom-map network (re-read, so new user models appear)."""
    from tem_denoise.models.registry import available_models

    maps = [(f"atom map of {card.name} ({card.modality})", name)
            for name, card in available_models().items() if card.output_kind == "atom-map"]
    return [("the image itself", ""), *maps]


class AtomsWidget(Container):
    """Dock widget: locate atoms and add them as a Points layer with a features table."""

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        self.viewer = viewer
        self.layer = ComboBox(label="image", choices=image_layer_choices(viewer), value=newest_image(viewer))
        self.search_on = ComboBox(label="search on", choices=_search_choices, value="",
                                  tooltip="the image itself, or the atom map an atom-map network makes of it")
        self.frames = ComboBox(label="frames", choices=[("current frame", "current"), ("all frames", "all")],
                               value="all")
        self.form = OptionsForm(AtomOptions)
        self.runner = JobRunner("Find atoms")
        self.count_label = wrap_text(Label(value=""))
        self.export_button = PushButton(text="Export atoms CSV…", enabled=False)
        super().__init__(widgets=[self.layer, self.search_on, self.frames, *self.form.widgets.values(),
                                  self.runner, self.count_label, self.export_button])
        self.plot = PlotCanvas(self, figsize=(5, 3.4), min_height=240)
        self.atoms: AtomTable | None = None
        self.output: Any = None
        self._source: Any = None
        self.runner.bind(self._job, self._show_result)
        self.export_button.changed.connect(self._ask_export)
        self.layer.changed.connect(self._layer_changed)
        viewer.dims.events.current_step.connect(self._show_count)
        follow_new_results(viewer, self.layer)
        self._layer_changed()

    @property
    def table(self) -> dict | None:
        """The last atom table (px and, when calibrated, nm columns), or None."""
        return None if self.atoms is None else self.atoms.table

    def _layer_changed(self) -> None:
        """Offer the separation in nm for calibrated layers and in px for the others."""
        layer = self.layer.value
        calibrated = layer is not None and layer_stack(layer).calibration.calibrated
        self.form["min_separation_nm"].visible = calibrated
        self.frames.visible = layer is not None and layer.ndim == 3

    def _job(self):
        layer = self.layer.value
        stack = layer_stack(layer)
        options = self.form.options()
        if options.min_separation_nm is not None and self.form["min_separation_nm"].native.isHidden():
            options = replace(options, min_separation_nm=None)
        frame = frame_index(self.viewer, layer) if layer.ndim == 3 and self.frames.value == "current" else None
        job = iter_find_atoms(stack, options, frame=frame, atom_map_model=self.search_on.value or None,
                              device=preferred_device())
        return carrying(layer, job)

    def _show_result(self, result: tuple[Any, AtomTable]) -> None:
        layer, atoms = result
        self.atoms, self._source = atoms, layer
        self.output = self._add_points(layer, atoms)
        self.export_button.enabled = True
        self._show_count()
        self._plot()

    def features(self) -> dict:
        """The atom table with nm columns when the image is calibrated."""
        return {} if self.atoms is None else self.atoms.table

    def _add_points(self, layer: Any, atoms: AtomTable) -> Any:
        table = atoms.table
        yx = np.stack([table["y_px"], table["x_px"]], axis=1)
        data = np.column_stack([table["frame"], yx]) if layer.ndim == 3 else yx
        metadata = {"atoms_of": layer.name, "provenance": {"derived_from": layer.name, "history": [atoms.step]}}
        return show_layer(
            self.viewer, f"{layer.name} atoms", data, "points",
            reuse=lambda points: points.metadata.get("atoms_of") == layer.name,
            features=table, size=np.maximum(FWHM_PER_SIGMA * table["sigma_px"], 1.0), metadata=metadata,
            face_color="transparent", border_color="#ffd000", border_width=0.15, out_of_slice_display=False,
            **calibration_of(layer),
        )

    def counts(self) -> dict[int, int]:
        """Number of atoms found per frame index."""
        return {} if self.atoms is None else self.atoms.counts()

    def _show_count(self, _event: Any = None) -> None:
        if self.atoms is None:
            return
        counts = self.counts()
        index = frame_index(self.viewer, self._source) if self._source in self.viewer.layers else None
        if index is None:
            self.count_label.value = f"{len(self.table['frame'])} atoms; {self.atoms.separation_text()}"
            return
        processed = sorted(counts)
        text = f"frame {index}: {counts.get(index, 0)} atoms"
        if len(processed) > 1:
            values = np.array([counts.get(f, 0) for f in range(processed[0], processed[-1] + 1)])
            text += f"\n{len(processed)} frames: {values.mean():.0f} ± {values.std():.0f} atoms per frame"
        self.count_label.value = f"{text}\n{self.atoms.separation_text()}"

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
        if self.atoms is None:
            raise ValueError("find atoms first")
        self.atoms.write_csv(path)
        return Path(path)

    def _ask_export(self) -> None:
        path = ask_save_path(self.native, "Export atoms", "atoms.csv", "CSV (*.csv)")
        if path:
            self.export_csv(path)
