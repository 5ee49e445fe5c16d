"""Fine-tune dock: teach a blind-spot model the noise of the user's own stack, then use it.

Self-supervised, so only the noisy stack is needed. Training runs in a worker (one progress
step per optimiser step, Cancel saves nothing); the loss curve is drawn when it ends; the
model is saved as a user model and appears in the Denoise dock's list; optionally the layer
is denoised with it straight away.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from magicgui.widgets import CheckBox, ComboBox, Container, Label, LineEdit

from tem_denoise.engine.finetune import blind_spot_models, lowpass_period
from tem_denoise.operations.denoise import DenoiseOptions, iter_denoise
from tem_denoise.operations.finetune import FinetuneOptions, iter_finetune
from tem_denoise.widgets.forms import OptionsForm
from tem_denoise.widgets.glue import (
    add_result_image,
    image_layer_choices,
    layer_stack,
    preferred_device,
)
from tem_denoise.widgets.plot_canvas import PlotCanvas, wrap_text
from tem_denoise.widgets.runner import JobRunner, carrying

if TYPE_CHECKING:
    import napari


class FineTuneWidget(Container):
    """Dock widget wrapping :func:`tem_denoise.operations.finetune.iter_finetune`."""

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        self.viewer = viewer
        self.layer = ComboBox(label="noisy stack", choices=image_layer_choices(viewer))
        self.form = OptionsForm(FinetuneOptions, overrides={
            "base": ComboBox(label="start from", choices=[(c.summary(), c) for c in blind_spot_models()])})
        self.model_name = LineEdit(label="save as", value="")
        self.apply = CheckBox(label="denoise the stack when done", value=True)
        self.runner = JobRunner("Fine-tune")
        self.denoise_runner = JobRunner("Denoise with the fine-tuned model")
        self.result = wrap_text(Label(value=""))
        form = self.form.widgets
        super().__init__(widgets=[self.layer, form["base"], self.model_name, form["steps"], form["crop"],
                                  form["lowpass_period"], self.apply, self.runner, self.result,
                                  self.denoise_runner])
        self.plot = PlotCanvas(self, figsize=(4.5, 2.6), min_height=200)
        self.runner.bind(self._job, self._done)
        self.denoise_runner.bind(self._denoise_job, self._denoised)
        self.denoise_runner.visible = False
        self._last: tuple | None = None
        self.layer.changed.connect(self._suggest_name)
        self.base.changed.connect(self._suggest_name)
        self.base.changed.connect(self._show_lowpass)
        self._suggest_name()
        self._show_lowpass()

    def _show_lowpass(self) -> None:
        if self.base.value is not None:
            self.lowpass_period.value = lowpass_period(self.base.value)

    def _suggest_name(self) -> None:
        layer, base = self.layer.value, self.base.value
        if layer is not None and base is not None:
            self.model_name.value = f"{base.name}-{layer.name}".replace(" ", "-")

    def _job(self):
        layer, base = self.layer.value, self.base.value
        if layer is None or base is None:
            raise ValueError("pick a noisy stack and a self-supervised model to start from")
        options = self.form.options(base=base.name)
        steps = iter_finetune(layer_stack(layer), self.model_name.value, options, base=base,
                              source=f"layer '{layer.name}'")
        return carrying(layer, steps)

    def _done(self, result: tuple) -> None:
        source, tuned = result
        ax = self.plot.axes()[0]
        ax.plot(np.arange(1, len(tuned.result.losses) + 1), tuned.result.losses, lw=0.8)
        ax.set_xlabel("step")
        ax.set_ylabel("blind-spot MSE")
        ax.set_yscale("log")
        self.plot.draw()
        self.result.value = (f"Saved '{tuned.card.name}' to {tuned.card.directory} "
                             f"({tuned.result.steps} steps, {tuned.result.seconds:.0f} s).")
        self._last = (source, tuned)
        self.denoise_runner.visible = True
        if self.apply.value:
            self.denoise_runner.start()

    def _denoise_job(self):
        from tem_denoise.engine import Denoiser

        source, tuned = self._last
        denoiser = Denoiser(tuned.model, device=preferred_device(), card=tuned.card)
        job = iter_denoise(layer_stack(source), DenoiseOptions(model=tuned.card.name), denoiser=denoiser)
        return carrying(source, job)

    def _denoised(self, result: tuple) -> None:
        source, denoised = result
        add_result_image(self.viewer, source, denoised)
