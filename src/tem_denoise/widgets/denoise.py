"""Denoise dock: pick a layer and a model, preview one frame or denoise the whole stack.

The model list shows every available model (classical baselines, bundled and user models)
with its card summary; the default follows the modality found in the layer's metadata.
Work runs in a napari thread worker that yields per batch of tiles/frames, so the GUI stays
responsive and Cancel stops it before anything is added. Results are new layers with the
input's scale, translate, units and axis labels, and the engine's provenance in metadata.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from magicgui.widgets import ComboBox, Container, FileEdit, Label, SpinBox

from tem_denoise.engine.counting import default_model_for
from tem_denoise.models.card import MODALITIES, OUTPUT_KIND_LABELS
from tem_denoise.models.registry import available_models
from tem_denoise.widgets.batch import BatchSender, dock_options
from tem_denoise.widgets.glue import add_derived_image, derived_metadata, image_layer_choices
from tem_denoise.widgets.layer_geometry import frame_index, pixel_size_nm, plane_calibration
from tem_denoise.widgets.plot_canvas import wrap_text
from tem_denoise.widgets.runner import JobRunner, carrying

if TYPE_CHECKING:
    import napari

PLUGIN = "napari-tem-denoise"
FROM_FILE = "as the file says"


def preferred_device() -> str:
    """The device saved in the plugin's preferences (napari Preferences > TEM Denoise)."""
    from napari.settings import get_plugin_settings

    return str(get_plugin_settings(PLUGIN).engine.device)


def save_preferred_device(device: str) -> None:
    from napari.settings import get_plugin_settings

    get_plugin_settings(PLUGIN).engine.device = device


class DenoiseWidget(Container):
    """Dock widget wrapping :class:`tem_denoise.engine.Denoiser`."""

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        from tem_denoise.engine.device import available_devices

        self.viewer = viewer
        self.cards = available_models()
        self.layer = ComboBox(label="image", choices=image_layer_choices(viewer))
        self.modality = ComboBox(label="modality", choices=[FROM_FILE, *(m for m in MODALITIES if m != "any")],
                                 value=FROM_FILE)
        self.model = ComboBox(label="model", choices=self._model_choices)
        self.noise = FileEdit(label="noise model (optional)", mode="r", filter="*.json", value="")
        self.about = Label(value="")
        wrap_text(self.about)
        devices = available_devices()
        saved = preferred_device()
        self.device = ComboBox(label="device", choices=devices, value=saved if saved in devices else "auto")
        self.tile = SpinBox(label="tile (px, 0 = model default)", value=0, min=0, max=8192, step=32)
        self.preview = JobRunner("Preview current frame")
        self.run = JobRunner("Denoise stack")
        self.batch = BatchSender(lambda: dock_options(self))
        super().__init__(widgets=[self.layer, self.modality, self.model, self.about, self.noise, self.device,
                                  self.tile, self.preview, self.run, self.batch])
        self.preview.bind(self._preview_job, self._show_preview)
        self.run.bind(self._stack_job, self._show_stack)
        self.layer.changed.connect(self._pick_default_model)
        self.modality.changed.connect(self._pick_default_model)
        self.model.changed.connect(self._describe_model)
        self.device.changed.connect(lambda value: save_preferred_device(value))
        self._pick_default_model()
        self._describe_model()

    def _model_choices(self, _widget=None) -> list[tuple[str, str]]:
        """Every available model, re-read so that newly fine-tuned user models appear."""
        self.cards = available_models()
        return [(card.summary(), name) for name, card in self.cards.items()]

    def _pick_default_model(self) -> None:
        layer = self.layer.value
        if layer is None:
            return
        data = None if layer.rgb else (layer.data[0] if layer.multiscale else layer.data)
        n_frames = layer.data.shape[0] if layer.ndim == 3 else 1
        self.run.set_run_text("Denoise stack" if layer.ndim == 3 else "Denoise image")
        self.model.value = default_model_for(self._modality(layer), data, n_frames)

    def _modality(self, layer) -> str | None:
        """The modality the user chose, else the one the file states (layer metadata)."""
        return layer.metadata.get("modality") if self.modality.value == FROM_FILE else self.modality.value

    def _noise_level(self):
        """The noise level of the chosen noise-model JSON, or None (estimated from the data)."""
        path = str(self.noise.value or "")
        if not path or path == ".":
            return None
        from tem_denoise.physics import load_noise_model
        from tem_denoise.physics.noise_level import level_from_model

        return level_from_model(load_noise_model(path))

    def _options(self, layer) -> dict:
        """Pixel size (nm, None when the layer is not calibrated) and noise level for the engine."""
        size = pixel_size_nm(layer)
        return {"pixel_size_nm": float(size[-1]) if size else None, "noise": self._noise_level()}

    def _describe_model(self) -> None:
        card = self.cards[self.model.value]
        self.about.value = f"{card.description}\nOutput: {OUTPUT_KIND_LABELS[card.output_kind]}."

    def _denoiser(self):
        from tem_denoise.engine import Denoiser

        return Denoiser(self.cards[self.model.value], device=self.device.value, tile=self.tile.value or None)

    def _input(self):
        layer = self.layer.value
        if layer is None:
            raise ValueError("open an image or stack first, then pick it as 'image'")
        if layer.rgb:
            raise ValueError(f"'{layer.name}' is an RGB image; denoising needs one intensity per pixel")
        return layer

    def _preview_job(self):
        layer = self._input()
        denoiser = self._denoiser()
        t = frame_index(self.viewer, layer)
        options = self._options(layer)
        if t is None:
            return carrying((layer, denoiser, "frame"), denoiser.iter_denoise(layer.data, **options))
        return carrying((layer, denoiser, f"frame {t}"), _preview_frames(denoiser, layer.data, t, options))

    def _stack_job(self):
        layer = self._input()
        denoiser = self._denoiser()
        return carrying((layer, denoiser, "stack"), denoiser.iter_denoise(layer.data, **self._options(layer)))

    def _show_preview(self, result) -> None:
        (layer, denoiser, what), frame = result
        name = f"{layer.name} (preview: {denoiser.card.name})"
        step = {**denoiser.provenance(), "preview_of": what}
        calibration = plane_calibration(layer)
        if name in self.viewer.layers:
            preview = self.viewer.layers[name]
            preview.data = frame
            preview.metadata = derived_metadata(layer, step)
        else:
            self.viewer.add_image(frame, name=name, colormap="gray", metadata=derived_metadata(layer, step),
                                  **calibration)

    def _show_stack(self, result) -> None:
        (layer, denoiser, _), output = result
        add_derived_image(self.viewer, layer, output, f"{layer.name} (denoised: {denoiser.card.name})",
                          denoiser.provenance())


def _preview_frames(denoiser, data, t: int, options: dict):
    """Denoise frame ``t`` of ``data`` (with the neighbours a temporal model reads) as the whole
    stack would be: the adapter is fitted to the stack (``options``: pixel size and noise
    level), not to the few frames."""
    card = denoiser.card
    adapter = denoiser.fit_adapter(data, **options)
    half = card.temporal_window // 2
    lo, hi = max(0, t - half), min(data.shape[0], t + half + 1)
    output = yield from denoiser.iter_denoise(np.asarray(data[lo:hi], dtype=np.float32), adapter=adapter)
    return output[t - lo]
