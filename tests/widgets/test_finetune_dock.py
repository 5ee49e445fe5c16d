"""Fine-tune dock in a real viewer: noise diagnosis, a run in a child process with the live plot
and preview, the model in the Denoise dock at once, Cancel keeping the best checkpoint, Resume,
and the child stopped when the dock is removed."""

from __future__ import annotations

import numpy as np
import pytest

from tem_denoise.engine.finetune_modes import loss_meaning
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


@pytest.fixture
def mode_settings(tmp_path):
    """``mode -> (layer metadata, dock values, steps)`` for a run on the tiny movie (HRTEM at
    0.03 nm/px): the calibrated mode needs a camera noise model and the modality (set in the dock),
    the unpaired mode's modality (from the layer) picks its atom-map U-Net; its critic takes 5
    steps per step, so it runs 2 steps on 16-px crops."""
    from tem_denoise.physics import HRTEMNoise

    noise = HRTEMNoise(k=0.05, b=1.0, sigma_c=0.5).save(tmp_path / "camera.json")
    return {
        "blind-spot": ({}, {"base": "wcid-2d", "blind_radius": 0}, 3),
        "frame-pairs": ({}, {}, 3),
        "calibrated": ({}, {"noise": noise, "modality": "HRTEM"}, 3),
        "unpaired": ({"modality": "HRTEM"}, {"crop": 16}, 2),
    }


@pytest.mark.parametrize("mode", ["blind-spot", "frame-pairs", "calibrated", "unpaired"])
def test_each_mode_runs_through_the_dock_with_the_live_view(make_napari_viewer, qtbot, mode_settings, mode):
    """A few steps of each mode from the dock: the loss plot and the before/after preview of the
    frame at the slider are drawn, the model is saved, listed in the Denoise dock at once (no layer
    event: the saved-model signal) and denoises the layer; the unpaired mode reports its CSS."""
    metadata, values, steps = mode_settings[mode]
    viewer = make_napari_viewer(show=True)
    viewer.add_image(lattice_movie() * 20, name="frames", scale=(1, 0.03, 0.03), units=("s", "nm", "nm"),
                     metadata=metadata)
    _, denoise_dock = viewer.window.add_plugin_dock_widget("napari-tem-denoise", "Denoise")
    dock = _dock(viewer, qtbot, steps=steps, mode=mode, apply=True, **values)
    assert "autocorrelation" in dock.diagnosis.value and "recommended mode: frame-pairs" in dock.diagnosis.value
    name = f"frames-{mode}"
    assert dock.model_name.value == name and not dock.resume.enabled
    viewer.dims.set_current_step(0, 4)  # the frame previewed
    dock.runner.start()
    qtbot.waitUntil(lambda: not dock.runner.running, timeout=LONG_S)
    assert dock.runner.status.value == f"Done: saved '{name}'.", dock.result.value
    assert name in denoise_dock.model.choices
    assert _child_gone(dock.job)
    card = available_models()[name]
    assert card.training["mode"] == mode and card.training["budget"]["steps_done"] == steps
    assert card.training["data"]["source"] == "layer 'frames'"

    assert dock.plot.steps == list(range(1, steps + 1)) and [s for s, _ in dock.plot.validation] == [steps]
    titles = [ax.get_title() for ax in dock.plot.canvas.figure.axes]
    assert titles[0].startswith(f"{name} ({mode}): step {steps}/{steps}") and len(titles) == 3
    losses, meaning = dock.plot.canvas.figure.axes[0], loss_meaning(mode)  # what the losses are, in which units
    assert losses.get_ylabel() == meaning.axis
    assert [text.get_text() for text in losses.get_legend().get_texts()] == [meaning.training, meaning.validation]
    assert f"({card.training['validation']['units']}) at step" in dock.result.value
    preview = dock.plot.preview
    assert preview["input"].shape == preview["output"].shape == (48, 48) and int(preview["frame"]) == 4
    assert np.isfinite(preview["output"]).all() and np.ptp(preview["output"]) > 0
    assert int(preview["step"]) == steps

    denoised = f"frames (denoised: {name})"
    qtbot.waitUntil(lambda: denoised in viewer.layers, timeout=LONG_S)
    np.testing.assert_allclose(viewer.layers[denoised].scale, (1, 0.03, 0.03))
    assert np.isfinite(np.asarray(viewer.layers[denoised].data)).all()
    # the new layer made napari reset the dock's choices: the form still says what was run
    assert (dock.mode.value, dock.model_name.value) == (mode, name)
    if mode == "unpaired":
        css = card.training["validation"]["history"][-1][2]["css"]
        assert 0 < css <= 1
        assert f"(CSS between consecutive outputs {css:.3f})" in dock.result.value
        assert titles[0].endswith(f"\nlast validation: CSS between consecutive outputs {css:.3f}")
