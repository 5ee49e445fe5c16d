"""Regenerate the screenshots in docs/images from a real napari viewer.

Run under a display, e.g. ``xvfb-run -a -s "-screen 0 1400x900x24" .venv/bin/python
docs/make_screenshots.py``. Every picture shows the plugin on its synthetic sample data.
"""

from __future__ import annotations

import sys
from pathlib import Path

import napari
import numpy as np
from qtpy.QtWidgets import QApplication
from skimage.io import imsave

IMAGES = Path(__file__).parent / "images"


def _settle(viewer: napari.Viewer, rounds: int = 20) -> None:
    for _ in range(rounds):
        QApplication.processEvents()


def _save(viewer: napari.Viewer, name: str) -> None:
    _settle(viewer)
    imsave(IMAGES / name, viewer.screenshot(canvas_only=False, flash=False), check_contrast=False)
    print(f"wrote {IMAGES / name}")


def viewer_open_stack() -> None:
    """The sample HRTEM movie opened through the plugin, scale bar in nm."""
    viewer = napari.Viewer(show=True)
    viewer.window.resize(1300, 820)
    viewer.open_sample("napari-tem-denoise", "hrtem_series")
    viewer.canvas.overlays.scale_bar.visible = True
    viewer.reset_view()
    _save(viewer, "viewer_open_stack.png")
    viewer.close()


def _wait_until(done, timeout_s: float = 120) -> None:
    """Process Qt events until ``done()`` or the timeout."""
    import time

    end = time.time() + timeout_s
    while not done() and time.time() < end:
        QApplication.processEvents()
        time.sleep(0.05)


def _wait_for(runner, timeout_s: float = 120) -> None:
    _wait_until(lambda: not runner.running, timeout_s)


def calibration_dock() -> None:
    """The noise-calibration dock after fitting the six vacuum sample stacks."""
    viewer = napari.Viewer(show=True)
    viewer.window.resize(1400, 900)
    viewer.open_sample("napari-tem-denoise", "vacuum")
    _, widget = viewer.window.add_plugin_dock_widget("napari-tem-denoise", "Noise calibration")
    widget.stacks.value = list(viewer.layers)
    widget.runner.start()
    _wait_for(widget.runner)
    widget.preview_synthetic()
    for layer in viewer.layers[:-1]:
        layer.visible = False
    _settle(viewer)  # the dock's new plots and text resize the canvas first
    viewer.reset_view()
    _save(viewer, "calibration_dock.png")
    viewer.close()


def _analysis_viewer(dock: str) -> tuple[napari.Viewer, object]:
    viewer = napari.Viewer(show=True)
    viewer.window.resize(1400, 900)
    _, widget = viewer.window.add_plugin_dock_widget("napari-tem-denoise", dock)
    return viewer, widget


def _zoom(viewer: napari.Viewer, factor: float) -> None:
    viewer.reset_view()
    viewer.scene.camera.zoom = viewer.scene.camera.zoom * factor


def _lattice_layers(viewer: napari.Viewer) -> tuple:
    """A crystalline synthetic HAADF image (perovskite [001]): clean and noisy layers and the pair."""
    from tem_denoise.physics import synth_stem

    pair = synth_stem((256, 256), arrangement="lattice", lattices=["perovskite_001"], rng=3)
    calibration = {"scale": (pair.pixel_size_nm,) * 2, "units": ("nm", "nm"), "axis_labels": ("y", "x"),
                   "metadata": {"modality": "STEM-HAADF"}}
    clean, noisy = (viewer.add_image(data, name=f"perovskite HAADF ({label})", colormap="gray", **calibration)
                    for label, data in (("clean", pair.clean), ("noisy", pair.noisy)))
    return clean, noisy, pair


def _line_along_columns(positions: np.ndarray, centre: np.ndarray, n_columns: int = 6) -> np.ndarray:
    """(2, 2) end points (px) of a line from the column nearest ``centre`` along its nearest neighbour."""
    start = positions[np.argmin(np.hypot(*(positions - centre).T))]
    offsets = positions - start
    distance = np.hypot(*offsets.T)
    distance[distance == 0] = np.inf
    step = offsets[np.argmin(distance)]
    step = -step if step[1] < 0 else step  # run left to right
    return np.array([start - 0.5 * step, start + (n_columns - 0.5) * step])


