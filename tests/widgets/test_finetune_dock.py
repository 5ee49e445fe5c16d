"""Fine-tune dock in a real viewer: noise diagnosis, a run in a child process with the live plot
and preview, the model in the Denoise dock at once, Cancel keeping the best checkpoint, Resume,
and the child stopped when the dock is removed."""

from __future__ import annotations

import numpy as np
import pytest

from tem_denoise.engine.tuning import read_run, run_folder
from tem_denoise.models.registry import available_models

pytestmark = pytest.mark.gui

LONG_S = 120_000


def lattice_movie(frames: int = 6, size: int = 48) -> np.ndarray:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:size, :size]
    clean = 4 + 3 * np.cos(2 * np.pi * yy / 8) * np.cos(2 * np.pi * xx / 6)
    return rng.poisson(np.repeat(clean[None], frames, axis=0)).astype(np.float32)


def _dock(viewer, qtbot, **values):
    """The Fine-tune dock on the layer "frames" after its noise diagnosis (which chose the mode it
    recommends), then set to blind-spot from wcid-2d on 32-px crops, with ``values`` set."""
    docked, dock = viewer.window.add_plugin_dock_widget("napari-tem-denoise", "Fine-tune on this stack")
    dock.docked = docked
    qtbot.waitUntil(lambda: dock.diagnosis_worker is None, timeout=LONG_S)
    labels = [dock.mode.native.itemText(i) for i in range(dock.mode.native.count())]
    assert dock.mode.value == "frame-pairs" and "frame pairs (a movie) (recommended)" in labels  # a 6-frame movie
    dock.mode.value, dock.base.value = "blind-spot", "wcid-2d"
    dock.crop.value, dock.batch_size.value, dock.blind_radius.value, dock.apply.value = 32, 2, 0, False
    for name, value in values.items():
        getattr(dock, name).value = value
    return dock


def _child_gone(job) -> bool:
    import psutil

    return job.process.process.poll() is not None and not psutil.pid_exists(job.pid)


def test_a_run_saves_a_model_the_denoise_dock_lists_at_once(make_napari_viewer, qtbot):
    viewer = make_napari_viewer(show=True)
    viewer.add_image(lattice_movie(), name="frames", scale=(1, 0.1, 0.1), units=("s", "nm", "nm"))
    _, denoise_dock = viewer.window.add_plugin_dock_widget("napari-tem-denoise", "Denoise")
    dock = _dock(viewer, qtbot, steps=12)
    assert "autocorrelation" in dock.diagnosis.value and "recommended mode: frame-pairs" in dock.diagnosis.value
    assert dock.model_name.value == "frames-blind-spot" and not dock.resume.enabled
    viewer.dims.set_current_step(0, 4)  # the frame previewed
    dock.runner.start()
    qtbot.waitUntil(lambda: not dock.runner.running, timeout=LONG_S)
    assert dock.runner.status.value == "Done: saved 'frames-blind-spot'."
    assert "frames-blind-spot" in denoise_dock.model.choices  # no layer event: the saved-model signal
    assert _child_gone(dock.job)
    card = available_models()["frames-blind-spot"]
    assert card.training["mode"] == "blind-spot" and card.training["budget"]["steps_done"] == 12
    assert card.training["data"]["source"] == "layer 'frames'"
    assert [s for s, _ in dock.plot.validation] == [10, 12]
    titles = [ax.get_title() for ax in dock.plot.canvas.figure.axes]
    assert titles[0].startswith("frames-blind-spot (blind-spot): step 12/12") and len(titles) == 3
    losses = dock.plot.canvas.figure.axes[0]  # says what the losses are, in which units, on which data
    assert losses.get_ylabel() == "MSE (data units²)\nnoise variance included"
    legend = [text.get_text() for text in losses.get_legend().get_texts()]
    assert legend == ["training: blind-spot output vs the noisy frame", "validation: the same on held-out bottom rows"]
    assert "(MSE (data units²), noise variance included) at step" in dock.result.value
    assert dock.plot.preview["input"].shape == (48, 48) and int(dock.plot.preview["frame"]) == 4

    dock.denoise_runner.start()
    qtbot.waitUntil(lambda: "frames (denoised: frames-blind-spot)" in viewer.layers, timeout=LONG_S)
    np.testing.assert_allclose(viewer.layers["frames (denoised: frames-blind-spot)"].scale, (1, 0.1, 0.1))
    # the new layer made napari reset the dock's choices: the form still says what was run
    assert (dock.mode.value, dock.base.value, dock.model_name.value) == ("blind-spot", "wcid-2d", "frames-blind-spot")


def _endless_run(make_napari_viewer, qtbot):
    """A viewer with a movie and a fine-tune dock training on it with no end in sight."""
    viewer = make_napari_viewer(show=True)
    viewer.add_image(lattice_movie(), name="frames")
    dock = _dock(viewer, qtbot, steps=100_000)
    dock.runner.start()
    return viewer, dock


def test_cancel_keeps_the_best_checkpoint_and_resume_finishes_the_run(make_napari_viewer, qtbot):
    _, dock = _endless_run(make_napari_viewer, qtbot)
    qtbot.waitUntil(lambda: bool(dock.plot.validation), timeout=LONG_S)
    dock.runner.button.changed.emit(None)  # the user clicks Cancel
    qtbot.waitUntil(lambda: not dock.runner.running, timeout=LONG_S)
    assert dock.runner.status.value == "Stopped; the best checkpoint is kept."
    record = read_run(run_folder("frames-blind-spot"))
    assert record["best_step"] >= 10 and "frames-blind-spot" not in available_models()
    assert f"best checkpoint (step {record['best_step']}" in dock.result.value and "Resume" in dock.result.value
    assert dock.resume.enabled and _child_gone(dock.job)

    dock.steps.value = record["step"] + 3
    dock.resume.changed.emit(None)  # the user clicks Resume
    qtbot.waitUntil(lambda: not dock.runner.running, timeout=LONG_S)
    assert dock.plot.steps == list(range(1, record["step"] + 4))  # the earlier steps' losses, then 3 more
    assert dock.plot.losses[:record["step"]] == record["losses"]
    card = available_models()["frames-blind-spot"]
    assert card.training["budget"]["steps_done"] == record["step"] + 3


def test_removing_the_dock_stops_the_training_process(make_napari_viewer, qtbot):
    viewer, dock = _endless_run(make_napari_viewer, qtbot)
    qtbot.waitUntil(lambda: bool(dock.plot.steps), timeout=LONG_S)
    job = dock.job
    viewer.window.remove_dock_widget(dock.docked)
    qtbot.waitUntil(lambda: _child_gone(job), timeout=LONG_S)
    assert read_run(run_folder("frames-blind-spot"))["step"] >= 1  # it wrote its checkpoint first


def test_a_diagnosis_returning_after_the_dock_is_deleted_is_dropped(make_napari_viewer, qtbot):
    """The viewer may close while the noise is still being measured (CI once saw this)."""
    from qtpy.QtCore import QCoreApplication, QEvent

    viewer = make_napari_viewer()
    layer = viewer.add_image(lattice_movie(), name="frames")
    docked, dock = viewer.window.add_plugin_dock_widget("napari-tem-denoise", "Fine-tune on this stack")
    qtbot.waitUntil(lambda: dock.diagnosis_worker is None, timeout=LONG_S)
    viewer.window.remove_dock_widget(docked)
    dock.native.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    dock._diagnosed(layer, "late")  # what the worker's returned signal would deliver
