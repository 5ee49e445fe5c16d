"""Fine-tune dock: adapt a model to the user's own stack in one of four modes, with a live view.

layer -> Stack -> :class:`~tem_denoise.operations.finetune.FinetuneJob` (the operation of
``tem-denoise finetune``, run in a child process so that the memory it holds, GPU memory
included, is given back when it ends) -> a user model, which the Denoise dock lists at once.
The noise diagnosis of the chosen layer runs in a thread and recommends a mode. The child's
records are read in a napari thread worker; the plot follows them (training and validation
loss, ETA, and a before/after preview of the frame shown when the run started). Cancel stops
the child, which keeps its best checkpoint; Resume continues the run of that name. Removing
the dock stops the child the same way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from magicgui.widgets import CheckBox, ComboBox, Container, FileEdit, Label, LineEdit, PushButton
from napari.qt.threading import create_worker

from tem_denoise.engine.tuning import (
    TuneStep,
    figures_at_best,
    loss_meaning_of,
    read_run,
    reported_figures,
    run_folder,
    safe_model_name,
)
from tem_denoise.models.registry import available_models
from tem_denoise.operations.denoise import DenoiseOptions, iter_denoise
from tem_denoise.operations.finetune import (
    DEFAULT_BASE,
    MODE_LABELS,
    FinetuneJob,
    FinetuneOptions,
    diagnose,
)
from tem_denoise.widgets.forms import OptionsForm
from tem_denoise.widgets.glue import (
    MODEL_EVENTS,
    add_result_image,
    image_layer_choices,
    layer_stack,
    on_model_saved,
    preferred_device,
)
from tem_denoise.widgets.layer_geometry import frame_index
from tem_denoise.widgets.plot_canvas import wrap_text
from tem_denoise.widgets.runner import JobRunner, carrying
from tem_denoise.widgets.training_plot import TrainingPlot

if TYPE_CHECKING:
    import napari

MODE_FIELDS = {"blind-spot": ("blind_radius", "lowpass_period"), "calibrated": ("noise", "modality"),
               "unpaired": ("modality",)}
"""The form fields only some modes use, shown with those modes."""


def _measure(stack: Any) -> Any:
    """The noise diagnosis of ``stack``, or the reason it could not be made (for the thread)."""
    try:
        return diagnose(stack)
    except ValueError as err:
        return str(err)


class FineTuneWidget(Container):
    """Dock widget running :class:`~tem_denoise.operations.finetune.FinetuneJob`."""

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        from qtpy.QtGui import QFontDatabase

        from tem_denoise.engine.device import available_devices

        self.viewer = viewer
        self.layer = ComboBox(label="noisy stack", choices=image_layer_choices(viewer))
        self.diagnosis = wrap_text(Label(value=""))
        self.diagnosis.native.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        devices, saved = available_devices(), preferred_device()
        self._recommended: str | None = None
        self.form = OptionsForm(FinetuneOptions, overrides={
            "mode": ComboBox(label="mode", choices=self._mode_choices),
            "base": ComboBox(label="start from", choices=self._base_choices),
            "noise": FileEdit(label="noise model", mode="r", filter="*.json", value=""),
            "device": ComboBox(label="device", choices=devices, value=saved if saved in devices else "auto"),
        })
        self.model_name = LineEdit(label="save as", value="")
        self.apply = CheckBox(text="denoise the stack when done", value=True)
        self.runner = JobRunner("Fine-tune")
        self.resume = PushButton(text="Resume")
        self.resume.tooltip = ("continue the run of this name from its checkpoint, up to the steps set above "
                               "(after Cancel, or to train a saved run longer)")
        self.result = wrap_text(Label(value=""))
        self.denoise_runner = JobRunner("Denoise with the fine-tuned model")
        form = self.form.widgets
        super().__init__(widgets=[
            self.layer, self.diagnosis, form["mode"], form["base"], self.model_name, form["steps"], form["minutes"],
            form["crop"], form["batch_size"], form["val_fraction"], form["blind_radius"], form["lowpass_period"],
            form["noise"], form["modality"], form["device"], self.apply, self.runner, self.resume, self.result,
            self.denoise_runner])
        self.plot = TrainingPlot(self)
        self.job: FinetuneJob | None = None
        self.diagnosis_worker = None
        self._alive = True  # False once the Qt widgets are deleted (a diagnosis may still return)
        self._resume_next = False
        self._last: tuple | None = None
        self.denoise_runner.visible = False
        self._connect()
        self._mode_changed()
        self._layer_changed()

    def _connect(self) -> None:
        """Bind the jobs and follow the user's choices, the saved models and the dock's removal."""
        self.runner.bind(self._job, self._done, on_step=self._step, stop=self._stop_training)
        self.denoise_runner.bind(self._denoise_job, self._denoised)
        self.layer.changed.connect(self._layer_changed)
        self.mode.changed.connect(self._mode_changed)
        self.model_name.changed.connect(self._update_resume)
        self.resume.changed.connect(self._resume_clicked)
        on_model_saved(self, lambda _name: self._refresh_bases())
        self.native_parent_changed.connect(self._parent_changed)
        self.native.destroyed.connect(self._closed)

    # --- choices that follow the layer and the mode -------------------------------------------

    def _layer_changed(self) -> None:
        self._suggest_name()
        self._diagnose()

    def _mode_changed(self) -> None:
        mode = self.mode.value
        for field in {name for names in MODE_FIELDS.values() for name in names}:
            self.form[field].visible = field in MODE_FIELDS.get(mode, ())
        self._refresh_bases()
        self._suggest_name()

    def _mode_choices(self, _widget: Any = None) -> list[tuple[str, str]]:
        """The modes, the one the noise diagnosis recommends marked."""
        return [(label + (" (recommended)" if mode == self._recommended else ""), mode)
                for mode, label in MODE_LABELS.items()]

    def _base_choices(self, _widget: Any = None) -> list[tuple[str, str | None]]:
        """The models the chosen mode can start from, after its default (re-read from the registry)."""
        from tem_denoise.engine.finetune_modes import can_start_from

        form = self.__dict__.get("form")  # None while the form is being made
        mode = form["mode"].value if form is not None else FinetuneOptions.mode
        return [(f"the mode's: {DEFAULT_BASE[mode]}", None)] + [
            (card.summary(), name) for name, card in available_models().items() if can_start_from(mode, card)]

    def _refresh_bases(self) -> None:
        self.base.reset_choices()

    def _suggest_name(self) -> None:
        layer = self.layer.value
        if layer is not None:
            self.model_name.value = safe_model_name(f"{layer.name}-{self.mode.value}")
        self._update_resume()

    def _update_resume(self) -> None:
        """Resume is offered when the named run has a checkpoint."""
        try:
            self.resume.enabled = (run_folder(safe_model_name(self.model_name.value)) / "run.json").is_file()
        except ValueError:
            self.resume.enabled = False

    # --- noise diagnosis ------------------------------------------------------------------------

    def _diagnose(self) -> None:
        """Measure the chosen layer's noise in a thread; :meth:`_diagnosed` shows it."""
        layer = self.layer.value
        if layer is None:
            self.diagnosis.value = "Open a noisy stack: its noise is measured here and a mode recommended."
            return
        try:
            stack = layer_stack(layer)
        except ValueError as err:
            self.diagnosis.value = str(err)
            return
        self.diagnosis.value = f"Measuring the noise of '{layer.name}'…"
        worker = create_worker(_measure, stack)
        worker.returned.connect(lambda result: self._diagnosed(layer, result))
        worker.finished.connect(lambda: setattr(self, "diagnosis_worker", None))
        self.diagnosis_worker = worker
        worker.start()

    def _diagnosed(self, layer: Any, result: Any) -> None:
        if not self._alive or layer is not self.layer.value:
            return  # the user chose another layer meanwhile
        if isinstance(result, str):
            self.diagnosis.value = f"Noise not measured: {result}"
            return
        self.diagnosis.value = result.summary()
        self._recommended = result.mode
        with self.mode.changed.blocked():
            self.mode.native.clear()  # relabelled items would otherwise move to the end
            self.mode.reset_choices()
        self.mode.value = result.mode
        self._mode_changed()

    # --- training -------------------------------------------------------------------------------

    def _resume_clicked(self) -> None:
        self._resume_next = True
        self.runner.start()

    def _job(self):
        from tem_denoise.engine.finetune_modes import loss_meaning

        resume, self._resume_next = self._resume_next, False
        layer = self.layer.value
        stack = layer_stack(layer)
        options = self.form.options()
        job = FinetuneJob(stack, self.model_name.value, options, resume=resume,
                          preview_frame=frame_index(self.viewer, layer), source=f"layer '{layer.name}'")
        self.job = job
        history = read_run(job.run_dir) if resume else None
        self.plot.reset(f"{job.config.name} ({options.mode}{', resumed' if resume else ''})", history,
                        loss_meaning(options.mode))
        self.result.value = ""
        return carrying((layer, options), job.steps())

    def _step(self, record: Any) -> None:
        if isinstance(record, TuneStep):
            self.plot.add(record)

    def _parent_changed(self, parent: Any) -> None:
        """The dock was removed from the viewer (no parent): stop the training process."""
        if parent is None:
            self._stop_training()

    def _closed(self, *_: Any) -> None:
        """The dock's widgets are being deleted: a pending diagnosis is dropped (the runner's
        own deletion stops a training run)."""
        self._alive = False

    def _stop_training(self, *_: Any) -> None:
        """Ask the child to stop; it writes its checkpoint, and the run ends with a message."""
        if self.job is not None:
            self.job.stop()

    def _done(self, result: tuple) -> str:
        (layer, options), tuned = result
        self.plot.draw(force=True)
        self._update_resume()
        if tuned.card is None:
            return self._stopped(tuned.run_dir)
        card = tuned.card
        MODEL_EVENTS.saved.emit(card.name)
        budget, validation = card.training["budget"], card.training["validation"]
        figures = reported_figures(figures_at_best(card))
        self.result.value = (f"Saved '{card.name}' in {card.directory}: {options.mode}, {budget['steps_done']} steps "
                             f"in {budget['minutes']:.1f} min, best validation loss {validation['best_loss']:.4g} "
                             f"({validation['units']}) at step {validation['best_step']}"
                             f"{f' ({figures})' if figures else ''}. The Denoise dock lists it now.")
        self._last = (layer, options, card.name)
        self.denoise_runner.visible = True
        if self.apply.value:
            self.denoise_runner.start()
        return f"Done: saved '{card.name}'."

    def _stopped(self, run_dir) -> str:
        """Say what a stopped run kept and how to go on."""
        if not (run_dir / "run.json").is_file():
            self.result.value = "Stopped before the first step; nothing was kept."
            return "Stopped."
        record = read_run(run_dir)
        reached = f"Stopped at step {record['step']} of {record['config']['steps']}."
        if record["best_step"] is None:
            self.result.value = f"{reached} No validation yet; Resume continues the run (checkpoint in {run_dir})."
        else:
            self.result.value = (f"{reached} The best checkpoint (step {record['best_step']}, validation loss "
                                 f"{record['best_val']:.4g}, {loss_meaning_of(record).units}) is kept in {run_dir}; "
                                 "Resume continues the run with "
                                 "the same name and saves the model when it ends.")
        return "Stopped; the best checkpoint is kept."

    # --- denoising with the new model -----------------------------------------------------------

    def _denoise_job(self):
        layer, options, name = self._last
        noise = options.noise if options.mode == "calibrated" else None
        job = iter_denoise(layer_stack(layer), DenoiseOptions(model=name, device=options.device, noise=noise))
        return carrying(layer, job)

    def _denoised(self, result: tuple) -> None:
        layer, denoised = result
        add_result_image(self.viewer, layer, denoised)