def drift_dock() -> None:
    """Drift correction of the sample movie: shifts plot and the corrected stack."""
    viewer, widget = _analysis_viewer("Drift correction")
    viewer.open_sample("napari-tem-denoise", "hrtem_series")
    widget.layer.value = viewer.layers["HRTEM nucleation (noisy)"]
    widget.prefilter.value = 1.0
    widget.runner.start()
    _wait_for(widget.runner)
    widget.apply_to.value = viewer.layers["HRTEM nucleation (clean)"]
    widget.apply_runner.start()
    _wait_for(widget.apply_runner)
    for layer in viewer.layers[:-1]:
        layer.visible = False
    viewer.dims.set_current_step(0, 15)
    viewer.canvas.overlays.scale_bar.visible = True
    viewer.reset_view()
    _save(viewer, "drift_dock.png")
    viewer.close()


def atoms_dock() -> None:
    """Dark HRTEM atom columns found on a frame of the sample movie, shown as Points."""
    viewer, widget = _analysis_viewer("Atom positions")
    viewer.open_sample("napari-tem-denoise", "hrtem_series")
    clean = viewer.layers["HRTEM nucleation (clean)"]
    clean.visible = True
    viewer.layers["HRTEM nucleation (noisy)"].visible = False
    widget.layer.value = clean
    widget.frames.value = "all"
    widget.form.set(invert=True, log_sigma_px=1.0, min_separation_nm=0.2)
    widget.runner.start()
    _wait_for(widget.runner)
    viewer.dims.set_current_step(0, 8)
    viewer.canvas.overlays.scale_bar.visible = True
    _zoom(viewer, 3.0)
    viewer.scene.camera.center = (*viewer.scene.camera.center[:-2], 4.0, 3.5)  # atoms, upper left (nm)
    _save(viewer, "atoms_dock.png")
    viewer.close()


def line_scan_dock() -> None:
    """Line scan across perovskite columns: raw and clean profiles, contrast and spacing."""
    viewer, widget = _analysis_viewer("Line-scan contrast")
    clean, noisy, pair = _lattice_layers(viewer)
    widget.layers.value = [noisy, clean]
    widget.line_width.value = 7
    shapes = widget.start_drawing()
    shapes.add_lines(_line_along_columns(pair.positions_px, np.array([150.0, 70.0]), n_columns=10))
    shapes.mode = "select"
    viewer.canvas.overlays.scale_bar.visible = True
    _zoom(viewer, 0.6)
    _save(viewer, "line_scan_dock.png")
    viewer.close()


def fft_dock() -> None:
    """Power spectrum of a perovskite image in 1/nm with its Bragg peaks and a line scan."""
    viewer, widget = _analysis_viewer("Power spectrum (FFT)")
    clean, noisy, _ = _lattice_layers(viewer)
    widget.layer.value = noisy
    widget.streak_bins.value = 10  # the scan-noise streak of this image is about 10 bins wide
    widget.compute()
    widget.start_line()
    viewer.layers.selection.active = viewer.layers["perovskite HAADF (noisy) Bragg peaks"]
    clean.visible = noisy.visible = False
    _zoom(viewer, 2.0)
    _save(viewer, "fft_dock.png")
    viewer.close()


def quality_dock() -> None:
    """uMSE/uPSNR and CSS of the sample movie: noisy, Gaussian-filtered and clean frames."""
    from scipy.ndimage import gaussian_filter

    viewer, widget = _analysis_viewer("No-reference quality")
    viewer.open_sample("napari-tem-denoise", "hrtem_series")
    noisy = viewer.layers["HRTEM nucleation (noisy)"]
    smoothed = viewer.add_image(gaussian_filter(np.asarray(noisy.data), (0, 1.5, 1.5)),
                                name="Gaussian σ 1.5 px", colormap="gray", scale=noisy.scale, units=noisy.units)
    widget.noisy.value = noisy
    widget.denoised.value = [noisy, smoothed, viewer.layers["HRTEM nucleation (clean)"]]
    widget.runner.start()
    _wait_for(widget.runner)
    viewer.reset_view()
    _save(viewer, "quality_dock.png")
    viewer.close()


