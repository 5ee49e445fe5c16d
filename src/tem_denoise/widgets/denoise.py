"""Denoise dock: layer -> Stack -> :mod:`tem_denoise.operations.denoise` -> layer.

The form is :class:`~tem_denoise.operations.denoise.DenoiseOptions` (the options of
``tem-denoise denoise``), with the model list showing every available model's card summary;
the default model follows the modality (the layer's metadata, or the one chosen). The buttons
say what they do to the chosen layer ("Denoise image" or "Denoise stack"). Work runs in a
napari thread worker that yields per batch of tiles/frames, so the GUI stays responsive and
Cancel stops it before anything is added. Results are new layers with the input's scale,
translate, units and axis labels, and the engine's provenance in metadata.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from magicgui.widgets import ComboBox, Container, FileEdit, Label

from tem_denoise.engine.counting import default_model_for
from tem_denoise.models.card import OUTPUT_KIND_LABELS
from tem_denoise.models.registry import available_models
from tem_denoise.operations.denoise import (
    DenoiseOptions,
    iter_denoise,
    iter_preview,
    make_denoiser,
)
from tem_denoise.widgets.batch import BatchSender
from tem_denoise.widgets.forms import OptionsForm
from tem_denoise.widgets.glue import (
    add_result_image,
    derived_metadata,
    image_combo,
    layer_stack,
    on_model_saved,
    plane_calibration,
    preferred_device,
    save_preferred_device,
    show_layer,
)
from tem_denoise.widgets.layer_geometry import frame_index
from tem_denoise.widgets.plot_canvas import wrap_text
from tem_denoise.widgets.runner import JobRunner, carrying

if TYPE_CHECKING:
    import napari


def run_labels(layer) -> tuple[str, str]:
    """The (run, preview) button labels for ``layer``: what they do to an image or a stack."""
    if layer is not None and layer.ndim == 3:
        return "Denoise stack", "Preview current frame"
    return "Denoise image", "Preview image"


class DenoiseWidget(Container):
    """Dock widget wrapping :func:`tem_denoise.operations.denoise.iter_denoise`."""

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        from tem_denoise.engine.device import available_devices

        self.viewer = viewer
        self.cards = available_models()
        self.layer = image_combo(viewer)
        devices = available_devices()
        saved = preferred_device()
        self.form = OptionsForm(DenoiseOptions, overrides={
            "model": ComboBox(label="model", choices=self._model_choices),
            "noise": FileEdit(label="noise model (optional)", mode="r", filter="*.json", value=""),
            "device": ComboBox(label="device", choices=devices, value=saved if saved in devices else "auto"),
        })
        self.about = wrap_text(Label(value=""))
        self.preview = JobRunner("Preview current frame")
        self.run = JobRunner("Denoise stack")
        self.batch = BatchSender(self.form.options)
        form = self.form.widgets
        super().__init__(widgets=[self.layer, form["modality"], form["model"], self.about, form["noise"],
                                  form["device"], form["tile"], self.preview, self.run, self.batch])
        self.preview.bind(self._preview_job, self._show_preview)
        self.run.bind(self._stack_job, self._show_stack)
        self.layer.changed.connect(self._pick_default_model)
        self.modality.changed.connect(self._pick_default_model)
        self.model.changed.connect(self._describe_model)
        self.device.changed.connect(lambda value: save_preferred_device(value))
        on_model_saved(self, lambda _name: self.model.reset_choices())
        self._pick_default_model()
        self._describe_model()

    def _model_choices(self, _widget=None) -> list[tuple[str, str]]:
        """Every available model, re-read (when layers change and when a model is saved, e.g. by
        the Fine-tune dock) so that newly fine-tuned user models appear."""
        self.cards = available_models()
        return [(card.summary(), name) for name, card in self.cards.items()]

    def _pick_default_model(self) -> None:
        layer = self.layer.value
        run_text, preview_text = run_labels(layer)
        self.run.set_run_text(run_text)
        self.preview.set_run_text(preview_text)
        if layer is None:
            return
        data = None if layer.rgb else (layer.data[0] if layer.multiscale else layer.data)
        n_frames = layer.data.shape[0] if layer.ndim == 3 else 1
        modality = self.modality.value or layer.metadata.get("modality")
        self.model.value = default_model_for(modality, data, n_frames)

    def _describe_model(self) -> None:
        card = self.cards[self.model.value]
        self.about.value = f"{card.description}\nOutput: {OUTPUT_KIND_LABELS[card.output_kind]}."

    def _start(self):
        """The chosen layer as a Stack, the options and the denoiser (checked before the worker starts)."""
        stack = layer_stack(self.layer.value)
        options = self.form.options()
        return stack, options, make_denoiser(stack, options, card=self.cards[options.model])

    def _preview_job(self):
        stack, options, denoiser = self._start()
        layer = self.layer.value
        return carrying(layer, iter_preview(stack, options, frame_index(self.viewer, layer), denoiser=denoiser))

    def _stack_job(self):
        stack, options, denoiser = self._start()
        return carrying(self.layer.value, iter_denoise(stack, options, denoiser=denoiser))

    def _show_preview(self, result) -> None:
        layer, preview = result
        show_layer(self.viewer, preview.name, preview.data, colormap="gray",
                   metadata=derived_metadata(layer, stack=preview), **plane_calibration(layer))

    def _show_stack(self, result) -> None:
        layer, denoised = result
        add_result_image(self.viewer, layer, denoised)