def _save_side_by_side(viewer: napari.Viewer, name: str, grid: tuple[int, int] = (1, 3)) -> None:
    """Show the viewer's three layers in a ``(rows, columns)`` grid with a scale bar, save and close."""
    viewer.canvas.grid.shape = grid
    viewer.canvas.grid.enabled = True
    viewer.canvas.overlays.scale_bar.visible = True
    viewer.reset_view()
    _save(viewer, name)
    viewer.close()


def _denoised_sample(sample: str, layer: str) -> napari.Viewer:
    """A viewer with a plugin sample denoised by the Denoise dock's default model."""
    viewer = napari.Viewer(show=True)
    viewer.window.resize(1400, 900)
    viewer.open_sample("napari-tem-denoise", sample)
    _, widget = viewer.window.add_plugin_dock_widget("napari-tem-denoise", "Denoise")
    widget.layer.value = viewer.layers[layer]
    widget.run.start()
    _wait_for(widget.run, 600)
    return viewer


def denoise_dock() -> None:
    """The Denoise dock after restoring the sample movie with the default HRTEM model: noisy,
    restored and clean from top to bottom (one above the other: the dock leaves the canvas narrow)."""
    viewer = _denoised_sample("hrtem_series", "HRTEM nucleation (noisy)")
    viewer.layers.remove("HRTEM nucleation (atom map)")
    clean = viewer.layers["HRTEM nucleation (clean)"]
    clean.visible = True
    viewer.layers.move(viewer.layers.index(clean), len(viewer.layers))
    _save_side_by_side(viewer, "denoise_dock.png", grid=(3, 1))


def denoise_counting() -> None:
    """The low-dose counting sample denoised with the counting-mode default: noisy, restored and clean
    from top to bottom (one above the other, so that the atoms are large enough to see)."""
    viewer = _denoised_sample("counting_series", "HRTEM counting movie (noisy)")
    viewer.layers.remove("HRTEM counting movie (atom map)")
    clean = viewer.layers["HRTEM counting movie (clean)"]
    clean.visible = True
    viewer.layers.move(viewer.layers.index(clean), len(viewer.layers))
    denoised = viewer.layers["HRTEM counting movie (noisy) (denoised: unet-counting)"]
    denoised.contrast_limits = clean.contrast_limits = tuple(np.percentile(clean.data, (0.5, 99.5)))
    _save_side_by_side(viewer, "denoise_counting.png", grid=(3, 1))


def _finetune_viewer() -> napari.Viewer:
    """A viewer for a fine-tuning picture; the models it saves go to a temporary folder."""
    import os
    import tempfile

    os.environ["XDG_DATA_HOME"] = tempfile.mkdtemp()
    viewer = napari.Viewer(show=True)
    viewer.window.resize(1500, 1250)
    return viewer


def _finetune_shot(viewer: napari.Viewer, layer, name: str, frame: int, **values) -> None:
    """Fine-tune on ``layer`` from the dock with the form ``values`` (the mode its noise diagnosis
    recommends unless ``mode`` is given), the frame ``frame`` at the slider; show the raw stack
    above the stack denoised by the new model and save the picture ``name``."""
    _, widget = viewer.window.add_plugin_dock_widget("napari-tem-denoise", "Fine-tune on this stack")
    widget.layer.value = layer
    _wait_until(lambda: widget.diagnosis_worker is None)
    for key, value in values.items():
        getattr(widget, key).value = value
    viewer.dims.set_current_step(0, frame)
    widget.runner.start()
    _wait_for(widget.runner, 600)
    _wait_for(widget.denoise_runner, 600)
    for other in [other for other in viewer.layers
                  if other is not layer and not other.name.startswith(f"{layer.name} (denoised")]:
        viewer.layers.remove(other)  # a grid gives hidden layers a cell too
    viewer.canvas.grid.shape = (2, 1)
    viewer.canvas.grid.enabled = True
    viewer.canvas.overlays.scale_bar.visible = True
    viewer.reset_view()
    print(widget.result.value)
    _save(viewer, name)
    viewer.close()


def finetune_dock() -> None:
    """The Fine-tune dock after a frame-pair run (the mode its noise diagnosis recommends) on a
    counting-mode movie, with the loss plot, the before/after preview and the movie denoised by
    the new model beside it."""
    from tem_denoise.physics import sample_counting_series

    viewer = _finetune_viewer()
    movie = sample_counting_series(12, (256, 256), dose_e_per_px=2.0, seed=7)
    layer = viewer.add_image(movie.noisy, name="counting movie", scale=(1, 0.07, 0.07), units=("s", "nm", "nm"),
                             axis_labels=("t", "y", "x"), colormap="gray")
    _finetune_shot(viewer, layer, "finetune_dock.png", 6, steps=300, minutes=2.0)


def finetune_blindspot() -> None:
    """A blind-spot run (from wcvd-3d, blind region as the noise diagnosis measures it) on the
    plugin's HRTEM sample movie."""
    viewer = _finetune_viewer()
    viewer.open_sample("napari-tem-denoise", "hrtem_series")
    _finetune_shot(viewer, viewer.layers["HRTEM nucleation (noisy)"], "finetune_blindspot.png", 8,
                   mode="blind-spot", steps=2000, minutes=1.5)


def finetune_calibrated() -> None:
    """A calibrated-synthesis run on the plugin's HRTEM sample movie with the noise model the Noise
    calibration dock fits to the plugin's vacuum sample stacks (saved as JSON, then given to the
    Fine-tune dock), as a user with a calibrated camera does."""
    import tempfile

    viewer = _finetune_viewer()
    viewer.open_sample("napari-tem-denoise", "vacuum")
    docked, calibration = viewer.window.add_plugin_dock_widget("napari-tem-denoise", "Noise calibration")
    calibration.stacks.value = list(viewer.layers)
    calibration.runner.start()
    _wait_for(calibration.runner)
    noise = calibration.save_model(Path(tempfile.mkdtemp()) / "camera.json")
    print(f"noise model: {noise.read_text()}")
    viewer.window.remove_dock_widget(docked)
    viewer.layers.clear()
    viewer.open_sample("napari-tem-denoise", "hrtem_series")
    _finetune_shot(viewer, viewer.layers["HRTEM nucleation (noisy)"], "finetune_calibrated.png", 8,
                   mode="calibrated", noise=noise, steps=2000, minutes=1.5)


def finetune_unpaired() -> None:
    """An unpaired (Noise2Atom) run on a synthetic HAADF STEM movie of perovskite [001] whose
    columns are Gaussian peaks of about the width and spacing of the mode's simulated atoms
    (1.5 px, 8 px): 0.04 nm pixels, so 1.4 px and 9.8 px."""
    from tem_denoise.physics.time_series import synth_time_series

    viewer = _finetune_viewer()
    movie = synth_time_series(12, (256, 256), kind="haadf", pixel_size_nm=0.04, rng=4, arrangement="lattice",
                              lattices=["perovskite_001"])
    layer = viewer.add_image(movie.noisy, name="HAADF movie", scale=(1, 0.04, 0.04), units=("s", "nm", "nm"),
                             axis_labels=("t", "y", "x"), colormap="gray", metadata={"modality": "STEM-HAADF"})
    _finetune_shot(viewer, layer, "finetune_unpaired.png", 6, mode="unpaired", steps=2000, minutes=1.5, crop=48,
                   batch_size=4)  # its critic takes 5 steps per step: smaller steps, more of them


SHOTS = {
    "viewer_open_stack": viewer_open_stack,
    "denoise_dock": denoise_dock,
    "denoise_counting": denoise_counting,
    "finetune_dock": finetune_dock,
    "finetune_blindspot": finetune_blindspot,
    "finetune_calibrated": finetune_calibrated,
    "finetune_unpaired": finetune_unpaired,
    "calibration_dock": calibration_dock,
    "drift_dock": drift_dock,
    "atoms_dock": atoms_dock,
    "line_scan_dock": line_scan_dock,
    "fft_dock": fft_dock,
    "quality_dock": quality_dock,
}

if __name__ == "__main__":
    IMAGES.mkdir(exist_ok=True)
    for key in sys.argv[1:] or SHOTS:
        SHOTS[key]()
